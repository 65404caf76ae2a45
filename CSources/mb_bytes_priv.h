/*
 * mb_bytes_priv.h - helpers shared by the core's sources; not a public API.
 *
 * Big-endian integers (every multi-byte field of the wire formats, the key
 * store and the packages is big-endian), and the names of mbedTLS's
 * fallible SHA-256 calls, which 2.28 suffixes with _ret and 3.x does not.
 */
#ifndef MODBATT_MB_BYTES_PRIV_H
#define MODBATT_MB_BYTES_PRIV_H

#include <stdint.h>

#include "mbedtls/version.h"

static inline void mb_put_be16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static inline void mb_put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

static inline void mb_put_be64(uint8_t *p, uint64_t v)
{
    mb_put_be32(p, (uint32_t)(v >> 32));
    mb_put_be32(p + 4, (uint32_t)v);
}

static inline uint16_t mb_get_be16(const uint8_t *p)
{
    return (uint16_t)(((unsigned)p[0] << 8) | p[1]);
}

static inline uint32_t mb_get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
           ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static inline uint64_t mb_get_be64(const uint8_t *p)
{
    return ((uint64_t)mb_get_be32(p) << 32) | mb_get_be32(p + 4);
}

/* mbedTLS 2.28 names its fallible SHA-256 calls *_ret; 3.x drops the suffix. */
#if defined(MBEDTLS_VERSION_MAJOR) && MBEDTLS_VERSION_MAJOR >= 3
#define sha256_starts mbedtls_sha256_starts
#define sha256_update mbedtls_sha256_update
#define sha256_finish mbedtls_sha256_finish
#else
#define sha256_starts mbedtls_sha256_starts_ret
#define sha256_update mbedtls_sha256_update_ret
#define sha256_finish mbedtls_sha256_finish_ret
#endif

#endif /* MODBATT_MB_BYTES_PRIV_H */
