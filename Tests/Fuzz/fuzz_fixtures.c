/*
 * fuzz_fixtures.c - genuine protocol material for the fuzz harnesses and
 * gen_seeds.c, built through the core's own public API with fixed inputs
 * (the same pair as Tests/Vectors/protocol-v2.json), so that every harness
 * knows exactly which inputs a legitimate sender could have produced.
 */
#include <string.h>

#include "fuzz_fixtures.h"

int fz_rng(void *user, uint8_t *out, size_t len)
{
    uint64_t *s = (uint64_t *)user;
    size_t i;
    for (i = 0; i < len; i++) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        out[i] = (uint8_t)(*s >> 24);
    }
    return 0;
}

/* ---- the protocol-vector pair ------------------------------------------ */

#define FZ_CTL_COMP "comp_1751725111"
#define FZ_DEV_COMP "comp_1751725222"
#define FZ_LCT      "lct_comp_1751725111"

int fz_pair_keys(int device_side, mb_pair_keys *out)
{
    uint8_t h1[64], h2[64], salt[32];
    mb_pair_params p;
    size_t i;
    for (i = 0; i < 64; i++) {
        h1[i] = (uint8_t)(0x40 + i);
        h2[i] = (uint8_t)(0xC0 ^ (i * 7u));
    }
    for (i = 0; i < 32; i++) {
        salt[i] = (uint8_t)(0xA0 + i);
    }
    p.half_1 = h1;
    p.half_2 = h2;
    p.salt = salt;
    p.self_id = (const uint8_t *)(device_side ? FZ_DEV_COMP : FZ_CTL_COMP);
    p.self_id_len = strlen(FZ_CTL_COMP);
    p.peer_id = (const uint8_t *)(device_side ? FZ_CTL_COMP : FZ_DEV_COMP);
    p.peer_id_len = strlen(FZ_DEV_COMP);
    p.lct_id = (const uint8_t *)FZ_LCT;
    p.lct_id_len = strlen(FZ_LCT);
    return mb_pair_derive(&p, out) == MB_OK ? 0 : -1;
}

/* ---- binding keys ------------------------------------------------------ */

static fz_ec_keys ec_keys;
static int ec_ready;

const fz_ec_keys *fz_ec(void)
{
    uint64_t blind = 0x0123456789ABCDEFull;
    if (!ec_ready) {
        memset(ec_keys.dev_priv, 0x21, 32);
        memset(ec_keys.app_priv, 0x33, 32);
        if (mb_binding_public(ec_keys.dev_priv, fz_rng, &blind, ec_keys.dev_pub) != MB_OK ||
            mb_binding_public(ec_keys.app_priv, fz_rng, &blind, ec_keys.app_pub) != MB_OK) {
            return NULL;
        }
        ec_ready = 1;
    }
    return &ec_keys;
}

/* ---- key packages ------------------------------------------------------ */

static const char *const peer_comps[3] = { "comp_pack_0001", "comp_module_08", "comp_module_09" };
static const char *const lcts[3] = { "lct_pack_0001_module_07", "lct_module_07_08",
                                     "lct_module_07_09" };

static int fill_entry(unsigned i, uint8_t halves[2][64], uint8_t salt[32], mb_keypkg_pair *e)
{
    mb_pair_params p;
    mb_pair_keys k;
    size_t j;
    int ret;
    for (j = 0; j < 64; j++) {
        halves[0][j] = (uint8_t)(j + i);
        halves[1][j] = (uint8_t)(0x80 + j * 3u + i);
    }
    for (j = 0; j < 32; j++) {
        salt[j] = (uint8_t)(0xA0 + j + i);
    }
    memset(e, 0, sizeof(*e));
    e->peer_id = (uint8_t)(0x01 + i);
    e->flags = (uint8_t)(i == 0u ? 0u : MB_KEYPKG_PAIR_CONTROLLER);
    e->peer_comp = (const uint8_t *)peer_comps[i];
    e->peer_comp_len = strlen(peer_comps[i]);
    e->lct_id = (const uint8_t *)lcts[i];
    e->lct_id_len = strlen(lcts[i]);
    e->half_1 = halves[0];
    e->half_2 = halves[1];
    e->salt = salt;
    p.half_1 = halves[0];
    p.half_2 = halves[1];
    p.salt = salt;
    p.self_id = (const uint8_t *)FZ_DEVICE_COMP;
    p.self_id_len = strlen(FZ_DEVICE_COMP);
    p.peer_id = e->peer_comp;
    p.peer_id_len = e->peer_comp_len;
    p.lct_id = e->lct_id;
    p.lct_id_len = e->lct_id_len;
    ret = mb_pair_derive(&p, &k);
    memcpy(e->key_id, k.key_id, 4);
    mb_pair_keys_wipe(&k);
    return ret == MB_OK ? 0 : -1;
}

int fz_keypkg_build(unsigned variant, uint8_t *out, size_t cap, size_t *len)
{
    static uint8_t halves[3][2][64], salts[3][32];
    mb_keypkg_pair e[3];
    mb_keypkg_contents c;
    const fz_ec_keys *k = fz_ec();
    uint64_t rng = 0x9E3779B97F4A7C15ull + variant;
    unsigned i, n = variant == 1u ? 3u : 1u;
    uint8_t mode = variant == 2u ? MB_KEYPKG_MODE_BOOTSTRAP : MB_KEYPKG_MODE_SEALED;

    if (k == NULL || variant >= FZ_KEYPKG_VARIANTS) {
        return -1;
    }
    for (i = 0; i < n; i++) {
        if (fill_entry(i, halves[i], salts[i], &e[i]) != 0) {
            return -1;
        }
    }
    memset(&c, 0, sizeof(c));
    c.package_version = variant + 1u;
    c.device_id = FZ_DEVICE_ID;
    c.role = 1;
    c.comp_id = (const uint8_t *)FZ_DEVICE_COMP;
    c.comp_id_len = strlen(FZ_DEVICE_COMP);
    c.params.profile = (uint8_t)(variant & 1u);
    c.params.rekey_after_ms = 3600000u;
    c.params.rekey_after_msgs = 1u << 20;
    c.has_app_pub = 1;
    c.app_pub = k->app_pub;
    c.pair_count = n;
    c.pairs = e;
    return mb_keypkg_seal(&c, mode, mode == MB_KEYPKG_MODE_SEALED ? k->dev_pub : NULL,
                          k->app_priv, fz_rng, &rng, out, cap, len) == MB_OK ? 0 : -1;
}

/* ---- reports ----------------------------------------------------------- */

int fz_report_build(unsigned variant, uint8_t *out, size_t cap, size_t *len,
                    uint8_t *pt, size_t pt_cap, size_t *pt_len)
{
    const fz_ec_keys *k = fz_ec();
    uint64_t rng = 0xC2B2AE3D27D4EB4Full + variant;
    mb_report_info info;
    int ret = MB_ERR_INVALID_ARG;

    if (k == NULL || variant >= FZ_REPORT_VARIANTS) {
        return -1;
    }
    memset(&info, 0, sizeof(info));
    info.type = (uint8_t)(MB_REPORT_DELIVERY + variant);
    info.device_id = FZ_DEVICE_ID;
    info.sequence = variant + 1u;
    if (variant == 0u) {
        mb_report_delivery d = { 3u, (int16_t)MB_ERR_ROLLBACK, 2u, 9u };
        ret = mb_report_encode_delivery(&d, pt, pt_cap, pt_len);
    } else if (variant == 1u) {
        mb_report_keystore s = { { (int16_t)MB_OK, (int16_t)MB_ERR_TRUNCATED }, 0, 4u, 4u, 2u, 1u };
        ret = mb_report_encode_keystore(&s, pt, pt_cap, pt_len);
    } else if (pt_cap >= 40u) {
        memset(pt, 0x5A, 40u);
        *pt_len = 40u;
        ret = MB_OK;
    }
    if (ret != MB_OK) {
        return -1;
    }
    return mb_report_seal(&info, pt, *pt_len, k->app_pub, k->dev_priv, k->dev_pub,
                          fz_rng, &rng, out, cap, len) == MB_OK ? 0 : -1;
}

/* ---- key store --------------------------------------------------------- */

static int fl_read(void *user, uint32_t off, uint8_t *buf, size_t len)
{
    fz_flash *f = (fz_flash *)user;
    if ((size_t)off + len > sizeof(f->mem)) {
        return MB_ERR_FLASH;
    }
    memcpy(buf, f->mem + off, len);
    return MB_OK;
}

static int fl_erase(void *user, uint32_t off, size_t len)
{
    fz_flash *f = (fz_flash *)user;
    if ((size_t)off + len > sizeof(f->mem) || off % FZ_KS_PAGE != 0u || len % FZ_KS_PAGE != 0u) {
        return MB_ERR_FLASH;
    }
    memset(f->mem + off, 0xFF, len);
    return MB_OK;
}

/* NOR semantics: programming can only clear bits. */
static int fl_write(void *user, uint32_t off, const uint8_t *buf, size_t len)
{
    fz_flash *f = (fz_flash *)user;
    size_t i;
    if ((size_t)off + len > sizeof(f->mem)) {
        return MB_ERR_FLASH;
    }
    for (i = 0; i < len; i++) {
        f->mem[off + i] &= buf[i];
    }
    return MB_OK;
}

static int fl_counter_read(void *user, uint32_t *v)
{
    *v = ((fz_flash *)user)->counter;
    return MB_OK;
}

static int fl_counter_raise(void *user, uint32_t v)
{
    fz_flash *f = (fz_flash *)user;
    if (v > f->counter) {
        f->counter = v;
    }
    return MB_OK;
}

void fz_ks_platform(fz_flash *f, mb_ks_platform *plat)
{
    memset(plat, 0, sizeof(*plat));
    plat->read = fl_read;
    plat->erase = fl_erase;
    plat->write = fl_write;
    if (f->has_counter) {
        plat->counter_read = fl_counter_read;
        plat->counter_raise = fl_counter_raise;
    }
    plat->user = f;
    plat->page_size = FZ_KS_PAGE;
    plat->write_unit = 8;
    plat->erased = 0xFF;
}

static const uint8_t storage_key[32] = {
    0x5b, 0x10, 0xa7, 0x33, 0x91, 0x0e, 0xc4, 0x7d, 0x28, 0x66, 0xf1, 0x02, 0xbd, 0x49, 0x88, 0x17,
    0x3c, 0xe5, 0x70, 0x9a, 0x0b, 0xd2, 0x45, 0x6f, 0x81, 0x2e, 0xb3, 0x58, 0xc9, 0x14, 0x7a, 0xe6
};
static const uint8_t uid[16] = { 'M', 'B', 'F', 'Z', 0x00, 0x01, 0x02, 0x03,
                                 0x04, 0x05, 0x06, 0x07, 0x08, 0x09, 0x0a, 0x0b };

const uint8_t *fz_ks_storage_key(void) { return storage_key; }
const uint8_t *fz_ks_uid(void) { return uid; }

void fz_ks_record(unsigned variant, mb_ks_record *rec)
{
    unsigned i;
    memset(rec, 0, sizeof(*rec));
    rec->package_version = 1u + variant;
    rec->device_id = FZ_DEVICE_ID;
    rec->role = (uint8_t)(variant & 1u);
    rec->flags = variant == 1u ? MB_KS_FLAG_HAS_APP_KEY : MB_KS_FLAG_BOOTSTRAPPED;
    rec->pair_count = (uint8_t)(variant == 0u ? 1u : variant == 1u ? 4u : 0u);
    rec->params.profile = (uint8_t)(variant & 1u);
    rec->params.rekey_after_ms = 3600000u;
    rec->params.rekey_after_msgs = 1u << 20;
    if (rec->flags & MB_KS_FLAG_HAS_APP_KEY) {   /* stored only when flagged */
        memset(rec->app_pub, 0x04 + (int)variant, sizeof(rec->app_pub));
    }
    memset(rec->binding_priv, 0x61 + (int)variant, sizeof(rec->binding_priv));
    for (i = 0; i < rec->pair_count; i++) {
        rec->pairs[i].peer_id = (uint8_t)(i + 1u);
        rec->pairs[i].flags = (uint8_t)(i & 1u);
        memset(rec->pairs[i].key_id, 0xC0 + (int)i, 4);
        memset(rec->pairs[i].secret, 0x70 + (int)(i + variant), 32);
    }
}

int fz_ks_image(fz_flash *f)
{
    mb_ks_platform plat;
    mb_keystore ks;
    mb_ks_record rec, got;
    uint8_t first[FZ_KS_AREA / 2u];
    uint64_t rng = 0xD6E8FEB86659FD93ull;
    unsigned v;
    int ret;

    memset(f->mem, 0xFF, sizeof(f->mem));
    f->counter = 0;
    fz_ks_platform(f, &plat);
    if (mb_keystore_init(&ks, &plat, storage_key, uid) != MB_OK ||
        mb_keystore_slot_size(&ks) * 2u != FZ_KS_AREA) {
        return -1;
    }
    ret = mb_keystore_boot(&ks, &got, NULL);
    for (v = 0; v < 2u && ret == MB_ERR_NOT_FOUND; v++) {
        fz_ks_record(v, &rec);
        ret = mb_keystore_write(&ks, &rec, fz_rng, &rng) == MB_OK ? MB_ERR_NOT_FOUND : -1;
        if (v == 0u) {
            memcpy(first, f->mem, sizeof(first));
        }
    }
    /* The second write erased record 0; put it back, as a write cut before
     * that erase leaves it, so both generations are on flash. */
    if (ret == MB_ERR_NOT_FOUND) {
        memcpy(f->mem, first, sizeof(first));
    }
    mb_keystore_free(&ks);
    mb_ks_record_wipe(&rec);
    mb_ks_record_wipe(&got);
    return ret == MB_ERR_NOT_FOUND ? 0 : -1;
}
