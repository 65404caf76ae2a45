/* test_sign_det.c - signatures made on devices take their ECDSA nonce from
 * RFC 6979, not from the RNG: the P-256 / SHA-256 known answers of RFC 6979
 * A.2.5 through mbk_sign_det(); a sealed report that comes out byte for
 * byte the same under two RNGs which agree only on the ephemeral key (what
 * else they give only blinds), and opens; the RNG still required for the
 * blinding. The app's key-package signatures keep RNG nonces (mbk_sign),
 * shown here by contrast. */
#include "mbt.h"

#include "modbatt/modbatt.h"
#include "modbatt/mb_hkdf.h"
#include "modbatt/mb_keypkg.h"

#include "../../CSources/mb_keypkg_priv.h"   /* mbk_sign_det, mbk_sign, mbk_verify */

static void unhex(const char *hex, uint8_t *out, size_t len)
{
    size_t i;
    unsigned v;
    for (i = 0; i < len; i++) {
        (void)sscanf(hex + 2 * i, "%2x", &v);
        out[i] = (uint8_t)v;
    }
}

/* xorshift64; the first call may be pinned to one byte value (the
 * ephemeral key of a report is the first thing drawn). */
typedef struct test_rng {
    uint64_t s;
    int      calls;
    int      pin_first;   /* -1: no pin; else the first call's byte */
    int      fail;
} test_rng;

static int rng_fn(void *user, uint8_t *out, size_t len)
{
    test_rng *r = user;
    size_t i;
    if (r->fail) {
        return -1;
    }
    if (r->calls++ == 0 && r->pin_first >= 0) {
        memset(out, r->pin_first, len);
        return 0;
    }
    for (i = 0; i < len; i++) {
        r->s ^= r->s << 13; r->s ^= r->s >> 7; r->s ^= r->s << 17;
        out[i] = (uint8_t)(r->s >> 24);
    }
    return 0;
}

static mbk_rng wrap(test_rng *r)
{
    mbk_rng m;
    m.fn = rng_fn;
    m.user = r;
    m.failed = 0;
    return m;
}

/* RFC 6979 A.2.5, ECDSA with P-256, SHA-256 (values also checked with
 * pyca/cryptography's deterministic_signing). */
static const char *RFC_X = "C9AFA9D845BA75166B5C215767B1D6934E50C3DB36E89B127B8A622B120F6721";
static const char *RFC_U =
    "04" "60FED4BA255A9D31C961EB74C6356D68C049B8923B61FA6CE669622E60F29FB6"
         "7903FE1008B8BC99A41AE9E95628BC64F2F1B20C2D7E9F5177A3C294D4462299";
static const struct { const char *msg, *r, *s; } RFC_SIGS[] = {
    { "sample", "EFD48B2AACB6A8FD1140DD9CD45E81D69D2C877B56AAF991C34D0EA84EAF3716",
                "F7CB1C942D657C41D436C7A1B6E29F65F3E900DBB9AFF4064DC4AB2F843ACDA8" },
    { "test",   "F1ABB023518351CD71D881567B1EA663ED3EFCF6C5132B354F28D3B0B7D38367",
                "019F4113742A2B14BD25926B49C649155F267E60D3814B4C0CC84250E46F0083" },
};

static void rfc6979_p256_sha256(void)
{
    uint8_t x[32], u[65], pub[65], h[32], want[64], sig[64];
    test_rng a = { 0x0123456789ABCDEFull, 0, -1, 0 }, b = { 0xFEDCBA9876543210ull, 0, -1, 0 };
    mbk_rng ma = wrap(&a), mb = wrap(&b);
    size_t i;
    unsigned equal = 0;

    unhex(RFC_X, x, 32);
    unhex(RFC_U, u, 65);
    MBT_EQ_INT(mb_binding_public(x, rng_fn, &a, pub), MB_OK);
    MBT_EQ_MEM(pub, u, 65);
    for (i = 0; i < sizeof(RFC_SIGS) / sizeof(RFC_SIGS[0]); i++) {
        unhex(RFC_SIGS[i].r, want, 32);
        unhex(RFC_SIGS[i].s, want + 32, 32);
        MBT_EQ_INT(mb_sha256((const uint8_t *)RFC_SIGS[i].msg, strlen(RFC_SIGS[i].msg), h), MB_OK);
        MBT_EQ_INT(mbk_sign_det(x, h, &ma, sig), MB_OK);
        MBT_EQ_MEM(sig, want, 64);
        equal += memcmp(sig, want, 64) == 0;
        MBT_EQ_INT(mbk_sign_det(x, h, &mb, sig), MB_OK);   /* another RNG: the same */
        MBT_EQ_MEM(sig, want, 64);
        equal += memcmp(sig, want, 64) == 0;
        MBT_EQ_INT(mbk_verify(pub, h, sig), MB_OK);
    }
    printf("  RFC 6979 A.2.5 P-256/SHA-256: %u of %u signatures (2 messages x 2 RNGs) "
           "equal the RFC's (r, s)\n", equal, (unsigned)(2u * i));
}

/* The RNG still blinds: without it there is no signature (and no leftover). */
static void blinding_still_needs_the_rng(void)
{
    uint8_t x[32], h[32], sig[64];
    test_rng dead = { 1, 0, -1, 1 };
    mbk_rng m = wrap(&dead);

    unhex(RFC_X, x, 32);
    MBT_EQ_INT(mb_sha256((const uint8_t *)"sample", 6, h), MB_OK);
    memset(sig, 0xAA, sizeof(sig));
    MBT_EQ_INT(mbk_sign_det(x, h, &m, sig), MB_ERR_RNG);
    MBT_CHECK(m.failed);
    MBT_EQ_INT(sig[0] | sig[31] | sig[32] | sig[63], 0);
}

/* A device seals the same report twice; the two RNGs agree on the first
 * draw (the ephemeral key E, hence the same ECDH secret and ciphertext) and
 * differ in everything after it (blinding only). The reports, signature
 * included, are identical, and both open at the app. */
static void report_signature_independent_of_rng(void)
{
    static uint8_t rep_a[MB_REPORT_MAX], rep_b[MB_REPORT_MAX], pt[MB_REPORT_PT_MAX];
    uint8_t dev_priv[32], dev_pub[65], app_priv[32], app_pub[65], h[32], sig[64];
    const char *msg = "key-store status";
    test_rng keys = { 0x9E3779B97F4A7C15ull, 0, -1, 0 };
    test_rng a = { 0x1111111111111111ull, 0, 0x5C, 0 }, b = { 0x2222222222222222ull, 0, 0x5C, 0 };
    test_rng any = { 0x3333333333333333ull, 0, -1, 0 };
    mbk_rng m = wrap(&any);
    mb_report_info in, got;
    size_t len_a, len_b, n;

    MBT_EQ_INT(mb_binding_generate(rng_fn, &keys, dev_priv, dev_pub), MB_OK);
    MBT_EQ_INT(mb_binding_generate(rng_fn, &keys, app_priv, app_pub), MB_OK);
    memset(&in, 0, sizeof(in));
    in.type = MB_REPORT_KEYSTORE; in.device_id = 7; in.sequence = 3;
    MBT_EQ_INT(mb_report_seal(&in, (const uint8_t *)msg, strlen(msg), app_pub, dev_priv, dev_pub,
                              rng_fn, &a, rep_a, sizeof(rep_a), &len_a), MB_OK);
    MBT_EQ_INT(mb_report_seal(&in, (const uint8_t *)msg, strlen(msg), app_pub, dev_priv, dev_pub,
                              rng_fn, &b, rep_b, sizeof(rep_b), &len_b), MB_OK);
    MBT_CHECK(a.calls > 1 && b.calls > 1);   /* blinding drew from both RNGs */
    MBT_EQ_INT(len_a, len_b);
    MBT_EQ_MEM(rep_a, rep_b, len_a);          /* signature included */
    MBT_EQ_INT(mb_report_open(rep_a, len_a, dev_pub, app_priv, app_pub, 0, rng_fn, &any, &got, pt,
                              sizeof(pt), &n), MB_OK);
    MBT_EQ_INT(mb_report_open(rep_b, len_b, dev_pub, app_priv, app_pub, 0, rng_fn, &any, &got, pt,
                              sizeof(pt), &n), MB_OK);
    MBT_EQ_MEM(pt, msg, strlen(msg));
    /* and it is the RFC 6979 signature of the report's hash */
    MBT_EQ_INT(mbk_sha256((const uint8_t *)MB_REPORT_INFO_LABEL, strlen(MB_REPORT_INFO_LABEL),
                          rep_a, len_a - MB_P256_SIG_LEN, h), MB_OK);
    MBT_EQ_INT(mbk_sign_det(dev_priv, h, &m, sig), MB_OK);
    MBT_EQ_MEM(sig, rep_a + len_a - MB_P256_SIG_LEN, MB_P256_SIG_LEN);
}

/* By contrast, mbk_sign (the app's key packages) draws k from the RNG:
 * two RNGs, two different signatures, both valid. */
static void app_signatures_keep_rng_nonces(void)
{
    uint8_t x[32], pub[65], h[32], sig_a[64], sig_b[64];
    test_rng a = { 0x0123456789ABCDEFull, 0, -1, 0 }, b = { 0xFEDCBA9876543210ull, 0, -1, 0 };
    mbk_rng ma = wrap(&a), mb = wrap(&b);

    unhex(RFC_X, x, 32);
    MBT_EQ_INT(mb_binding_public(x, rng_fn, &a, pub), MB_OK);
    MBT_EQ_INT(mb_sha256((const uint8_t *)"sample", 6, h), MB_OK);
    MBT_EQ_INT(mbk_sign(x, h, &ma, sig_a), MB_OK);
    MBT_EQ_INT(mbk_sign(x, h, &mb, sig_b), MB_OK);
    MBT_CHECK(memcmp(sig_a, sig_b, 64) != 0);
    MBT_EQ_INT(mbk_verify(pub, h, sig_a), MB_OK);
    MBT_EQ_INT(mbk_verify(pub, h, sig_b), MB_OK);
}

int main(void)
{
    MBT_RUN(rfc6979_p256_sha256);
    MBT_RUN(blinding_still_needs_the_rng);
    MBT_RUN(report_signature_independent_of_rng);
    MBT_RUN(app_signatures_keep_rng_nonces);
    return mbt_finish("test_sign_det");
}
