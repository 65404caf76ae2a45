/*
 * mb_session_fresh.c - command freshness (docs/PROTOCOL.md 7.5).
 *
 * A command (a type in cfg.fresh_types: COMMAND and LIMITS by default) is
 * sealed as FV || payload, FV = BE32(the sender's milliseconds since it
 * installed the current handshake's keys). The receiver applies it only if
 *   - it opened under this handshake's keys (not the old session's grace epoch),
 *   - its position (epoch, counter) is above every command accepted since
 *     the handshake: no reorder window for commands, so a delayed command
 *     never overtakes a newer one, and
 *   - its age, estimated from both anchors, is at most fresh_max_age_ms.
 * Both sides anchor when they install the keys: the initiator on sending
 * FINISH, the responder on receiving it, at most hs_timeout_ms later. The
 * responder adds that bound to its estimate, so an estimate never falls
 * below the true age (clock drift aside: the controller renews the
 * handshake every rehandshake_ms).
 */
#include <string.h>

#include "mb_bytes_priv.h"
#include "mb_session_priv.h"
#include "modbatt/mb_errors.h"
#include "modbatt/mb_util.h"

bool mbs_is_command(const mb_session *s, unsigned type)
{
    return type < 16u && (s->cfg.fresh_types & (1u << type)) != 0u;
}

void mbs_fresh_wrap(const mb_session *s, const uint8_t *pt, size_t len, uint32_t now_ms,
                    uint8_t *out, size_t *out_len)
{
    uint32_t fv = now_ms - s->anchor_ms;

    mb_put_be32(out, fv);
    if (len != 0u) {
        memcpy(out + MB_SESSION_FV_LEN, pt, len);
    }
    *out_len = len + MB_SESSION_FV_LEN;
}

/* Upper bound of the command's age in ms (negative: sealed "after" now,
 * within the anchors' uncertainty). */
static int64_t age_bound(const mb_session *s, uint32_t fv, uint32_t now_ms)
{
    int32_t lag = (int32_t)((now_ms - s->anchor_ms) - fv);

    return (int64_t)lag + (s->anchor_late ? (int64_t)s->cfg.hs_timeout_ms : 0);
}

int mbs_fresh_accept(mb_session *s, uint8_t older_session, uint32_t now_ms,
                     mb_session_msg *out)
{
    uint64_t position = ((uint64_t)out->epoch << 32) | out->counter;
    uint32_t fv;

    if (out->len < MB_SESSION_FV_LEN) {
        return MB_ERR_MALFORMED;
    }
    fv = mb_get_be32(out->data);
    if (older_session || (s->fresh_any && position <= s->fresh_newest) ||
        age_bound(s, fv, now_ms) > (int64_t)s->cfg.fresh_max_age_ms) {
        return MB_ERR_STALE;
    }
    s->fresh_any = 1u;
    s->fresh_newest = position;
    out->len = (uint16_t)(out->len - MB_SESSION_FV_LEN);
    memmove(out->data, out->data + MB_SESSION_FV_LEN, out->len);
    mb_wipe(out->data + out->len, MB_SESSION_FV_LEN);
    return MB_OK;
}
