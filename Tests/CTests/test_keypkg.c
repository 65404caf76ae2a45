/* test_keypkg.c - binding keys, key packages sealed to a device, and sealed
 * reports to the app: round trips, the worked example of
 * docs/PROVISIONING.md byte for byte, a sniffer that looks for key material
 * in what crosses the bus, and every error path of opening (wrong device,
 * a changed byte anywhere, wrong version, truncation, rollback, policy,
 * entries that do not derive their announced key id). */
#include "mbt.h"

#include "modbatt/modbatt.h"
#include "modbatt/mb_keypkg.h"
#include "modbatt/mb_keystore.h"
#include "modbatt/mb_xfer.h"

#include "mbedtls/ecdsa.h"

/* ---- RNGs -------------------------------------------------------------- */

typedef struct prng { uint64_t s; int fail_after; int calls; } prng;

static int prng_fn(void *user, uint8_t *out, size_t len)
{
    prng *p = user;
    size_t i;
    p->calls++;
    if (p->fail_after >= 0 && p->calls > p->fail_after) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        p->s ^= p->s << 13; p->s ^= p->s >> 7; p->s ^= p->s << 17;
        out[i] = (uint8_t)(p->s >> 24);
    }
    return 0;
}

static prng rng_state = { 0x9E3779B97F4A7C15ull, -1, 0 };
#define RNG prng_fn, &rng_state

/* Fills with one constant byte: the worked example's "random" bytes. */
static int const_fn(void *user, uint8_t *out, size_t len)
{
    memset(out, *(const uint8_t *)user, len);
    return 0;
}

/* ---- fixtures ---------------------------------------------------------- */

static uint8_t half_a[64], half_b[64], salt[32];
static uint8_t app_priv[32], app_pub[65];   /* the app's signing key (0x33..33) */

static void app_keys(void)
{
    uint8_t blind = 0x44;
    memset(app_priv, 0x33, 32);
    (void)mb_binding_public(app_priv, const_fn, &blind, app_pub);
}
static const char *PACK = "comp_pack_0001", *MODULE = "comp_module_07",
                  *LCT = "lct_pack_0001_module_07";

static void setup_halves(void)
{
    int i;
    for (i = 0; i < 64; i++) { half_a[i] = (uint8_t)i; half_b[i] = (uint8_t)(0x40 + i); }
    for (i = 0; i < 32; i++) salt[i] = (uint8_t)(0xA0 + i);
}

static void fill_key_id(mb_keypkg_pair *e, const char *self)
{
    mb_pair_params p;
    mb_pair_keys k;
    p.half_1 = e->half_1; p.half_2 = e->half_2; p.salt = e->salt;
    p.self_id = (const uint8_t *)self; p.self_id_len = strlen(self);
    p.peer_id = e->peer_comp; p.peer_id_len = e->peer_comp_len;
    p.lct_id = e->lct_id; p.lct_id_len = e->lct_id_len;
    if (mb_pair_derive(&p, &k) == MB_OK) {
        memcpy(e->key_id, k.key_id, 4);
    }
    mb_pair_keys_wipe(&k);
}

static mb_keypkg_pair module_entry(void)
{
    mb_keypkg_pair e;
    memset(&e, 0, sizeof(e));
    e.peer_id = 0x01;
    e.flags = 0;
    e.peer_comp = (const uint8_t *)PACK; e.peer_comp_len = strlen(PACK);
    e.lct_id = (const uint8_t *)LCT; e.lct_id_len = strlen(LCT);
    e.half_1 = half_a; e.half_2 = half_b; e.salt = salt;
    fill_key_id(&e, MODULE);
    return e;
}

static mb_keypkg_contents module_contents(const mb_keypkg_pair *e)
{
    mb_keypkg_contents c;
    memset(&c, 0, sizeof(c));
    c.package_version = 1;
    c.device_id = 0x07;
    c.role = 1;
    c.comp_id = (const uint8_t *)MODULE; c.comp_id_len = strlen(MODULE);
    c.params.profile = 0;
    c.params.rekey_after_ms = 3600000u;
    c.params.rekey_after_msgs = 1u << 20;
    c.has_app_pub = 1;
    c.app_pub = app_pub;
    c.pair_count = 1;
    c.pairs = e;
    return c;
}

static mb_keypkg_expect expect_for(const uint8_t *priv, const uint8_t *pub, const char *comp)
{
    mb_keypkg_expect x;
    memset(&x, 0, sizeof(x));
    x.binding_priv = priv;
    x.binding_pub = pub;
    x.comp_id = (const uint8_t *)comp;
    x.comp_id_len = comp ? strlen(comp) : 0;
    x.device_id = 0xFFFF;
    x.min_version = 0;
    return x;
}

static int all_zero(const uint8_t *b, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) if (b[i]) return 0;
    return 1;
}

/* Does any 8-byte window of secret[0..n) occur in hay? */
static int leaks(const uint8_t *hay, size_t hay_len, const uint8_t *secret, size_t n)
{
    size_t i, j;
    for (j = 0; j + 8 <= n; j++) {
        for (i = 0; i + 8 <= hay_len; i++) {
            if (memcmp(hay + i, secret + j, 8) == 0) return 1;
        }
    }
    return 0;
}

/* ---- binding keys ------------------------------------------------------ */

static void binding_keys(void)
{
    uint8_t priv[32], pub[65], pub2[65], id[8], id2[8], bad[32];
    prng failing = { 1, 0, 0 };
    uint8_t n_bytes[32];

    MBT_EQ_INT(mb_binding_generate(RNG, priv, pub), MB_OK);
    MBT_EQ_INT(pub[0], 0x04);
    MBT_EQ_INT(mb_binding_public(priv, RNG, pub2), MB_OK);
    MBT_EQ_MEM(pub, pub2, 65);
    MBT_EQ_INT(mb_binding_key_id(pub, id), MB_OK);
    MBT_EQ_INT(mb_binding_generate(RNG, priv, pub2), MB_OK);
    MBT_EQ_INT(mb_binding_key_id(pub2, id2), MB_OK);
    MBT_CHECK(memcmp(id, id2, 8) != 0);
    /* invalid scalars: 0 and the group order n */
    memset(bad, 0, 32);
    MBT_EQ_INT(mb_binding_public(bad, RNG, pub2), MB_ERR_INVALID_ARG);
    mbt_unhex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551", n_bytes, 32);
    MBT_EQ_INT(mb_binding_public(n_bytes, RNG, pub2), MB_ERR_INVALID_ARG);
    MBT_CHECK(all_zero(pub2, 65));
    MBT_EQ_INT(mb_binding_generate(prng_fn, &failing, priv, pub2), MB_ERR_RNG);
    MBT_CHECK(all_zero(priv, 32) && all_zero(pub2, 65));
    MBT_EQ_INT(mb_binding_generate(NULL, NULL, priv, pub), MB_ERR_NULL);
    MBT_EQ_INT(mb_binding_public(NULL, RNG, pub), MB_ERR_NULL);
    MBT_EQ_INT(mb_binding_key_id(NULL, id), MB_ERR_NULL);
}

/* ---- round trips ------------------------------------------------------- */

static void module_roundtrip(void)
{
    static uint8_t pkg[MB_KEYPKG_MAX], body[MB_KEYPKG_MAX];
    uint8_t priv[32], pub[65];
    mb_keypkg_pair e = module_entry(), got;
    mb_keypkg_contents c = module_contents(&e), o;
    mb_keypkg_expect x;
    mb_pair_keys mk, pk;
    mb_pair_params pp;
    size_t len;

    setup_halves();
    e = module_entry();
    c = module_contents(&e);
    MBT_EQ_INT(mb_binding_generate(RNG, priv, pub), MB_OK);
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_OK);
    MBT_EQ_INT(len, 101 + 14 + 78 + 168 + 14 + 23 + 16 + 64);
    x = expect_for(priv, pub, MODULE);
    x.device_id = 0x07;
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_OK);
    MBT_EQ_INT(o.mode, MB_KEYPKG_MODE_SEALED);
    MBT_EQ_INT(o.package_version, 1);
    MBT_EQ_INT(o.device_id, 7);
    MBT_EQ_INT(o.role, 1);
    MBT_EQ_INT(o.comp_id_len, 14);
    MBT_EQ_MEM(o.comp_id, MODULE, 14);
    MBT_EQ_INT(o.params.rekey_after_ms, 3600000);
    MBT_EQ_INT(o.params.rekey_after_msgs, 1 << 20);
    MBT_EQ_INT(o.has_app_pub, 1);
    MBT_EQ_MEM(o.app_pub, app_pub, 65);
    MBT_EQ_INT(o.pair_count, 1);
    MBT_EQ_INT(mb_keypkg_pair_at(&o, 0, &got), MB_OK);
    MBT_EQ_INT(got.peer_id, 1);
    MBT_EQ_MEM(got.half_1, half_a, 64);
    MBT_EQ_MEM(got.half_2, half_b, 64);
    MBT_EQ_MEM(got.salt, salt, 32);
    MBT_EQ_MEM(got.key_id, e.key_id, 4);
    MBT_EQ_INT(mb_keypkg_pair_at(&o, 1, &got), MB_ERR_INVALID_ARG);
    /* the module's keys mirror the pack's */
    MBT_EQ_INT(mb_keypkg_derive(&o, 0, &mk), MB_OK);
    pp.half_1 = half_b; pp.half_2 = half_a; pp.salt = salt;
    pp.self_id = (const uint8_t *)PACK; pp.self_id_len = 14;
    pp.peer_id = (const uint8_t *)MODULE; pp.peer_id_len = 14;
    pp.lct_id = (const uint8_t *)LCT; pp.lct_id_len = 23;
    MBT_EQ_INT(mb_pair_derive(&pp, &pk), MB_OK);
    MBT_EQ_MEM(mk.tx_key, pk.rx_key, 32);
    MBT_EQ_MEM(mk.key_id, pk.key_id, 4);
    mb_pair_keys_wipe(&mk); mb_pair_keys_wipe(&pk);
    /* first provisioning: the device does not know its component id yet */
    x = expect_for(priv, pub, NULL);
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_OK);
    /* the input may be discarded: contents point into body only */
    memset(pkg, 0, len);
    MBT_EQ_MEM(o.comp_id, MODULE, 14);
    MBT_EQ_INT(mb_keypkg_pair_at(&o, 0, &got), MB_OK);
    MBT_EQ_MEM(got.half_2, half_b, 64);
}

/* The pack controller: the app pair plus 32 module pairs, with 64-byte ids
 * on some entries; an app key for reports. */
static void pack_33_pairs(void)
{
    static uint8_t pkg[MB_KEYPKG_MAX], body[MB_KEYPKG_MAX];
    static uint8_t halves[33][2][64], salts[33][32];
    static char peers[33][80], lcts[33][80];
    static mb_keypkg_pair e[33];
    uint8_t priv[32], pub[65];
    mb_keypkg_contents c, o;
    mb_keypkg_expect x;
    mb_keypkg_pair got;
    size_t len, i;
    int ok = 1;

    MBT_EQ_INT(mb_binding_generate(RNG, priv, pub), MB_OK);
    for (i = 0; i < 33; i++) {
        prng_fn(&rng_state, halves[i][0], 64);
        prng_fn(&rng_state, halves[i][1], 64);
        prng_fn(&rng_state, salts[i], 32);
        if (i == 0) {
            strcpy(peers[i], "comp_app_host");
            strcpy(lcts[i], "lct_app_pack");
        } else if (i == 5) {   /* longest ids */
            memset(peers[i], 'p', 64); peers[i][64] = 0;
            memset(lcts[i], 'l', 64); lcts[i][64] = 0;
        } else {
            sprintf(peers[i], "comp_module_%02u", (unsigned)i);
            sprintf(lcts[i], "lct_pack_0001_module_%02u", (unsigned)i);
        }
        memset(&e[i], 0, sizeof(e[i]));
        e[i].peer_id = (uint8_t)i;
        e[i].flags = (uint8_t)(i == 0 ? 0 : MB_KEYPKG_PAIR_CONTROLLER);
        e[i].peer_comp = (const uint8_t *)peers[i]; e[i].peer_comp_len = strlen(peers[i]);
        e[i].lct_id = (const uint8_t *)lcts[i]; e[i].lct_id_len = strlen(lcts[i]);
        e[i].half_1 = halves[i][0]; e[i].half_2 = halves[i][1]; e[i].salt = salts[i];
        fill_key_id(&e[i], PACK);
    }
    memset(&c, 0, sizeof(c));
    c.package_version = 7; c.device_id = 1; c.role = 0;
    c.comp_id = (const uint8_t *)PACK; c.comp_id_len = 14;
    c.params.rekey_after_ms = 600000; c.params.rekey_after_msgs = 1000;
    c.has_app_pub = 1; c.app_pub = app_pub;
    c.pair_count = 33; c.pairs = e;
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_OK);
    MBT_CHECK(len <= MB_KEYPKG_MAX);
    printf("  pack package, 33 pairs: %u bytes (max %u)\n", (unsigned)len, (unsigned)MB_KEYPKG_MAX);
    x = expect_for(priv, pub, PACK);
    x.min_version = 6;
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_OK);
    MBT_EQ_INT(o.has_app_pub, 1);
    MBT_EQ_MEM(o.app_pub, app_pub, 65);
    MBT_EQ_INT(o.pair_count, 33);
    for (i = 0; i < 33; i++) {
        if (mb_keypkg_pair_at(&o, i, &got) != MB_OK || got.peer_id != i ||
            got.flags != e[i].flags || got.peer_comp_len != e[i].peer_comp_len ||
            memcmp(got.lct_id, lcts[i], got.lct_id_len) != 0 ||
            memcmp(got.half_1, halves[i][0], 64) != 0 ||
            memcmp(got.salt, salts[i], 32) != 0) {
            ok = 0;
        }
    }
    MBT_CHECK(ok);
    /* sniffer: no 8-byte piece of any half or salt is on the wire */
    ok = 1;
    for (i = 0; i < 33; i++) {
        if (leaks(pkg, len, halves[i][0], 64) || leaks(pkg, len, halves[i][1], 64) ||
            leaks(pkg, len, salts[i], 32)) {
            ok = 0;
        }
    }
    MBT_CHECK(ok);
    /* Too many pairs */
    c.pair_count = MB_KEYPKG_MAX_PAIRS + 1;
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, pub, app_priv, RNG, pkg, sizeof(pkg), &len),
               MB_ERR_INVALID_ARG);
}

/* ---- the worked example of docs/PROVISIONING.md ------------------------ */

/* docs/PROVISIONING.md, "Worked example"; Tests/CTests/keypkg_reference.py
 * opens it independently with pyca/cryptography. */
static const char *EX_DEVICE_PUB =
    "040217e617f0b6443928278f96999e69a23a4f2c152bdf6d6cdf66e5b80282d4"
    "ed194a7debcb97712d2dda3ca85aa8765a56f45fc758599652f2897c65306e57"
    "94";
static const char *EX_PACKAGE =
    "4d424b500101010700000001010e00000000011b2bad0fd610d99eae72723589"
    "2575dc6804d65a93977caa3d1b081852ff57a79e465f1660577304baead505dd"
    "3a48589cf350185e895372df6221ea3a137557e473fddb6755f05bd507c3c533"
    "fce9c91285636f6d705f6d6f64756c655f3037e8bb7a1566f169a515ba9031cc"
    "3b336896c431a7b1c616fc34112d73e0e0a6e3cdaf0d2bc4a97d99a376fc7e4d"
    "e15c5a1bd8c3bd17336a0954226b724ffb7cad9a25baf46e21fbcab7fa16d255"
    "0c202c7735040cff3ed51c61ecd2e756c9285611dac51bbe541f502b1a91278a"
    "e04e4c577047438f6976af8ecd8b0337952caa6a073f081dbf9d3f734087b659"
    "ababe02d1737fee1d22fb4dcdd15dc13567d818af6eae8ce6687a8cea305749d"
    "c21599ef795de70caa0c16d1159875b0ebeec6a5e126fa0e79e7f948137a58c9"
    "26e8e699c7ce38192e8da2c55477c6ddba19484a4d19bfb5cff32e4d3f7d5032"
    "ac62736519c35ef9f9132837b011f634fae9f20a0f5fc91a7071c2520ff4f8ff"
    "36afa29736866b7556e653456e03d34402594f5a52a2b129c0beba4dc3c1d65a"
    "93977caa3d1b081852ff57a79e465f1660577304baead505dd3a48589cf3a1c3"
    "1ef41d5744fa34996671006eba812584b29d3d5fec4032726aaf2e7e51fd";

static void worked_example(void)
{
    static uint8_t pkg[1024], body[1024];
    static char hex[2 * 1024 + 1];
    uint8_t dev_priv[32], dev_pub[65], byte_eph = 0x22, byte_blind = 0x33;
    mb_keypkg_pair e;
    mb_keypkg_contents c, o;
    mb_keypkg_expect x;
    size_t len;
    const char *dump = getenv("MB_DUMP_EXAMPLE");

    setup_halves();
    memset(dev_priv, 0x11, 32);
    MBT_EQ_INT(mb_binding_public(dev_priv, const_fn, &byte_blind, dev_pub), MB_OK);
    e = module_entry();
    c = module_contents(&e);
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, dev_pub, app_priv, const_fn, &byte_eph,
                              pkg, sizeof(pkg), &len), MB_OK);
    MBT_EQ_INT(len, 478);
    if (dump != NULL) {
        mbt_hex(dev_pub, 65, hex); printf("device_pub %s\n", hex);
        mbt_hex(pkg, len, hex); printf("package %s\n", hex);
    }
    {
        uint8_t expect[478];
        MBT_EQ_INT(mbt_unhex(EX_DEVICE_PUB, expect, 65), 65);
        MBT_EQ_MEM(dev_pub, expect, 65);
        MBT_EQ_INT(mbt_unhex(EX_PACKAGE, expect, sizeof(expect)), 478);
        MBT_EQ_MEM(pkg, expect, 478);
    }
    x = expect_for(dev_priv, dev_pub, MODULE);
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, const_fn, &byte_blind, body, sizeof(body), &o), MB_OK);
    MBT_EQ_INT(o.pair_count, 1);
    /* the pack reads where to forward it, without opening it */
    {
        mb_keypkg_route rt;
        MBT_EQ_INT(mb_keypkg_peek(pkg, len, &rt), MB_OK);
        MBT_EQ_INT(rt.device_id, 7);
        MBT_EQ_INT(rt.role, 1);
        MBT_EQ_INT(rt.mode, MB_KEYPKG_MODE_SEALED);
        MBT_EQ_INT(rt.package_version, 1);
        MBT_EQ_MEM(rt.recipient, pkg + 20, 8);
        MBT_EQ_INT(mb_keypkg_peek(pkg, len - 1, &rt), MB_ERR_TRUNCATED);
        MBT_EQ_INT(rt.device_id, 0);
        MBT_EQ_INT(mb_keypkg_peek(pkg, 50, &rt), MB_ERR_TRUNCATED);
        MBT_EQ_INT(mb_keypkg_peek(NULL, len, &rt), MB_ERR_NULL);
        pkg[4] = 9;
        MBT_EQ_INT(mb_keypkg_peek(pkg, len, &rt), MB_ERR_VERSION);
        pkg[4] = 1;
    }
}

/* ---- sniffer and the clear bootstrap mode ------------------------------ */

static void sniffer_sealed_vs_bootstrap(void)
{
    static uint8_t pkg[1024], body[1024];
    uint8_t priv[32], pub[65];
    mb_keypkg_pair e;
    mb_keypkg_contents c, o;
    mb_keypkg_expect x;
    size_t len;

    setup_halves();
    e = module_entry();
    c = module_contents(&e);
    MBT_EQ_INT(mb_binding_generate(RNG, priv, pub), MB_OK);
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_OK);
    MBT_CHECK(!leaks(pkg, len, half_a, 64));
    MBT_CHECK(!leaks(pkg, len, half_b, 64));
    MBT_CHECK(!leaks(pkg, len, salt, 32));
    MBT_CHECK(!leaks(pkg, len, priv, 32));

    /* Factory bootstrap: the halves ARE on the wire - the reason it is off by default. */
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_BOOTSTRAP, NULL, app_priv, RNG, pkg, sizeof(pkg),
                              &len), MB_OK);
    MBT_CHECK(leaks(pkg, len, half_a, 64));
    x = expect_for(priv, pub, MODULE);
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_POLICY);
    x.allow_bootstrap = 1;
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_OK);
    MBT_EQ_INT(o.mode, MB_KEYPKG_MODE_BOOTSTRAP);
    MBT_CHECK(all_zero(o.recipient, 8));
    /* its check value catches line errors */
    pkg[200] ^= 1;
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_INTEGRITY);
    MBT_CHECK(all_zero(body, len));
}

/* ---- error paths of opening -------------------------------------------- */

static void wrong_device(void)
{
    static uint8_t pkg[1024], body[1024];
    uint8_t priv[32], pub[65], other_priv[32], other_pub[65], other_id[8];
    mb_keypkg_pair e;
    mb_keypkg_contents c, o;
    mb_keypkg_expect x;
    size_t len;

    setup_halves();
    e = module_entry();
    c = module_contents(&e);
    MBT_EQ_INT(mb_binding_generate(RNG, priv, pub), MB_OK);
    MBT_EQ_INT(mb_binding_generate(RNG, other_priv, other_pub), MB_OK);
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_OK);
    /* another device receives it */
    x = expect_for(other_priv, other_pub, NULL);
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_WRONG_DEVICE);
    /* ... even with the recipient id rewritten to its own: the key does not open it */
    MBT_EQ_INT(mb_binding_key_id(other_pub, other_id), MB_OK);
    memcpy(pkg + 20, other_id, 8);
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_AUTH);
    MBT_CHECK(all_zero(body, sizeof(body)));
    MBT_EQ_INT(o.pair_count, 0);
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_OK);
    /* right key, but it is another component or CAN id */
    x = expect_for(priv, pub, "comp_module_08");
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_WRONG_DEVICE);
    x = expect_for(priv, pub, MODULE);
    x.device_id = 8;
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_WRONG_DEVICE);
    x.device_id = 7;
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_OK);
}

/* Flip one bit at every offset; the device must refuse with the reason that
 * byte's field gives, and leave nothing behind. Two openers: one that has
 * pinned the app key and knows its component id (the signature is checked
 * before anything else), one on first provisioning (neither known). */
static int expected_for_offset(size_t i, size_t hdr_len, int pinned)
{
    if (i < 4) return MB_ERR_MALFORMED;                 /* magic */
    if (i == 4) return MB_ERR_VERSION;
    if (i == 5 || i == 12 || i == 13 || i == 14 || i == 15) return MB_ERR_MALFORMED;
    if (i >= 16 && i < 20) return 1;                    /* length: malformed or truncated */
    if (i >= 20 && i < 28) return MB_ERR_WRONG_DEVICE;  /* recipient key id */
    if (i >= 28 && i < 36) return MB_ERR_AUTH;          /* signer key id */
    if (i >= 36 && i < 101) return pinned ? MB_ERR_AUTH : MB_ERR_MALFORMED;  /* ephemeral point */
    if (i >= 101 && i < hdr_len) return pinned ? MB_ERR_WRONG_DEVICE : MB_ERR_AUTH;
    return MB_ERR_AUTH;                 /* role, id, version, body, tag, signature */
}

static void tamper_every_byte(void)
{
    static uint8_t pkg[1024], good[1024], body[1024];
    uint8_t priv[32], pub[65];
    mb_keypkg_pair e;
    mb_keypkg_contents c, o;
    mb_keypkg_expect x;
    size_t len, i, hdr_len = 101 + 14;
    unsigned wrong = 0, leftovers = 0;
    int pinned;

    setup_halves();
    e = module_entry();
    c = module_contents(&e);
    MBT_EQ_INT(mb_binding_generate(RNG, priv, pub), MB_OK);
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, pub, app_priv, RNG, good, sizeof(good), &len), MB_OK);
    for (pinned = 0; pinned <= 1; pinned++) {
        x = expect_for(priv, pub, pinned ? MODULE : NULL);
        x.app_pub = pinned ? app_pub : NULL;
        for (i = 0; i < len; i++) {
            int ret, want = expected_for_offset(i, hdr_len, pinned);
            memcpy(pkg, good, len);
            pkg[i] ^= 0x80;
            memset(body, 0xEE, sizeof(body));
            ret = mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o);
            if (want == 1 ? (ret != MB_ERR_MALFORMED && ret != MB_ERR_TRUNCATED) : ret != want) {
                wrong++;
                if (wrong < 5) fprintf(stderr, "  offset %u: %d, expected %d\n", (unsigned)i, ret, want);
            }
            /* nothing decrypted may survive a refusal */
            if (o.pair_count != 0 || o.body_ != NULL) leftovers++;
            {
                size_t k;
                for (k = 0; k < sizeof(body); k++) {
                    if (body[k] != 0xEE && body[k] != 0) { leftovers++; break; }
                }
            }
        }
    }
    MBT_EQ_INT(wrong, 0);
    MBT_EQ_INT(leftovers, 0);
}

/* Anyone can encrypt to a device's registered public key. A package sealed
 * correctly but signed by another key is refused once the app key is pinned;
 * on first provisioning the carried key is trusted (and then pinned). */
static void forged_by_another_app(void)
{
    static uint8_t pkg[1024], body[1024];
    uint8_t priv[32], pub[65], evil_priv[32], evil_pub[65];
    mb_keypkg_pair e;
    mb_keypkg_contents c, o;
    mb_keypkg_expect x;
    size_t len;

    setup_halves();
    e = module_entry();
    c = module_contents(&e);
    MBT_EQ_INT(mb_binding_generate(RNG, priv, pub), MB_OK);
    MBT_EQ_INT(mb_binding_generate(RNG, evil_priv, evil_pub), MB_OK);
    c.app_pub = evil_pub;
    c.package_version = 2;
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, pub, evil_priv, RNG, pkg, sizeof(pkg), &len),
               MB_OK);
    x = expect_for(priv, pub, MODULE);
    x.app_pub = app_pub;
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_AUTH);
    MBT_CHECK(all_zero(body, sizeof(body)));
    /* the forger copies the real app's signer key id: the signature still fails */
    MBT_EQ_INT(mb_binding_key_id(app_pub, pkg + 28), MB_OK);
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_AUTH);
    /* first provisioning (nothing pinned) cannot tell: documented TOFU */
    x.app_pub = NULL;
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, pub, evil_priv, RNG, pkg, sizeof(pkg), &len),
               MB_OK);
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_OK);
    MBT_EQ_MEM(o.app_pub, evil_pub, 65);
    /* the app rotates its key: signed by the pinned (old) key, carrying the
     * new one, which the device pins next */
    c.app_pub = evil_pub;   /* stands for the new key */
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, pub, app_priv, RNG, pkg, sizeof(pkg), &len),
               MB_OK);
    x.app_pub = app_pub;
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_OK);
    MBT_EQ_MEM(o.app_pub, evil_pub, 65);
    /* without a pinned key such a package does not vouch for itself */
    x.app_pub = NULL;
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_AUTH);
}

static void truncated_and_extended(void)
{
    static uint8_t pkg[1024], body[1024];
    uint8_t priv[32], pub[65];
    mb_keypkg_pair e;
    mb_keypkg_contents c, o;
    mb_keypkg_expect x;
    size_t len, n;
    unsigned wrong = 0;

    setup_halves();
    e = module_entry();
    c = module_contents(&e);
    MBT_EQ_INT(mb_binding_generate(RNG, priv, pub), MB_OK);
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_OK);
    x = expect_for(priv, pub, MODULE);
    for (n = 0; n < len; n++) {
        if (mb_keypkg_open(pkg, n, &x, RNG, body, sizeof(body), &o) != MB_ERR_TRUNCATED) wrong++;
    }
    MBT_EQ_INT(wrong, 0);
    MBT_EQ_INT(mb_keypkg_open(pkg, len + 1, &x, RNG, body, sizeof(body), &o), MB_ERR_MALFORMED);
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, len - 200, &o), MB_ERR_BUFFER_TOO_SMALL);
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_OK);
}

static void wrong_version_and_rollback(void)
{
    static uint8_t pkg[1024], body[1024];
    uint8_t priv[32], pub[65];
    mb_keypkg_pair e;
    mb_keypkg_contents c, o;
    mb_keypkg_expect x;
    size_t len;

    setup_halves();
    e = module_entry();
    c = module_contents(&e);
    c.package_version = 5;
    MBT_EQ_INT(mb_binding_generate(RNG, priv, pub), MB_OK);
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_OK);
    x = expect_for(priv, pub, MODULE);
    x.min_version = 5;     /* already holds version 5: a replay of it is refused */
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_ROLLBACK);
    MBT_CHECK(all_zero(body, sizeof(body)));
    x.min_version = 9;
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_ROLLBACK);
    x.min_version = 4;
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_OK);
    pkg[4] = 2;
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_VERSION);
    pkg[4] = 0;
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_VERSION);
}

/* A sealed package whose entry announces a key id its halves do not derive
 * (an app bug, or halves mixed up between pairs): refused before use. */
static void entry_validation(void)
{
    static uint8_t pkg[1024], body[1024];
    uint8_t priv[32], pub[65];
    mb_keypkg_pair e;
    mb_keypkg_contents c, o;
    mb_keypkg_expect x;
    size_t len;

    setup_halves();
    e = module_entry();
    c = module_contents(&e);
    MBT_EQ_INT(mb_binding_generate(RNG, priv, pub), MB_OK);
    x = expect_for(priv, pub, MODULE);
    e.key_id[0] ^= 1;
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_OK);
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_INTEGRITY);
    e.key_id[0] ^= 1;
    /* the peer is the device itself */
    e.peer_comp = (const uint8_t *)MODULE;
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_OK);
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_INTEGRITY);
    e = module_entry();
    /* equal halves never leave the app */
    e.half_2 = half_a;
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, pub, app_priv, RNG, pkg, sizeof(pkg), &len),
               MB_ERR_INVALID_ARG);
}

/* Re-sign a package as the app, after the test edited it (host mbedTLS). */
static int mbed_rng(void *p, unsigned char *o, size_t n) { return prng_fn(p, o, n); }

static void resign(uint8_t *pkg, size_t signed_len)
{
    static const char label[] = "modbatt/keypkg/v1/sig";
    mbedtls_ecp_group g;
    mbedtls_mpi d, r, s2;
    mbedtls_sha256_context sh;
    uint8_t h[32];

    mbedtls_sha256_init(&sh);
    mbedtls_sha256_starts_ret(&sh, 0);
    mbedtls_sha256_update_ret(&sh, (const uint8_t *)label, sizeof(label) - 1);
    mbedtls_sha256_update_ret(&sh, pkg, signed_len);
    mbedtls_sha256_finish_ret(&sh, h);
    mbedtls_sha256_free(&sh);
    mbedtls_ecp_group_init(&g);
    mbedtls_mpi_init(&d); mbedtls_mpi_init(&r); mbedtls_mpi_init(&s2);
    mbedtls_ecp_group_load(&g, MBEDTLS_ECP_DP_SECP256R1);
    mbedtls_mpi_read_binary(&d, app_priv, 32);
    mbedtls_ecdsa_sign(&g, &r, &s2, &d, h, 32, mbed_rng, &rng_state);
    mbedtls_mpi_write_binary(&r, pkg + signed_len, 32);
    mbedtls_mpi_write_binary(&s2, pkg + signed_len + 32, 32);
    mbedtls_mpi_free(&d); mbedtls_mpi_free(&r); mbedtls_mpi_free(&s2);
    mbedtls_ecp_group_free(&g);
}

/* Body structure, reached through the bootstrap mode (whose check value and
 * signature the test can recompute): flags, reserved bytes, the app key,
 * entry lengths. */
static void body_structure(void)
{
    static uint8_t pkg[1024], body[1024];
    uint8_t priv[32], pub[65], h[32];
    mb_keypkg_pair e;
    mb_keypkg_contents c, o;
    mb_keypkg_expect x;
    size_t len, hdr = 101 + 14, blen;
    mbedtls_sha256_context s;

    setup_halves();
    e = module_entry();
    c = module_contents(&e);
    MBT_EQ_INT(mb_binding_generate(RNG, priv, pub), MB_OK);
    x = expect_for(priv, pub, MODULE);
    x.allow_bootstrap = 1;
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_BOOTSTRAP, NULL, app_priv, RNG, pkg, sizeof(pkg),
                              &len), MB_OK);
    blen = len - hdr - 16 - 64;
#define RESEAL() do { mbedtls_sha256_init(&s); mbedtls_sha256_starts_ret(&s, 0); \
        mbedtls_sha256_update_ret(&s, pkg, hdr + blen); mbedtls_sha256_finish_ret(&s, h); \
        mbedtls_sha256_free(&s); memcpy(pkg + hdr + blen, h, 16); \
        resign(pkg, hdr + blen + 16); } while (0)
    RESEAL();                      /* the helpers themselves are right */
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_OK);
    pkg[hdr + 77] = 1;             /* reserved byte */
    RESEAL();
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_MALFORMED);
    pkg[hdr + 77] = 0;
    pkg[hdr + 1] = 0;              /* app key not flagged */
    RESEAL();
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_MALFORMED);
    pkg[hdr + 1] = 1;
    pkg[hdr + 12 + 64] ^= 1;       /* app key off the curve */
    RESEAL();
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_MALFORMED);
    pkg[hdr + 12 + 64] ^= 1;
    pkg[hdr + 78 + 6] = 0;         /* peer id length 0 */
    RESEAL();
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_MALFORMED);
    pkg[hdr + 78 + 6] = 200;       /* runs past the body */
    RESEAL();
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_MALFORMED);
    pkg[hdr + 78 + 6] = 13;        /* one short: the entry no longer ends the body */
    RESEAL();
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_MALFORMED);
    pkg[hdr + 78 + 6] = 14;
    RESEAL();
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_OK);
    /* with the app key pinned too */
    x.app_pub = app_pub;
    MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_OK);
#undef RESEAL
}

static void seal_argument_errors(void)
{
    static uint8_t pkg[1024];
    uint8_t priv[32], pub[65], bad_pub[65];
    mb_keypkg_pair e;
    mb_keypkg_contents c;
    mb_keypkg_expect x;
    size_t len;
    prng failing = { 1, 0, 0 };

    setup_halves();
    e = module_entry();
    c = module_contents(&e);
    MBT_EQ_INT(mb_binding_generate(RNG, priv, pub), MB_OK);
    MBT_EQ_INT(mb_keypkg_seal(NULL, 1, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_ERR_NULL);
    MBT_EQ_INT(mb_keypkg_seal(&c, 1, NULL, app_priv, RNG, pkg, sizeof(pkg), &len), MB_ERR_NULL);
    MBT_EQ_INT(mb_keypkg_seal(&c, 3, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_ERR_INVALID_ARG);
    MBT_EQ_INT(mb_keypkg_seal(&c, 1, pub, app_priv, RNG, pkg, 477, &len), MB_ERR_BUFFER_TOO_SMALL);
    MBT_EQ_INT(mb_keypkg_seal(&c, 1, pub, NULL, RNG, pkg, sizeof(pkg), &len), MB_ERR_NULL);
    memset(bad_pub, 0, 32);   /* a zero scalar is no key */
    MBT_EQ_INT(mb_keypkg_seal(&c, 1, pub, bad_pub, RNG, pkg, sizeof(pkg), &len), MB_ERR_INVALID_ARG);
    c.has_app_pub = 0;
    MBT_EQ_INT(mb_keypkg_seal(&c, 1, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_ERR_INVALID_ARG);
    c.has_app_pub = 1;
    memcpy(bad_pub, pub, 65); bad_pub[64] ^= 1;
    MBT_EQ_INT(mb_keypkg_seal(&c, 1, bad_pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_ERR_INVALID_ARG);
    MBT_CHECK(all_zero(pkg, 478));
    MBT_EQ_INT(mb_keypkg_seal(&c, 1, pub, app_priv, prng_fn, &failing, pkg, sizeof(pkg), &len), MB_ERR_RNG);
    c.package_version = 0;
    MBT_EQ_INT(mb_keypkg_seal(&c, 1, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_ERR_INVALID_ARG);
    c.package_version = 1;
    c.comp_id_len = 0;
    MBT_EQ_INT(mb_keypkg_seal(&c, 1, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_ERR_INVALID_ARG);
    c.comp_id_len = 65;
    MBT_EQ_INT(mb_keypkg_seal(&c, 1, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_ERR_INVALID_ARG);
    c.comp_id_len = 14;
    e.lct_id_len = 65;
    MBT_EQ_INT(mb_keypkg_seal(&c, 1, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_ERR_INVALID_ARG);
    e.lct_id_len = 23;
    e.salt = NULL;
    MBT_EQ_INT(mb_keypkg_seal(&c, 1, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_ERR_NULL);
    e.salt = salt;
    x = expect_for(priv, pub, MODULE);
    MBT_EQ_INT(mb_keypkg_seal(&c, 1, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_OK);
    MBT_EQ_INT(mb_keypkg_open(NULL, len, &x, RNG, pkg, 10, NULL), MB_ERR_NULL);
    x.binding_priv = NULL;
    {
        static uint8_t body[1024];
        mb_keypkg_contents o;
        MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_NULL);
        x.binding_priv = priv;
        MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, prng_fn, &failing, body, sizeof(body), &o),
                   MB_ERR_RNG);
    }
}

/* ---- reports ----------------------------------------------------------- */

static void report_roundtrip_and_errors(void)
{
    static uint8_t rep[MB_REPORT_MAX], good[MB_REPORT_MAX], pt[MB_REPORT_PT_MAX];
    uint8_t dev_priv[32], dev_pub[65], a_priv[32], a_pub[65], o_priv[32], o_pub[65];
    const char *msg = "delivery ok: package 7, 33 pairs stored, generation 12";
    mb_report_info in, got;
    size_t len, n, i;
    unsigned wrong = 0;

    MBT_EQ_INT(mb_binding_generate(RNG, dev_priv, dev_pub), MB_OK);
    MBT_EQ_INT(mb_binding_generate(RNG, a_priv, a_pub), MB_OK);
    MBT_EQ_INT(mb_binding_generate(RNG, o_priv, o_pub), MB_OK);
    memset(&in, 0, sizeof(in));
    in.type = MB_REPORT_DELIVERY; in.device_id = 1; in.sequence = 42;
    MBT_EQ_INT(mb_report_seal(&in, (const uint8_t *)msg, strlen(msg), a_pub, dev_priv, dev_pub,
                              RNG, good, sizeof(good), &len), MB_OK);
    MBT_EQ_INT(len, MB_REPORT_OVERHEAD + strlen(msg));
    MBT_CHECK(!leaks(good, len, (const uint8_t *)msg, strlen(msg)));
    MBT_EQ_INT(mb_report_open(good, len, dev_pub, a_priv, a_pub, 41, RNG, &got, pt, sizeof(pt),
                              &n), MB_OK);
    MBT_EQ_INT(n, strlen(msg));
    MBT_EQ_MEM(pt, msg, n);
    MBT_EQ_INT(got.type, MB_REPORT_DELIVERY);
    MBT_EQ_INT(got.device_id, 1);
    MBT_EQ_INT(got.sequence, 42);
    /* replayed */
    MBT_EQ_INT(mb_report_open(good, len, dev_pub, a_priv, a_pub, 42, RNG, &got, pt, sizeof(pt),
                              &n), MB_ERR_REPLAY);
    MBT_CHECK(all_zero(pt, strlen(msg)));
    /* claimed by another device's key */
    MBT_EQ_INT(mb_report_open(good, len, o_pub, a_priv, a_pub, 0, RNG, &got, pt, sizeof(pt),
                              &n), MB_ERR_WRONG_DEVICE);
    /* only the app can read it (signature fine, decryption fails) */
    MBT_EQ_INT(mb_report_open(good, len, dev_pub, o_priv, o_pub, 0, RNG, &got, pt, sizeof(pt),
                              &n), MB_ERR_AUTH);
    /* every changed byte is refused */
    for (i = 0; i < len; i++) {
        int ret, want;
        memcpy(rep, good, len);
        rep[i] ^= 0x40;
        ret = mb_report_open(rep, len, dev_pub, a_priv, a_pub, 0, RNG, &got, pt, sizeof(pt), &n);
        if (i < 4) want = MB_ERR_MALFORMED;
        else if (i == 4) want = MB_ERR_VERSION;
        else if (i == 7 || i == 85) want = MB_ERR_MALFORMED;
        else if (i == 86) want = 1;
        else if (i >= 12 && i < 20) want = MB_ERR_WRONG_DEVICE;
        else want = MB_ERR_AUTH;
        if (want == 1 ? (ret != MB_ERR_TRUNCATED && ret != MB_ERR_MALFORMED) : ret != want) {
            wrong++;
            if (wrong < 5) fprintf(stderr, "  report offset %u: %d expected %d\n", (unsigned)i, ret, want);
        }
    }
    MBT_EQ_INT(wrong, 0);
    MBT_EQ_INT(mb_report_open(good, len - 1, dev_pub, a_priv, a_pub, 0, RNG, &got, pt,
                              sizeof(pt), &n), MB_ERR_TRUNCATED);
    MBT_EQ_INT(mb_report_open(good, 10, dev_pub, a_priv, a_pub, 0, RNG, &got, pt,
                              sizeof(pt), &n), MB_ERR_TRUNCATED);
    MBT_EQ_INT(mb_report_open(good, len, dev_pub, a_priv, a_pub, 0, RNG, &got, pt, 3, &n),
               MB_ERR_BUFFER_TOO_SMALL);
    /* seal errors */
    MBT_EQ_INT(mb_report_seal(&in, pt, MB_REPORT_PT_MAX + 1, a_pub, dev_priv, dev_pub, RNG, rep,
                              sizeof(rep), &len), MB_ERR_LENGTH);
    MBT_EQ_INT(mb_report_seal(&in, pt, 10, a_pub, dev_priv, dev_pub, RNG, rep, 10, &len),
               MB_ERR_BUFFER_TOO_SMALL);
    a_pub[10] ^= 1;
    MBT_EQ_INT(mb_report_seal(&in, pt, 10, a_pub, dev_priv, dev_pub, RNG, rep, sizeof(rep), &len),
               MB_ERR_INVALID_ARG);
    MBT_EQ_INT(mb_report_seal(NULL, pt, 10, a_pub, dev_priv, dev_pub, RNG, rep, sizeof(rep), &len),
               MB_ERR_NULL);
    /* an empty report is fine */
    a_pub[10] ^= 1;
    in.type = MB_REPORT_ALERT; in.sequence = 43;
    MBT_EQ_INT(mb_report_seal(&in, NULL, 0, a_pub, dev_priv, dev_pub, RNG, rep, sizeof(rep), &len),
               MB_OK);
    MBT_EQ_INT(mb_report_open(rep, len, dev_pub, a_priv, a_pub, 42, RNG, &got, NULL, 0, &n), MB_OK);
    MBT_EQ_INT(n, 0);
    MBT_EQ_INT(got.type, MB_REPORT_ALERT);
}

/* Report payloads: key-store status from a boot, a delivery result; both
 * through a sealed report and back, negative codes included. */
static void report_payloads(void)
{
    static uint8_t rep[MB_REPORT_MAX];
    uint8_t dev_priv[32], dev_pub[65], pt[32], back[32];
    mb_ks_boot_info info;
    mb_ks_record rec;
    mb_report_keystore ks, ks2;
    mb_report_delivery d, d2;
    mb_report_info ri, got;
    size_t len, n, rlen;

    memset(&info, 0, sizeof(info));
    info.slot_status[0] = MB_OK;
    info.slot_status[1] = MB_ERR_ROLLBACK;
    info.selected = 0;
    info.counter = 12;
    memset(&rec, 0, sizeof(rec));
    rec.generation = 12; rec.package_version = 7; rec.flags = MB_KS_FLAG_HAS_APP_KEY;
    MBT_EQ_INT(mb_report_keystore_from_boot(&info, &rec, &ks), MB_OK);
    MBT_EQ_INT(mb_report_encode_keystore(&ks, pt, sizeof(pt), &len), MB_OK);
    MBT_EQ_INT(len, MB_REPORT_KEYSTORE_LEN);
    MBT_EQ_INT(mb_binding_generate(RNG, dev_priv, dev_pub), MB_OK);
    memset(&ri, 0, sizeof(ri));
    ri.type = MB_REPORT_KEYSTORE; ri.device_id = 1; ri.sequence = 5;
    MBT_EQ_INT(mb_report_seal(&ri, pt, len, app_pub, dev_priv, dev_pub, RNG, rep, sizeof(rep), &rlen),
               MB_OK);
    MBT_EQ_INT(mb_report_open(rep, rlen, dev_pub, app_priv, app_pub, 4, RNG, &got, back, sizeof(back),
                              &n), MB_OK);
    MBT_EQ_INT(got.type, MB_REPORT_KEYSTORE);
    MBT_EQ_INT(mb_report_decode_keystore(back, n, &ks2), MB_OK);
    MBT_EQ_INT(ks2.slot_status[0], MB_OK);
    MBT_EQ_INT(ks2.slot_status[1], MB_ERR_ROLLBACK);
    MBT_EQ_INT(ks2.selected, 0);
    MBT_EQ_INT(ks2.generation, 12);
    MBT_EQ_INT(ks2.counter, 12);
    MBT_EQ_INT(ks2.package_version, 7);
    MBT_EQ_INT(ks2.flags, MB_KS_FLAG_HAS_APP_KEY);
    /* no record selected */
    info.selected = -1;
    info.slot_status[0] = MB_ERR_WRONG_DEVICE;
    MBT_EQ_INT(mb_report_keystore_from_boot(&info, NULL, &ks), MB_OK);
    MBT_EQ_INT(mb_report_encode_keystore(&ks, pt, sizeof(pt), &len), MB_OK);
    MBT_EQ_INT(mb_report_decode_keystore(pt, len, &ks2), MB_OK);
    MBT_EQ_INT(ks2.selected, -1);
    MBT_EQ_INT(ks2.slot_status[0], MB_ERR_WRONG_DEVICE);
    MBT_EQ_INT(ks2.generation, 0);
    pt[4] = 2;
    MBT_EQ_INT(mb_report_decode_keystore(pt, len, &ks2), MB_ERR_MALFORMED);
    MBT_EQ_INT(mb_report_decode_keystore(pt, len - 1, &ks2), MB_ERR_MALFORMED);
    ks.selected = 2;
    MBT_EQ_INT(mb_report_encode_keystore(&ks, pt, sizeof(pt), &len), MB_ERR_INVALID_ARG);
    ks.selected = 0;
    MBT_EQ_INT(mb_report_encode_keystore(&ks, pt, 17, &len), MB_ERR_BUFFER_TOO_SMALL);
    MBT_EQ_INT(mb_report_keystore_from_boot(NULL, NULL, &ks), MB_ERR_NULL);

    d.package_version = 3; d.result = MB_ERR_AUTH; d.pairs = 0; d.generation = 0;
    MBT_EQ_INT(mb_report_encode_delivery(&d, pt, sizeof(pt), &len), MB_OK);
    MBT_EQ_INT(len, MB_REPORT_DELIVERY_LEN);
    MBT_EQ_INT(pt[4], 0xFF);
    MBT_EQ_INT(pt[5], 0xFC);              /* -4 */
    MBT_EQ_INT(mb_report_decode_delivery(pt, len, &d2), MB_OK);
    MBT_EQ_INT(d2.result, MB_ERR_AUTH);
    MBT_EQ_INT(d2.package_version, 3);
    d.result = MB_OK; d.pairs = 33; d.generation = 0xA1B2C3D4u;
    MBT_EQ_INT(mb_report_encode_delivery(&d, pt, sizeof(pt), &len), MB_OK);
    MBT_EQ_INT(mb_report_decode_delivery(pt, len, &d2), MB_OK);
    MBT_EQ_INT(d2.pairs, 33);
    MBT_EQ_INT(d2.generation, 0xA1B2C3D4u);
    MBT_EQ_INT(d2.result, 0);
    MBT_EQ_INT(mb_report_decode_delivery(pt, 12, &d2), MB_ERR_MALFORMED);
    MBT_EQ_INT(mb_report_encode_delivery(&d, pt, 10, &len), MB_ERR_BUFFER_TOO_SMALL);
    MBT_EQ_INT(mb_report_encode_delivery(NULL, pt, 10, &len), MB_ERR_NULL);
}

/* ---- the device-side flow: binding key, delivery, open, store, reboot ---- */

#define FLASH_AREA (2u * 2048u)
static uint8_t flash_mem[FLASH_AREA];

static int fl_read(void *u, uint32_t off, uint8_t *b, size_t n)
{ (void)u; memcpy(b, flash_mem + off, n); return 0; }
static int fl_erase(void *u, uint32_t off, size_t n)
{ (void)u; memset(flash_mem + off, 0xFF, n); return 0; }
static int fl_write(void *u, uint32_t off, const uint8_t *b, size_t n)
{ size_t i; (void)u; for (i = 0; i < n; i++) flash_mem[off + i] &= b[i]; return 0; }

typedef struct q_frame { uint32_t id; uint8_t len; uint8_t d[8]; } q_frame;
static q_frame q[8];
static int q_n;
static int q_send(void *u, uint32_t id, const uint8_t *d, uint8_t len)
{
    (void)u;
    if (q_n < 8) { q[q_n].id = id; q[q_n].len = len; memcpy(q[q_n].d, d, len); q_n++; }
    return 0;
}

/* Two sessions on the module bus: the pack (controller) and module 7. */
typedef struct sq { mb_frame f[64]; int n; } sq;
static sq q_pack, q_mod;
static int tx_pack(void *u, const mb_frame *f) { (void)u; if (q_pack.n < 64) q_pack.f[q_pack.n++] = *f; return 0; }
static int tx_mod(void *u, const mb_frame *f) { (void)u; if (q_mod.n < 64) q_mod.f[q_mod.n++] = *f; return 0; }

static int pump(mb_session *pack, mb_session *mod, uint32_t now, mb_session_msg *at_mod)
{
    int guard, i, errors = 0;
    mb_session_msg m;
    for (guard = 0; guard < 16 && (q_pack.n || q_mod.n); guard++) {
        sq a = q_pack, b = q_mod;
        q_pack.n = 0; q_mod.n = 0;
        for (i = 0; i < a.n; i++) {
            if (mb_session_rx(mod, &a.f[i], now, &m) != MB_OK) errors++;
            else if (m.ready && at_mod) *at_mod = m;
        }
        for (i = 0; i < b.n; i++) {
            if (mb_session_rx(pack, &b.f[i], now, &m) != MB_OK) errors++;
        }
    }
    return errors;
}

/* Deliver a blob from the app to the device over mb_xfer (lossless link). */
static int deliver(const uint8_t *blob, size_t len, uint8_t xid, uint8_t *rbuf, size_t cap,
                   size_t *got)
{
    static mb_xfer_tx tx;
    static mb_xfer_rx rx;
    mb_xfer_cfg c;
    uint32_t now = 0;

    mb_xfer_cfg_defaults(&c);
    c.device_id = 7;
    c.send = q_send;
    q_n = 0;
    if (mb_xfer_rx_init(&rx, &c, rbuf, cap) != MB_OK ||
        mb_xfer_tx_start(&tx, &c, xid, MB_XFER_KIND_KEYPKG, blob, len, now) != MB_OK) {
        return -1;
    }
    while (mb_xfer_tx_state(&tx) == MB_XFER_BUSY && now < 100000) {
        while (q_n > 0) {
            q_frame f = q[0];
            memmove(q, q + 1, (size_t)(q_n - 1) * sizeof(q_frame));
            q_n--;
            if ((f.id >> 18) == 0x4B0) (void)mb_xfer_tx_on_frame(&tx, f.id, f.d, f.len, now);
            else (void)mb_xfer_rx_on_frame(&rx, f.id, f.d, f.len, now);
        }
        (void)mb_xfer_tx_poll(&tx, ++now);
    }
    *got = rx.len;
    return mb_xfer_rx_state(&rx) == MB_XFER_DONE ? 0 : -1;
}

static void device_flow(void)
{
    static uint8_t pkg[1024], rbuf[1024], body[1024];
    static mb_keystore ks;
    static mb_ks_record rec, booted;
    static mb_session sess;
    uint8_t storage_key[32], uid[16], priv[32], pub[65], ps[32];
    mb_ks_platform plat;
    mb_keypkg_pair e;
    mb_keypkg_contents c, o;
    mb_keypkg_expect x;
    mb_pair_params pp;
    mb_pair_keys pack_keys;
    mb_session_cfg sc;
    mb_aead work;
    size_t len, got = 0;

    setup_halves();
    memset(flash_mem, 0xFF, sizeof(flash_mem));
    memset(&plat, 0, sizeof(plat));
    plat.read = fl_read; plat.erase = fl_erase; plat.write = fl_write;
    plat.page_size = 2048; plat.write_unit = 8; plat.erased = 0xFF;
    memset(storage_key, 0x5C, 32);
    memset(uid, 0x07, 16);

    /* 1. first boot: blank store, make the binding key, keep it */
    MBT_EQ_INT(mb_keystore_init(&ks, &plat, storage_key, uid), MB_OK);
    MBT_EQ_INT(mb_keystore_boot(&ks, &rec, NULL), MB_ERR_NOT_FOUND);
    MBT_EQ_INT(mb_binding_generate(RNG, priv, pub), MB_OK);
    memcpy(rec.binding_priv, priv, 32);
    MBT_EQ_INT(mb_keystore_write(&ks, &rec, RNG), MB_OK);
    mb_wipe(priv, 32);

    /* 2. the app seals the module's package to the registered key and sends it */
    e = module_entry();
    c = module_contents(&e);
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, pub, app_priv, RNG, pkg, sizeof(pkg), &len), MB_OK);
    MBT_EQ_INT(deliver(pkg, len, 1, rbuf, sizeof(rbuf), &got), 0);
    MBT_EQ_INT(got, len);

    /* 3. reboot, then open with what the store holds, and store the result */
    MBT_EQ_INT(mb_keystore_init(&ks, &plat, storage_key, uid), MB_OK);
    MBT_EQ_INT(mb_keystore_boot(&ks, &booted, NULL), MB_OK);
    MBT_EQ_INT(mb_binding_public(booted.binding_priv, RNG, pub), MB_OK);
    x = expect_for(booted.binding_priv, pub, NULL);
    x.min_version = booted.package_version;
    MBT_EQ_INT(mb_keypkg_open(rbuf, got, &x, RNG, body, sizeof(body), &o), MB_OK);
    MBT_EQ_INT(mb_keypkg_to_record(&o, booted.binding_priv, &rec), MB_OK);
    mb_wipe(body, sizeof(body));
    MBT_EQ_INT(mb_keystore_write(&ks, &rec, RNG), MB_OK);

    /* 4. after the next boot the module has its pair secret; the pack's
     *    session layer derives the same PS from its own pair keys */
    MBT_EQ_INT(mb_keystore_init(&ks, &plat, storage_key, uid), MB_OK);
    MBT_EQ_INT(mb_keystore_boot(&ks, &booted, NULL), MB_OK);
    MBT_EQ_INT(booted.package_version, 1);
    MBT_EQ_INT(booted.pair_count, 1);
    MBT_EQ_INT(booted.device_id, 7);
    MBT_EQ_INT(booted.pairs[0].peer_id, 1);
    MBT_EQ_INT(booted.params.rekey_after_ms, 3600000);
    MBT_EQ_INT(booted.flags & MB_KS_FLAG_BOOTSTRAPPED, 0);
    pp.half_1 = half_a; pp.half_2 = half_b; pp.salt = salt;
    pp.self_id = (const uint8_t *)PACK; pp.self_id_len = 14;
    pp.peer_id = (const uint8_t *)MODULE; pp.peer_id_len = 14;
    pp.lct_id = (const uint8_t *)LCT; pp.lct_id_len = 23;
    MBT_EQ_INT(mb_pair_derive(&pp, &pack_keys), MB_OK);
    MBT_EQ_INT(mb_session_pair_secret(&pack_keys, ps), MB_OK);
    MBT_EQ_MEM(booted.pairs[0].secret, ps, 32);
    MBT_EQ_MEM(booted.pairs[0].key_id, pack_keys.key_id, 4);
    /* the module starts its session from the key store alone; the pack from
     * its pair keys; they handshake and a COMMAND gets through */
    {
        static mb_session mod;
        static mb_aead mod_work;
        mb_session_cfg mc;
        mb_session_msg msg_got;
        const uint8_t cmd[2] = { 2, 0 };   /* precharge */
        mb_session_cfg_defaults(&sc);
        sc.role = MB_ROLE_CONTROLLER; sc.device_id = 7;
        sc.rng = prng_fn; sc.tx = tx_pack; sc.user = &rng_state;
        mb_aead_init(&work);
        sc.aead = &work;
        MBT_EQ_INT(mb_session_init(&sess, &sc, &pack_keys), MB_OK);
        mb_session_cfg_defaults(&mc);
        mc.role = MB_ROLE_DEVICE; mc.device_id = booted.device_id;
        mc.rng = prng_fn; mc.tx = tx_mod; mc.user = &rng_state;
        mb_aead_init(&mod_work);
        mc.aead = &mod_work;
        MBT_EQ_INT(mb_session_init_secret(&mod, &mc, booted.pairs[0].secret, booted.pairs[0].key_id),
                   MB_OK);
        q_pack.n = q_mod.n = 0;
        MBT_EQ_INT(mb_session_start(&sess, 10), MB_OK);
        MBT_EQ_INT(pump(&sess, &mod, 10, NULL), 0);
        MBT_EQ_INT(sess.established, 1);
        MBT_EQ_INT(mod.established, 1);
        memset(&msg_got, 0, sizeof(msg_got));
        MBT_EQ_INT(mb_session_send(&sess, MB_MSG_COMMAND, cmd, 2, 20), MB_OK);
        MBT_EQ_INT(pump(&sess, &mod, 20, &msg_got), 0);
        MBT_EQ_INT(msg_got.ready, 1);
        MBT_EQ_INT(msg_got.type, MB_MSG_COMMAND);
        MBT_EQ_INT(msg_got.len, 2);
        MBT_EQ_MEM(msg_got.data, cmd, 2);
        mb_session_free(&mod);
        mb_aead_free(&mod_work);
    }
    mb_session_free(&sess);
    mb_aead_free(&work);
    mb_pair_keys_wipe(&pack_keys);

    /* 5. the app key is pinned: later packages must carry its signature */
    MBT_EQ_INT(booted.flags & MB_KS_FLAG_HAS_APP_KEY, MB_KS_FLAG_HAS_APP_KEY);
    MBT_EQ_MEM(booted.app_pub, app_pub, 65);
    x.app_pub = booted.app_pub;
    x.min_version = booted.package_version;
    x.comp_id = booted.pair_count ? (const uint8_t *)MODULE : NULL;
    x.comp_id_len = 14;
    /* the same package delivered again is refused as a rollback */
    MBT_EQ_INT(mb_keypkg_open(rbuf, got, &x, RNG, body, sizeof(body), &o), MB_ERR_ROLLBACK);
    MBT_EQ_INT(mb_keypkg_to_record(&o, booted.binding_priv, &rec), MB_ERR_INVALID_ARG);
    /* a newer package from someone else (sealed to the public binding key)
     * is refused; one from the app is taken */
    {
        uint8_t evil_priv[32], evil_pub[65];
        MBT_EQ_INT(mb_binding_generate(RNG, evil_priv, evil_pub), MB_OK);
        c.package_version = 2;
        c.app_pub = evil_pub;
        MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, pub, evil_priv, RNG, pkg, sizeof(pkg),
                                  &len), MB_OK);
        MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_ERR_AUTH);
        c.app_pub = app_pub;
        MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, pub, app_priv, RNG, pkg, sizeof(pkg),
                                  &len), MB_OK);
        MBT_EQ_INT(mb_keypkg_open(pkg, len, &x, RNG, body, sizeof(body), &o), MB_OK);
        MBT_EQ_INT(o.package_version, 2);
    }
    mb_ks_record_wipe(&booted);
    mb_keystore_free(&ks);
}

int main(void)
{
    app_keys();
    MBT_RUN(binding_keys);
    MBT_RUN(module_roundtrip);
    MBT_RUN(pack_33_pairs);
    MBT_RUN(worked_example);
    MBT_RUN(sniffer_sealed_vs_bootstrap);
    MBT_RUN(wrong_device);
    MBT_RUN(tamper_every_byte);
    MBT_RUN(forged_by_another_app);
    MBT_RUN(truncated_and_extended);
    MBT_RUN(wrong_version_and_rollback);
    MBT_RUN(entry_validation);
    MBT_RUN(body_structure);
    MBT_RUN(seal_argument_errors);
    MBT_RUN(report_roundtrip_and_errors);
    MBT_RUN(report_payloads);
    MBT_RUN(device_flow);
    return mbt_finish("test_keypkg");
}
