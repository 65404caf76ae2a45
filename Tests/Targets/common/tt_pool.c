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
 * The host tests link Debian's libmbedcrypto (libc malloc); on the targets
 * the tests run unmodified against mbedTLS built from source under the
 * firmware configuration, which is what a device links.
 */
#include <stdlib.h>

#include "mbedtls/memory_buffer_alloc.h"

#ifndef TT_POOL_BYTES
#define TT_POOL_BYTES (128u * 1024u)
#endif

void mb_platform_fatal(int status);

static unsigned char tt_pool[TT_POOL_BYTES];

__attribute__((constructor)) static void tt_pool_init(void)
{
    mbedtls_memory_buffer_alloc_init(tt_pool, sizeof(tt_pool));
}

void mb_platform_fatal(int status)
{
    (void)status;
    abort();
}
