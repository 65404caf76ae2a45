/* test_replay.c - the anti-replay window, as a numbered table of
 * T(counter, expected) rows in the manner of WireGuard's selftest/counter.c:
 * each row checks the counter, and accepts it when it was fresh. */
#include "mbt.h"

#include "modbatt/modbatt.h"

#define W MB_REPLAY_WINDOW

static mb_replay window;
static int row;

static void T(uint64_t counter, int expected)
{
    int got = mb_replay_check(&window, counter);
    row++;
    if (got != expected) {
        char msg[96];
        snprintf(msg, sizeof(msg), "row %d: counter %llu gave %d, expected %d",
                 row, (unsigned long long)counter, got, expected);
        mbt_fail(__FILE__, __LINE__, msg);
        return;
    }
    mbt_passed++;
    if (got == MB_OK) mb_replay_accept(&window, counter);
}

static void window_edges(void)
{
    mb_replay_init(&window);
    T(0, MB_OK);                  /* 1: first counter */
    T(0, MB_ERR_REPLAY);          /* 2: replayed */
    T(1, MB_OK);
    T(1, MB_ERR_REPLAY);
    T(9, MB_OK);                  /* 5: jump ahead */
    T(8, MB_OK);                  /*    reordered within the window: once */
    T(8, MB_ERR_REPLAY);
    T(7, MB_OK);
    T(W + 8, MB_OK);              /* 9: top moves to W+8 */
    T(9, MB_ERR_REPLAY);          /*    W-1 behind top, in window, already seen */
    T(10, MB_OK);                 /*    W-2 behind, fresh */
    T(8, MB_ERR_REPLAY);          /*    exactly W behind top: too old */
    T(W + 7, MB_OK);
    T(W + 7, MB_ERR_REPLAY);
    T(W + 10, MB_OK);             /* 15: top moves to W+10 */
    T(11, MB_OK);                 /*    W-1 behind: the oldest counter still inside */
    T(10, MB_ERR_REPLAY);         /*    W behind: too old */
    T(3 * W, MB_OK);              /* 18: big jump clears the ring */
    T(3 * W - 1, MB_OK);
    T(2 * W + 1, MB_OK);          /*    oldest still inside */
    T(2 * W, MB_ERR_REPLAY);      /* 21: just outside */
    T(3 * W - 1, MB_ERR_REPLAY);
    T(100 * W, MB_OK);            /* jumps beyond the ring length */
    T(99 * W + 1, MB_OK);
    T(99 * W + 1, MB_ERR_REPLAY);
    T(UINT64_MAX, MB_OK);         /* 26: the top of the counter space */
    T(UINT64_MAX, MB_ERR_REPLAY);
    T(UINT64_MAX - 1, MB_OK);
    T(UINT64_MAX - W + 1, MB_OK);
    T(UINT64_MAX - W, MB_ERR_REPLAY);
    T(0, MB_ERR_REPLAY);          /* 31: ancient */
}

/* Every counter of a long, locally shuffled stream is accepted exactly once. */
static void shuffled_stream_accepted_once(void)
{
    uint64_t base;
    int i, bad = 0;
    mb_replay_init(&window);
    for (base = 0; base < 100000; base += 16) {
        /* Deliver each block of 16 in a fixed scrambled order. */
        static const int order[16] = { 3, 0, 15, 7, 1, 2, 9, 4, 8, 5, 14, 6, 10, 11, 13, 12 };
        for (i = 0; i < 16; i++) {
            uint64_t c = base + (uint64_t)order[i];
            if (mb_replay_check(&window, c) != MB_OK) bad++;
            mb_replay_accept(&window, c);
            if (mb_replay_check(&window, c) != MB_ERR_REPLAY) bad++;
        }
    }
    MBT_EQ_INT(bad, 0);
}

/* A check alone never moves the window (forged frames are only checked). */
static void check_does_not_accept(void)
{
    mb_replay before;
    mb_replay_init(&window);
    mb_replay_accept(&window, 5);
    before = window;
    MBT_EQ_INT(mb_replay_check(&window, 1000), MB_OK);
    MBT_EQ_MEM(&window, &before, sizeof(window));
    MBT_EQ_INT(mb_replay_check(NULL, 0), MB_ERR_NULL);
    mb_replay_accept(NULL, 0);
    mb_replay_init(NULL);
    /* Accepting a too-old counter directly is ignored, not recorded. */
    mb_replay_accept(&window, 5 + W);
    before = window;
    mb_replay_accept(&window, 5);
    MBT_EQ_MEM(&window, &before, sizeof(window));
}

int main(void)
{
    MBT_RUN(window_edges);
    MBT_RUN(shuffled_stream_accepted_once);
    MBT_RUN(check_does_not_accept);
    return mbt_finish("test_replay");
}
