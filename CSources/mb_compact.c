/*
 * mb_compact.c - the compact wire format's rules (docs/PROTOCOL.md 18):
 * the tag policy, sizes, the SP 800-38D Appendix C limits, and the
 * reconstruction of the counter and the freshness value from their low bits.
 */
#include <string.h>

#include "modbatt/mb_compact.h"
#include "modbatt/mb_errors.h"
#include "modbatt/mb_msg.h"

void mb_compact_policy_defaults(mb_compact_policy *p)
{
    if (p != NULL) {
        memset(p->tag_len, MB_COMPACT_TAG_MID, sizeof(p->tag_len));
    }
}

/* SP 800-38D 5.2.1.2: 128, 120, 112, 104, 96 and, by Appendix C, 64 or 32 bits. */
static bool tag_len_ok(size_t t)
{
    return t == MB_COMPACT_TAG_SHORT || t == MB_COMPACT_TAG_MID || (t >= 12u && t <= 16u);
}

int mb_compact_policy_check(const mb_compact_policy *p, uint16_t fresh_types,
                            uint8_t lens[2])
{
    unsigned type;

    if (p == NULL || lens == NULL) {
        return MB_ERR_NULL;
    }
    lens[0] = 0u;
    lens[1] = 0u;
    for (type = MB_MSG_SECURITY; type <= MB_MSG_APP_LAST; type++) {
        uint8_t t = p->tag_len[type];
        bool command = type == MB_MSG_SECURITY || (fresh_types & (1u << type)) != 0u;
        if (!tag_len_ok(t)) {
            return MB_ERR_TAG_LENGTH;
        }
        if (command && t == MB_COMPACT_TAG_SHORT) {
            return MB_ERR_INVALID_ARG;      /* 32 bits only where one forgery is tolerable */
        }
        if (t == lens[0] || t == lens[1]) {
            continue;
        }
        if (lens[1] != 0u) {
            return MB_ERR_INVALID_ARG;      /* a third length: a third key per epoch */
        }
        lens[lens[0] == 0u ? 0 : 1] = t;
    }
    if (lens[1] > lens[0]) {
        uint8_t t = lens[0];
        lens[0] = lens[1];
        lens[1] = t;
    }
    return MB_OK;
}

size_t mb_compact_overhead(size_t tag_len, bool command)
{
    return MB_COMPACT_HDR_LEN + (command ? MB_COMPACT_FVL_LEN : 0u) + tag_len;
}

size_t mb_compact_pt_max(mb_profile profile, size_t tag_len, bool command)
{
    size_t wire = mb_seg_wire_max(profile);
    size_t max;

    if (wire == 0u || !tag_len_ok(tag_len)) {
        return 0u;
    }
    max = wire - mb_compact_overhead(tag_len, command);
    if (tag_len == MB_COMPACT_TAG_SHORT) {
        size_t aad = MB_COMPACT_AAD_MAX - (command ? 0u : 4u);
        size_t row = MB_COMPACT_SHORT_COMBINED_MAX - aad;
        max = max < row ? max : row;
    }
    return max;
}

uint32_t mb_compact_check_limit(size_t tag_len)
{
    if (tag_len == MB_COMPACT_TAG_SHORT) {
        return MB_COMPACT_SHORT_CHECKS;
    }
    return tag_len == MB_COMPACT_TAG_MID ? MB_COMPACT_MID_CHECKS : 0u;
}

uint16_t mb_compact_header(uint32_t epoch, uint64_t counter)
{
    uint32_t low = (uint32_t)(counter & ((1u << MB_COMPACT_CTR_BITS) - 1u));

    return (uint16_t)(((epoch & 3u) << MB_COMPACT_CTR_BITS) | low);
}

uint64_t mb_compact_counter(uint64_t lo, uint16_t low)
{
    uint64_t mask = (UINT64_C(1) << MB_COMPACT_CTR_BITS) - 1u;

    return lo + (((uint64_t)low - lo) & mask);
}

uint32_t mb_compact_fv(uint32_t est, uint16_t fvl)
{
    /* est + d, d = (fvl - est) mod 2^16 taken into (-2^15, 2^15]. */
    uint32_t d = (uint32_t)(fvl - (uint16_t)est) & 0xFFFFu;

    return d > 0x8000u ? est + d - 0x10000u : est + d;
}
