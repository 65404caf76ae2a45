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

/** Expanded keys one context keeps (build option, 1..8). 1, the default:
 *  the context holds the key installed last, and a work context shared by
 *  all sessions re-expands whenever the key changes (PROTOCOL.md 13.1).
 *  Firmware with the RAM for it (the pack controller) may build with 2 and
 *  give each session its own context (mb_session_cfg.aead): its sending
 *  and receiving keys then both stay expanded, and no message pays for a
 *  key schedule (the saving is measured in docs/FIRMWARE.md). Each slot
 *  costs an mbedtls_gcm_context plus mbedTLS's AES context. */
#ifndef MB_AEAD_SLOTS
#define MB_AEAD_SLOTS 1u
#endif
#if MB_AEAD_SLOTS < 1u || MB_AEAD_SLOTS > 8u
#error "MB_AEAD_SLOTS must be 1..8"
#endif

/* Build option MB_AEAD_HW: AES-GCM runs in the platform's hardware engine
 * (mb_aead_hw_seal/mb_aead_hw_open below); the context keeps the key only. */
#if defined(MB_AEAD_HW) && MB_AEAD_SLOTS > 1u
#error "MB_AEAD_HW keeps no expanded keys: MB_AEAD_SLOTS must be 1"
#endif

/** One expanded key. */
typedef struct mb_aead_slot {
#if !defined(MB_AEAD_HW)
    mbedtls_gcm_context gcm;           /**< key schedule and GHASH table */
#endif
    uint8_t key[MB_AEAD_KEY_LEN];      /**< the installed key, to skip re-installing it */
    uint8_t key_set;                   /**< 1 once mb_aead_setkey() succeeded */
} mb_aead_slot;

typedef struct mb_aead {
    mb_aead_slot slot[MB_AEAD_SLOTS];
#if MB_AEAD_SLOTS > 1u
    uint8_t cur;                       /**< slot of the key installed last: seal/open use it */
    uint8_t victim;                    /**< slot the next new key replaces (the least
                                            recently installed one of two) */
#endif
} mb_aead;

/** \brief Prepare \p ctx for use; makes mb_aead_free() safe. NULL-safe. */
void mb_aead_init(mb_aead *ctx);

/**
 * \brief  Install a 256-bit key (expands the AES key schedule once).
 *
 * Installing the key that is already installed costs one constant-time
 * 32-byte comparison and nothing else, so a work context shared by several
 * sessions (mb_session_cfg.aead) re-expands only when the key changes.
 * With MB_AEAD_SLOTS > 1 that holds for any key still in one of the slots.
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

#if defined(MB_AEAD_HW)
/* ---- the hardware AES-GCM seam (build option MB_AEAD_HW) -----------------
 *
 * With MB_AEAD_HW defined, mb_aead runs no AES of its own and keeps no key
 * schedule or GHASH table: mb_aead_setkey() records the key, and seal/open
 * hand key, nonce, AAD and data to the two functions below, which the
 * platform implements on its AES engine (the STM32WB55's AES1 in GCM mode:
 * the key goes to its eight key registers, reloaded only when it differs
 * from the one loaded). The core's argument checks (tag length, key set,
 * NULL) run before; on any error mb_aead zeroes the output. The engine
 * must do AES-256-GCM with the 96-bit nonce as given and the tag truncated
 * to tag_len (4, 8, 12..16) bytes. Tests/Targets/common/tt_aead_hw_soft.c
 * is a software stand-in the C tests run against on the Cortex-M4.
 */

/** \brief Encrypt \p len bytes and compute the tag. \return MB_OK or MB_ERR_CRYPTO. */
int mb_aead_hw_seal(const uint8_t key[32], const uint8_t nonce[12],
                    const uint8_t *aad, size_t aad_len,
                    const uint8_t *pt, size_t len, uint8_t *ct,
                    uint8_t *tag, size_t tag_len);

/** \brief Decrypt and check the tag in constant time.
 *  \return MB_OK; MB_ERR_AUTH when the tag differs; MB_ERR_CRYPTO. */
int mb_aead_hw_open(const uint8_t key[32], const uint8_t nonce[12],
                    const uint8_t *aad, size_t aad_len,
                    const uint8_t *ct, size_t len,
                    const uint8_t *tag, size_t tag_len, uint8_t *pt);
#endif

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_AEAD_H */
