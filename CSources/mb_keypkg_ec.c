/*
 * mb_keypkg_ec.c - P-256 binding keys (mbedTLS ecp/ecdh/ecdsa), the
 * ECDH + HKDF-SHA256 + AES-256-GCM sealing helpers, and sealed, signed
 * reports from a device to the app (docs/PROVISIONING.md, 2 and 4).
 *
 * Every mbedTLS object lives on the stack and is freed under one exit
 * label; secrets on the stack are wiped there too.
 */
#include <string.h>

#include "mb_keypkg_priv.h"

#include "mbedtls/ecdh.h"
#include "mbedtls/ecdsa.h"
#include "mbedtls/ecp.h"
#include "mbedtls/md.h"
#include "mbedtls/sha256.h"
#include "mbedtls/version.h"

/* Devices sign with RFC 6979 nonces (mbk_sign_det); no silent fallback to
 * RNG nonces on a build whose mbedTLS lacks them. */
#if !defined(MBEDTLS_ECDSA_DETERMINISTIC)
#error "mbedTLS must define MBEDTLS_ECDSA_DETERMINISTIC (and MBEDTLS_HMAC_DRBG_C, MBEDTLS_MD_C)"
#endif

#include "modbatt/mb_aead.h"
#include "modbatt/mb_errors.h"
#include "modbatt/mb_hkdf.h"
#include "modbatt/mb_util.h"
#include "mb_bytes_priv.h"

#define KEYGEN_TRIES 8

/* ---- helpers ----------------------------------------------------------- */

int mbk_f_rng(void *p_rng, unsigned char *out, size_t len)
{
    mbk_rng *r = (mbk_rng *)p_rng;
    if (r == NULL || r->fn == NULL || r->fn(r->user, out, len) != MB_OK) {
        if (r != NULL) {
            r->failed = 1;
        }
        return MBEDTLS_ERR_ECP_RANDOM_FAILED;
    }
    return 0;
}

static int map_err(int ret, const mbk_rng *r)
{
    if (ret == 0) {
        return MB_OK;
    }
    return (r != NULL && r->failed) ? MB_ERR_RNG : MB_ERR_CRYPTO;
}

static int load_group(mbedtls_ecp_group *grp)
{
    return mbedtls_ecp_group_load(grp, MBEDTLS_ECP_DP_SECP256R1) == 0 ? MB_OK : MB_ERR_CRYPTO;
}

static int read_pub(const mbedtls_ecp_group *grp, mbedtls_ecp_point *q, const uint8_t pub[65])
{
    if (pub[0] != 0x04u ||
        mbedtls_ecp_point_read_binary(grp, q, pub, MB_P256_PUB_LEN) != 0 ||
        mbedtls_ecp_check_pubkey(grp, q) != 0) {
        return MB_ERR_INVALID_ARG;
    }
    return MB_OK;
}

static int read_priv(const mbedtls_ecp_group *grp, mbedtls_mpi *d, const uint8_t priv[32])
{
    if (mbedtls_mpi_read_binary(d, priv, MB_P256_PRIV_LEN) != 0) {
        return MB_ERR_CRYPTO;
    }
    return mbedtls_ecp_check_privkey(grp, d) == 0 ? MB_OK : MB_ERR_INVALID_ARG;
}

static int write_pub(const mbedtls_ecp_group *grp, const mbedtls_ecp_point *q, uint8_t pub[65])
{
    size_t olen = 0;
    if (mbedtls_ecp_point_write_binary(grp, q, MBEDTLS_ECP_PF_UNCOMPRESSED, &olen, pub,
                                       MB_P256_PUB_LEN) != 0 || olen != MB_P256_PUB_LEN) {
        return MB_ERR_CRYPTO;
    }
    return MB_OK;
}

/* pub = priv * G */
static int public_of(mbedtls_ecp_group *grp, const mbedtls_mpi *d, mbk_rng *rng, uint8_t pub[65])
{
    mbedtls_ecp_point q;
    int ret;

    mbedtls_ecp_point_init(&q);
    ret = map_err(mbedtls_ecp_mul(grp, &q, d, &grp->G, mbk_f_rng, rng), rng);
    if (ret == MB_OK) {
        ret = write_pub(grp, &q, pub);
    }
    mbedtls_ecp_point_free(&q);
    return ret;
}

int mbk_keypair(mbk_rng *rng, uint8_t priv[32], uint8_t pub[65])
{
    mbedtls_ecp_group grp;
    mbedtls_mpi d;
    int ret, tries;

    mbedtls_ecp_group_init(&grp);
    mbedtls_mpi_init(&d);
    ret = load_group(&grp);
    if (ret != MB_OK) {
        goto exit;
    }
    /* Rejection sampling: 32 random bytes, kept when 1 <= d < n (fails with
     * probability ~2^-32 per try for P-256). */
    ret = MB_ERR_RNG;
    for (tries = 0; tries < KEYGEN_TRIES; tries++) {
        if (rng->fn(rng->user, priv, MB_P256_PRIV_LEN) != MB_OK) {
            rng->failed = 1;
            ret = MB_ERR_RNG;
            goto exit;
        }
        ret = read_priv(&grp, &d, priv);
        if (ret != MB_ERR_INVALID_ARG) {
            break;
        }
        ret = MB_ERR_RNG;
    }
    if (ret == MB_OK) {
        ret = public_of(&grp, &d, rng, pub);
    }
exit:
    if (ret != MB_OK) {
        mb_wipe(priv, MB_P256_PRIV_LEN);
        mb_wipe(pub, MB_P256_PUB_LEN);
    }
    mbedtls_mpi_free(&d);
    mbedtls_ecp_group_free(&grp);
    return ret;
}

int mbk_check_pub(const uint8_t pub[65])
{
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    int ret;

    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&q);
    ret = load_group(&grp);
    if (ret == MB_OK) {
        ret = read_pub(&grp, &q, pub);
    }
    mbedtls_ecp_point_free(&q);
    mbedtls_ecp_group_free(&grp);
    return ret;
}

int mbk_ecdh(const uint8_t priv[32], const uint8_t peer[65], mbk_rng *rng, uint8_t z[32])
{
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    mbedtls_mpi d, zm;
    int ret;

    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&q);
    mbedtls_mpi_init(&d);
    mbedtls_mpi_init(&zm);
    ret = load_group(&grp);
    if (ret == MB_OK) {
        ret = read_pub(&grp, &q, peer);
    }
    if (ret == MB_OK) {
        ret = read_priv(&grp, &d, priv);
    }
    if (ret == MB_OK) {
        ret = map_err(mbedtls_ecdh_compute_shared(&grp, &zm, &q, &d, mbk_f_rng, rng), rng);
    }
    if (ret == MB_OK && mbedtls_mpi_write_binary(&zm, z, 32u) != 0) {
        ret = MB_ERR_CRYPTO;
    }
    if (ret != MB_OK) {
        mb_wipe(z, 32u);
    }
    mbedtls_mpi_free(&zm);
    mbedtls_mpi_free(&d);
    mbedtls_ecp_point_free(&q);
    mbedtls_ecp_group_free(&grp);
    return ret;
}

int mbk_seal_keys(const uint8_t z[32], const uint8_t e_pub[65], const uint8_t r_pub[65],
                  const char *label, const uint8_t *ctx, size_t ctx_len,
                  uint8_t key[32], uint8_t iv[12])
{
    uint8_t salt[2u * MB_P256_PUB_LEN];
    uint8_t info[32u + 1u + MB_PAIR_ID_MAX];
    uint8_t okm[44];
    size_t n = strlen(label);
    int ret;

    if (n > 32u || ctx_len > MB_PAIR_ID_MAX) {
        return MB_ERR_INVALID_ARG;
    }
    memcpy(salt, e_pub, MB_P256_PUB_LEN);
    memcpy(salt + MB_P256_PUB_LEN, r_pub, MB_P256_PUB_LEN);
    memcpy(info, label, n);
    info[n] = (uint8_t)ctx_len;
    if (ctx_len != 0u) {
        memcpy(info + n + 1u, ctx, ctx_len);
    }
    ret = mb_hkdf_sha256(salt, sizeof(salt), z, 32u, info, n + 1u + ctx_len, okm, sizeof(okm));
    if (ret == MB_OK) {
        memcpy(key, okm, 32u);
        memcpy(iv, okm + 32, 12u);
    }
    mb_wipe(okm, sizeof(okm));
    return ret;
}

int mbk_sha256(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
               uint8_t out[32])
{
    mbedtls_sha256_context h;
    int ret;

    mbedtls_sha256_init(&h);
    ret = sha256_starts(&h, 0);
    if (ret == 0 && a_len != 0u) {
        ret = sha256_update(&h, a, a_len);
    }
    if (ret == 0 && b_len != 0u) {
        ret = sha256_update(&h, b, b_len);
    }
    if (ret == 0) {
        ret = sha256_finish(&h, out);
    }
    mbedtls_sha256_free(&h);
    return ret == 0 ? MB_OK : MB_ERR_CRYPTO;
}

/* ECDSA-P256, k from the RNG (\p det 0) or from RFC 6979 (\p det 1: an
 * HMAC-SHA256 DRBG seeded with the key and the hash; the RNG then only
 * blinds the scalar multiplication and the inversion). */
static int sign_hash(const uint8_t priv[32], const uint8_t hash[32], mbk_rng *rng, int det,
                     uint8_t sig[64])
{
    mbedtls_ecp_group grp;
    mbedtls_mpi d, r, s;
    int ret;

    mbedtls_ecp_group_init(&grp);
    mbedtls_mpi_init(&d);
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    ret = load_group(&grp);
    if (ret == MB_OK) {
        ret = read_priv(&grp, &d, priv);
    }
    if (ret == MB_OK && det) {
        ret = map_err(mbedtls_ecdsa_sign_det_ext(&grp, &r, &s, &d, hash, 32u, MBEDTLS_MD_SHA256,
                                                 mbk_f_rng, rng), rng);
    } else if (ret == MB_OK) {
        ret = map_err(mbedtls_ecdsa_sign(&grp, &r, &s, &d, hash, 32u, mbk_f_rng, rng), rng);
    }
    if (ret == MB_OK && (mbedtls_mpi_write_binary(&r, sig, 32u) != 0 ||
                         mbedtls_mpi_write_binary(&s, sig + 32, 32u) != 0)) {
        ret = MB_ERR_CRYPTO;
    }
    if (ret != MB_OK) {
        mb_wipe(sig, MB_P256_SIG_LEN);
    }
    mbedtls_mpi_free(&s);
    mbedtls_mpi_free(&r);
    mbedtls_mpi_free(&d);
    mbedtls_ecp_group_free(&grp);
    return ret;
}

int mbk_sign(const uint8_t priv[32], const uint8_t hash[32], mbk_rng *rng, uint8_t sig[64])
{
    return sign_hash(priv, hash, rng, 0, sig);
}

int mbk_sign_det(const uint8_t priv[32], const uint8_t hash[32], mbk_rng *rng, uint8_t sig[64])
{
    return sign_hash(priv, hash, rng, 1, sig);
}

int mbk_verify(const uint8_t pub[65], const uint8_t hash[32], const uint8_t sig[64])
{
    mbedtls_ecp_group grp;
    mbedtls_ecp_point q;
    mbedtls_mpi r, s;
    int ret;

    mbedtls_ecp_group_init(&grp);
    mbedtls_ecp_point_init(&q);
    mbedtls_mpi_init(&r);
    mbedtls_mpi_init(&s);
    ret = load_group(&grp);
    if (ret == MB_OK) {
        ret = read_pub(&grp, &q, pub);
    }
    if (ret == MB_OK && (mbedtls_mpi_read_binary(&r, sig, 32u) != 0 ||
                         mbedtls_mpi_read_binary(&s, sig + 32, 32u) != 0)) {
        ret = MB_ERR_CRYPTO;
    }
    if (ret == MB_OK && mbedtls_ecdsa_verify(&grp, hash, 32u, &q, &r, &s) != 0) {
        ret = MB_ERR_AUTH;
    }
    mbedtls_mpi_free(&s);
    mbedtls_mpi_free(&r);
    mbedtls_ecp_point_free(&q);
    mbedtls_ecp_group_free(&grp);
    return ret;
}

int mbk_gcm_seal(const uint8_t key[32], const uint8_t iv[12], const uint8_t *aad,
                 size_t aad_len, const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[16])
{
    mb_aead gcm;
    int ret;

    mb_aead_init(&gcm);
    ret = mb_aead_setkey(&gcm, key);
    if (ret == MB_OK) {
        ret = mb_aead_seal(&gcm, iv, aad, aad_len, pt, len, ct, tag, MB_KEYPKG_TAG_LEN);
    }
    mb_aead_free(&gcm);
    return ret;
}

int mbk_gcm_open(const uint8_t key[32], const uint8_t iv[12], const uint8_t *aad,
                 size_t aad_len, const uint8_t *ct, size_t len, const uint8_t tag[16],
                 uint8_t *pt)
{
    mb_aead gcm;
    int ret;

    mb_aead_init(&gcm);
    ret = mb_aead_setkey(&gcm, key);
    if (ret == MB_OK) {
        ret = mb_aead_open(&gcm, iv, aad, aad_len, ct, len, tag, MB_KEYPKG_TAG_LEN, pt);
    }
    mb_aead_free(&gcm);
    return ret;
}

/* ---- binding keys ------------------------------------------------------ */

int mb_binding_generate(mb_keypkg_rng_fn rng, void *rng_user,
                        uint8_t priv[32], uint8_t pub[65])
{
    mbk_rng r;

    if (rng == NULL || priv == NULL || pub == NULL) {
        return MB_ERR_NULL;
    }
    r.fn = rng;
    r.user = rng_user;
    r.failed = 0;
    return mbk_keypair(&r, priv, pub);
}

int mb_binding_public(const uint8_t priv[32], mb_keypkg_rng_fn rng, void *rng_user,
                      uint8_t pub[65])
{
    mbedtls_ecp_group grp;
    mbedtls_mpi d;
    mbk_rng r;
    int ret;

    if (priv == NULL || rng == NULL || pub == NULL) {
        return MB_ERR_NULL;
    }
    r.fn = rng;
    r.user = rng_user;
    r.failed = 0;
    mbedtls_ecp_group_init(&grp);
    mbedtls_mpi_init(&d);
    ret = load_group(&grp);
    if (ret == MB_OK) {
        ret = read_priv(&grp, &d, priv);
    }
    if (ret == MB_OK) {
        ret = public_of(&grp, &d, &r, pub);
    }
    if (ret != MB_OK) {
        mb_wipe(pub, MB_P256_PUB_LEN);
    }
    mbedtls_mpi_free(&d);
    mbedtls_ecp_group_free(&grp);
    return ret;
}

int mb_binding_key_id(const uint8_t pub[65], uint8_t id[8])
{
    uint8_t h[32];
    int ret;

    if (pub == NULL || id == NULL) {
        return MB_ERR_NULL;
    }
    ret = mbk_sha256(pub, MB_P256_PUB_LEN, NULL, 0u, h);
    if (ret == MB_OK) {
        memcpy(id, h, MB_BINDING_KEY_ID_LEN);
    }
    return ret;
}

/* ---- sealed reports ---------------------------------------------------- *
 *
 *   off len  field
 *     0   4  magic "MBRP"
 *     4   1  version 1
 *     5   1  type
 *     6   1  device id
 *     7   1  reserved 0
 *     8   4  sequence
 *    12   8  sender key id = SHA-256(device pub)[0..8)
 *    20  65  ephemeral public key E
 *    85   2  ciphertext length n
 *    87   n  ciphertext     AES-256-GCM, AAD = bytes 0..87
 *  87+n  16  tag
 * 103+n  64  ECDSA-P256 (r||s) over SHA-256("modbatt/report/v1" || bytes 0..103+n)
 */

static int report_hash(const uint8_t *msg, size_t len, uint8_t h[32])
{
    return mbk_sha256((const uint8_t *)MB_REPORT_INFO_LABEL, strlen(MB_REPORT_INFO_LABEL),
                      msg, len, h);
}

int mb_report_seal(const mb_report_info *info, const uint8_t *pt, size_t len,
                   const uint8_t app_pub[65], const uint8_t dev_priv[32],
                   const uint8_t dev_pub[65], mb_keypkg_rng_fn rng, void *rng_user,
                   uint8_t *out, size_t cap, size_t *out_len)
{
    uint8_t e_priv[32], e_pub[65], z[32], key[32], iv[12], h[32];
    mbk_rng r;
    size_t total;
    int ret;

    if (info == NULL || (pt == NULL && len != 0u) || app_pub == NULL || dev_priv == NULL ||
        dev_pub == NULL || rng == NULL || out == NULL || out_len == NULL) {
        return MB_ERR_NULL;
    }
    *out_len = 0;
    if (len > MB_REPORT_PT_MAX) {
        return MB_ERR_LENGTH;
    }
    total = MB_REPORT_OVERHEAD + len;
    if (cap < total) {
        return MB_ERR_BUFFER_TOO_SMALL;
    }
    r.fn = rng;
    r.user = rng_user;
    r.failed = 0;
    ret = mbk_check_pub(app_pub);
    if (ret == MB_OK) {
        ret = mbk_keypair(&r, e_priv, e_pub);
    }
    if (ret == MB_OK) {
        ret = mbk_ecdh(e_priv, app_pub, &r, z);
    }
    if (ret != MB_OK) {
        goto exit;
    }
    mb_put_be32(out, MB_REPORT_MAGIC);
    out[4] = MB_REPORT_VERSION;
    out[5] = info->type;
    out[6] = info->device_id;
    out[7] = 0;
    mb_put_be32(out + 8, info->sequence);
    ret = mb_binding_key_id(dev_pub, out + 12);
    if (ret != MB_OK) {
        goto exit;
    }
    memcpy(out + 20, e_pub, MB_P256_PUB_LEN);
    out[85] = (uint8_t)(len >> 8);
    out[86] = (uint8_t)len;
    /* Context: the sender's key id, so a report re-encrypted under another
     * sender's name does not decrypt. */
    ret = mbk_seal_keys(z, e_pub, app_pub, MB_REPORT_INFO_LABEL, out + 12,
                        MB_BINDING_KEY_ID_LEN, key, iv);
    if (ret == MB_OK) {
        ret = mbk_gcm_seal(key, iv, out, MB_REPORT_HDR_LEN, pt, len,
                           out + MB_REPORT_HDR_LEN, out + MB_REPORT_HDR_LEN + len);
    }
    if (ret == MB_OK) {
        ret = report_hash(out, MB_REPORT_HDR_LEN + len + MB_KEYPKG_TAG_LEN, h);
    }
    if (ret == MB_OK) {
        /* Deterministic k: a device's RNG cannot leak its binding key
         * through the signature (a repeated or biased k would). */
        ret = mbk_sign_det(dev_priv, h, &r, out + MB_REPORT_HDR_LEN + len + MB_KEYPKG_TAG_LEN);
    }
exit:
    if (ret == MB_OK) {
        *out_len = total;
    } else {
        mb_wipe(out, total);
    }
    mb_wipe(e_priv, sizeof(e_priv));
    mb_wipe(z, sizeof(z));
    mb_wipe(key, sizeof(key));
    mb_wipe(iv, sizeof(iv));
    return ret;
}

int mb_report_open(const uint8_t *in, size_t len, const uint8_t dev_pub[65],
                   const uint8_t app_priv[32], const uint8_t app_pub[65],
                   uint32_t min_sequence, mb_keypkg_rng_fn rng, void *rng_user,
                   mb_report_info *info, uint8_t *pt, size_t cap, size_t *pt_len)
{
    uint8_t z[32], key[32], iv[12], h[32], id[MB_BINDING_KEY_ID_LEN];
    mbk_rng r;
    size_t n;
    int ret;

    if (in == NULL || dev_pub == NULL || app_priv == NULL || app_pub == NULL || rng == NULL ||
        info == NULL ||
        pt_len == NULL || (pt == NULL && cap != 0u)) {
        return MB_ERR_NULL;
    }
    *pt_len = 0;
    memset(info, 0, sizeof(*info));
    if (pt != NULL) {
        mb_wipe(pt, cap);   /* zeroed on every error, early ones too (Tests/Fuzz/fuzz_report) */
    }
    if (len < MB_REPORT_OVERHEAD) {
        return MB_ERR_TRUNCATED;
    }
    if (mb_get_be32(in) != MB_REPORT_MAGIC) {
        return MB_ERR_MALFORMED;
    }
    if (in[4] != MB_REPORT_VERSION) {
        return MB_ERR_VERSION;
    }
    n = ((size_t)in[85] << 8) | in[86];
    if (n > MB_REPORT_PT_MAX || in[7] != 0u) {
        return MB_ERR_MALFORMED;
    }
    if (len != MB_REPORT_OVERHEAD + n) {
        return len < MB_REPORT_OVERHEAD + n ? MB_ERR_TRUNCATED : MB_ERR_MALFORMED;
    }
    if (cap < n) {
        return MB_ERR_BUFFER_TOO_SMALL;
    }
    ret = mb_binding_key_id(dev_pub, id);
    if (ret != MB_OK) {
        return ret;
    }
    if (memcmp(id, in + 12, MB_BINDING_KEY_ID_LEN) != 0) {
        return MB_ERR_WRONG_DEVICE;
    }
    /* Signature first: nothing of an unsigned report is processed further. */
    ret = report_hash(in, MB_REPORT_HDR_LEN + n + MB_KEYPKG_TAG_LEN, h);
    if (ret == MB_OK) {
        ret = mbk_verify(dev_pub, h, in + MB_REPORT_HDR_LEN + n + MB_KEYPKG_TAG_LEN);
    }
    if (ret != MB_OK) {
        return ret;
    }
    r.fn = rng;
    r.user = rng_user;
    r.failed = 0;
    ret = mbk_ecdh(app_priv, in + 20, &r, z);
    if (ret == MB_ERR_INVALID_ARG) {
        ret = MB_ERR_MALFORMED;   /* a signed report with a point off the curve */
    }
    if (ret == MB_OK) {
        ret = mbk_seal_keys(z, in + 20, app_pub, MB_REPORT_INFO_LABEL, in + 12,
                            MB_BINDING_KEY_ID_LEN, key, iv);
    }
    if (ret == MB_OK) {
        ret = mbk_gcm_open(key, iv, in, MB_REPORT_HDR_LEN, in + MB_REPORT_HDR_LEN, n,
                           in + MB_REPORT_HDR_LEN + n, pt);
    }
    if (ret == MB_OK && mb_get_be32(in + 8) <= min_sequence) {
        ret = MB_ERR_REPLAY;
    }
    if (ret == MB_OK) {
        info->type = in[5];
        info->device_id = in[6];
        info->sequence = mb_get_be32(in + 8);
        memcpy(info->sender, in + 12, MB_BINDING_KEY_ID_LEN);
        *pt_len = n;
    } else if (pt != NULL) {
        mb_wipe(pt, cap < n ? cap : n);
    }
    mb_wipe(z, sizeof(z));
    mb_wipe(key, sizeof(key));
    mb_wipe(iv, sizeof(iv));
    return ret;
}
