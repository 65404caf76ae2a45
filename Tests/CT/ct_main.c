/*
 * ct_main.c - runs one constant-time case by name (scripts/ct-check.sh runs
 * each under valgrind): ct_cases <case>, or --list.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ct_cases.h"
#include "mbedtls/platform.h"

/* The firmware configuration routes mbedTLS's allocations through the
 * platform layer and its fatal path through mb_platform_fatal(). */
void mb_platform_fatal(int status);
void mb_platform_fatal(int status)
{
    fprintf(stderr, "mbedTLS fatal %d\n", status);
    abort();
}

static const struct {
    const char *name;
    int (*run)(void);
} cases[] = {
    { "control_memcmp", ct_control_memcmp },
    { "control_table_index", ct_control_table_index },
    { "compare", ct_compare },
    { "sha256", ct_sha256 },
    { "hmac", ct_hmac },
    { "hkdf", ct_hkdf },
    { "pair_derive", ct_pair_derive },
    { "session_kdf", ct_session_kdf },
    { "aead_seal", ct_aead_seal },
    { "aead_open", ct_aead_open },
    { "keystore_write", ct_keystore_write },
    { "keystore_boot", ct_keystore_boot },
    { "session_handshake", ct_session_handshake },
    { "session_messages", ct_session_messages },
};

int main(int argc, char **argv)
{
    size_t i;

#if defined(MBEDTLS_PLATFORM_MEMORY)
    mbedtls_platform_set_calloc_free(calloc, free);
#endif
    if (argc == 2 && strcmp(argv[1], "--list") == 0) {
        for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            printf("%s\n", cases[i].name);
        }
        return 0;
    }
    for (i = 0; argc == 2 && i < sizeof(cases) / sizeof(cases[0]); i++) {
        if (strcmp(argv[1], cases[i].name) == 0) {
            int failed = cases[i].run();
            printf("%s: %s\n", cases[i].name, failed ? "FAILED" : "ran");
            return failed;
        }
    }
    fprintf(stderr, "usage: %s <case> | --list\n", argv[0]);
    return 2;
}
