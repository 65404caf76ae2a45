/*
 * fuzz_common.h - what every libFuzzer harness of Tests/Fuzz shares: the
 * invariant check (abort() so libFuzzer records a crash and keeps the
 * input) and a reader that turns the fuzzer's bytes into structured choices.
 *
 * Memory: the C core never allocates, so every object a harness drives has
 * a size fixed at compile time; libFuzzer's -rss_limit_mb (set by
 * scripts/fuzz.sh) turns any growth (a leak in mbedTLS's bignums, ASan
 * quarantine aside) into a failure.
 */
#ifndef FUZZ_COMMON_H
#define FUZZ_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modbatt/modbatt.h"

#define FZ_CHECK(cond) do { \
        if (!(cond)) { \
            fprintf(stderr, "invariant violated: %s (%s:%d)\n", #cond, __FILE__, __LINE__); \
            abort(); \
        } \
    } while (0)

/* The fuzzer's input, consumed front to back; reads past the end give 0. */
typedef struct fz_in {
    const uint8_t *p;
    size_t n;
} fz_in;

static inline uint8_t fz_u8(fz_in *in)
{
    uint8_t v = 0;
    if (in->n > 0u) {
        v = in->p[0];
        in->p++;
        in->n--;
    }
    return v;
}

static inline uint16_t fz_u16(fz_in *in)
{
    uint16_t hi = fz_u8(in);
    return (uint16_t)((hi << 8) | fz_u8(in));
}

static inline uint32_t fz_u32(fz_in *in)
{
    uint32_t hi = fz_u16(in);
    return (hi << 16) | fz_u16(in);
}

/* Copy up to n bytes into out (zero-filled past the input's end); returns n. */
static inline size_t fz_bytes(fz_in *in, uint8_t *out, size_t n)
{
    size_t take = n < in->n ? n : in->n;
    memcpy(out, in->p, take);
    memset(out + take, 0, n - take);
    in->p += take;
    in->n -= take;
    return n;
}

static inline int fz_all_zero(const void *p, size_t n)
{
    const uint8_t *b = (const uint8_t *)p;
    uint8_t acc = 0;
    size_t i;
    for (i = 0; i < n; i++) {
        acc |= b[i];
    }
    return acc == 0u;
}

#endif /* FUZZ_COMMON_H */
