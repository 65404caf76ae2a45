/*
 * tt_pool.c - what a firmware build of the core must provide, for the test
 * programs run on emulated targets (Tests/Targets/README.md):
 *
 *   - a static pool for mbedTLS's own allocations, installed before main()
 *     (mbedtls_config_fw.h enables MBEDTLS_MEMORY_BUFFER_ALLOC_C; GCM's AES
 *     context and the bignums of P-256 come from it);
 *   - mb_platform_fatal(), which the static allocator calls on heap
 *     corruption.
 *
 * On AVR the static pool does not work (avr/mbedtls_config_avr.h): there
 * mbedTLS allocates from the C library's heap, and tt_heap_report() states
 * the peak.
 *
 * The host tests link Debian's libmbedcrypto (libc malloc); on the targets
 * the tests run unmodified against mbedTLS built from source under the
 * firmware configuration, which is what a device links.
 */
#include <stdlib.h>

#include "mbedtls/memory_buffer_alloc.h"
#include "mbedtls/platform.h"

#ifndef TT_POOL_BYTES
#define TT_POOL_BYTES (128u * 1024u)
#endif

void mb_platform_fatal(int status);
void tt_heap_report(char *buf, size_t cap);

#if defined(MBEDTLS_MEMORY_BUFFER_ALLOC_C)
static unsigned char tt_pool[TT_POOL_BYTES];

__attribute__((constructor)) static void tt_pool_init(void)
{
    mbedtls_memory_buffer_alloc_init(tt_pool, sizeof(tt_pool));
}

void tt_heap_report(char *buf, size_t cap)
{
    if (cap > 0u) {
        buf[0] = '\0';
    }
}
#else
/* AVR (avr/mbedtls_config_avr.h): the C library's heap, with a count of the
 * bytes mbedTLS holds at its peak (each block carries its size in front);
 * tt_heap_report() states the peak since its last call. */
#include <stdio.h>
#include <string.h>

static size_t tt_in_use, tt_peak;

static void *tt_calloc(size_t n, size_t size)
{
    size_t *p;
    if (size != 0u && n > (size_t)-1 / size - sizeof(size_t)) {
        return NULL;
    }
    p = (size_t *)calloc(1, n * size + sizeof(size_t));
    if (p == NULL) {
        return NULL;
    }
    p[0] = n * size;
    tt_in_use += p[0];
    if (tt_in_use > tt_peak) {
        tt_peak = tt_in_use;
    }
    return p + 1;
}

static void tt_free(void *ptr)
{
    size_t *p = (size_t *)ptr;
    if (p == NULL) {
        return;
    }
    p--;
    tt_in_use -= p[0];
    memset(p, 0, p[0] + sizeof(size_t));
    free(p);
}

__attribute__((constructor)) static void tt_pool_init(void)
{
    mbedtls_platform_set_calloc_free(tt_calloc, tt_free);
}

void tt_heap_report(char *buf, size_t cap)
{
    snprintf(buf, cap, "peak=%u", (unsigned)tt_peak);
    tt_peak = tt_in_use;
}
#endif

void mb_platform_fatal(int status)
{
    (void)status;
    abort();
}
