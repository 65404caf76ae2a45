/*
 * mbt.h - the minimal test harness of the C core's tests.
 *
 * Each test_*.c is its own program: it includes this header, defines test
 * functions, and lists them in main() with MBT_RUN(). Checks record a failure
 * and carry on; a test function passes when all its checks pass. The program
 * prints "<file>: N passed, M failed (K checks)" counting test functions and
 * exits non-zero if anything failed. Tests/CTests/Makefile
 * builds and runs every test_*.c and totals the counts.
 */
#ifndef MBT_H
#define MBT_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static unsigned mbt_passed;        /* checks */
static unsigned mbt_failed;
static unsigned mbt_tests_passed;  /* test functions */
static unsigned mbt_tests_failed;
static const char *mbt_current = "";

static inline void mbt_fail(const char *file, int line, const char *what)
{
    mbt_failed++;
    fprintf(stderr, "FAIL %s:%d [%s] %s\n", file, line, mbt_current, what);
}

#define MBT_CHECK(cond) do { \
        if (cond) { mbt_passed++; } else { mbt_fail(__FILE__, __LINE__, #cond); } \
    } while (0)

#define MBT_EQ_INT(actual, expected) do { \
        long long mbt_a_ = (long long)(actual), mbt_e_ = (long long)(expected); \
        if (mbt_a_ == mbt_e_) { mbt_passed++; } else { \
            char mbt_msg_[256]; \
            snprintf(mbt_msg_, sizeof(mbt_msg_), "%s == %lld, expected %s == %lld", \
                     #actual, mbt_a_, #expected, mbt_e_); \
            mbt_fail(__FILE__, __LINE__, mbt_msg_); } \
    } while (0)

#define MBT_EQ_MEM(actual, expected, len) do { \
        if (memcmp((actual), (expected), (len)) == 0) { mbt_passed++; } else { \
            mbt_fail(__FILE__, __LINE__, "bytes differ: " #actual " vs " #expected); } \
    } while (0)

#define MBT_RUN(fn) do { \
        unsigned mbt_before_ = mbt_failed; \
        mbt_current = #fn; fn(); \
        if (mbt_failed == mbt_before_) { mbt_tests_passed++; } else { mbt_tests_failed++; } \
    } while (0)

static inline int mbt_finish(const char *name)
{
    printf("%s: %u passed, %u failed (%u checks)\n", name, mbt_tests_passed,
           mbt_tests_failed, mbt_passed + mbt_failed);
    return mbt_failed == 0 ? 0 : 1;
}

/* Hex helpers for vectors. Returns decoded length, or -1 on bad input. */
static inline int mbt_unhex(const char *hex, uint8_t *out, size_t cap)
{
    size_t n = strlen(hex), i;
    if (n % 2u != 0u || n / 2u > cap) {
        return -1;
    }
    for (i = 0; i < n / 2u; i++) {
        unsigned v;
        if (sscanf(hex + 2u * i, "%2x", &v) != 1) {
            return -1;
        }
        out[i] = (uint8_t)v;
    }
    return (int)(n / 2u);
}

static inline void mbt_hex(const uint8_t *in, size_t len, char *out)
{
    size_t i;
    for (i = 0; i < len; i++) {
        sprintf(out + 2u * i, "%02x", in[i]);
    }
    out[2u * len] = '\0';
}

#endif /* MBT_H */
