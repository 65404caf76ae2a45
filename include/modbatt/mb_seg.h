/**
 * \file mb_seg.h
 * \brief CAN frames, the two link profiles (classic CAN, CAN FD) and the
 *        split of one wire message into 1..16 frames (docs/PROTOCOL.md, 4).
 *
 * A wire message (encrypted: IV || ciphertext || tag; clear: the payload) is
 * cut into chunks carried in the chunk fields of the 29-bit id (mb_canid.h).
 * Every chunk but the last is full (8 bytes classic, 64 bytes FD). On CAN FD
 * the last frame is rounded up to a legal FD length; when that adds bytes the
 * message's spare bit (id bit 16) is set and the frame ends with padding:
 * p-1 bytes 0xCC, then one byte p (1 <= p <= 15).
 */
#ifndef MODBATT_MB_SEG_H
#define MODBATT_MB_SEG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MB_FRAME_DATA_MAX      64u   /**< largest CAN FD data field */
#define MB_SEG_CLASSIC_CHUNK    8u   /**< bytes per classic CAN chunk */
#define MB_SEG_FD_CHUNK        64u   /**< bytes per CAN FD chunk */
#define MB_SEG_CLASSIC_MAX    128u   /**< 16 chunks of 8: largest classic message */
#define MB_SEG_FD_MAX         256u   /**< v1: 4 chunks of 64: largest FD message */
#define MB_SEG_PAD_BYTE      0xCCu   /**< filler before the pad-count byte */
#define MB_CANID_SPARE_BIT  ((uint32_t)1u << 16)  /* 1u << 16 is 0 where int is 16 bits */

/** Largest wire message this build can reassemble. Firmware that only runs
 *  the classic profile may define it as 128 to halve reassembly RAM. */
#ifndef MB_MSG_WIRE_MAX
#define MB_MSG_WIRE_MAX MB_SEG_FD_MAX
#endif

#if (MB_MSG_WIRE_MAX != MB_SEG_FD_MAX) && (MB_MSG_WIRE_MAX != MB_SEG_CLASSIC_MAX)
#error "MB_MSG_WIRE_MAX must be 128 (classic only) or 256"
#endif

/** Link profile: a session setting, the same on both ends. */
typedef enum mb_profile {
    MB_PROFILE_CLASSIC = 0,  /**< CAN 2.0B, 8-byte frames */
    MB_PROFILE_FD      = 1   /**< CAN FD, frames up to 64 bytes */
} mb_profile;

/** One CAN frame with a 29-bit extended id. */
typedef struct mb_frame {
    uint32_t id;                        /**< 29-bit extended id */
    uint8_t  len;                       /**< data bytes, 0..8 classic; a legal FD length on FD */
    uint8_t  data[MB_FRAME_DATA_MAX];   /**< payload; bytes past \c len are ignored */
} mb_frame;

/** \brief Largest wire message of \p profile (128 or 256); 0 for an unknown profile. */
size_t mb_seg_wire_max(mb_profile profile);

/** \brief Smallest legal CAN FD data length >= \p len (0..8, 12, 16, 20,
 *         24, 32, 48, 64); 0xFF when \p len > 64. */
uint8_t mb_seg_fd_len(size_t len);

/**
 * \brief  Frames needed for a wire message of \p len bytes.
 * \return 1..16; 0 when \p len is larger than the profile allows.
 */
unsigned mb_seg_frame_count(mb_profile profile, size_t len);

/**
 * \brief  The message-level id: message id, encryption flag, device id and,
 *         on FD, the spare bit when the last frame needs padding. This is
 *         the id that the AAD binds (chunk fields zero).
 * \return The id, or #MB_CANID_INVALID (mb_canid.h) for a message id above
 *         2047, a length the profile cannot carry or an unknown profile.
 */
uint32_t mb_seg_message_id(mb_profile profile, uint16_t msg_id, bool encrypted,
                           uint8_t device_id, size_t len);

/**
 * \brief  Build frame \p index (1-based) of a wire message.
 * \param msg_key  Result of mb_seg_message_id() for this message.
 * \param msg      The wire message; NULL allowed when \p len is 0.
 * \param index    1 .. mb_seg_frame_count(profile, len).
 * \param out      The frame; bytes past out->len are zeroed.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_LENGTH when \p len does not fit the
 *         profile; MB_ERR_CHUNK_RANGE for a bad \p index; MB_ERR_CANID_RANGE
 *         for an invalid \p msg_key.
 */
int mb_seg_frame(mb_profile profile, uint32_t msg_key, const uint8_t *msg,
                 size_t len, unsigned index, mb_frame *out);

/**
 * \brief  Validate one received frame against the profile and return the
 *         bytes of the wire message it carries (padding removed).
 * \param total     Chunk total from the id (1..16).
 * \param index     Chunk index from the id (1..total).
 * \param spare     The id's spare bit.
 * \param body_len  Out: bytes of message data in this frame (at
 *                  frame->data[0..body_len)).
 * \return MB_OK; MB_ERR_NULL; MB_ERR_MALFORMED for a frame the sender could
 *         not have produced (short non-last chunk, bad padding, spare bit on
 *         classic, more chunks than the profile's largest message, ...).
 */
int mb_seg_unframe(mb_profile profile, const mb_frame *frame, unsigned total,
                   unsigned index, bool spare, size_t *body_len);

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_SEG_H */
