/*
 * tt_aead_hw_soft.c - a software stand-in for a hardware AES-GCM engine
 * behind mb_aead (build option MB_AEAD_HW, include/modbatt/mb_aead.h).
 *
 * It behaves like a peripheral with one set of key registers (the
 * STM32WB55's AES1): the key is loaded only when it differs from the one
 * loaded, and the computation is mbedTLS's GCM. The C tests run against it
 * on the Cortex-M4 (scripts/target-test.sh cortex-m4), which shows that the
 * core works through the seam alone: the MB_AEAD_HW build of mb_aead.o
 * references no mbedtls_gcm_* symbol (the Makefile checks it).
 */
#include <string.h>

#include "mbedtls/gcm.h"
#include "modbatt/mb_aead.h"
#include "modbatt/mb_errors.h"

/* The "peripheral": its key registers and state. */
static mbedtls_gcm_context hw_engine;
static uint8_t hw_key[32];
static int hw_loaded;

static int hw_load(const uint8_t key[32])
{
    if (hw_loaded && memcmp(hw_key, key, sizeof(hw_key)) == 0) {
        return MB_OK;
    }
    if (!hw_loaded) {
        mbedtls_gcm_init(&hw_engine);
    }
    hw_loaded = 0;
    if (mbedtls_gcm_setkey(&hw_engine, MBEDTLS_CIPHER_ID_AES, key, 256) != 0) {
        return MB_ERR_CRYPTO;
    }
    memcpy(hw_key, key, sizeof(hw_key));
    hw_loaded = 1;
    return MB_OK;
}

int mb_aead_hw_seal(const uint8_t key[32], const uint8_t nonce[12],
                    const uint8_t *aad, size_t aad_len,
                    const uint8_t *pt, size_t len, uint8_t *ct,
                    uint8_t *tag, size_t tag_len)
{
    if (hw_load(key) != MB_OK ||
        mbedtls_gcm_crypt_and_tag(&hw_engine, MBEDTLS_GCM_ENCRYPT, len, nonce, 12, aad, aad_len,
                                  pt, ct, tag_len, tag) != 0) {
        return MB_ERR_CRYPTO;
    }
    return MB_OK;
}

int mb_aead_hw_open(const uint8_t key[32], const uint8_t nonce[12],
                    const uint8_t *aad, size_t aad_len,
                    const uint8_t *ct, size_t len,
                    const uint8_t *tag, size_t tag_len, uint8_t *pt)
{
    int ret;
    if (hw_load(key) != MB_OK) {
        return MB_ERR_CRYPTO;
    }
    ret = mbedtls_gcm_auth_decrypt(&hw_engine, len, nonce, 12, aad, aad_len, tag, tag_len, ct, pt);
    return ret == 0 ? MB_OK : ret == MBEDTLS_ERR_GCM_AUTH_FAILED ? MB_ERR_AUTH : MB_ERR_CRYPTO;
}
