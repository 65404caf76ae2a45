/*
 * mb_session_hs.c - the three-message handshake with key confirmation
 * (docs/PROTOCOL.md, section 6):
 *
 *   HELLO  (I -> R, clear) = ver | flags | key_id(4) | N_I(16)            22 bytes
 *   REPLY  (R -> I, clear) = ver | 0     | key_id(4) | N_R(16) | MAC_R(16) 38 bytes
 *   FINISH (I -> R, clear) = MAC_I(16)                                     16 bytes
 *
 *   MAC_R = HMAC(mac_key, "mb1 resp" || HELLO || REPLY[0..22))[0..16)
 *   MAC_I = HMAC(mac_key, "mb1 init" || HELLO || REPLY)[0..16)
 *
 * Either side may initiate; if both do at once the controller's HELLO wins.
 * The keys in use keep working until the new ones are confirmed.
 */
#include <string.h>

#include "mb_session_priv.h"
#include "modbatt/mb_errors.h"
#include "modbatt/mb_util.h"

#define OFF_VER    0u
#define OFF_FLAGS  1u
#define OFF_KEYID  2u
#define OFF_NONCE  6u
#define OFF_MAC   22u

static mb_role peer_role(const mb_session *s)
{
    return s->cfg.role == MB_ROLE_CONTROLLER ? MB_ROLE_DEVICE : MB_ROLE_CONTROLLER;
}

static void build_hello(const mb_session *s, uint8_t out[MB_SESSION_HELLO_LEN])
{
    out[OFF_VER] = MB_PROTO_VERSION;
    out[OFF_FLAGS] = s->hs.flags;
    memcpy(out + OFF_KEYID, s->key_id, MB_KEY_ID_LEN);
    memcpy(out + OFF_NONCE, s->hs.n_i, MB_SESSION_NONCE_LEN);
}

static void hs_reset(mb_session *s)
{
    mb_wipe(s->hs.n_i, sizeof(s->hs.n_i));
    mb_wipe(s->hs.n_r, sizeof(s->hs.n_r));
    mb_wipe(s->hs.expect, sizeof(s->hs.expect));
    s->hs.state = MBS_HS_IDLE;
}

static int hs_fail(mb_session *s, unsigned type, int code)
{
    mbs_emit(s, MB_EV_HS_FAILED, mb_msg_id(peer_role(s), type), code, 0u, 0u);
    return code;
}

/* Version and key id of a HELLO or REPLY. */
static int check_header(const mb_session *s, const uint8_t *msg)
{
    if (msg[OFF_VER] != MB_PROTO_VERSION) {
        return MB_ERR_VERSION;
    }
    if (mb_ct_compare(msg + OFF_KEYID, s->key_id, MB_KEY_ID_LEN) != 0) {
        return MB_ERR_HANDSHAKE;   /* the peer holds another pair key */
    }
    return MB_OK;
}

int mbs_hs_start(mb_session *s, uint8_t flags, uint32_t now_ms)
{
    uint8_t hello[MB_SESSION_HELLO_LEN];
    int ret;

    if (s->hs.sent_any &&
        !mbs_after_eq(now_ms, s->hs.last_hello_tx_ms + s->cfg.hs_min_interval_ms)) {
        return MB_ERR_RATE_LIMITED;
    }
    hs_reset(s);
    if (s->cfg.rng(s->cfg.user, s->hs.n_i, sizeof(s->hs.n_i)) != 0) {
        hs_reset(s);
        return hs_fail(s, MB_MSG_HELLO, MB_ERR_RNG);
    }
    s->hs.flags = flags;
    s->hs.state = MBS_HS_WAIT_REPLY;
    s->hs.started_ms = now_ms;
    s->hs.last_hello_tx_ms = now_ms;
    s->hs.sent_any = 1u;
    build_hello(s, hello);
    mbs_emit(s, MB_EV_HS_STARTED, mb_msg_id(s->cfg.role, MB_MSG_HELLO), MB_OK, 0u, 0u);
    ret = mbs_send_wire(s, mb_msg_id(s->cfg.role, MB_MSG_HELLO), false, hello, sizeof(hello));
    if (ret != MB_OK) {
        hs_reset(s);
    }
    return ret;
}

/* Responder: derive, answer, remember the FINISH we expect. */
static int answer_hello(mb_session *s, const uint8_t *hello, uint32_t now_ms)
{
    uint8_t keys[MBS_HS_KEYS_LEN];
    uint8_t reply[MB_SESSION_REPLY_LEN];
    int ret;

    hs_reset(s);
    memcpy(s->hs.n_i, hello + OFF_NONCE, MB_SESSION_NONCE_LEN);
    if (s->cfg.rng(s->cfg.user, s->hs.n_r, sizeof(s->hs.n_r)) != 0) {
        hs_reset(s);
        return hs_fail(s, MB_MSG_HELLO, MB_ERR_RNG);
    }
    reply[OFF_VER] = MB_PROTO_VERSION;
    reply[OFF_FLAGS] = 0u;
    memcpy(reply + OFF_KEYID, s->key_id, MB_KEY_ID_LEN);
    memcpy(reply + OFF_NONCE, s->hs.n_r, MB_SESSION_NONCE_LEN);
    ret = mbs_hs_keys(s->pair_secret, s->key_id, s->hs.n_i, s->hs.n_r,
                      s->cfg.device_id, peer_role(s), keys);
    if (ret == MB_OK) {
        ret = mbs_hs_mac(keys, "mb1 resp", hello, reply, OFF_MAC, reply + OFF_MAC);
    }
    if (ret == MB_OK) {
        ret = mbs_hs_mac(keys, "mb1 init", hello, reply, sizeof(reply), s->hs.expect);
    }
    if (ret == MB_OK) {
        s->hs.state = MBS_HS_WAIT_FINISH;
        s->hs.started_ms = now_ms;
        mbs_emit(s, MB_EV_HS_ACCEPTED, mb_msg_id(peer_role(s), MB_MSG_HELLO),
                 MB_OK, 0u, 0u);
        ret = mbs_send_wire(s, mb_msg_id(s->cfg.role, MB_MSG_REPLY), false,
                            reply, sizeof(reply));
    }
    if (ret != MB_OK) {
        hs_reset(s);
    }
    mb_wipe(keys, sizeof(keys));
    return ret;
}

static int on_hello(mb_session *s, const uint8_t *msg, size_t len, uint32_t now_ms)
{
    int ret;

    if (len != MB_SESSION_HELLO_LEN) {
        return hs_fail(s, MB_MSG_HELLO, MB_ERR_MALFORMED);
    }
    if ((ret = check_header(s, msg)) != MB_OK) {
        return hs_fail(s, MB_MSG_HELLO, ret);
    }
    if (s->hs.state == MBS_HS_WAIT_REPLY && s->cfg.role == MB_ROLE_CONTROLLER) {
        return MB_ERR_STATE;       /* both started: the controller's HELLO wins */
    }
    if (s->hs.answered_any &&
        !mbs_after_eq(now_ms, s->hs.last_hello_rx_ms + s->cfg.hs_min_interval_ms / 2u)) {
        mbs_emit(s, MB_EV_REJECT, mb_msg_id(peer_role(s), MB_MSG_HELLO),
                 MB_ERR_RATE_LIMITED, 0u, 0u);
        return MB_ERR_RATE_LIMITED;
    }
    s->hs.last_hello_rx_ms = now_ms;
    s->hs.answered_any = 1u;
    return answer_hello(s, msg, now_ms);
}

int mbs_hs_check_reply(const uint8_t ps[32], const uint8_t key_id[4], uint8_t device_id,
                       mb_role initiator, const uint8_t *hello, const uint8_t *reply,
                       uint8_t keys[MBS_HS_KEYS_LEN], uint8_t finish[MB_SESSION_MAC_LEN])
{
    uint8_t mac[MB_SESSION_MAC_LEN];
    int ret = mbs_hs_keys(ps, key_id, hello + OFF_NONCE, reply + OFF_NONCE, device_id,
                          initiator, keys);

    if (ret == MB_OK) {
        ret = mbs_hs_mac(keys, "mb1 resp", hello, reply, OFF_MAC, mac);
    }
    if (ret == MB_OK && mb_ct_compare(mac, reply + OFF_MAC, sizeof(mac)) != 0) {
        ret = MB_ERR_AUTH;         /* tampered, replayed, or another key */
    }
    if (ret == MB_OK) {
        ret = mbs_hs_mac(keys, "mb1 init", hello, reply, MB_SESSION_REPLY_LEN, finish);
    }
    if (ret != MB_OK) {
        mb_wipe(keys, MBS_HS_KEYS_LEN);
        mb_wipe(finish, MB_SESSION_MAC_LEN);
    }
    mb_wipe(mac, sizeof(mac));
    return ret;
}

/* Initiator: check MAC_R, send FINISH, switch to the new keys. */
static int on_reply(mb_session *s, const uint8_t *msg, size_t len, uint32_t now_ms)
{
    uint8_t keys[MBS_HS_KEYS_LEN];
    uint8_t hello[MB_SESSION_HELLO_LEN];
    uint8_t mac[MB_SESSION_MAC_LEN];
    int ret;

    if (s->hs.state != MBS_HS_WAIT_REPLY) {
        return hs_fail(s, MB_MSG_REPLY, MB_ERR_STATE);
    }
    if (len != MB_SESSION_REPLY_LEN) {
        return hs_fail(s, MB_MSG_REPLY, MB_ERR_MALFORMED);
    }
    if ((ret = check_header(s, msg)) != MB_OK) {
        return hs_fail(s, MB_MSG_REPLY, ret);
    }
    build_hello(s, hello);
    ret = mbs_hs_check_reply(s->pair_secret, s->key_id, s->cfg.device_id, s->cfg.role,
                             hello, msg, keys, mac);
    if (ret == MB_OK) {
        ret = mbs_send_wire(s, mb_msg_id(s->cfg.role, MB_MSG_FINISH), false, mac, sizeof(mac));
    }
    if (ret == MB_OK) {
        hs_reset(s);
        ret = mbs_install(s, keys, now_ms);
    } else {
        (void)hs_fail(s, MB_MSG_REPLY, ret);
    }
    mb_wipe(keys, sizeof(keys));
    mb_wipe(mac, sizeof(mac));
    return ret;
}

/* Responder: check MAC_I, switch to the new keys. */
static int on_finish(mb_session *s, const uint8_t *msg, size_t len, uint32_t now_ms)
{
    uint8_t keys[MBS_HS_KEYS_LEN];
    int ret;

    if (s->hs.state != MBS_HS_WAIT_FINISH) {
        return hs_fail(s, MB_MSG_FINISH, MB_ERR_STATE);
    }
    if (len != MB_SESSION_FINISH_LEN) {
        return hs_fail(s, MB_MSG_FINISH, MB_ERR_MALFORMED);
    }
    if (mb_ct_compare(msg, s->hs.expect, MB_SESSION_MAC_LEN) != 0) {
        return hs_fail(s, MB_MSG_FINISH, MB_ERR_AUTH);
    }
    ret = mbs_hs_keys(s->pair_secret, s->key_id, s->hs.n_i, s->hs.n_r,
                      s->cfg.device_id, peer_role(s), keys);
    hs_reset(s);
    if (ret == MB_OK) {
        ret = mbs_install(s, keys, now_ms);
    }
    mb_wipe(keys, sizeof(keys));
    return ret;
}

int mbs_hs_rx(mb_session *s, unsigned type, const uint8_t *msg, size_t len, uint32_t now_ms)
{
    switch (type) {
    case MB_MSG_HELLO:  return on_hello(s, msg, len, now_ms);
    case MB_MSG_REPLY:  return on_reply(s, msg, len, now_ms);
    case MB_MSG_FINISH: return on_finish(s, msg, len, now_ms);
    default:            return MB_ERR_MALFORMED;
    }
}

int mbs_hs_poll(mb_session *s, uint32_t now_ms)
{
    unsigned type;

    if (s->hs.state == MBS_HS_IDLE ||
        !mbs_after_eq(now_ms, s->hs.started_ms + s->cfg.hs_timeout_ms + 1u)) {
        return MB_OK;
    }
    type = s->hs.state == MBS_HS_WAIT_REPLY ? MB_MSG_REPLY : MB_MSG_FINISH;
    hs_reset(s);
    return hs_fail(s, type, MB_ERR_TIMEOUT);
}
