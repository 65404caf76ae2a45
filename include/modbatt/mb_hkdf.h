/**
 * \file mb_hkdf.h
 * \brief HMAC-SHA256 (RFC 2104) and HKDF-SHA256 (RFC 5869).
 *
 * Built directly on mbedtls_sha256 so that no heap is touched (mbedTLS's
 * generic md/hkdf layer allocates its HMAC context with calloc).
 */
#ifndef MODBATT_MB_HKDF_H
#define MODBATT_MB_HKDF_H

#include <stddef.h>
#include <stdint.h>

#include "mbedtls/sha256.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MB_SHA256_LEN    32u
#define MB_HKDF_MAX_OKM  (255u * MB_SHA256_LEN)  /**< RFC 5869: L <= 255 * HashLen */

/** Multi-part HMAC-SHA256. Caller-allocated; wiped by mb_hmac_free(). */
typedef struct mb_hmac {
    mbedtls_sha256_context inner;
    mbedtls_sha256_context outer;
} mb_hmac;

/**
 * \brief  Start an HMAC-SHA256 computation.
 * \param ctx      Context to set up (any prior state is overwritten).
 * \param key      Key bytes; may be NULL only if \p key_len is 0.
 * \param key_len  Any length; keys longer than 64 bytes are hashed first.
 * \return MB_OK, MB_ERR_NULL, or MB_ERR_CRYPTO.
 */
int  mb_hmac_starts(mb_hmac *ctx, const uint8_t *key, size_t key_len);
/** \brief Feed \p len bytes (\p data may be NULL when \p len is 0). MB_OK, MB_ERR_NULL, MB_ERR_CRYPTO. */
int  mb_hmac_update(mb_hmac *ctx, const uint8_t *data, size_t len);
/** \brief Write the 32-byte MAC; the context must be restarted before reuse. MB_OK, MB_ERR_NULL, MB_ERR_CRYPTO. */
int  mb_hmac_finish(mb_hmac *ctx, uint8_t mac[32]);
/** \brief Zeroize the context. NULL-safe. */
void mb_hmac_free(mb_hmac *ctx);

/** \brief One-shot SHA-256 (e.g. hash chains, fingerprints). MB_OK, MB_ERR_NULL, MB_ERR_CRYPTO. */
int  mb_sha256(const uint8_t *msg, size_t len, uint8_t digest[32]);

/** \brief One-shot HMAC-SHA256. Same codes as the multi-part calls. */
int  mb_hmac_sha256(const uint8_t *key, size_t key_len,
                    const uint8_t *msg, size_t msg_len,
                    uint8_t mac[32]);

/**
 * \brief  HKDF-SHA256, extract then expand (RFC 5869).
 *
 * \param salt      Salt; may be NULL when \p salt_len is 0 (then a string of
 *                  32 zero bytes is used, as the RFC says).
 * \param ikm       Input keying material; NULL allowed when \p ikm_len is 0.
 * \param info      Context string; NULL allowed when \p info_len is 0.
 * \param okm       Output, \p okm_len bytes.
 * \param okm_len   1 .. MB_HKDF_MAX_OKM (8160).
 * \return MB_OK; MB_ERR_NULL for a NULL buffer with a non-zero length or a
 *         NULL \p okm; MB_ERR_LENGTH for \p okm_len out of range;
 *         MB_ERR_CRYPTO if SHA-256 fails. On error \p okm is zeroed.
 */
int mb_hkdf_sha256(const uint8_t *salt, size_t salt_len,
                   const uint8_t *ikm, size_t ikm_len,
                   const uint8_t *info, size_t info_len,
                   uint8_t *okm, size_t okm_len);

/** Largest PBKDF2 output this implementation derives (8 blocks). */
#define MB_PBKDF2_MAX_OUT  (8u * MB_SHA256_LEN)

/**
 * \brief  PBKDF2-HMAC-SHA256 (RFC 8018, 5.2), for keys derived from a
 *         passphrase on the host (the app's key store). Heap-free.
 *
 * \param pw          Passphrase bytes; NULL allowed when \p pw_len is 0.
 * \param salt        Salt; NULL allowed when \p salt_len is 0.
 * \param iterations  At least 1 (use hundreds of thousands for passphrases).
 * \param out         Output, \p out_len bytes, 1 .. MB_PBKDF2_MAX_OUT.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_LENGTH for 0 iterations or an output
 *         length out of range; MB_ERR_CRYPTO. On error \p out is zeroed.
 */
int mb_pbkdf2_sha256(const uint8_t *pw, size_t pw_len,
                     const uint8_t *salt, size_t salt_len,
                     uint32_t iterations, uint8_t *out, size_t out_len);

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_HKDF_H */
