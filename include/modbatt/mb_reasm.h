/**
 * \file mb_reasm.h
 * \brief Bounded reassembly of chunked messages (docs/PROTOCOL.md, 5).
 *
 * Frames of several messages (different message ids or device ids) may
 * interleave; the frames of one message arrive in index order (CAN
 * arbitration sends the lower chunk index first, as it is the lower id).
 * One slot holds one message in progress, keyed by its message-level id.
 *
 * Policy (bounded memory, no starvation by first chunks):
 *  - a first chunk (index 1) always discards that key's partial message;
 *  - a chunk out of order, with another total, or for a key with no slot is
 *    rejected and the key's partial message is dropped (MB_ERR_MALFORMED);
 *  - a slot idle for longer than the timeout is freed (MB_ERR_TIMEOUT event
 *    through mb_reasm_expire());
 *  - when every slot is busy, a first chunk may only take the slot of a
 *    message that has received just its first chunk too (the oldest such);
 *    messages that have made progress are never evicted by first chunks,
 *    otherwise the new first chunk is refused with MB_ERR_NO_SLOT.
 * Nothing is delivered until every chunk arrived.
 */
#ifndef MODBATT_MB_REASM_H
#define MODBATT_MB_REASM_H

#include <stddef.h>
#include <stdint.h>

#include "modbatt/mb_seg.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Messages in progress at once. Compile-time. */
#ifndef MB_REASM_SLOTS
#define MB_REASM_SLOTS 2u
#endif

#if MB_REASM_SLOTS < 1u || MB_REASM_SLOTS > 32u
#error "MB_REASM_SLOTS must be 1..32"
#endif

typedef struct mb_reasm_slot {
    uint32_t key;                    /**< message-level id */
    uint32_t last_ms;                /**< time of the last chunk */
    uint32_t seq;                    /**< allocation order, for eviction */
    uint16_t len;                    /**< bytes collected */
    uint8_t  total;                  /**< chunk total, 0 = slot free */
    uint8_t  next;                   /**< next expected chunk index */
    uint8_t  buf[MB_MSG_WIRE_MAX];   /**< message bytes */
} mb_reasm_slot;

typedef struct mb_reasm {
    mb_reasm_slot slot[MB_REASM_SLOTS];
    uint32_t timeout_ms;             /**< idle time before a slot expires */
    uint32_t seq;                    /**< allocation counter */
    uint8_t  profile;                /**< mb_profile */
} mb_reasm;

/** What mb_reasm_push() produced. */
typedef struct mb_reasm_done {
    uint32_t key;       /**< message-level id (valid when complete) */
    size_t   len;       /**< message length (valid when complete) */
    uint8_t  complete;  /**< 1: the caller's buffer holds a whole message */
    uint8_t  expired;   /**< partial messages dropped for age during this call */
} mb_reasm_done;

/**
 * \brief  Empty reassembler.
 * \param timeout_ms  Idle time after which a partial message is dropped (> 0).
 * \return MB_OK, MB_ERR_NULL, MB_ERR_INVALID_ARG (unknown profile, 0 timeout,
 *         or FD in a build with MB_MSG_WIRE_MAX 128).
 */
int mb_reasm_init(mb_reasm *r, mb_profile profile, uint32_t timeout_ms);

/**
 * \brief  Add one frame.
 * \param msg   Caller buffer that receives a completed message.
 * \param cap   Its size; at least mb_seg_wire_max(profile).
 * \param done  Out: done->complete is 1 when \p msg holds a whole message.
 * \return MB_OK (complete or not); MB_ERR_NULL; MB_ERR_BUFFER_TOO_SMALL;
 *         MB_ERR_CANID_RANGE / MB_ERR_CHUNK_RANGE for an id that does not
 *         decode; MB_ERR_MALFORMED (see the policy above); MB_ERR_NO_SLOT.
 */
int mb_reasm_push(mb_reasm *r, const mb_frame *frame, uint32_t now_ms,
                  uint8_t *msg, size_t cap, mb_reasm_done *done);

/**
 * \brief  Free slots idle for more than the timeout.
 * \return The number of partial messages dropped.
 */
unsigned mb_reasm_expire(mb_reasm *r, uint32_t now_ms);

/** \brief Slots in use (for tests and health reports). 0 for NULL. */
unsigned mb_reasm_in_use(const mb_reasm *r);

/** \brief Drop every partial message (slots zeroized); the profile and
 *         timeout are kept. NULL-safe. */
void mb_reasm_clear(mb_reasm *r);

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_REASM_H */
