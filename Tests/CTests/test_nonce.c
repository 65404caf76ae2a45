/* test_nonce.c - fixed field || counter nonces: layout, no repeats, no wrap. */
#include "mbt.h"

#include "modbatt/modbatt.h"

static void layout(void)
{
    const uint8_t fixed[4] = { 0xDE, 0xAD, 0xBE, 0xEF };
    uint8_t nonce[12], expected[12];
    uint64_t counter = 99;
    mb_nonce g;

    MBT_EQ_INT(mb_nonce_init(&g, fixed, UINT64_MAX), MB_OK);
    MBT_EQ_INT(mb_nonce_next(&g, nonce, &counter), MB_OK);
    MBT_EQ_INT(counter, 0);
    mbt_unhex("deadbeef0000000000000000", expected, 12);
    MBT_EQ_MEM(nonce, expected, 12);
    mb_nonce_compose(fixed, 0x0102030405060708ull, nonce);
    mbt_unhex("deadbeef0102030405060708", expected, 12);
    MBT_EQ_MEM(nonce, expected, 12);
    MBT_EQ_INT(mb_nonce_counter(nonce) == 0x0102030405060708ull, 1);
}

static void exhaustion_refuses_never_wraps(void)
{
    const uint8_t fixed[4] = { 1, 2, 3, 4 };
    uint8_t nonce[12], last[12];
    uint64_t counter;
    mb_nonce g;
    int i;

    MBT_EQ_INT(mb_nonce_init(&g, fixed, 3), MB_OK);
    MBT_EQ_INT(mb_nonce_remaining(&g), 3);
    for (i = 0; i < 3; i++) {
        MBT_EQ_INT(mb_nonce_next(&g, nonce, &counter), MB_OK);
        MBT_EQ_INT(counter, i);
    }
    memcpy(last, nonce, 12);
    MBT_EQ_INT(mb_nonce_remaining(&g), 0);
    MBT_EQ_INT(mb_nonce_next(&g, nonce, &counter), MB_ERR_NONCE_EXHAUSTED);
    MBT_EQ_INT(mb_nonce_next(&g, nonce, NULL), MB_ERR_NONCE_EXHAUSTED);
    MBT_EQ_MEM(nonce, last, 12);    /* untouched on refusal */

    /* At the very top of the counter space the generator stops, not wraps. */
    MBT_EQ_INT(mb_nonce_init(&g, fixed, UINT64_MAX), MB_OK);
    g.next = UINT64_MAX - 2;
    MBT_EQ_INT(mb_nonce_next(&g, nonce, &counter), MB_OK);
    MBT_EQ_INT(mb_nonce_next(&g, nonce, &counter), MB_OK);
    MBT_CHECK(counter == UINT64_MAX - 1);
    MBT_EQ_INT(mb_nonce_next(&g, nonce, &counter), MB_ERR_NONCE_EXHAUSTED);
    MBT_EQ_INT(mb_nonce_next(&g, nonce, &counter), MB_ERR_NONCE_EXHAUSTED);
}

static void no_repeats(void)
{
    const uint8_t fixed[4] = { 9, 9, 9, 9 };
    uint8_t nonce[12];
    uint64_t counter, expected = 0;
    int bad = 0;
    long i;   /* not int: 200000 needs more than 16 bits (AVR) */
    mb_nonce g;

    MBT_EQ_INT(mb_nonce_init(&g, fixed, UINT64_MAX), MB_OK);
    for (i = 0; i < 200000L; i++) {
        if (mb_nonce_next(&g, nonce, &counter) != MB_OK || counter != expected ||
            mb_nonce_counter(nonce) != expected || memcmp(nonce, fixed, 4) != 0) {
            bad++;
        }
        expected++;   /* strictly increasing => never repeats */
    }
    MBT_EQ_INT(bad, 0);
}

static void errors(void)
{
    const uint8_t fixed[4] = { 0 };
    uint8_t nonce[12];
    mb_nonce g;
    MBT_EQ_INT(mb_nonce_init(NULL, fixed, 5), MB_ERR_NULL);
    MBT_EQ_INT(mb_nonce_init(&g, NULL, 5), MB_ERR_NULL);
    MBT_EQ_INT(mb_nonce_init(&g, fixed, 0), MB_ERR_INVALID_ARG);
    MBT_EQ_INT(mb_nonce_next(NULL, nonce, NULL), MB_ERR_NULL);
    MBT_EQ_INT(mb_nonce_init(&g, fixed, 5), MB_OK);
    MBT_EQ_INT(mb_nonce_next(&g, NULL, NULL), MB_ERR_NULL);
    MBT_EQ_INT(mb_nonce_remaining(NULL), 0);
}

int main(void)
{
    MBT_RUN(layout);
    MBT_RUN(exhaustion_refuses_never_wraps);
    MBT_RUN(no_repeats);
    MBT_RUN(errors);
    return mbt_finish("test_nonce");
}
