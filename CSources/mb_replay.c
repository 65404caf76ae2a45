/*
 * mb_replay.c - anti-replay window, RFC 6479 style: a ring of 32-bit words
 * indexed by counter / 32, with one word more than the window so that
 * advancing clears only words that have left the window.
 */
#include "modbatt/mb_replay.h"

#include <string.h>

#include "modbatt/mb_errors.h"

#define BITS_PER_WORD 32u

static uint32_t word_index(uint64_t counter)
{
    return (uint32_t)((counter / BITS_PER_WORD) % MB_REPLAY_WORDS);
}

static uint32_t bit_mask(uint64_t counter)
{
    return (uint32_t)1u << (counter % BITS_PER_WORD);   /* not 1u: 16 bits on AVR */
}

void mb_replay_init(mb_replay *w)
{
    if (w != NULL) {
        memset(w, 0, sizeof(*w));
    }
}

int mb_replay_check(const mb_replay *w, uint64_t counter)
{
    if (w == NULL) {
        return MB_ERR_NULL;
    }
    if (!w->any || counter > w->top) {
        return MB_OK;
    }
    if (w->top - counter >= MB_REPLAY_WINDOW) {
        return MB_ERR_REPLAY;                 /* too old */
    }
    return (w->bitmap[word_index(counter)] & bit_mask(counter)) != 0u
               ? MB_ERR_REPLAY : MB_OK;
}

void mb_replay_accept(mb_replay *w, uint64_t counter)
{
    if (w == NULL) {
        return;
    }
    if (!w->any || counter > w->top) {
        uint64_t old_word = w->any ? w->top / BITS_PER_WORD : 0u;
        uint64_t new_word = counter / BITS_PER_WORD;
        uint64_t steps = new_word - old_word;

        if (!w->any || steps >= MB_REPLAY_WORDS) {
            memset(w->bitmap, 0, sizeof(w->bitmap));
        } else {
            uint64_t i;
            for (i = 1; i <= steps; i++) {
                w->bitmap[(old_word + i) % MB_REPLAY_WORDS] = 0u;
            }
        }
        w->top = counter;
        w->any = 1u;
    } else if (w->top - counter >= MB_REPLAY_WINDOW) {
        return;                               /* too old: nothing to record */
    }
    w->bitmap[word_index(counter)] |= bit_mask(counter);
}
