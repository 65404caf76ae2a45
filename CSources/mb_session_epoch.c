/*
 * mb_session_epoch.c - key epochs of both directions (docs/PROTOCOL.md,
 * section 7): install epoch 0 after a handshake, rotate the sending keys,
 * follow the peer's rotation, keep the previous receive epoch for a grace
 * period, and open received messages (fixed field -> epoch, replay check,
 * authenticate, then accept the counter).
 */
#include <string.h>

#include "mb_session_priv.h"
#include "modbatt/mb_errors.h"
#include "modbatt/mb_util.h"
#include "mb_bytes_priv.h"

void mbs_aad(uint32_t msg_key, size_t wire_len, uint8_t aad[MB_SESSION_AAD_LEN])
{
    aad[0] = MB_PROTO_VERSION;
    mb_put_be32(aad + 1, msg_key);
    mb_put_be16(aad + 5, (uint16_t)wire_len);
}

/* key, fixed field and following chain key of epoch e from chain[e]. */
static int epoch_material(const uint8_t chain[32], uint32_t epoch, uint8_t key[32],
                          uint8_t fixed[4], uint8_t next[32])
{
    int ret = mbs_epoch_key(chain, epoch, key);

    if (ret == MB_OK) {
        ret = mbs_epoch_fixed(chain, epoch, fixed);
    }
    if (ret == MB_OK) {
        ret = mbs_chain_next(chain, epoch, next);
    }
    return ret;
}

static int tx_set(mb_session *s, const uint8_t chain[32], uint32_t epoch, uint32_t now_ms)
{
    uint8_t key[MB_SESSION_KEY_LEN];
    uint8_t fixed[MB_NONCE_FIXED_LEN];
    uint8_t next[MB_SESSION_KEY_LEN];
    int ret = epoch_material(chain, epoch, key, fixed, next);

    if (ret == MB_OK) {
        ret = mb_nonce_init(&s->tx_nonce, fixed, MB_SESSION_COUNTER_LIMIT);
    }
    if (ret == MB_OK) {
        memcpy(s->tx_key, key, sizeof(key));
        memcpy(s->tx_chain, next, sizeof(next));
        s->tx_epoch = epoch;
        s->tx_epoch_ms = now_ms;
    }
    mb_wipe(key, sizeof(key));
    mb_wipe(next, sizeof(next));
    return ret;
}

int mbs_tx_install_epoch0(mb_session *s, const uint8_t chain0[32], uint32_t now_ms)
{
    return tx_set(s, chain0, 0u, now_ms);
}

int mbs_tx_rotate(mb_session *s, uint32_t now_ms)
{
    uint8_t chain[MB_SESSION_KEY_LEN];
    int ret;

    if (s->tx_nonce.next == 0u) {
        /* Nothing sent under this epoch: its key is as fresh as the next
         * one, and skipping an epoch would leave the peer behind (it
         * follows one epoch ahead only). */
        s->tx_epoch_ms = now_ms;
        return MB_OK;
    }
    if (s->tx_epoch == UINT32_MAX) {
        return MB_ERR_NONCE_EXHAUSTED;     /* only a new handshake helps */
    }
    memcpy(chain, s->tx_chain, sizeof(chain));
    ret = tx_set(s, chain, s->tx_epoch + 1u, now_ms);
    mb_wipe(chain, sizeof(chain));
    if (ret == MB_OK) {
        mbs_emit(s, MB_EV_REKEY_TX, 0u, MB_OK, s->tx_epoch, 0u);
    }
    return ret;
}

int mbs_tx_maybe_rotate(mb_session *s, uint32_t now_ms)
{
    if (s->tx_nonce.next >= s->cfg.rekey_after_msgs ||
        (s->cfg.rekey_after_ms != 0u &&
         mbs_after_eq(now_ms, s->tx_epoch_ms + s->cfg.rekey_after_ms))) {
        return mbs_tx_rotate(s, now_ms);
    }
    return MB_OK;
}

/* Current receive epoch becomes the previous one, accepted for grace_ms. */
static void rx_retire_current(mb_session *s, uint32_t now_ms)
{
    mb_wipe(&s->rx_prev, sizeof(s->rx_prev));
    if (s->rx_cur.valid && s->cfg.grace_ms != 0u) {
        s->rx_prev = s->rx_cur;
        s->rx_prev.expires_ms = now_ms + s->cfg.grace_ms;
    }
    mb_wipe(&s->rx_cur, sizeof(s->rx_cur));
}

/* Install receive epoch \p epoch with its key; chain is chain[epoch]. */
static int rx_set(mb_session *s, const uint8_t chain[32], uint32_t epoch,
                  const uint8_t key[32], uint32_t now_ms)
{
    uint8_t next[MB_SESSION_KEY_LEN];
    uint8_t fixed[MB_NONCE_FIXED_LEN];
    uint8_t next_fixed[MB_NONCE_FIXED_LEN];
    int ret = mbs_epoch_fixed(chain, epoch, fixed);

    if (ret == MB_OK) {
        ret = mbs_chain_next(chain, epoch, next);
    }
    if (ret == MB_OK) {
        ret = mbs_epoch_fixed(next, epoch + 1u, next_fixed);
    }
    if (ret == MB_OK) {
        rx_retire_current(s, now_ms);
        memcpy(s->rx_cur.key, key, MB_SESSION_KEY_LEN);
        memcpy(s->rx_cur.fixed, fixed, sizeof(fixed));
        mb_replay_init(&s->rx_cur.replay);
        s->rx_cur.epoch = epoch;
        s->rx_cur.valid = 1u;
        memcpy(s->rx_chain, next, sizeof(next));
        memcpy(s->rx_next_fixed, next_fixed, sizeof(next_fixed));
    }
    mb_wipe(next, sizeof(next));
    return ret;
}

int mbs_rx_install_epoch0(mb_session *s, const uint8_t chain0[32], uint32_t now_ms)
{
    uint8_t key[MB_SESSION_KEY_LEN];
    int ret = mbs_epoch_key(chain0, 0u, key);

    if (ret == MB_OK) {
        ret = rx_set(s, chain0, 0u, key, now_ms);
    }
    mb_wipe(key, sizeof(key));
    return ret;
}

void mbs_rx_grace(mb_session *s, uint32_t now_ms)
{
    if (s->rx_prev.valid && mbs_after_eq(now_ms, s->rx_prev.expires_ms)) {
        uint32_t epoch = s->rx_prev.epoch;
        mb_wipe(&s->rx_prev, sizeof(s->rx_prev));
        mbs_emit(s, MB_EV_GRACE_END, 0u, MB_OK, epoch, 0u);
    }
}

/* Which epoch a fixed field names: the current one, the previous one in its
 * grace period, or the peer's next one. */
enum { EP_NONE, EP_CUR, EP_PREV, EP_NEXT };

static int select_epoch(const mb_session *s, const uint8_t fixed[4])
{
    if (s->rx_cur.valid && memcmp(fixed, s->rx_cur.fixed, MB_NONCE_FIXED_LEN) == 0) {
        return EP_CUR;
    }
    if (s->rx_prev.valid && memcmp(fixed, s->rx_prev.fixed, MB_NONCE_FIXED_LEN) == 0) {
        return EP_PREV;
    }
    if (s->rx_cur.valid && s->rx_cur.epoch != UINT32_MAX &&
        memcmp(fixed, s->rx_next_fixed, MB_NONCE_FIXED_LEN) == 0) {
        return EP_NEXT;
    }
    return EP_NONE;
}

static int open_with(mb_session *s, const uint8_t key[32], uint32_t msg_key,
                     const uint8_t *wire, size_t len, uint8_t *pt)
{
    uint8_t aad[MB_SESSION_AAD_LEN];
    size_t ct_len = len - MB_SESSION_OVERHEAD;
    int ret = mb_aead_setkey(s->cfg.aead, key);

    mbs_aad(msg_key, len, aad);
    if (ret == MB_OK) {
        ret = mb_aead_open(s->cfg.aead, wire, aad, sizeof(aad),
                           wire + MB_NONCE_LEN, ct_len,
                           wire + MB_NONCE_LEN + ct_len, MB_AEAD_TAG_MAX, pt);
    }
    return ret;
}

/* Authenticate under the peer's next epoch; adopt it only on success. */
static int open_next(mb_session *s, uint32_t msg_key, const uint8_t *wire,
                     size_t len, uint32_t now_ms, uint8_t *pt)
{
    uint8_t key[MB_SESSION_KEY_LEN];
    uint8_t chain[MB_SESSION_KEY_LEN];
    uint32_t epoch = s->rx_cur.epoch + 1u;
    int ret = mbs_epoch_key(s->rx_chain, epoch, key);

    if (ret == MB_OK) {
        ret = open_with(s, key, msg_key, wire, len, pt);
    }
    if (ret == MB_OK) {
        memcpy(chain, s->rx_chain, sizeof(chain));
        ret = rx_set(s, chain, epoch, key, now_ms);
    }
    if (ret == MB_OK) {
        mbs_emit(s, MB_EV_REKEY_RX, 0u, MB_OK, epoch, 0u);
    }
    mb_wipe(key, sizeof(key));
    mb_wipe(chain, sizeof(chain));
    return ret;
}

int mbs_rx_open(mb_session *s, uint32_t msg_key, const uint8_t *wire, size_t len,
                uint32_t now_ms, mb_session_msg *out, uint8_t *older_session)
{
    mb_rx_epoch *ep;
    uint64_t counter;
    int which;
    int ret;

    if (len < MB_SESSION_OVERHEAD || len > mb_seg_wire_max(s->cfg.profile)) {
        return MB_ERR_MALFORMED;
    }
    if (!s->rx_cur.valid) {
        return MB_ERR_STATE;
    }
    counter = mb_nonce_counter(wire);
    if (counter >= MB_SESSION_COUNTER_LIMIT) {
        return MB_ERR_MALFORMED;
    }
    mbs_rx_grace(s, now_ms);
    which = select_epoch(s, wire);
    if (which == EP_NONE) {
        return MB_ERR_EPOCH;
    }
    if (which == EP_NEXT) {
        ret = open_next(s, msg_key, wire, len, now_ms, out->data);
        ep = &s->rx_cur;
    } else {
        ep = which == EP_CUR ? &s->rx_cur : &s->rx_prev;
        ret = mb_replay_check(&ep->replay, counter);   /* cheap, before the AEAD */
        if (ret == MB_OK) {
            ret = open_with(s, ep->key, msg_key, wire, len, out->data);
        }
    }
    if (ret != MB_OK) {
        return ret;
    }
    mb_replay_accept(&ep->replay, counter);            /* only once authentic */
    out->len = (uint16_t)(len - MB_SESSION_OVERHEAD);
    out->epoch = ep->epoch;
    out->counter = counter;
    out->encrypted = 1u;
    *older_session = ep->older_session;
    return MB_OK;
}
