/*
 * mb_session_hs.c - the three-message handshake with key confirmation
 * (docs/PROTOCOL.md, section 6):
 *
 *   HELLO  (I -> R, clear) = ver | flags | key_id(4) | N_I(16) | ctr(8) | MAC_H(16)  46 bytes
 *   REPLY  (R -> I, clear) = ver | 0     | key_id(4) | N_R(16) | MAC_R(16)          38 bytes
 *   FINISH (I -> R, clear) = MAC_I(16)                                              16 bytes
 *
 *   MAC_H = HMAC(PS, "mb2 hello" || sender role || device_id || HELLO[0..30))[0..16)
 *   MAC_R = HMAC(mac_key, "mb1 resp" || HELLO || REPLY[0..22))[0..16)
 *   MAC_I = HMAC(mac_key, "mb1 init" || HELLO || REPLY)[0..16)
 *
 * With an ephemeral exchange (cfg.kex, flag MB_SESSION_FLAG_EPHEMERAL in
 * both HELLO and REPLY; PROTOCOL.md 6.6) each side's fresh P-256 public key
 * sits just ahead of its MAC, which covers it:
 *
 *   HELLO  = ver | flags | key_id(4) | N_I(16) | ctr(8) | Q_I(65) | MAC_H(16) 111 bytes
 *   REPLY  = ver | flags | key_id(4) | N_R(16) | Q_R(65) | MAC_R(16)          103 bytes
 *
 * and the ECDH secret of Q_I and Q_R is mixed into the chain keys. A REPLY is
 * checked (MAC_R, under the pair secret) before the initiator computes
 * anything on Q_R, and a HELLO before the responder does: a node without the
 * pair secret still costs one HMAC at most.
 *
 * A HELLO is answered only when MAC_H verifies and its counter is above the
 * newest one answered (the sender's counter survives its reboots): a forged
 * or replayed HELLO costs one HMAC and changes no state (protocol v2).
 * Either side may initiate; if both do at once the controller's HELLO wins.
 * The keys in use keep working until the new ones are confirmed.
 */
#include <string.h>

#include "mb_session_priv.h"
#include "modbatt/mb_errors.h"
#include "modbatt/mb_kex.h"
#include "modbatt/mb_util.h"
#include "mb_bytes_priv.h"

#define OFF_VER    0u
#define OFF_FLAGS  1u
#define OFF_KEYID  2u
#define OFF_NONCE  6u
#define OFF_NOEPH 22u   /* REPLY: MAC_R without an ephemeral key */

static mb_role peer_role(const mb_session *s)
{
    return s->cfg.role == MB_ROLE_CONTROLLER ? MB_ROLE_DEVICE : MB_ROLE_CONTROLLER;
}

static bool ephemeral(uint8_t flags)
{
    return (flags & MB_SESSION_FLAG_EPHEMERAL) != 0u;
}

/* The handshake under way adds the exchange (its HELLO's flag; a session
 * only sends or answers that flag with cfg.kex set). */
static bool ephemeral_hs(const mb_session *s)
{
    return s->cfg.kex != NULL && ephemeral(s->hs.flags);
}

/* The HELLO this side sent (or is sending): deterministic from its state.
 * *len: its length. */
static int build_hello(const mb_session *s, uint8_t out[MB_SESSION_HELLO_EPH_LEN], size_t *len)
{
    size_t n = MBS_HELLO_EPH_OFF;

    out[OFF_VER] = MB_PROTO_VERSION;
    out[OFF_FLAGS] = s->hs.flags;
    memcpy(out + OFF_KEYID, s->key_id, MB_KEY_ID_LEN);
    memcpy(out + OFF_NONCE, s->hs.n_i, MB_SESSION_NONCE_LEN);
    mb_put_be64(out + MBS_HELLO_CTR_OFF, s->hs.tx_counter);
    if (ephemeral_hs(s)) {
        memcpy(out + n, s->cfg.kex->pub, MB_KEX_PUB_LEN);
        n += MB_KEX_PUB_LEN;
    }
    *len = n + MB_SESSION_MAC_LEN;
    return mbs_hello_mac(s->pair_secret, s->cfg.role, s->cfg.device_id, out, n, out + n);
}

void mbs_kex_wipe(mb_session *s)
{
    if (s != NULL && s->cfg.kex != NULL) {
        mb_wipe(s->cfg.kex->priv, sizeof(s->cfg.kex->priv));
        mb_wipe(s->cfg.kex->z, sizeof(s->cfg.kex->z));
    }
}

static void hs_reset(mb_session *s)
{
    mb_wipe(s->hs.n_i, sizeof(s->hs.n_i));
    mb_wipe(s->hs.n_r, sizeof(s->hs.n_r));
    mb_wipe(s->hs.expect, sizeof(s->hs.expect));
    mbs_kex_wipe(s);
    s->hs.state = MBS_HS_IDLE;
}

static int hs_fail(mb_session *s, unsigned type, int code)
{
    mbs_emit(s, MB_EV_HS_FAILED, mb_msg_id(peer_role(s), type), code, 0u, 0u);
    return code;
}

/* A HELLO refused before it changed anything (forged, replayed, too soon). */
static int hello_refused(mb_session *s, int code, uint64_t counter)
{
    mbs_emit(s, MB_EV_REJECT, mb_msg_id(peer_role(s), MB_MSG_HELLO), code, 0u, counter);
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
    uint8_t hello[MB_SESSION_HELLO_EPH_LEN];
    size_t len = 0u;
    int ret;

    if (s->hs.sent_any &&
        !mbs_after_eq(now_ms, s->hs.last_hello_tx_ms + s->cfg.hs_min_interval_ms)) {
        return MB_ERR_RATE_LIMITED;
    }
    if (s->hs.tx_counter == UINT64_MAX) {
        return MB_ERR_NONCE_EXHAUSTED;     /* only a new pair secret helps */
    }
    hs_reset(s);
    if (s->cfg.rng(s->cfg.user, s->hs.n_i, sizeof(s->hs.n_i)) != 0) {
        hs_reset(s);
        return hs_fail(s, MB_MSG_HELLO, MB_ERR_RNG);
    }
    if (s->cfg.kex != NULL) {
        flags |= MB_SESSION_FLAG_EPHEMERAL;
        if ((ret = s->cfg.kex->keypair(s->cfg.kex, s->cfg.rng, s->cfg.user)) != MB_OK) {
            hs_reset(s);
            return hs_fail(s, MB_MSG_HELLO, ret);
        }
    }
    s->hs.flags = flags;
    s->hs.tx_counter++;                    /* spent even if the send fails */
    s->hs.last_hello_tx_ms = now_ms;
    s->hs.sent_any = 1u;
    ret = build_hello(s, hello, &len);
    if (ret == MB_OK) {
        s->hs.state = MBS_HS_WAIT_REPLY;
        s->hs.started_ms = now_ms;
        mbs_emit(s, MB_EV_HS_STARTED, mb_msg_id(s->cfg.role, MB_MSG_HELLO), MB_OK, 0u,
                 s->hs.tx_counter);
        ret = mbs_send_wire(s, mb_msg_id(s->cfg.role, MB_MSG_HELLO), false, hello, len);
    }
    if (ret != MB_OK) {
        hs_reset(s);
    }
    return ret;
}

/* Responder, ephemeral exchange: a fresh key pair, its public half into the
 * REPLY at reply + MBS_REPLY_EPH_OFF, the shared secret kept in kex->z for
 * the FINISH and the private key dropped at once. */
static int answer_ephemeral(mb_session *s, const uint8_t *hello, uint8_t *reply)
{
    mb_kex *kex = s->cfg.kex;
    int ret = kex->keypair(kex, s->cfg.rng, s->cfg.user);

    if (ret == MB_OK) {
        ret = kex->agree(kex, hello + MBS_HELLO_EPH_OFF, s->cfg.rng, s->cfg.user, kex->z);
    }
    mb_wipe(kex->priv, sizeof(kex->priv));
    memcpy(reply + MBS_REPLY_EPH_OFF, kex->pub, MB_KEX_PUB_LEN);
    return ret;
}

/* Responder: derive, answer, remember the FINISH we expect. */
static int answer_hello(mb_session *s, const uint8_t *hello, size_t hello_len, uint32_t now_ms)
{
    uint8_t keys[MBS_HS_KEYS_LEN];
    uint8_t reply[MB_SESSION_REPLY_EPH_LEN];
    size_t mac_off = OFF_NOEPH;
    int ret;

    hs_reset(s);
    s->hs.flags = hello[OFF_FLAGS];
    memcpy(s->hs.n_i, hello + OFF_NONCE, MB_SESSION_NONCE_LEN);
    if (s->cfg.rng(s->cfg.user, s->hs.n_r, sizeof(s->hs.n_r)) != 0) {
        hs_reset(s);
        return hs_fail(s, MB_MSG_HELLO, MB_ERR_RNG);
    }
    reply[OFF_VER] = MB_PROTO_VERSION;
    reply[OFF_FLAGS] = (uint8_t)(s->hs.flags & MB_SESSION_FLAG_EPHEMERAL);
    memcpy(reply + OFF_KEYID, s->key_id, MB_KEY_ID_LEN);
    memcpy(reply + OFF_NONCE, s->hs.n_r, MB_SESSION_NONCE_LEN);
    if (ephemeral_hs(s)) {
        if ((ret = answer_ephemeral(s, hello, reply)) != MB_OK) {
            hs_reset(s);
            return hs_fail(s, MB_MSG_HELLO, ret);   /* e.g. Q_I is not a point of the curve */
        }
        mac_off += MB_KEX_PUB_LEN;
    }
    ret = mbs_hs_keys(s->pair_secret, s->key_id, s->hs.n_i, s->hs.n_r,
                      s->cfg.device_id, peer_role(s), keys);
    if (ret == MB_OK) {
        ret = mbs_hs_mac(keys, "mb1 resp", hello, hello_len, reply, mac_off, reply + mac_off);
    }
    if (ret == MB_OK) {
        ret = mbs_hs_mac(keys, "mb1 init", hello, hello_len, reply,
                         mac_off + MB_SESSION_MAC_LEN, s->hs.expect);
    }
    if (ret == MB_OK) {
        s->hs.state = MBS_HS_WAIT_FINISH;
        s->hs.started_ms = now_ms;
        mbs_emit(s, MB_EV_HS_ACCEPTED, mb_msg_id(peer_role(s), MB_MSG_HELLO),
                 MB_OK, 0u, 0u);
        ret = mbs_send_wire(s, mb_msg_id(s->cfg.role, MB_MSG_REPLY), false,
                            reply, mac_off + MB_SESSION_MAC_LEN);
    }
    if (ret != MB_OK) {
        hs_reset(s);
    }
    mb_wipe(keys, sizeof(keys));
    return ret;
}

int mbs_hs_check_hello(const uint8_t ps[32], const uint8_t key_id[4], uint8_t device_id,
                       mb_role sender, const uint8_t *hello, size_t len)
{
    uint8_t mac[MB_SESSION_MAC_LEN];
    int ret;

    if ((len != MB_SESSION_HELLO_LEN && len != MB_SESSION_HELLO_EPH_LEN) ||
        ephemeral(hello[OFF_FLAGS]) != (len == MB_SESSION_HELLO_EPH_LEN)) {
        return MB_ERR_MALFORMED;   /* the flag must match the length */
    }
    if (hello[OFF_VER] != MB_PROTO_VERSION) {
        return MB_ERR_VERSION;
    }
    if (mb_ct_compare(hello + OFF_KEYID, key_id, MB_KEY_ID_LEN) != 0) {
        return MB_ERR_HANDSHAKE;   /* the peer holds another pair key */
    }
    ret = mbs_hello_mac(ps, sender, device_id, hello, MBS_MAC_OFF(len), mac);
    if (ret == MB_OK && mb_ct_compare(mac, hello + MBS_MAC_OFF(len), sizeof(mac)) != 0) {
        ret = MB_ERR_AUTH;
    }
    mb_wipe(mac, sizeof(mac));
    return ret;
}

/* An authentic HELLO whose counter is not above the newest answered: a
 * replay, or (same counter, other content) a second holder of the key. */
static int old_hello(mb_session *s, const uint8_t *msg, size_t len, uint64_t counter)
{
    if (counter == s->hs.rx_counter &&
        mb_ct_compare(msg + MBS_MAC_OFF(len), s->hs.rx_mac, sizeof(s->hs.rx_mac)) != 0) {
        mbs_emit(s, MB_EV_CLONE_SUSPECT, mb_msg_id(peer_role(s), MB_MSG_HELLO),
                 MB_ERR_REPLAY, 0u, counter);
    }
    return hello_refused(s, MB_ERR_REPLAY, counter);
}

static int on_hello(mb_session *s, const uint8_t *msg, size_t len, uint32_t now_ms)
{
    uint64_t counter;
    int ret = mbs_hs_check_hello(s->pair_secret, s->key_id, s->cfg.device_id,
                                 peer_role(s), msg, len);

    if (ret != MB_OK) {
        return hello_refused(s, ret, 0u);
    }
    counter = mb_get_be64(msg + MBS_HELLO_CTR_OFF);
    if (ephemeral(msg[OFF_FLAGS]) != (s->cfg.kex != NULL)) {
        return hello_refused(s, MB_ERR_POLICY, counter);   /* the two ends disagree */
    }
    if (s->hs.answered_any && counter <= s->hs.rx_counter) {
        return old_hello(s, msg, len, counter);
    }
    if (s->hs.state == MBS_HS_WAIT_REPLY && s->cfg.role == MB_ROLE_CONTROLLER) {
        return MB_ERR_STATE;       /* both started: the controller's HELLO wins */
    }
    if (s->hs.answered_any &&
        !mbs_after_eq(now_ms, s->hs.last_hello_rx_ms + s->cfg.hs_min_interval_ms / 2u)) {
        return hello_refused(s, MB_ERR_RATE_LIMITED, counter);
    }
    s->hs.last_hello_rx_ms = now_ms;
    s->hs.answered_any = 1u;
    s->hs.rx_counter = counter;
    memcpy(s->hs.rx_mac, msg + MBS_MAC_OFF(len), sizeof(s->hs.rx_mac));
    return answer_hello(s, msg, len, now_ms);
}

int mbs_hs_check_reply(const uint8_t ps[32], const uint8_t key_id[4], uint8_t device_id,
                       mb_role initiator, const uint8_t *hello, size_t hello_len,
                       const uint8_t *reply, size_t reply_len,
                       uint8_t keys[MBS_HS_KEYS_LEN], uint8_t finish[MB_SESSION_MAC_LEN])
{
    uint8_t mac[MB_SESSION_MAC_LEN];
    int ret = mbs_hs_keys(ps, key_id, hello + OFF_NONCE, reply + OFF_NONCE, device_id,
                          initiator, keys);

    if (ret == MB_OK) {
        ret = mbs_hs_mac(keys, "mb1 resp", hello, hello_len, reply, MBS_MAC_OFF(reply_len), mac);
    }
    if (ret == MB_OK && mb_ct_compare(mac, reply + MBS_MAC_OFF(reply_len), sizeof(mac)) != 0) {
        ret = MB_ERR_AUTH;         /* tampered, replayed, or another key */
    }
    if (ret == MB_OK) {
        ret = mbs_hs_mac(keys, "mb1 init", hello, hello_len, reply, reply_len, finish);
    }
    if (ret != MB_OK) {
        mb_wipe(keys, MBS_HS_KEYS_LEN);
        mb_wipe(finish, MB_SESSION_MAC_LEN);
    }
    mb_wipe(mac, sizeof(mac));
    return ret;
}

/* Mix the ephemeral secret into the handshake keys: the initiator computes
 * it from the REPLY's Q_R (after MAC_R verified), the responder kept it. */
static int mix_ephemeral(mb_session *s, const uint8_t *reply, uint8_t keys[MBS_HS_KEYS_LEN])
{
    mb_kex *kex = s->cfg.kex;
    int ret = MB_OK;

    if (reply != NULL) {
        ret = kex->agree(kex, reply + MBS_REPLY_EPH_OFF, s->cfg.rng, s->cfg.user, kex->z);
    }
    if (ret == MB_OK) {
        ret = mbs_hs_mix_ephemeral(keys, kex->z);
    }
    mbs_kex_wipe(s);
    return ret;
}

/* Initiator: check MAC_R, send FINISH, switch to the new keys. */
static int on_reply(mb_session *s, const uint8_t *msg, size_t len, uint32_t now_ms)
{
    uint8_t keys[MBS_HS_KEYS_LEN];
    uint8_t hello[MB_SESSION_HELLO_EPH_LEN];
    uint8_t mac[MB_SESSION_MAC_LEN];
    size_t hello_len = 0u;
    bool eph = ephemeral_hs(s);
    int ret;

    if (s->hs.state != MBS_HS_WAIT_REPLY) {
        return hs_fail(s, MB_MSG_REPLY, MB_ERR_STATE);
    }
    if (len != (eph ? MB_SESSION_REPLY_EPH_LEN : MB_SESSION_REPLY_LEN) ||
        ephemeral(msg[OFF_FLAGS]) != eph) {
        return hs_fail(s, MB_MSG_REPLY, MB_ERR_MALFORMED);
    }
    if ((ret = check_header(s, msg)) != MB_OK) {
        return hs_fail(s, MB_MSG_REPLY, ret);
    }
    ret = build_hello(s, hello, &hello_len);
    if (ret == MB_OK) {
        ret = mbs_hs_check_reply(s->pair_secret, s->key_id, s->cfg.device_id, s->cfg.role,
                                 hello, hello_len, msg, len, keys, mac);
    }
    if (ret == MB_OK && eph && (ret = mix_ephemeral(s, msg, keys)) != MB_OK) {
        hs_reset(s);           /* an authentic REPLY with an unusable key: this handshake is over */
    }
    if (ret == MB_OK) {
        ret = mbs_send_wire(s, mb_msg_id(s->cfg.role, MB_MSG_FINISH), false, mac, sizeof(mac));
    }
    if (ret == MB_OK) {
        hs_reset(s);
        ret = mbs_install(s, keys, false, now_ms);
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
    if (ret == MB_OK && ephemeral_hs(s)) {
        ret = mix_ephemeral(s, NULL, keys);
    }
    hs_reset(s);
    if (ret == MB_OK) {
        ret = mbs_install(s, keys, true, now_ms);
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
