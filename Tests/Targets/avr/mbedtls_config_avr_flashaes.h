/*
 * mbedtls_config_avr_flashaes.h - the AVR configuration with AES from
 * Tests/Targets/avr/tt_aes_avr.c (S-box in program memory, no decryption)
 * in place of mbedTLS's table-driven AES: one step towards the module's
 * RAM budget, measured by scripts/target-test.sh avr (docs/FIRMWARE.md).
 */
#ifndef MODBATT_MBEDTLS_CONFIG_AVR_FLASHAES_H
#define MODBATT_MBEDTLS_CONFIG_AVR_FLASHAES_H
#include "mbedtls_config_avr.h"
#define MBEDTLS_AES_SETKEY_ENC_ALT
#define MBEDTLS_AES_SETKEY_DEC_ALT
#define MBEDTLS_AES_ENCRYPT_ALT
#define MBEDTLS_AES_DECRYPT_ALT
#endif
