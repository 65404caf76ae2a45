/**
 * \file mbedtls_config_fw.h
 * \brief mbedTLS 2.28 configuration for Modbatt firmware (Cortex-M4).
 *
 * Enables exactly what the C core and the device side of provisioning use:
 *   - AES-256-GCM for frames and key packages     (AES, CIPHER, GCM)
 *   - SHA-256 for HMAC / HKDF (mb_hkdf.c)          (SHA256)
 *   - P-256 ECDH + ECDSA for device binding keys   (BIGNUM, ECP, ECDH, ECDSA, ASN1)
 *   - RFC 6979 nonces for the reports devices sign (ECDSA_DETERMINISTIC,
 *     HMAC_DRBG, MD)
 *   - a static heap for mbedTLS's own allocations  (PLATFORM_MEMORY, MEMORY_BUFFER_ALLOC)
 * Size choices favour flash and RAM over speed (ROM tables, smaller SHA-256).
 * Build with -DMBEDTLS_CONFIG_FILE='"mbedtls_config_fw.h"'; the flash this
 * costs is measured by `make CROSS=arm-none-eabi- mbedtls-size` and listed
 * in docs/FIRMWARE.md.
 */
#ifndef MODBATT_MBEDTLS_CONFIG_FW_H
#define MODBATT_MBEDTLS_CONFIG_FW_H

/* System: no OS, no filesystem, no libc I/O, no entropy sources of mbedTLS's
 * own (the platform passes random bytes to the core through a callback). */
#define MBEDTLS_NO_PLATFORM_ENTROPY
#define MBEDTLS_PLATFORM_C
#define MBEDTLS_PLATFORM_MEMORY
#define MBEDTLS_PLATFORM_NO_STD_FUNCTIONS
#define MBEDTLS_MEMORY_BUFFER_ALLOC_C      /* GCM's AES context, bignums */
/* The static allocator halts on heap corruption through mbedtls_exit(); with
 * no libc exit() the firmware supplies mb_platform_fatal() (reset or halt). */
#define MBEDTLS_PLATFORM_EXIT_MACRO mb_platform_fatal
void mb_platform_fatal(int status);

/* Symmetric crypto for frames and key packages. */
#define MBEDTLS_AES_C
#define MBEDTLS_AES_ROM_TABLES             /* tables in flash, not RAM */
#define MBEDTLS_AES_FEWER_TABLES           /* 2 KB of tables instead of 8 KB */
#define MBEDTLS_CIPHER_C
#define MBEDTLS_GCM_C

/* Hashing for HMAC-SHA256 / HKDF-SHA256 (implemented in mb_hkdf.c). */
#define MBEDTLS_SHA256_C
#define MBEDTLS_SHA256_SMALLER

/* Device binding keys: P-256 ECDH to open key packages, ECDSA to sign
 * reports to the app. */
#define MBEDTLS_BIGNUM_C
#define MBEDTLS_ECP_C
#define MBEDTLS_ECP_DP_SECP256R1_ENABLED
#define MBEDTLS_ECP_NIST_OPTIM
#define MBEDTLS_ECP_NO_INTERNAL_RNG        /* callers always pass the platform RNG */
#define MBEDTLS_ECDH_C
#define MBEDTLS_ECDSA_C
/* Reports are signed with k derived from the key and the hash (RFC 6979,
 * an HMAC-SHA256 DRBG through the MD layer): a weak or stuck device RNG
 * cannot reveal the binding key through repeated or biased nonces. The
 * platform RNG still blinds the scalar multiplications. */
#define MBEDTLS_ECDSA_DETERMINISTIC
#define MBEDTLS_HMAC_DRBG_C
#define MBEDTLS_MD_C
#define MBEDTLS_ASN1_PARSE_C
#define MBEDTLS_ASN1_WRITE_C

/* Bignum windows sized for a small RAM. */
#define MBEDTLS_MPI_WINDOW_SIZE 2
#define MBEDTLS_MPI_MAX_SIZE    32
#define MBEDTLS_ECP_WINDOW_SIZE 2
#define MBEDTLS_ECP_FIXED_POINT_OPTIM 0

#include "mbedtls/check_config.h"

#endif /* MODBATT_MBEDTLS_CONFIG_FW_H */
