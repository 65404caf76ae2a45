/*
 * ct_controls.c - deliberately leaky code. scripts/ct-check.sh requires
 * memcheck to flag both; if it did not, a clean result elsewhere would prove
 * nothing.
 */
#include <stdint.h>
#include <string.h>

#include "ct_cases.h"
#include "ct_secret.h"

/* The length goes through a volatile so the compiler calls memcmp (an
 * early-exit loop) instead of inlining a branch-free 16-byte compare. */
static volatile size_t control_len = 16u;

int ct_control_memcmp(void)
{
    uint8_t expected_tag[16], received_tag[16];
    int differs;

    memset(expected_tag, 0x5A, sizeof(expected_tag));
    memset(received_tag, 0x5A, sizeof(received_tag));
    received_tag[9] ^= 1u;
    CT_SECRET(expected_tag, sizeof(expected_tag));
    CT_SECRET(received_tag, sizeof(received_tag));
    differs = memcmp(expected_tag, received_tag, control_len) != 0;
    return ct_declassify_int(differs) == 1 ? 0 : 1;
}

/* A secret-indexed table lookup, as software AES does: the address depends
 * on the secret, so the cache lines touched do too. */
int ct_control_table_index(void)
{
    static const uint8_t sbox[256] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    uint8_t secret = 3;
    uint8_t looked_up;

    CT_SECRET(&secret, sizeof(secret));
    looked_up = sbox[secret];
    CT_PUBLIC(&looked_up, sizeof(looked_up));
    return looked_up == 4u ? 0 : 1;
}
