/*
 * fuzz_keypkg.c - key package open on the device (mb_keypkg_open, its EC
 * and GCM steps in mb_keypkg_ec.c, mb_keypkg_peek, mb_keypkg_pair_at,
 * mb_keypkg_to_record) on arbitrary packages.
 *
 * Input: policy u8 (bit 0 app key pinned, bit 1 bootstrap allowed, bit 2
 * own component id known, bits 3..4 min_version, bit 5 own CAN device id
 * known), then the package.
 * Invariants:
 *  - only a package the app sealed is opened: on MB_OK the signed part
 *    (everything but the 64-byte signature) equals one of the genuine
 *    packages the harness built, and its policy was met (bootstrap only if
 *    allowed, version above min_version);
 *  - what open hands out is consistent: every entry reads back, the
 *    record builds, the routing fields of peek match, every pointer points
 *    into the caller's body buffer;
 *  - on any error the body buffer and the contents are zeroed;
 *  - a body buffer of exactly the package length suffices (ASan sees the
 *    exact-size allocations) and errors are documented codes.
 */
#include "fuzz_common.h"
#include "fuzz_fixtures.h"

static uint8_t genuine[FZ_KEYPKG_VARIANTS][1024];
static size_t genuine_len[FZ_KEYPKG_VARIANTS];

static int match_genuine(const uint8_t *pkg, size_t len)
{
    unsigned v;
    for (v = 0; v < FZ_KEYPKG_VARIANTS; v++) {
        if (len == genuine_len[v] && memcmp(pkg, genuine[v], len - MB_P256_SIG_LEN) == 0) {
            return (int)v;
        }
    }
    return -1;
}

static int within(const uint8_t *p, size_t n, const uint8_t *buf, size_t cap)
{
    return p >= buf && n <= cap && (size_t)(p - buf) <= cap - n;
}

static void check_opened(const uint8_t *pkg, size_t len, const mb_keypkg_expect *x,
                         const uint8_t *body, size_t cap, const mb_keypkg_contents *c)
{
    static mb_ks_record rec;
    mb_keypkg_route route;
    mb_keypkg_pair e;
    size_t i;
    int v = match_genuine(pkg, len);

    FZ_CHECK(v >= 0);
    FZ_CHECK(c->mode == (v == 2 ? MB_KEYPKG_MODE_BOOTSTRAP : MB_KEYPKG_MODE_SEALED));
    FZ_CHECK(c->mode != MB_KEYPKG_MODE_BOOTSTRAP || x->allow_bootstrap);
    FZ_CHECK(c->package_version == (uint32_t)v + 1u && c->package_version > x->min_version);
    FZ_CHECK(c->device_id == FZ_DEVICE_ID && c->pair_count == (v == 1 ? 3u : 1u));
    FZ_CHECK(within(c->comp_id, c->comp_id_len, body, cap));
    FZ_CHECK(within(c->app_pub, MB_P256_PUB_LEN, body, cap));
    FZ_CHECK(memcmp(c->app_pub, fz_ec()->app_pub, MB_P256_PUB_LEN) == 0);
    for (i = 0; i < c->pair_count; i++) {
        FZ_CHECK(mb_keypkg_pair_at(c, i, &e) == MB_OK);
        FZ_CHECK(within(e.peer_comp, e.peer_comp_len, body, cap) &&
                 within(e.lct_id, e.lct_id_len, body, cap) &&
                 within(e.half_1, 64, body, cap) && within(e.half_2, 64, body, cap) &&
                 within(e.salt, 32, body, cap));
    }
    FZ_CHECK(mb_keypkg_pair_at(c, c->pair_count, &e) == MB_ERR_INVALID_ARG);
    FZ_CHECK(mb_keypkg_to_record(c, x->binding_priv, &rec) == MB_OK);
    FZ_CHECK(rec.pair_count == c->pair_count && rec.package_version == c->package_version);
    mb_ks_record_wipe(&rec);
    FZ_CHECK(mb_keypkg_peek(pkg, len, &route) == MB_OK);
    FZ_CHECK(route.mode == c->mode && route.device_id == c->device_id &&
             route.role == c->role && route.package_version == c->package_version);
}

static int open_code_ok(int ret)
{
    switch (ret) {
    case MB_ERR_TRUNCATED: case MB_ERR_MALFORMED: case MB_ERR_VERSION: case MB_ERR_POLICY:
    case MB_ERR_WRONG_DEVICE: case MB_ERR_AUTH: case MB_ERR_INTEGRITY: case MB_ERR_ROLLBACK:
        return 1;
    default:
        return 0;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    static uint64_t rng = 0x5DEECE66Dull;
    const fz_ec_keys *k = fz_ec();
    mb_keypkg_expect x;
    mb_keypkg_contents c;
    mb_keypkg_route route;
    uint8_t *pkg, *body;
    size_t len, cap;
    uint8_t policy;
    int ret, peek;
    unsigned v;

    FZ_CHECK(k != NULL);
    if (!ready) {
        for (v = 0; v < FZ_KEYPKG_VARIANTS; v++) {
            FZ_CHECK(fz_keypkg_build(v, genuine[v], sizeof(genuine[v]), &genuine_len[v]) == 0);
        }
        ready = 1;
    }
    if (size < 1u) {
        return 0;
    }
    policy = data[0];
    len = size - 1u;
    cap = len ? len : 1u;
    pkg = (uint8_t *)malloc(cap);
    body = (uint8_t *)malloc(cap);
    FZ_CHECK(pkg != NULL && body != NULL);
    memset(body, 0xEE, cap);   /* stands for an earlier package's secrets */
    memcpy(pkg, data + 1, len);
    memset(&x, 0, sizeof(x));
    x.binding_priv = k->dev_priv;
    x.binding_pub = k->dev_pub;
    x.app_pub = (policy & 1u) ? k->app_pub : NULL;
    x.allow_bootstrap = (uint8_t)((policy >> 1) & 1u);
    x.comp_id = (policy & 4u) ? (const uint8_t *)FZ_DEVICE_COMP : NULL;
    x.comp_id_len = (policy & 4u) ? strlen(FZ_DEVICE_COMP) : 0u;
    x.device_id = (policy & 0x20u) ? FZ_DEVICE_ID : 0xFFFFu;
    x.min_version = (policy >> 3) & 3u;

    ret = mb_keypkg_open(pkg, len, &x, fz_rng, &rng, body, len, &c);
    peek = mb_keypkg_peek(pkg, len, &route);
    FZ_CHECK(peek == MB_OK || peek == MB_ERR_TRUNCATED || peek == MB_ERR_MALFORMED ||
             peek == MB_ERR_VERSION);
    if (ret == MB_OK) {
        check_opened(pkg, len, &x, body, len, &c);
    } else {
        FZ_CHECK(open_code_ok(ret) || (ret == MB_ERR_BUFFER_TOO_SMALL && len == 0u));
        FZ_CHECK(fz_all_zero(body, len) && fz_all_zero(&c, sizeof(c)));
    }
    free(pkg);
    free(body);
    return 0;
}
