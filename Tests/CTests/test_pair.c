/* test_pair.c - pair key derivation: the worked example of
 * docs/KEY_DERIVATION.md, symmetry between the two devices, separation of
 * pairs and contexts, and every error path. */
#include "mbt.h"

#include "modbatt/modbatt.h"

static uint8_t half_a[64], half_b[64], salt[32];
static const char *PACK = "comp_pack_0001", *MODULE = "comp_module_07",
                  *LCT = "lct_pack_0001_module_07";

static void setup(void)
{
    int i;
    for (i = 0; i < 64; i++) { half_a[i] = (uint8_t)i; half_b[i] = (uint8_t)(0x40 + i); }
    for (i = 0; i < 32; i++) salt[i] = (uint8_t)(0xA0 + i);
}

static mb_pair_params params(const uint8_t *h1, const uint8_t *h2, const char *self,
                             const char *peer, const char *lct)
{
    mb_pair_params p;
    p.half_1 = h1; p.half_2 = h2; p.salt = salt;
    p.self_id = (const uint8_t *)self; p.self_id_len = strlen(self);
    p.peer_id = (const uint8_t *)peer; p.peer_id_len = strlen(peer);
    p.lct_id = (const uint8_t *)lct; p.lct_id_len = strlen(lct);
    return p;
}

static void worked_example(void)
{
    mb_pair_params p = params(half_a, half_b, PACK, MODULE, LCT);
    mb_pair_keys k;
    uint8_t expect[32];

    MBT_EQ_INT(mb_pair_derive(&p, &k), MB_OK);
    mbt_unhex("79afa30d33f79f31fd0abaa58b9558c0a1fa32426dc2b0d050f9dc93d077bd81", expect, 32);
    MBT_EQ_MEM(k.tx_key, expect, 32);
    mbt_unhex("03a26835588b45e5bac8c8157d7c69dfdda7449e60fd468ccf4c2f6148a0aa82", expect, 32);
    MBT_EQ_MEM(k.rx_key, expect, 32);
    mbt_unhex("b1952a5e", expect, 4);  MBT_EQ_MEM(k.tx_fixed, expect, 4);
    mbt_unhex("9150f72a", expect, 4);  MBT_EQ_MEM(k.rx_fixed, expect, 4);
    mbt_unhex("0d00ca97cca8b9f2af41254da8fbb9f46938ac8392e576886ba82cf499a432c6", expect, 32);
    MBT_EQ_MEM(k.confirm_key, expect, 32);
    mbt_unhex("defd5402", expect, 4);  MBT_EQ_MEM(k.key_id, expect, 4);
    MBT_EQ_INT(k.self_is_low, 0);      /* "comp_module_07" sorts first */
    mb_pair_keys_wipe(&k);
}

/* The module, giving the halves in the other order, derives the mirror image. */
static void both_sides_agree(void)
{
    mb_pair_params pp = params(half_a, half_b, PACK, MODULE, LCT);
    mb_pair_params mp = params(half_b, half_a, MODULE, PACK, LCT);
    mb_pair_keys pack, module;

    MBT_EQ_INT(mb_pair_derive(&pp, &pack), MB_OK);
    MBT_EQ_INT(mb_pair_derive(&mp, &module), MB_OK);
    MBT_EQ_MEM(pack.tx_key, module.rx_key, 32);
    MBT_EQ_MEM(pack.rx_key, module.tx_key, 32);
    MBT_EQ_MEM(pack.tx_fixed, module.rx_fixed, 4);
    MBT_EQ_MEM(pack.rx_fixed, module.tx_fixed, 4);
    MBT_EQ_MEM(pack.confirm_key, module.confirm_key, 32);
    MBT_EQ_MEM(pack.key_id, module.key_id, 4);
    MBT_EQ_INT(pack.self_is_low + module.self_is_low, 1);
    /* The two directions never share a key. */
    MBT_CHECK(memcmp(pack.tx_key, pack.rx_key, 32) != 0);
}

/* Changing any input (another pair, module, LCT or salt) changes every key. */
static void contexts_are_separated(void)
{
    mb_pair_keys base, other;
    mb_pair_params p = params(half_a, half_b, PACK, MODULE, LCT);
    const char *variants[][3] = {
        { PACK, "comp_module_08", LCT },
        { PACK, MODULE, "lct_pack_0001_module_08" },
        { "comp_pack_0002", MODULE, LCT },
        { PACK, "comp_module_0", LCT },            /* prefix of the original id */
    };
    size_t i;

    MBT_EQ_INT(mb_pair_derive(&p, &base), MB_OK);
    for (i = 0; i < sizeof(variants) / sizeof(variants[0]); i++) {
        p = params(half_a, half_b, variants[i][0], variants[i][1], variants[i][2]);
        MBT_EQ_INT(mb_pair_derive(&p, &other), MB_OK);
        MBT_CHECK(memcmp(base.tx_key, other.tx_key, 32) != 0);
        MBT_CHECK(memcmp(base.rx_key, other.rx_key, 32) != 0);
        MBT_CHECK(memcmp(base.confirm_key, other.confirm_key, 32) != 0);
    }
    /* Length-prefixed ids: moving a byte between ids changes the result. */
    {
        mb_pair_params a = params(half_a, half_b, "ab", "c", "x");
        mb_pair_params b = params(half_a, half_b, "a", "bc", "x");
        mb_pair_keys ka, kb;
        MBT_EQ_INT(mb_pair_derive(&a, &ka), MB_OK);
        MBT_EQ_INT(mb_pair_derive(&b, &kb), MB_OK);
        MBT_CHECK(memcmp(ka.tx_key, kb.tx_key, 32) != 0 && memcmp(ka.tx_key, kb.rx_key, 32) != 0);
    }
    p = params(half_a, half_b, PACK, MODULE, LCT);
    salt[0] ^= 1;
    MBT_EQ_INT(mb_pair_derive(&p, &other), MB_OK);
    salt[0] ^= 1;
    MBT_CHECK(memcmp(base.tx_key, other.tx_key, 32) != 0);
}

static void errors(void)
{
    static const uint8_t zero[sizeof(mb_pair_keys)];
    static char long_id[MB_PAIR_ID_MAX + 2];
    mb_pair_params p = params(half_a, half_b, PACK, MODULE, LCT);
    mb_pair_keys k;

    memset(long_id, 'x', MB_PAIR_ID_MAX + 1);
    MBT_EQ_INT(mb_pair_derive(NULL, &k), MB_ERR_NULL);
    MBT_EQ_INT(mb_pair_derive(&p, NULL), MB_ERR_NULL);
    p.half_1 = NULL;       MBT_EQ_INT(mb_pair_derive(&p, &k), MB_ERR_NULL);
    p = params(half_a, half_b, PACK, MODULE, LCT); p.salt = NULL;
    MBT_EQ_INT(mb_pair_derive(&p, &k), MB_ERR_NULL);
    p = params(half_a, half_b, PACK, MODULE, LCT); p.lct_id = NULL;
    MBT_EQ_INT(mb_pair_derive(&p, &k), MB_ERR_NULL);
    p = params(half_a, half_b, "", MODULE, LCT);
    MBT_EQ_INT(mb_pair_derive(&p, &k), MB_ERR_LENGTH);
    p = params(half_a, half_b, PACK, long_id, LCT);
    MBT_EQ_INT(mb_pair_derive(&p, &k), MB_ERR_LENGTH);
    long_id[MB_PAIR_ID_MAX] = '\0';   /* exactly 64 bytes is allowed */
    p = params(half_a, half_b, PACK, long_id, LCT);
    MBT_EQ_INT(mb_pair_derive(&p, &k), MB_OK);
    p = params(half_a, half_b, PACK, PACK, LCT);
    MBT_EQ_INT(mb_pair_derive(&p, &k), MB_ERR_INVALID_ARG);
    MBT_EQ_MEM(&k, zero, sizeof(k));   /* zeroed on error */
    p = params(half_a, half_a, PACK, MODULE, LCT);
    MBT_EQ_INT(mb_pair_derive(&p, &k), MB_ERR_INVALID_ARG);
    mb_pair_keys_wipe(NULL);
}

int main(void)
{
    setup();
    MBT_RUN(worked_example);
    MBT_RUN(both_sides_agree);
    MBT_RUN(contexts_are_separated);
    MBT_RUN(errors);
    return mbt_finish("test_pair");
}
