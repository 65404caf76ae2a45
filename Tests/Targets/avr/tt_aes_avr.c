/*
 * tt_aes_avr.c - AES-256 encryption for 8-bit AVR with its S-box in program
 * memory, behind mbedTLS's per-function hooks (avr/mbedtls_config_avr_flashaes.h:
 * MBEDTLS_AES_SETKEY_ENC_ALT, _ENCRYPT_ALT, _SETKEY_DEC_ALT, _DECRYPT_ALT).
 *
 * One path towards the module's RAM budget (docs/FIRMWARE.md): mbedTLS's
 * table-driven AES keeps 2.6 KB of tables, which avr-gcc places in RAM;
 * this one reads a 256-byte S-box from flash (LPM) and computes MixColumns.
 * GCM only ever encrypts with AES, so decryption is left out: the two
 * decryption hooks refuse. Byte-oriented, FIPS 197 section 5; the round
 * keys (240 bytes) live in the context's buffer. The benchmark checks it
 * against GCM's published test case before it measures anything.
 */
#include <avr/pgmspace.h>
#include <stdint.h>
#include <string.h>

#include "mbedtls/aes.h"
#include "mbedtls/platform.h"
#include "mbedtls/platform_util.h"

static const uint8_t sbox[256] PROGMEM = {
    0x63, 0x7c, 0x77, 0x7b, 0xf2, 0x6b, 0x6f, 0xc5, 0x30, 0x01, 0x67, 0x2b, 0xfe, 0xd7, 0xab, 0x76,
    0xca, 0x82, 0xc9, 0x7d, 0xfa, 0x59, 0x47, 0xf0, 0xad, 0xd4, 0xa2, 0xaf, 0x9c, 0xa4, 0x72, 0xc0,
    0xb7, 0xfd, 0x93, 0x26, 0x36, 0x3f, 0xf7, 0xcc, 0x34, 0xa5, 0xe5, 0xf1, 0x71, 0xd8, 0x31, 0x15,
    0x04, 0xc7, 0x23, 0xc3, 0x18, 0x96, 0x05, 0x9a, 0x07, 0x12, 0x80, 0xe2, 0xeb, 0x27, 0xb2, 0x75,
    0x09, 0x83, 0x2c, 0x1a, 0x1b, 0x6e, 0x5a, 0xa0, 0x52, 0x3b, 0xd6, 0xb3, 0x29, 0xe3, 0x2f, 0x84,
    0x53, 0xd1, 0x00, 0xed, 0x20, 0xfc, 0xb1, 0x5b, 0x6a, 0xcb, 0xbe, 0x39, 0x4a, 0x4c, 0x58, 0xcf,
    0xd0, 0xef, 0xaa, 0xfb, 0x43, 0x4d, 0x33, 0x85, 0x45, 0xf9, 0x02, 0x7f, 0x50, 0x3c, 0x9f, 0xa8,
    0x51, 0xa3, 0x40, 0x8f, 0x92, 0x9d, 0x38, 0xf5, 0xbc, 0xb6, 0xda, 0x21, 0x10, 0xff, 0xf3, 0xd2,
    0xcd, 0x0c, 0x13, 0xec, 0x5f, 0x97, 0x44, 0x17, 0xc4, 0xa7, 0x7e, 0x3d, 0x64, 0x5d, 0x19, 0x73,
    0x60, 0x81, 0x4f, 0xdc, 0x22, 0x2a, 0x90, 0x88, 0x46, 0xee, 0xb8, 0x14, 0xde, 0x5e, 0x0b, 0xdb,
    0xe0, 0x32, 0x3a, 0x0a, 0x49, 0x06, 0x24, 0x5c, 0xc2, 0xd3, 0xac, 0x62, 0x91, 0x95, 0xe4, 0x79,
    0xe7, 0xc8, 0x37, 0x6d, 0x8d, 0xd5, 0x4e, 0xa9, 0x6c, 0x56, 0xf4, 0xea, 0x65, 0x7a, 0xae, 0x08,
    0xba, 0x78, 0x25, 0x2e, 0x1c, 0xa6, 0xb4, 0xc6, 0xe8, 0xdd, 0x74, 0x1f, 0x4b, 0xbd, 0x8b, 0x8a,
    0x70, 0x3e, 0xb5, 0x66, 0x48, 0x03, 0xf6, 0x0e, 0x61, 0x35, 0x57, 0xb9, 0x86, 0xc1, 0x1d, 0x9e,
    0xe1, 0xf8, 0x98, 0x11, 0x69, 0xd9, 0x8e, 0x94, 0x9b, 0x1e, 0x87, 0xe9, 0xce, 0x55, 0x28, 0xdf,
    0x8c, 0xa1, 0x89, 0x0d, 0xbf, 0xe6, 0x42, 0x68, 0x41, 0x99, 0x2d, 0x0f, 0xb0, 0x54, 0xbb, 0x16,
};

static uint8_t SB(uint8_t x)
{
    return (uint8_t)pgm_read_byte((uint16_t)((uint16_t)sbox + x));
}

static uint8_t xtime(uint8_t x)
{
    return (uint8_t)(((unsigned)x << 1) ^ ((x & 0x80u) != 0u ? 0x1bu : 0x00u));
}

int mbedtls_aes_setkey_enc(mbedtls_aes_context *ctx, const unsigned char *key, unsigned int keybits)
{
    uint8_t *w = (uint8_t *)ctx->buf;
    uint8_t t[4], rcon = 1, tmp;
    unsigned i;
    if (keybits != 256u) {
        return MBEDTLS_ERR_AES_INVALID_KEY_LENGTH;
    }
    ctx->nr = 14;
    ctx->rk = ctx->buf;
    memcpy(w, key, 32);
    for (i = 32; i < 240u; i += 4) {
        memcpy(t, w + i - 4, 4);
        if (i % 32u == 0u) {
            tmp = t[0];
            t[0] = (uint8_t)(SB(t[1]) ^ rcon);
            t[1] = SB(t[2]);
            t[2] = SB(t[3]);
            t[3] = SB(tmp);
            rcon = xtime(rcon);
        } else if (i % 32u == 16u) {
            t[0] = SB(t[0]); t[1] = SB(t[1]); t[2] = SB(t[2]); t[3] = SB(t[3]);
        }
        w[i] = (uint8_t)(w[i - 32] ^ t[0]);
        w[i + 1] = (uint8_t)(w[i - 31] ^ t[1]);
        w[i + 2] = (uint8_t)(w[i - 30] ^ t[2]);
        w[i + 3] = (uint8_t)(w[i - 29] ^ t[3]);
    }
    mbedtls_platform_zeroize(t, sizeof(t));
    return 0;
}

int mbedtls_internal_aes_encrypt(mbedtls_aes_context *ctx, const unsigned char input[16],
                                 unsigned char output[16])
{
    const uint8_t *rk = (const uint8_t *)ctx->rk;
    uint8_t s[16], u[16];
    int round;
    unsigned c, i;
    for (i = 0; i < 16u; i++) {
        s[i] = (uint8_t)(input[i] ^ rk[i]);
    }
    for (round = 1; round <= ctx->nr; round++) {
        rk += 16;
        /* SubBytes and ShiftRows: byte r of column c comes from column c + r */
        for (c = 0; c < 4u; c++) {
            for (i = 0; i < 4u; i++) {
                u[4u * c + i] = SB(s[(4u * (c + i) + i) % 16u]);
            }
        }
        if (round < ctx->nr) {           /* MixColumns, then AddRoundKey */
            for (c = 0; c < 16u; c += 4) {
                uint8_t a0 = u[c], a1 = u[c + 1], a2 = u[c + 2], a3 = u[c + 3];
                uint8_t all = (uint8_t)(a0 ^ a1 ^ a2 ^ a3);
                s[c] = (uint8_t)(a0 ^ all ^ xtime((uint8_t)(a0 ^ a1)) ^ rk[c]);
                s[c + 1] = (uint8_t)(a1 ^ all ^ xtime((uint8_t)(a1 ^ a2)) ^ rk[c + 1]);
                s[c + 2] = (uint8_t)(a2 ^ all ^ xtime((uint8_t)(a2 ^ a3)) ^ rk[c + 2]);
                s[c + 3] = (uint8_t)(a3 ^ all ^ xtime((uint8_t)(a3 ^ a0)) ^ rk[c + 3]);
            }
        } else {
            for (i = 0; i < 16u; i++) {
                s[i] = (uint8_t)(u[i] ^ rk[i]);
            }
        }
    }
    memcpy(output, s, 16);
    mbedtls_platform_zeroize(s, sizeof(s));
    mbedtls_platform_zeroize(u, sizeof(u));
    return 0;
}

/* GCM never decrypts with AES: refused. */
int mbedtls_aes_setkey_dec(mbedtls_aes_context *ctx, const unsigned char *key, unsigned int keybits)
{
    (void)ctx; (void)key; (void)keybits;
    return MBEDTLS_ERR_PLATFORM_FEATURE_UNSUPPORTED;
}

int mbedtls_internal_aes_decrypt(mbedtls_aes_context *ctx, const unsigned char input[16],
                                 unsigned char output[16])
{
    (void)ctx; (void)input;
    memset(output, 0, 16);
    return MBEDTLS_ERR_PLATFORM_FEATURE_UNSUPPORTED;
}
