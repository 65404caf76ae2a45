/*
 * mb_hkdf.c - HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869) on
 * mbedtls_sha256 without any heap use. Secrets on the stack are wiped at the
 * single exit label of each function.
 */
#include "modbatt/mb_hkdf.h"

#include <string.h>

#include "modbatt/mb_errors.h"
#include "modbatt/mb_util.h"
#include "mbedtls/version.h"
#include "mb_bytes_priv.h"

#define SHA256_BLOCK 64u

static int sha256_pad_start(mbedtls_sha256_context *ctx,
                            const uint8_t block[SHA256_BLOCK], uint8_t pad)
{
    uint8_t padded[SHA256_BLOCK];
    size_t i;
    int ret;

    for (i = 0; i < SHA256_BLOCK; i++) {
        padded[i] = (uint8_t)(block[i] ^ pad);
    }
    mbedtls_sha256_init(ctx);
    ret = sha256_starts(ctx, 0);
    if (ret == 0) {
        ret = sha256_update(ctx, padded, SHA256_BLOCK);
    }
    mb_wipe(padded, sizeof(padded));
    return ret == 0 ? MB_OK : MB_ERR_CRYPTO;
}

int mb_hmac_starts(mb_hmac *ctx, const uint8_t *key, size_t key_len)
{
    uint8_t block[SHA256_BLOCK];
    int ret = MB_OK;

    if (ctx == NULL || (key == NULL && key_len != 0)) {
        return MB_ERR_NULL;
    }
    memset(block, 0, sizeof(block));
    if (key_len > SHA256_BLOCK) {
        /* RFC 2104: keys longer than the block are replaced by their hash. */
        mbedtls_sha256_context h;
        mbedtls_sha256_init(&h);
        if (sha256_starts(&h, 0) != 0 || sha256_update(&h, key, key_len) != 0 ||
            sha256_finish(&h, block) != 0) {
            ret = MB_ERR_CRYPTO;
        }
        mbedtls_sha256_free(&h);
    } else if (key_len != 0) {
        memcpy(block, key, key_len);
    }
    if (ret == MB_OK) {
        ret = sha256_pad_start(&ctx->inner, block, 0x36u);
    }
    if (ret == MB_OK) {
        ret = sha256_pad_start(&ctx->outer, block, 0x5Cu);
    }
    mb_wipe(block, sizeof(block));
    return ret;
}

int mb_hmac_update(mb_hmac *ctx, const uint8_t *data, size_t len)
{
    if (ctx == NULL || (data == NULL && len != 0)) {
        return MB_ERR_NULL;
    }
    if (len == 0) {
        return MB_OK;
    }
    return sha256_update(&ctx->inner, data, len) == 0 ? MB_OK : MB_ERR_CRYPTO;
}

int mb_hmac_finish(mb_hmac *ctx, uint8_t mac[32])
{
    uint8_t inner_hash[MB_SHA256_LEN];
    int ret = MB_ERR_CRYPTO;

    if (ctx == NULL || mac == NULL) {
        return MB_ERR_NULL;
    }
    if (sha256_finish(&ctx->inner, inner_hash) == 0 &&
        sha256_update(&ctx->outer, inner_hash, sizeof(inner_hash)) == 0 &&
        sha256_finish(&ctx->outer, mac) == 0) {
        ret = MB_OK;
    }
    mb_wipe(inner_hash, sizeof(inner_hash));
    return ret;
}

void mb_hmac_free(mb_hmac *ctx)
{
    if (ctx == NULL) {
        return;
    }
    mbedtls_sha256_free(&ctx->inner);
    mbedtls_sha256_free(&ctx->outer);
    mb_wipe(ctx, sizeof(*ctx));
}

int mb_sha256(const uint8_t *msg, size_t len, uint8_t digest[32])
{
    mbedtls_sha256_context h;
    int ret = MB_ERR_CRYPTO;

    if ((msg == NULL && len != 0) || digest == NULL) {
        return MB_ERR_NULL;
    }
    mbedtls_sha256_init(&h);
    if (sha256_starts(&h, 0) == 0 && (len == 0 || sha256_update(&h, msg, len) == 0) &&
        sha256_finish(&h, digest) == 0) {
        ret = MB_OK;
    }
    mbedtls_sha256_free(&h);
    return ret;
}

int mb_hmac_sha256(const uint8_t *key, size_t key_len,
                   const uint8_t *msg, size_t msg_len, uint8_t mac[32])
{
    mb_hmac ctx;
    int ret;

    if (mac == NULL) {
        return MB_ERR_NULL;
    }
    ret = mb_hmac_starts(&ctx, key, key_len);
    if (ret == MB_OK) {
        ret = mb_hmac_update(&ctx, msg, msg_len);
    }
    if (ret == MB_OK) {
        ret = mb_hmac_finish(&ctx, mac);
    }
    mb_hmac_free(&ctx);
    return ret;
}

/* RFC 5869 section 2.3: T(i) = HMAC(PRK, T(i-1) || info || i). */
static int hkdf_expand(const uint8_t prk[MB_SHA256_LEN],
                       const uint8_t *info, size_t info_len,
                       uint8_t *okm, size_t okm_len)
{
    uint8_t t[MB_SHA256_LEN];
    size_t done = 0;
    uint8_t counter = 1;
    mb_hmac ctx;
    int ret = MB_OK;

    while (done < okm_len && ret == MB_OK) {
        size_t take = okm_len - done;
        ret = mb_hmac_starts(&ctx, prk, MB_SHA256_LEN);
        if (ret == MB_OK && done != 0) {
            ret = mb_hmac_update(&ctx, t, sizeof(t));
        }
        if (ret == MB_OK) {
            ret = mb_hmac_update(&ctx, info, info_len);
        }
        if (ret == MB_OK) {
            ret = mb_hmac_update(&ctx, &counter, 1);
        }
        if (ret == MB_OK) {
            ret = mb_hmac_finish(&ctx, t);
        }
        if (take > sizeof(t)) {
            take = sizeof(t);
        }
        if (ret == MB_OK) {
            memcpy(okm + done, t, take);
        }
        done += take;
        counter++;
    }
    mb_hmac_free(&ctx);
    mb_wipe(t, sizeof(t));
    return ret;
}

int mb_hkdf_sha256(const uint8_t *salt, size_t salt_len,
                   const uint8_t *ikm, size_t ikm_len,
                   const uint8_t *info, size_t info_len,
                   uint8_t *okm, size_t okm_len)
{
    static const uint8_t zero_salt[MB_SHA256_LEN] = { 0 };
    uint8_t prk[MB_SHA256_LEN];
    int ret;

    if (okm == NULL || (salt == NULL && salt_len != 0) ||
        (ikm == NULL && ikm_len != 0) || (info == NULL && info_len != 0)) {
        return MB_ERR_NULL;
    }
    if (okm_len == 0 || okm_len > MB_HKDF_MAX_OKM) {
        return MB_ERR_LENGTH;
    }
    if (salt_len == 0) {
        salt = zero_salt;
        salt_len = sizeof(zero_salt);
    }
    ret = mb_hmac_sha256(salt, salt_len, ikm, ikm_len, prk);   /* extract */
    if (ret == MB_OK) {
        ret = hkdf_expand(prk, info, info_len, okm, okm_len);
    }
    if (ret != MB_OK) {
        mb_wipe(okm, okm_len);
    }
    mb_wipe(prk, sizeof(prk));
    return ret;
}
