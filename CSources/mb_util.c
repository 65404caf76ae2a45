/* mb_util.c - constant-time compare and secret wiping. */
#include "modbatt/mb_util.h"

#include "mbedtls/platform_util.h"

int mb_ct_compare(const void *a, const void *b, size_t len)
{
    /* volatile: keep the loop from being turned into an early-exit memcmp. */
    const volatile uint8_t *pa = (const volatile uint8_t *)a;
    const volatile uint8_t *pb = (const volatile uint8_t *)b;
    uint8_t diff = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        diff |= (uint8_t)(pa[i] ^ pb[i]);
    }
    /* Map any non-zero diff to 1 without a data-dependent branch. */
    return (int)((uint32_t)((uint32_t)diff + 0xFFu) >> 8);
}

void mb_wipe(void *buf, size_t len)
{
    if (buf != NULL && len != 0) {
        mbedtls_platform_zeroize(buf, len);
    }
}
