/**
 * \file mb_compact.h
 * \brief The compact wire format of encrypted messages (docs/PROTOCOL.md 18):
 *        the tag-length policy per message type, the header, counter and
 *        freshness-value reconstruction, and the SP 800-38D Appendix C limits
 *        on truncated tags.
 *
 * A pair uses it when both sessions' mb_session_cfg.compact point to the
 * same policy; NULL keeps the seed format (PROTOCOL.md 7). The session
 * (mb_session.h) does the sealing and opening; this header holds the pure
 * rules, so a port or a test can check them on their own.
 *
 *   data    = H(2) ||           ciphertext || tag(t)
 *   command = H(2) || FVL(2) || ciphertext || tag(t)
 *   H       = BE16(epoch mod 4 << 14 | counter mod 2^14),  FVL = BE16(FV mod 2^16)
 */
#ifndef MODBATT_MB_COMPACT_H
#define MODBATT_MB_COMPACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "modbatt/mb_seg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MB_COMPACT_HDR_LEN     2u    /**< H: epoch phase (2 bits) | counter low 14 bits */
#define MB_COMPACT_FVL_LEN     2u    /**< commands: FV mod 2^16 */
#define MB_COMPACT_CTR_BITS   14u    /**< counter bits sent */
#define MB_COMPACT_AAD_MAX    12u    /**< 02 | message-level id | L | t | FV (commands) */
#define MB_COMPACT_TAG_SHORT   4u    /**< 32 bits: SP 800-38D Appendix C, Table 1 */
#define MB_COMPACT_TAG_MID     8u    /**< 64 bits: Appendix C, Table 2 */
/** Largest ciphertext + AAD of a message with a 32-bit tag: the row
 *  2^5 bytes of Appendix C Table 1 (PROTOCOL.md 18.3). */
#define MB_COMPACT_SHORT_COMBINED_MAX 32u
/** Tag checks per key at a 32-bit tag (Table 1, row 2^5 bytes: 2^18). */
#define MB_COMPACT_SHORT_CHECKS (UINT32_C(1) << 18)
/** Tag checks per key at a 64-bit tag (Table 2, row 2^15 bytes: 2^32,
 *  one less so that it fits the 32-bit count). */
#define MB_COMPACT_MID_CHECKS   UINT32_MAX
/** Messages a sender seals per epoch when its policy has a 32-bit type:
 *  half the receiver's budget, so only forgeries can spend the rest. */
#define MB_COMPACT_SHORT_REKEY  (UINT64_C(1) << 17)

/** Tag length in bytes per message type (index = type, 0x3..0xF used). */
typedef struct mb_compact_policy {
    uint8_t tag_len[16];
} mb_compact_policy;

/** \brief Every type 8 bytes (64 bits). NULL-safe. */
void mb_compact_policy_defaults(mb_compact_policy *p);

/**
 * \brief  Check a policy (PROTOCOL.md 18.3) and name its tag lengths.
 * \param fresh_types  The session's command types (mb_session_cfg.fresh_types).
 * \param lens         Out: lens[0] the longest tag length of the policy,
 *                     lens[1] the other one, 0 when there is one only.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_TAG_LENGTH for an entry of types
 *         0x3..0xF that is not 4, 8 or 12..16; MB_ERR_INVALID_ARG for more
 *         than two lengths, or a 32-bit tag on SECURITY or a command type.
 */
int mb_compact_policy_check(const mb_compact_policy *p, uint16_t fresh_types,
                            uint8_t lens[2]);

/** \brief Bytes a message adds to its plaintext: header, FVL for a command, tag. */
size_t mb_compact_overhead(size_t tag_len, bool command);

/**
 * \brief  Largest plaintext of one message: the profile's largest wire
 *         message less the overhead, and for a 32-bit tag the Appendix C row
 *         (ciphertext + AAD <= 32 bytes).
 * \return Bytes; 0 for an unknown profile or tag length.
 */
size_t mb_compact_pt_max(mb_profile profile, size_t tag_len, bool command);

/**
 * \brief  Tag checks allowed under one key with tags of \p tag_len bytes
 *         (SP 800-38D Appendix C as this profile applies it).
 * \return MB_COMPACT_SHORT_CHECKS for 4, MB_COMPACT_MID_CHECKS for 8,
 *         0 (no limit beyond the counter's) for 12..16.
 */
uint32_t mb_compact_check_limit(size_t tag_len);

/** \brief The header H of epoch \p epoch and counter \p counter. */
uint16_t mb_compact_header(uint32_t epoch, uint64_t counter);

/**
 * \brief  The counter a header's low 14 bits stand for: the unique c with
 *         c mod 2^14 == low and lo <= c < lo + 2^14, where lo is the bottom
 *         of the replay window (PROTOCOL.md 18.2).
 */
uint64_t mb_compact_counter(uint64_t lo, uint16_t low);

/**
 * \brief  The freshness value FVL stands for: the unique v with
 *         v mod 2^16 == fvl in (est - 2^15, est + 2^15] (wrapping uint32),
 *         \p est being the receiver's estimate of the sender's FV now.
 */
uint32_t mb_compact_fv(uint32_t est, uint16_t fvl);

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_COMPACT_H */
