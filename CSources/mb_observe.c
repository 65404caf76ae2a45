/*
 * mb_observe.c - a passive observer of one pair (mb_observe.h): follows the
 * clear handshake to derive the session keys the two devices derive, then
 * opens both directions' messages with the session's own receive path.
 *
 * Each direction is an mb_session used for receiving only: dir[r] takes the
 * frames sent by role r (so its own role is the other one). Its reassembler,
 * epochs, grace period and replay window are the session's; the observer
 * never calls start/send, so the rng and tx hooks are never used.
 */
#include <string.h>

#include "mb_session_priv.h"
#include "modbatt/mb_canid.h"
#include "modbatt/mb_errors.h"
#include "modbatt/mb_observe.h"
#include "modbatt/mb_util.h"

#define OFF_KEYID  2u

/* Never called: an observer sends nothing and draws no nonces. */
static int no_rng(void *user, uint8_t *out, size_t len)
{
    (void)user;
    (void)out;
    (void)len;
    return MB_ERR_STATE;
}

static int no_tx(void *user, const mb_frame *frame)
{
    (void)user;
    (void)frame;
    return MB_ERR_STATE;
}

int mb_observer_init(mb_observer *o, mb_profile profile, uint8_t device_id,
                     const uint8_t ps[32], const uint8_t key_id[4], mb_aead *aead)
{
    mb_session_cfg cfg;
    unsigned r;
    int ret = MB_OK;

    if (o == NULL || ps == NULL || key_id == NULL || aead == NULL) {
        return MB_ERR_NULL;
    }
    memset(o, 0, sizeof(*o));
    mb_session_cfg_defaults(&cfg);
    cfg.profile = profile;
    cfg.device_id = device_id;
    cfg.rng = no_rng;
    cfg.tx = no_tx;
    cfg.aead = aead;
    for (r = 0u; r < 2u && ret == MB_OK; r++) {
        /* dir[r] receives what role r sends, so it plays the other role. */
        cfg.role = r == (unsigned)MB_ROLE_CONTROLLER ? MB_ROLE_DEVICE : MB_ROLE_CONTROLLER;
        ret = mb_session_init_secret(&o->dir[r], &cfg, ps, key_id);
    }
    if (ret != MB_OK) {
        mb_observer_free(o);
    }
    return ret;
}

void mb_observer_free(mb_observer *o)
{
    if (o != NULL) {
        mb_wipe(o, sizeof(*o));
    }
}

bool mb_observer_accepts(const mb_observer *o, uint32_t can_id)
{
    return o != NULL && (mb_session_accepts(&o->dir[0], can_id) ||
                         mb_session_accepts(&o->dir[1], can_id));
}

static const mb_session *pair_of(const mb_observer *o)
{
    return &o->dir[0];   /* both hold the same PS, key id and settings */
}

static int check_header(const mb_observer *o, const uint8_t *msg)
{
    if (msg[0] != MB_PROTO_VERSION) {
        return MB_ERR_VERSION;
    }
    if (mb_ct_compare(msg + OFF_KEYID, pair_of(o)->key_id, MB_KEY_ID_LEN) != 0) {
        return MB_ERR_HANDSHAKE;
    }
    return MB_OK;
}

static int on_hello(mb_observer *o, mb_role sender, const uint8_t *msg, size_t len,
                    mb_observed *out)
{
    const mb_session *p = pair_of(o);
    int ret = mbs_hs_check_hello(p->pair_secret, p->key_id, p->cfg.device_id, sender,
                                 msg, len);

    if (ret != MB_OK) {
        return ret;            /* a forged HELLO never displaces the real one */
    }
    memcpy(o->hello[sender], msg, len);
    o->hello_len[sender] = (uint8_t)len;
    out->handshake = MB_OBS_HS_HELLO;
    return MB_OK;
}

/* A REPLY from `sender` answers the HELLO of the other role. */
static int on_reply(mb_observer *o, mb_role sender, const uint8_t *msg, size_t len,
                    mb_observed *out)
{
    const mb_session *p = pair_of(o);
    mb_role initiator = sender == MB_ROLE_CONTROLLER ? MB_ROLE_DEVICE : MB_ROLE_CONTROLLER;
    uint8_t keys[MBS_HS_KEYS_LEN];
    bool eph;
    int ret;

    if (len != MB_SESSION_REPLY_LEN && len != MB_SESSION_REPLY_EPH_LEN) {
        return MB_ERR_MALFORMED;
    }
    if ((ret = check_header(o, msg)) != MB_OK) {
        return ret;
    }
    if (o->hello_len[initiator] == 0u) {
        return MB_ERR_STATE;
    }
    eph = (msg[1] & MB_SESSION_FLAG_EPHEMERAL) != 0u;
    if (eph != (len == MB_SESSION_REPLY_EPH_LEN) ||
        eph != (o->hello_len[initiator] == MB_SESSION_HELLO_EPH_LEN)) {
        return MB_ERR_MALFORMED;
    }
    ret = mbs_hs_check_reply(p->pair_secret, p->key_id, p->cfg.device_id, initiator,
                             o->hello[initiator], o->hello_len[initiator], msg, len,
                             keys, o->expect);
    if (ret == MB_OK) {
        memcpy(o->hs_keys, keys, sizeof(keys));
        o->hs_pending = 1u;
        o->hs_initiator = (uint8_t)initiator;
        o->hs_ephemeral = (uint8_t)eph;
        out->handshake = MB_OBS_HS_REPLY;
    }
    mb_wipe(keys, sizeof(keys));
    return ret;
}

/* Both ends now hold the keys of the handshake that ended; so do we. */
static int install(mb_observer *o, uint32_t now_ms, mb_observed *out)
{
    int ret = mbs_rx_install_epoch0(&o->dir[MB_ROLE_CONTROLLER], o->hs_keys + 32, now_ms);

    if (ret == MB_OK) {
        ret = mbs_rx_install_epoch0(&o->dir[MB_ROLE_DEVICE], o->hs_keys + 64, now_ms);
    }
    if (ret == MB_OK) {
        o->established = 1u;
        o->sessions++;
        out->handshake = MB_OBS_HS_FINISH;
    }
    return ret;
}

/* The initiator's FINISH completes the handshake. */
static int on_finish(mb_observer *o, mb_role sender, const uint8_t *msg, size_t len,
                     uint32_t now_ms, mb_observed *out)
{
    int ret;

    if (len != MB_SESSION_FINISH_LEN) {
        return MB_ERR_MALFORMED;
    }
    if (!o->hs_pending || o->hs_initiator != (uint8_t)sender) {
        return MB_ERR_STATE;
    }
    if (mb_ct_compare(msg, o->expect, MB_SESSION_MAC_LEN) != 0) {
        return MB_ERR_AUTH;
    }
    if (o->hs_ephemeral) {
        /* The traffic keys hide behind the ephemeral exchange: nothing to install. */
        ret = MB_OK;
        out->handshake = MB_OBS_HS_EPHEMERAL;
    } else {
        ret = install(o, now_ms, out);
    }
    mb_wipe(o->hs_keys, sizeof(o->hs_keys));
    mb_wipe(o->expect, sizeof(o->expect));
    o->hs_pending = 0u;
    return ret;
}

static int on_data(mb_observer *o, mb_role sender, uint32_t key, const uint8_t *wire,
                   size_t len, uint32_t now_ms, mb_observed *out)
{
    static const mb_session_msg blank;
    mb_session_msg m = blank;
    uint8_t older = 0u;
    int ret = mbs_rx_open(&o->dir[sender], key, wire, len, now_ms, &m, &older);
    /* A command carries its freshness value ahead: shown without it. */
    size_t skip = mbs_is_command(&o->dir[sender], out->type) ? MB_SESSION_FV_LEN : 0u;

    if (len >= MB_NONCE_LEN) {
        out->counter = mb_nonce_counter(wire);
    }
    if (ret == MB_OK && m.len < skip) {
        ret = MB_ERR_MALFORMED;
    }
    if (ret == MB_OK) {
        memcpy(out->data, m.data + skip, m.len - skip);
        out->len = (uint16_t)(m.len - skip);
        out->epoch = m.epoch;
        out->decrypted = 1u;
    }
    mb_wipe(&m, sizeof(m));
    return ret;
}

static int dispatch(mb_observer *o, uint32_t key, const uint8_t *wire, size_t len,
                    uint32_t now_ms, mb_observed *out)
{
    mb_canid f;
    mb_role sender;
    unsigned type;

    (void)mb_canid_decode(key, &f);              /* checked by accepts() */
    (void)mb_msg_parse_id(f.msg_id, &sender, &type);
    out->complete = 1u;
    out->sender = (uint8_t)sender;
    out->type = (uint8_t)type;
    out->encrypted = f.encrypted ? 1u : 0u;
    if (type <= MB_MSG_FINISH) {
        if (f.encrypted) {
            return MB_ERR_MALFORMED;
        }
        switch (type) {
        case MB_MSG_HELLO: return on_hello(o, sender, wire, len, out);
        case MB_MSG_REPLY: return on_reply(o, sender, wire, len, out);
        default:           return on_finish(o, sender, wire, len, now_ms, out);
        }
    }
    if (!f.encrypted) {
        if (type != MB_MSG_DIAG) {
            return MB_ERR_POLICY;
        }
        memcpy(out->data, wire, len);            /* clear diagnostics: shown as sent */
        out->len = (uint16_t)len;
        return MB_OK;
    }
    return on_data(o, sender, key, wire, len, now_ms, out);
}

int mb_observer_rx(mb_observer *o, const mb_frame *frame, uint32_t now_ms, mb_observed *out)
{
    uint8_t wire[MB_MSG_WIRE_MAX];
    mb_reasm_done done = {0u, 0u, 0u, 0u};
    mb_canid f;
    mb_role sender;
    unsigned type;
    int ret;

    if (o == NULL || frame == NULL || out == NULL) {
        return MB_ERR_NULL;
    }
    memset(out, 0, sizeof(*out));
    if (!mb_observer_accepts(o, frame->id)) {
        return MB_ERR_CANID_RANGE;
    }
    (void)mb_canid_decode(frame->id, &f);
    (void)mb_msg_parse_id(f.msg_id, &sender, &type);
    ret = mb_reasm_push(&o->dir[sender].reasm, frame, now_ms, wire, sizeof(wire), &done);
    out->expired = done.expired;
    if (ret != MB_OK || !done.complete) {
        return ret;
    }
    ret = dispatch(o, done.key, wire, done.len, now_ms, out);
    mb_wipe(wire, done.len);
    return ret;
}
