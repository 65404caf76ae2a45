/*
 * mb_session_priv.h - helpers shared by mb_session*.c; not a public API.
 */
#ifndef MODBATT_MB_SESSION_PRIV_H
#define MODBATT_MB_SESSION_PRIV_H

#include "modbatt/mb_session.h"

#define MBS_HS_IDLE        0u
#define MBS_HS_WAIT_REPLY  1u
#define MBS_HS_WAIT_FINISH 2u
#define MBS_HS_KEYS_LEN   96u   /* mac key | chain c->d | chain d->c */
#define MBS_HELLO_CTR_OFF 22u   /* HELLO: counter (BE64) */
#define MBS_HELLO_EPH_OFF 30u   /* HELLO with an ephemeral exchange: Q_I */
#define MBS_REPLY_EPH_OFF 22u   /* REPLY with an ephemeral exchange: Q_R */
/* Every handshake MAC is the last 16 bytes of its message and covers the
 * bytes before it. */
#define MBS_MAC_OFF(len)  ((len) - MB_SESSION_MAC_LEN)

/* Wrap-safe "a is at or after b" on a millisecond clock. */
static inline int mbs_after_eq(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) >= 0;
}

/* mb_session_kdf.c */
int mbs_pair_secret(const mb_pair_keys *keys, uint8_t ps[32]);
int mbs_hs_keys(const uint8_t ps[32], const uint8_t key_id[4],
                const uint8_t n_i[16], const uint8_t n_r[16],
                uint8_t device_id, mb_role initiator, uint8_t out[MBS_HS_KEYS_LEN]);
int mbs_epoch_key(const uint8_t chain[32], uint32_t epoch, uint8_t key[32]);
int mbs_epoch_fixed(const uint8_t chain[32], uint32_t epoch, uint8_t fixed[4]);
int mbs_chain_next(const uint8_t chain[32], uint32_t epoch, uint8_t next[32]);
/* MAC_H over hello[0..mac_off). */
int mbs_hello_mac(const uint8_t ps[32], mb_role sender, uint8_t device_id,
                  const uint8_t *hello, size_t mac_off, uint8_t mac[16]);
/* HMAC(mac_key, label || hello || reply[0..reply_len))[0..16). */
int mbs_hs_mac(const uint8_t mac_key[32], const char *label,
               const uint8_t *hello, size_t hello_len, const uint8_t *reply,
               size_t reply_len, uint8_t mac[16]);
/* Ephemeral exchange: replace both chain keys of the handshake keys by
 * HKDF(salt = chain_c2d | chain_d2c, IKM = z, "modbatt/session/v2/ephemeral"). */
int mbs_hs_mix_ephemeral(uint8_t keys[MBS_HS_KEYS_LEN], const uint8_t z[32]);

/* mb_session_hs.c
 * Check a REPLY (reply_len bytes: MB_SESSION_REPLY_LEN, or
 * MB_SESSION_REPLY_EPH_LEN when the HELLO asked for an ephemeral exchange)
 * against the HELLO it answers (hello_len bytes, already checked):
 * derive the handshake keys from both nonces, verify MAC_R in constant time
 * and compute MAC_I, the FINISH the initiator sends. The session's
 * initiator and a passive observer check a REPLY the same way.
 * MB_ERR_AUTH when MAC_R does not verify; keys and finish are then wiped. */
int mbs_hs_check_reply(const uint8_t ps[32], const uint8_t key_id[4], uint8_t device_id,
                       mb_role initiator, const uint8_t *hello, size_t hello_len,
                       const uint8_t *reply, size_t reply_len,
                       uint8_t keys[MBS_HS_KEYS_LEN], uint8_t finish[MB_SESSION_MAC_LEN]);

/* mb_session_hs.c
 * Check a HELLO's length (which must match its ephemeral flag), version, key
 * id and MAC_H (constant time) as sent by \p sender; the session and a
 * passive observer check it the same way. MB_ERR_MALFORMED, MB_ERR_VERSION,
 * MB_ERR_HANDSHAKE (another key id) or MB_ERR_AUTH (forged: costs one HMAC
 * and changes nothing). */
int mbs_hs_check_hello(const uint8_t ps[32], const uint8_t key_id[4], uint8_t device_id,
                       mb_role sender, const uint8_t *hello, size_t len);

/* The ephemeral exchange's secrets (cfg.kex), wiped; NULL-safe. */
void mbs_kex_wipe(mb_session *s);

/* mb_session.c */
void mbs_emit(const mb_session *s, mb_event_type type, uint16_t msg_id, int code,
              uint32_t epoch, uint64_t counter);
int  mbs_send_wire(mb_session *s, uint16_t msg_id, bool encrypted,
                   const uint8_t *wire, size_t len);
int  mbs_install(mb_session *s, const uint8_t hs_keys[MBS_HS_KEYS_LEN], bool responder,
                 uint32_t now_ms);

/* mb_session_hs.c */
int  mbs_hs_start(mb_session *s, uint8_t flags, uint32_t now_ms);
int  mbs_hs_rx(mb_session *s, unsigned type, const uint8_t *msg, size_t len, uint32_t now_ms);
int  mbs_hs_poll(mb_session *s, uint32_t now_ms);

/* mb_session_epoch.c */
int  mbs_tx_rotate(mb_session *s, uint32_t now_ms);
int  mbs_tx_maybe_rotate(mb_session *s, uint32_t now_ms);
int  mbs_rx_install_epoch0(mb_session *s, const uint8_t chain0[32], uint32_t now_ms);
int  mbs_tx_install_epoch0(mb_session *s, const uint8_t chain0[32], uint32_t now_ms);
/* *older_session: 1 when it opened under the epoch kept from before the
 * last handshake (readable for its grace period, never for commands). */
int  mbs_rx_open(mb_session *s, uint32_t msg_key, const uint8_t *wire, size_t len,
                 uint32_t now_ms, mb_session_msg *out, uint8_t *older_session);
void mbs_rx_grace(mb_session *s, uint32_t now_ms);
void mbs_aad(uint32_t msg_key, size_t wire_len, uint8_t aad[MB_SESSION_AAD_LEN]);

/* mb_session_fresh.c: command freshness (docs/PROTOCOL.md 7.5) */
bool mbs_is_command(const mb_session *s, unsigned type);
/* Prefix the freshness value: out = FV || pt; *out_len = len + MB_SESSION_FV_LEN. */
void mbs_fresh_wrap(const mb_session *s, const uint8_t *pt, size_t len, uint32_t now_ms,
                    uint8_t *out, size_t *out_len);
/* Accept a command that authenticated under an epoch (older_session: from
 * before the last handshake) or refuse it as MB_ERR_STALE / MB_ERR_MALFORMED;
 * on success the freshness value is removed from out. */
int  mbs_fresh_accept(mb_session *s, uint8_t older_session, uint32_t now_ms,
                      mb_session_msg *out);

#endif /* MODBATT_MB_SESSION_PRIV_H */
