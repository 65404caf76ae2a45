/**
 * \file mb_aead.h
 * \brief AES-256-GCM with a kept key schedule (NIST SP 800-38D).
 *
 * Lifecycle as in mbedTLS: mb_aead_init() (makes mb_aead_free() safe),
 * mb_aead_setkey(), any number of seal/open calls, mb_aead_free().
 * Nonces are always 96 bits. Callers get nonces from mb_nonce (mb_nonce.h),
 * which refuses to repeat one under a key.
 */
#ifndef MODBATT_MB_AEAD_H
#define MODBATT_MB_AEAD_H

#include <stddef.h>
#include <stdint.h>

#include "mbedtls/gcm.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MB_AEAD_KEY_LEN    32u
#define MB_AEAD_NONCE_LEN  12u
#define MB_AEAD_TAG_MAX    16u

typedef struct mb_aead {
    mbedtls_gcm_context gcm;           /**< key schedule and GHASH table */
    uint8_t key[MB_AEAD_KEY_LEN];      /**< the installed key, to skip re-installing it */
    uint8_t key_set;                   /**< 1 once mb_aead_setkey() succeeded */
} mb_aead;

/** \brief Prepare \p ctx for use; makes mb_aead_free() safe. NULL-safe. */
void mb_aead_init(mb_aead *ctx);

/**
 * \brief  Install a 256-bit key (expands the AES key schedule once).
 *
 * Installing the key that is already installed costs one constant-time
 * 32-byte comparison and nothing else, so a work context shared by several
 * sessions (mb_session_cfg.aead) re-expands only when the key changes.
 * \return MB_OK, MB_ERR_NULL, or MB_ERR_CRYPTO (then no key is installed).
 * \note   mbedTLS 2.28 allocates its AES context here through mbedtls_calloc;
 *         firmware maps that onto a static pool (docs/FIRMWARE.md).
 */
int mb_aead_setkey(mb_aead *ctx, const uint8_t key[32]);

/**
 * \brief  Encrypt and authenticate.
 * \param nonce    12 bytes, never repeated under this key.
 * \param aad      Additional data; NULL allowed when \p aad_len is 0.
 * \param pt       Plaintext; NULL allowed when \p len is 0.
 * \param ct       Ciphertext out, \p len bytes (may equal \p pt).
 * \param tag      Tag out, \p tag_len bytes.
 * \param tag_len  4, 8 or 12..16.
 * \return MB_OK, MB_ERR_NULL, MB_ERR_TAG_LENGTH, MB_ERR_KEY_NOT_SET,
 *         MB_ERR_CRYPTO.
 */
int mb_aead_seal(mb_aead *ctx, const uint8_t nonce[12],
                 const uint8_t *aad, size_t aad_len,
                 const uint8_t *pt, size_t len, uint8_t *ct,
                 uint8_t *tag, size_t tag_len);

/**
 * \brief  Verify and decrypt. The tag is compared in constant time.
 * \return MB_OK; MB_ERR_AUTH on a bad tag (then \p pt is zeroed);
 *         MB_ERR_NULL, MB_ERR_TAG_LENGTH, MB_ERR_KEY_NOT_SET, MB_ERR_CRYPTO.
 */
int mb_aead_open(mb_aead *ctx, const uint8_t nonce[12],
                 const uint8_t *aad, size_t aad_len,
                 const uint8_t *ct, size_t len,
                 const uint8_t *tag, size_t tag_len,
                 uint8_t *pt);

/** \brief Release and zeroize the whole context. NULL-safe. */
void mb_aead_free(mb_aead *ctx);

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_AEAD_H */
