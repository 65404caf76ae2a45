/**
 * \file mb_replay.h
 * \brief Sliding anti-replay window over 64-bit message counters
 *        (the RFC 6479 bitmap, as WireGuard's counter_validate uses it).
 *
 * Check a counter before authenticating (cheap rejection), accept it only
 * after the message authenticated: a forged frame must never move the window.
 */
#ifndef MODBATT_MB_REPLAY_H
#define MODBATT_MB_REPLAY_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Counters accepted behind the highest one seen. Compile-time; a multiple
 *  of 32 and at least 64. */
#ifndef MB_REPLAY_WINDOW
#define MB_REPLAY_WINDOW 64u
#endif

#if (MB_REPLAY_WINDOW < 64u) || (MB_REPLAY_WINDOW % 32u != 0u)
#error "MB_REPLAY_WINDOW must be a multiple of 32 and at least 64"
#endif

/* One spare word so the ring never clears bits still inside the window. */
#define MB_REPLAY_WORDS ((MB_REPLAY_WINDOW / 32u) + 1u)

typedef struct mb_replay {
    uint64_t top;                       /**< highest accepted counter */
    uint32_t bitmap[MB_REPLAY_WORDS];   /**< ring of seen counters */
    uint8_t  any;                       /**< 0 until the first accept */
} mb_replay;

/** \brief Empty window: every counter is fresh. NULL-safe. */
void mb_replay_init(mb_replay *w);

/**
 * \brief  Would \p counter be fresh? Does not change the window.
 * \return MB_OK; MB_ERR_REPLAY if seen or more than MB_REPLAY_WINDOW - 1
 *         behind the highest accepted counter; MB_ERR_NULL.
 */
int mb_replay_check(const mb_replay *w, uint64_t counter);

/** \brief Record \p counter as seen. Call only after authentication and a
 *         successful mb_replay_check(). NULL-safe. */
void mb_replay_accept(mb_replay *w, uint64_t counter);

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_REPLAY_H */
