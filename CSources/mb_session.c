/*
 * mb_session.c - the session object: set-up, frame intake and dispatch,
 * sending, timers, failure counting and resynchronisation
 * (docs/PROTOCOL.md). Handshake: mb_session_hs.c; epochs: mb_session_epoch.c;
 * key schedule: mb_session_kdf.c.
 */
#include <string.h>

#include "mb_session_priv.h"
#include "modbatt/mb_canid.h"
#include "modbatt/mb_errors.h"
#include "modbatt/mb_kex.h"
#include "modbatt/mb_util.h"

void mb_session_cfg_defaults(mb_session_cfg *cfg)
{
    if (cfg == NULL) {
        return;
    }
    memset(cfg, 0, sizeof(*cfg));
    cfg->role = MB_ROLE_CONTROLLER;
    cfg->profile = MB_PROFILE_CLASSIC;
    cfg->hs_timeout_ms = 250u;
    cfg->hs_min_interval_ms = 100u;
    cfg->rekey_after_ms = 3600000u;
    cfg->rekey_after_msgs = UINT64_C(1) << 20;
    cfg->grace_ms = 500u;
    cfg->reasm_timeout_ms = 100u;
    cfg->resync_after = 5u;
    cfg->resync_min_interval_ms = 1000u;
    cfg->fresh_types = MB_SESSION_FRESH_DEFAULT;
    cfg->fresh_max_age_ms = 1000u;
    cfg->rehandshake_ms = 1800000u;
}

static mb_role peer_of(const mb_session *s)
{
    return s->cfg.role == MB_ROLE_CONTROLLER ? MB_ROLE_DEVICE : MB_ROLE_CONTROLLER;
}

void mbs_emit(const mb_session *s, mb_event_type type, uint16_t msg_id, int code,
              uint32_t epoch, uint64_t counter)
{
    mb_event ev;

    if (s->cfg.event == NULL) {
        return;
    }
    ev.type = (uint8_t)type;
    ev.device_id = s->cfg.device_id;
    ev.msg_id = msg_id;
    ev.code = code;
    ev.epoch = epoch;
    ev.counter = counter;
    s->cfg.event(s->cfg.user, &ev);
}

int mbs_send_wire(mb_session *s, uint16_t msg_id, bool encrypted,
                  const uint8_t *wire, size_t len)
{
    uint32_t key = mb_seg_message_id(s->cfg.profile, msg_id, encrypted,
                                     s->cfg.device_id, len);
    unsigned n = mb_seg_frame_count(s->cfg.profile, len);
    mb_frame frame;
    unsigned i;
    int ret = key == MB_CANID_INVALID ? MB_ERR_LENGTH : MB_OK;

    for (i = 1u; i <= n && ret == MB_OK; i++) {
        ret = mb_seg_frame(s->cfg.profile, key, wire, len, i, &frame);
        if (ret == MB_OK) {
            ret = s->cfg.tx(s->cfg.user, &frame);
        }
    }
    return ret;
}

int mbs_install(mb_session *s, const uint8_t hs_keys[MBS_HS_KEYS_LEN], bool responder,
                uint32_t now_ms)
{
    const uint8_t *c2d = hs_keys + 32;
    const uint8_t *d2c = hs_keys + 64;
    bool ctl = s->cfg.role == MB_ROLE_CONTROLLER;
    int ret = mbs_tx_install_epoch0(s, ctl ? c2d : d2c, now_ms);

    if (ret == MB_OK) {
        ret = mbs_rx_install_epoch0(s, ctl ? d2c : c2d, now_ms);
    }
    if (ret != MB_OK) {
        s->established = 0u;
        return ret;
    }
    s->established = 1u;
    s->fail_run = 0u;
    /* A new time anchor and command order; the old session's last epoch
     * stays readable for its grace period, but not for commands. */
    s->rx_prev.older_session = s->rx_prev.valid;
    s->anchor_ms = now_ms;
    s->last_rehs_ms = now_ms;
    s->anchor_late = responder ? 1u : 0u;
    s->fresh_any = 0u;
    s->fresh_newest = 0u;
    mbs_emit(s, MB_EV_HS_DONE, 0u, MB_OK, 0u, 0u);
    return MB_OK;
}

static int cfg_ok(const mb_session_cfg *c)
{
    if (c->rng == NULL || c->tx == NULL || c->aead == NULL ||
        (c->kex != NULL && (c->kex->keypair == NULL || c->kex->agree == NULL))) {
        return MB_ERR_NULL;
    }
    if ((c->role != MB_ROLE_CONTROLLER && c->role != MB_ROLE_DEVICE) ||
        mb_seg_wire_max(c->profile) == 0u || mb_seg_wire_max(c->profile) > MB_MSG_WIRE_MAX ||
        c->hs_timeout_ms == 0u || c->reasm_timeout_ms == 0u || c->fresh_max_age_ms == 0u ||
        (c->fresh_types & ((1u << MB_MSG_COMMAND) - 1u)) != 0u ||
        c->rekey_after_msgs == 0u || c->rekey_after_msgs > MB_SESSION_COUNTER_LIMIT) {
        return MB_ERR_INVALID_ARG;
    }
    return MB_OK;
}

int mb_session_pair_secret(const mb_pair_keys *keys, uint8_t ps[32])
{
    if (keys == NULL || ps == NULL) {
        return MB_ERR_NULL;
    }
    return mbs_pair_secret(keys, ps);
}

int mb_session_init_secret(mb_session *s, const mb_session_cfg *cfg,
                           const uint8_t ps[32], const uint8_t key_id[4])
{
    int ret;

    if (s == NULL || cfg == NULL || ps == NULL || key_id == NULL) {
        return MB_ERR_NULL;
    }
    memset(s, 0, sizeof(*s));
    if ((ret = cfg_ok(cfg)) != MB_OK) {
        return ret;
    }
    s->cfg = *cfg;
    s->hs.tx_counter = cfg->hello_counter_base;
    memcpy(s->key_id, key_id, MB_KEY_ID_LEN);
    memcpy(s->pair_secret, ps, MB_SESSION_KEY_LEN);
    ret = mb_reasm_init(&s->reasm, cfg->profile, cfg->reasm_timeout_ms);
    if (ret != MB_OK) {
        mb_wipe(s, sizeof(*s));
    }
    return ret;
}

int mb_session_init(mb_session *s, const mb_session_cfg *cfg, const mb_pair_keys *keys)
{
    uint8_t ps[MB_SESSION_KEY_LEN];
    int ret;

    if (s == NULL || cfg == NULL || keys == NULL) {
        return MB_ERR_NULL;
    }
    ret = mbs_pair_secret(keys, ps);
    if (ret == MB_OK) {
        ret = mb_session_init_secret(s, cfg, ps, keys->key_id);
    } else {
        memset(s, 0, sizeof(*s));
    }
    mb_wipe(ps, sizeof(ps));
    return ret;
}

void mb_session_free(mb_session *s)
{
    if (s != NULL) {
        mbs_kex_wipe(s);
        mb_wipe(s, sizeof(*s));
    }
}

int mb_session_start(mb_session *s, uint32_t now_ms)
{
    if (s == NULL || s->cfg.rng == NULL) {
        return MB_ERR_NULL;
    }
    return mbs_hs_start(s, 0u, now_ms);
}

bool mb_session_accepts(const mb_session *s, uint32_t can_id)
{
    mb_canid f;
    mb_role sender;
    unsigned type;

    if (s == NULL || s->cfg.tx == NULL || mb_canid_decode(can_id, &f) != MB_OK ||
        f.device_id != s->cfg.device_id ||
        mb_msg_parse_id(f.msg_id, &sender, &type) != MB_OK) {
        return false;
    }
    return sender == peer_of(s);
}

/* Auth, epoch and "no session" failures in a row start a resync. */
static void note_failure(mb_session *s, int code, uint32_t now_ms)
{
    if (code != MB_ERR_AUTH && code != MB_ERR_EPOCH && code != MB_ERR_STATE) {
        return;
    }
    if (s->fail_run < UINT16_MAX) {
        s->fail_run++;
    }
    if (s->cfg.resync_after == 0u || s->fail_run < s->cfg.resync_after ||
        s->hs.state != MBS_HS_IDLE ||
        (s->resynced_any &&
         !mbs_after_eq(now_ms, s->last_resync_ms + s->cfg.resync_min_interval_ms))) {
        return;
    }
    if (mbs_hs_start(s, MB_SESSION_FLAG_RESYNC, now_ms) == MB_OK) {
        s->resynced_any = 1u;
        s->last_resync_ms = now_ms;
        s->fail_run = 0u;
        mbs_emit(s, MB_EV_RESYNC, 0u, code, s->rx_cur.epoch, 0u);
    }
}

static int reject(mb_session *s, uint16_t msg_id, int code, uint64_t counter, uint32_t now_ms)
{
    mbs_emit(s, MB_EV_REJECT, msg_id, code, s->rx_cur.epoch, counter);
    note_failure(s, code, now_ms);
    return code;
}

static int on_security(mb_session *s, uint16_t msg_id, mb_session_msg *out, uint32_t now_ms)
{
    int ret = MB_OK;

    if (out->len != MB_SECURITY_LEN || out->data[0] != MB_SECURITY_REKEY_REQUEST ||
        out->data[1] != 0u) {
        ret = MB_ERR_MALFORMED;
    } else {
        mbs_emit(s, MB_EV_REKEY_REQUESTED, msg_id, MB_OK, out->epoch, out->counter);
        ret = mbs_tx_rotate(s, now_ms);
    }
    mb_wipe(out->data, out->len);
    out->len = 0u;
    return ret == MB_ERR_MALFORMED ? reject(s, msg_id, ret, out->counter, now_ms) : ret;
}

static int on_clear(mb_session *s, uint16_t msg_id, unsigned type, const uint8_t *wire,
                    size_t len, mb_session_msg *out, uint32_t now_ms)
{
    if (type != MB_MSG_DIAG || !s->cfg.allow_clear_diag) {
        return reject(s, msg_id, MB_ERR_POLICY, 0u, now_ms);
    }
    if (len != 0u) {
        memcpy(out->data, wire, len);
    }
    out->len = (uint16_t)len;
    out->type = (uint8_t)type;
    out->encrypted = 0u;
    out->ready = 1u;
    return MB_OK;
}

static int dispatch(mb_session *s, uint32_t key, const uint8_t *wire, size_t len,
                    uint32_t now_ms, mb_session_msg *out)
{
    mb_canid f;
    mb_role sender;
    unsigned type;
    uint8_t older = 0u;
    int ret;

    (void)mb_canid_decode(key, &f);              /* checked by accepts() */
    (void)mb_msg_parse_id(f.msg_id, &sender, &type);
    if (type <= MB_MSG_FINISH) {
        return f.encrypted ? reject(s, f.msg_id, MB_ERR_MALFORMED, 0u, now_ms)
                           : mbs_hs_rx(s, type, wire, len, now_ms);
    }
    if (!f.encrypted) {
        return on_clear(s, f.msg_id, type, wire, len, out, now_ms);
    }
    ret = mbs_rx_open(s, key, wire, len, now_ms, out, &older);
    if (ret != MB_OK) {
        return reject(s, f.msg_id, ret,
                      len >= MB_NONCE_LEN ? mb_nonce_counter(wire) : 0u, now_ms);
    }
    s->fail_run = 0u;
    out->type = (uint8_t)type;
    if (mbs_is_command(s, type) &&
        (ret = mbs_fresh_accept(s, older, now_ms, out)) != MB_OK) {
        mb_wipe(out->data, out->len);
        out->len = 0u;
        return reject(s, f.msg_id, ret, out->counter, now_ms);
    }
    if (type == MB_MSG_SECURITY) {
        return on_security(s, f.msg_id, out, now_ms);
    }
    out->ready = 1u;
    return MB_OK;
}

static void report_expired(mb_session *s, unsigned n)
{
    while (n-- > 0u) {
        mbs_emit(s, MB_EV_REJECT, 0u, MB_ERR_TIMEOUT, s->rx_cur.epoch, 0u);
    }
}

int mb_session_rx(mb_session *s, const mb_frame *frame, uint32_t now_ms,
                  mb_session_msg *out)
{
    uint8_t wire[MB_MSG_WIRE_MAX];
    mb_reasm_done done;
    int ret;

    if (s == NULL || frame == NULL || out == NULL) {
        return MB_ERR_NULL;
    }
    out->ready = 0u;
    out->len = 0u;
    if (!mb_session_accepts(s, frame->id)) {
        return MB_ERR_CANID_RANGE;
    }
    ret = mb_reasm_push(&s->reasm, frame, now_ms, wire, sizeof(wire), &done);
    report_expired(s, done.expired);
    if (ret != MB_OK) {
        return reject(s, (uint16_t)(frame->id >> 18), ret, 0u, now_ms);
    }
    if (!done.complete) {
        return MB_OK;
    }
    ret = dispatch(s, done.key, wire, done.len, now_ms, out);
    mb_wipe(wire, done.len);
    return ret;
}

static int seal_and_send(mb_session *s, unsigned type, const uint8_t *pt, size_t len,
                         uint32_t now_ms)
{
    uint8_t fresh[MB_MSG_WIRE_MAX];
    uint8_t wire[MB_MSG_WIRE_MAX];
    uint8_t aad[MB_SESSION_AAD_LEN];
    uint16_t msg_id = mb_msg_id(s->cfg.role, type);
    size_t wire_len = len + MB_SESSION_OVERHEAD;
    uint32_t key = mb_seg_message_id(s->cfg.profile, msg_id, true, s->cfg.device_id, wire_len);
    int ret;

    if (mbs_is_command(s, type)) {
        mbs_fresh_wrap(s, pt, len, now_ms, fresh, &len);
        pt = fresh;
        wire_len = len + MB_SESSION_OVERHEAD;
        key = mb_seg_message_id(s->cfg.profile, msg_id, true, s->cfg.device_id, wire_len);
    }
    ret = mb_nonce_next(&s->tx_nonce, wire, NULL);
    mbs_aad(key, wire_len, aad);
    if (ret == MB_OK) {
        ret = mb_aead_setkey(s->cfg.aead, s->tx_key);
    }
    if (ret == MB_OK) {
        ret = mb_aead_seal(s->cfg.aead, wire, aad, sizeof(aad), pt, len,
                           wire + MB_NONCE_LEN, wire + MB_NONCE_LEN + len, MB_AEAD_TAG_MAX);
    }
    if (ret == MB_OK) {
        ret = mbs_send_wire(s, msg_id, true, wire, wire_len);
    }
    mb_wipe(wire, wire_len);
    if (pt == fresh) {
        mb_wipe(fresh, len);           /* only a command copied its plaintext here */
    }
    return ret;
}

int mb_session_send(mb_session *s, unsigned type, const uint8_t *pt, size_t len,
                    uint32_t now_ms)
{
    int ret;

    if (s == NULL || (pt == NULL && len != 0u)) {
        return MB_ERR_NULL;
    }
    if (type < MB_MSG_COMMAND || type > MB_MSG_APP_LAST) {
        return MB_ERR_INVALID_ARG;
    }
    if (len > MB_SESSION_PT_MAX(s->cfg.profile) ||
        (mbs_is_command(s, type) && len > MB_SESSION_PT_MAX(s->cfg.profile) - MB_SESSION_FV_LEN)) {
        return MB_ERR_LENGTH;
    }
    if (!s->established) {
        return MB_ERR_STATE;
    }
    if ((ret = mbs_tx_maybe_rotate(s, now_ms)) != MB_OK) {
        return ret;
    }
    return seal_and_send(s, type, pt, len, now_ms);
}

int mb_session_send_clear_diag(mb_session *s, const uint8_t *data, size_t len)
{
    if (s == NULL || (data == NULL && len != 0u)) {
        return MB_ERR_NULL;
    }
    if (!s->cfg.allow_clear_diag) {
        return MB_ERR_POLICY;
    }
    if (len > mb_seg_wire_max(s->cfg.profile)) {
        return MB_ERR_LENGTH;
    }
    return mbs_send_wire(s, mb_msg_id(s->cfg.role, MB_MSG_DIAG), false, data, len);
}

int mb_session_rekey(mb_session *s, uint32_t now_ms)
{
    static const uint8_t request[MB_SECURITY_LEN] = { MB_SECURITY_REKEY_REQUEST, 0u };
    int ret;

    if (s == NULL) {
        return MB_ERR_NULL;
    }
    if (!s->established) {
        return MB_ERR_STATE;
    }
    if ((ret = mbs_tx_rotate(s, now_ms)) != MB_OK) {
        return ret;
    }
    return seal_and_send(s, MB_MSG_SECURITY, request, sizeof(request), now_ms);
}

/* The controller renews the handshake every rehandshake_ms: command ages
 * are measured from the last one, so clock drift never adds up to more
 * than rehandshake_ms x the crystals' tolerance (docs/PROTOCOL.md 7.5). A
 * failed attempt is retried every resync_min_interval_ms. */
static void reanchor(mb_session *s, uint32_t now_ms)
{
    if (s->cfg.role != MB_ROLE_CONTROLLER || !s->established || s->cfg.rehandshake_ms == 0u ||
        s->hs.state != MBS_HS_IDLE ||
        !mbs_after_eq(now_ms, s->anchor_ms + s->cfg.rehandshake_ms) ||
        !mbs_after_eq(now_ms, s->last_rehs_ms + s->cfg.resync_min_interval_ms)) {
        return;
    }
    s->last_rehs_ms = now_ms;
    (void)mbs_hs_start(s, 0u, now_ms);
}

int mb_session_poll(mb_session *s, uint32_t now_ms)
{
    int ret;

    if (s == NULL) {
        return MB_ERR_NULL;
    }
    ret = mbs_hs_poll(s, now_ms);
    report_expired(s, mb_reasm_expire(&s->reasm, now_ms));
    mbs_rx_grace(s, now_ms);
    if (s->established && s->cfg.rekey_after_ms != 0u &&
        mbs_after_eq(now_ms, s->tx_epoch_ms + s->cfg.rekey_after_ms)) {
        (void)mbs_tx_rotate(s, now_ms);
    }
    reanchor(s, now_ms);
    return ret;
}

int mb_session_get_info(const mb_session *s, mb_session_info *info)
{
    if (s == NULL || info == NULL) {
        return MB_ERR_NULL;
    }
    memset(info, 0, sizeof(*info));
    info->established = s->established;
    info->hs_state = s->hs.state;
    info->fail_run = s->fail_run;
    info->tx_epoch = s->tx_epoch;
    info->tx_next_counter = s->tx_nonce.next;
    info->rx_epoch = s->rx_cur.epoch;
    info->rx_prev_valid = s->rx_prev.valid;
    info->reasm_in_use = mb_reasm_in_use(&s->reasm);
    return MB_OK;
}
