/**
 * \file mb_util.h
 * \brief Constant-time comparison and wiping of secrets.
 */
#ifndef MODBATT_MB_UTIL_H
#define MODBATT_MB_UTIL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/**
 * \brief  Compare two buffers in time that depends only on \p len.
 * \return 0 when equal, 1 otherwise (never "less/greater": the order of
 *         secrets must not leak).
 */
int mb_ct_compare(const void *a, const void *b, size_t len);

/**
 * \brief  Overwrite \p len bytes at \p buf with zeros in a way the compiler
 *         cannot elide (mbedtls_platform_zeroize). NULL-safe.
 */
void mb_wipe(void *buf, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_UTIL_H */
