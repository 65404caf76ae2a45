/*
 * mb_pbkdf2.c - PBKDF2-HMAC-SHA256 (RFC 8018, section 5.2) on the heap-free
 * HMAC of mb_hkdf.c. The passphrase's HMAC key schedule is computed once
 * and cloned for every iteration (two SHA-256 blocks per iteration instead
 * of four).
 */
#include <string.h>

#include "mb_bytes_priv.h"
#include "modbatt/mb_errors.h"
#include "modbatt/mb_hkdf.h"
#include "modbatt/mb_util.h"

static void hmac_clone(mb_hmac *dst, const mb_hmac *src)
{
    mbedtls_sha256_init(&dst->inner);
    mbedtls_sha256_init(&dst->outer);
    mbedtls_sha256_clone(&dst->inner, &src->inner);
    mbedtls_sha256_clone(&dst->outer, &src->outer);
}

/* T_i = U_1 ^ U_2 ^ ... ^ U_c, U_1 = HMAC(P, S || BE32(i)), U_j = HMAC(P, U_{j-1}). */
static int block_of(const mb_hmac *keyed, const uint8_t *salt, size_t salt_len,
                    uint32_t iterations, uint32_t index, uint8_t t[MB_SHA256_LEN])
{
    uint8_t u[MB_SHA256_LEN], be[4];
    mb_hmac h;
    uint32_t i;
    unsigned k;
    int ret;

    mb_put_be32(be, index);
    hmac_clone(&h, keyed);
    ret = mb_hmac_update(&h, salt, salt_len);
    if (ret == MB_OK) {
        ret = mb_hmac_update(&h, be, sizeof(be));
    }
    if (ret == MB_OK) {
        ret = mb_hmac_finish(&h, u);
    }
    mb_hmac_free(&h);
    memcpy(t, u, sizeof(u));
    for (i = 1u; i < iterations && ret == MB_OK; i++) {
        hmac_clone(&h, keyed);
        ret = mb_hmac_update(&h, u, sizeof(u));
        if (ret == MB_OK) {
            ret = mb_hmac_finish(&h, u);
        }
        mb_hmac_free(&h);
        for (k = 0u; k < sizeof(u); k++) {
            t[k] ^= u[k];
        }
    }
    mb_wipe(u, sizeof(u));
    return ret;
}

int mb_pbkdf2_sha256(const uint8_t *pw, size_t pw_len,
                     const uint8_t *salt, size_t salt_len,
                     uint32_t iterations, uint8_t *out, size_t out_len)
{
    uint8_t t[MB_SHA256_LEN];
    mb_hmac keyed;
    uint32_t index = 1u;
    size_t off = 0u, n;
    int ret;

    if (out == NULL || (pw == NULL && pw_len != 0u) || (salt == NULL && salt_len != 0u)) {
        return MB_ERR_NULL;
    }
    if (iterations == 0u || out_len == 0u || out_len > MB_PBKDF2_MAX_OUT) {
        mb_wipe(out, out_len);
        return MB_ERR_LENGTH;
    }
    ret = mb_hmac_starts(&keyed, pw, pw_len);
    while (ret == MB_OK && off < out_len) {
        ret = block_of(&keyed, salt, salt_len, iterations, index++, t);
        n = out_len - off < sizeof(t) ? out_len - off : sizeof(t);
        memcpy(out + off, t, n);
        off += n;
    }
    mb_hmac_free(&keyed);
    mb_wipe(t, sizeof(t));
    if (ret != MB_OK) {
        mb_wipe(out, out_len);
    }
    return ret;
}
