/**
 * \file mb_session.h
 * \brief Secure CAN sessions between the two devices of a pair
 *        (docs/PROTOCOL.md): handshake with key confirmation, AES-256-GCM
 *        messages with replay protection, segmentation, key rotation with a
 *        grace period, failure-driven resynchronisation, audit events.
 *
 * A session is caller-allocated (sizeof(mb_session) is a compile-time
 * constant, listed in docs/PROTOCOL.md "RAM per pair") and never allocates.
 * It keeps raw 32-byte keys only; AES-GCM runs in a caller-owned work
 * context (cfg.aead) that any number of sessions processed from one thread
 * may share. Time is the caller's millisecond clock (wrapping uint32).
 *
 * Lifecycle: mb_session_cfg_defaults() -> edit -> mb_session_init() ->
 * mb_session_start() on either side (or wait for the peer's HELLO) ->
 * mb_session_rx() for every frame, mb_session_send() to send,
 * mb_session_poll() every few ms -> mb_session_free().
 *
 * \warning A session is not thread-safe; calls on one session, and on
 *          sessions sharing one cfg.aead, must not run concurrently.
 */
#ifndef MODBATT_MB_SESSION_H
#define MODBATT_MB_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "modbatt/mb_aead.h"
#include "modbatt/mb_msg.h"
#include "modbatt/mb_nonce.h"
#include "modbatt/mb_pair.h"
#include "modbatt/mb_reasm.h"
#include "modbatt/mb_replay.h"
#include "modbatt/mb_seg.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MB_SESSION_KEY_LEN     32u
#define MB_SESSION_NONCE_LEN   16u   /**< handshake challenge nonce */
#define MB_SESSION_MAC_LEN     16u   /**< truncated HMAC-SHA256 confirmation */
#define MB_SESSION_OVERHEAD    28u   /**< IV (12) + tag (16) */
#define MB_SESSION_AAD_LEN      7u   /**< version (1) || message id (4) || length (2) */
#define MB_SESSION_HELLO_LEN   46u   /**< v2: ... N_I(16) | counter(8) | MAC_H(16) */
#define MB_SESSION_REPLY_LEN   38u
#define MB_SESSION_FINISH_LEN  16u
#define MB_SESSION_FLAG_RESYNC 0x01u /**< HELLO flags: started by resynchronisation */
/** HELLO and REPLY flags: the handshake adds an ephemeral key exchange (cfg.kex,
 *  mb_kex.h); each message then carries a 65-byte public key ahead of its MAC. */
#define MB_SESSION_FLAG_EPHEMERAL 0x02u
#define MB_SESSION_HELLO_EPH_LEN  111u /**< HELLO with an ephemeral public key */
#define MB_SESSION_REPLY_EPH_LEN  103u /**< REPLY with an ephemeral public key */
#define MB_SESSION_FV_LEN       4u   /**< freshness value sealed ahead of a command's payload */
/** Types refused when stale (cfg.fresh_types default): COMMAND and LIMITS. */
#define MB_SESSION_FRESH_DEFAULT ((1u << MB_MSG_COMMAND) | (1u << MB_MSG_LIMITS))
/** Largest plaintext of an encrypted message: 100 classic, 228 FD. */
#define MB_SESSION_PT_MAX(profile) \
    ((profile) == MB_PROFILE_FD ? MB_SEG_FD_MAX - MB_SESSION_OVERHEAD \
                                : MB_SEG_CLASSIC_MAX - MB_SESSION_OVERHEAD)
/** Counters per epoch and direction; a receiver rejects counters at or above it. */
#define MB_SESSION_COUNTER_LIMIT (UINT64_C(1) << 32)

/**
 * \brief  Random bytes from the platform (TRNG on the STM32WB55).
 * \return MB_OK, or any negative value on failure (reported as MB_ERR_RNG).
 */
typedef int (*mb_rng_fn)(void *user, uint8_t *out, size_t len);

/**
 * \brief  Queue one frame for transmission, in call order.
 * \return MB_OK, or a negative MB_ERR_* code, returned to the session's caller.
 */
typedef int (*mb_tx_fn)(void *user, const mb_frame *frame);

/** Ephemeral key exchange (mb_kex.h); only sessions that set cfg.kex use it. */
typedef struct mb_kex mb_kex;

/** Audit events. None carries key bytes. */
typedef enum mb_event_type {
    MB_EV_HS_STARTED = 1,  /**< this side sent a HELLO (code: MB_OK) */
    MB_EV_HS_ACCEPTED,     /**< this side answered a peer's HELLO */
    MB_EV_HS_DONE,         /**< keys confirmed, epoch 0 of a new session */
    MB_EV_HS_FAILED,       /**< code: MB_ERR_TIMEOUT/AUTH/HANDSHAKE/VERSION/MALFORMED/RNG */
    MB_EV_REKEY_TX,        /**< this side's sending epoch advanced (epoch: new) */
    MB_EV_REKEY_RX,        /**< the peer's sending epoch advanced (epoch: new) */
    MB_EV_REKEY_REQUESTED, /**< the peer asked for a rekey */
    MB_EV_GRACE_END,       /**< the previous receive epoch was dropped */
    MB_EV_REJECT,          /**< a frame or message was rejected; code says why */
    MB_EV_RESYNC,          /**< consecutive failures started a new handshake */
    MB_EV_CLONE_SUSPECT    /**< two different authentic HELLOs with one counter: a second
                                holder of the pair key (code MB_ERR_REPLAY, counter: it) */
} mb_event_type;

typedef struct mb_event {
    uint8_t  type;        /**< mb_event_type */
    uint8_t  device_id;   /**< the pair's device id */
    uint16_t msg_id;      /**< 11-bit message id involved, 0 if none */
    int      code;        /**< MB_OK or the MB_ERR_* reason */
    uint32_t epoch;       /**< epoch involved */
    uint64_t counter;     /**< message counter involved, 0 if none */
} mb_event;

/** \brief Receive an audit event (called synchronously, may be NULL in cfg). */
typedef void (*mb_event_fn)(void *user, const mb_event *event);

/** Session settings; start from mb_session_cfg_defaults(). */
typedef struct mb_session_cfg {
    mb_role     role;                 /**< this side's role */
    mb_profile  profile;              /**< classic or FD; the same on both sides */
    uint8_t     device_id;            /**< the pair's device id (CAN id bits 7..0) */
    uint8_t     allow_clear_diag;     /**< 1: accept/send unencrypted MB_MSG_DIAG (default 0) */
    mb_rng_fn   rng;                  /**< required */
    mb_tx_fn    tx;                   /**< required */
    mb_event_fn event;                /**< optional */
    void       *user;                 /**< passed to the callbacks */
    mb_aead    *aead;                 /**< required work context, mb_aead_init()ed by the caller;
                                           it holds the last key used: mb_aead_free() it after
                                           the sessions that share it */
    uint32_t    hs_timeout_ms;        /**< handshake step timeout (default 250) */
    uint32_t    hs_min_interval_ms;   /**< least time between two HELLOs sent (default 100);
                                           HELLOs received are answered at most every half of it */
    uint32_t    rekey_after_ms;       /**< rotate sending keys after this long (default 3600000; 0 = never) */
    uint64_t    rekey_after_msgs;     /**< rotate after this many messages (default 2^20; <= 2^32) */
    uint32_t    grace_ms;             /**< previous receive epoch accepted this long (default 500) */
    uint32_t    reasm_timeout_ms;     /**< partial message lifetime (default 100) */
    uint16_t    resync_after;         /**< consecutive auth/epoch failures before resync (default 5; 0 = never) */
    uint32_t    resync_min_interval_ms; /**< least time between two resyncs (default 1000) */
    uint64_t    hello_counter_base;   /**< this side's HELLOs carry base + 1, base + 2, ...: above
                                           every counter it sent before under this pair secret,
                                           across reboots (firmware: a persisted boot count << 32) */
    uint16_t    fresh_types;          /**< bit t set: type t is a command, refused when stale
                                           (default MB_SESSION_FRESH_DEFAULT) */
    uint32_t    fresh_max_age_ms;     /**< commands older than this are refused (default 1000) */
    uint32_t    rehandshake_ms;       /**< controller: new handshake after this long, which
                                           re-anchors command ages (default 1800000; 0 = never) */
    mb_kex     *kex;                  /**< optional: add an ephemeral key exchange to every
                                           handshake (forward secrecy, PROTOCOL.md 6.6); both
                                           sides of a pair must agree. Caller-owned, one per
                                           session, set up with mb_kex_p256_init(). Default NULL */
} mb_session_cfg;

/** Keys of one receive epoch. */
typedef struct mb_rx_epoch {
    uint8_t   key[MB_SESSION_KEY_LEN];
    mb_replay replay;
    uint32_t  epoch;
    uint32_t  expires_ms;              /**< previous epoch only: end of grace */
    uint8_t   fixed[MB_NONCE_FIXED_LEN];
    uint8_t   valid;
    uint8_t   older_session;           /**< previous epoch from before the last handshake */
} mb_rx_epoch;

/** Handshake in progress. */
typedef struct mb_hs {
    uint8_t  n_i[MB_SESSION_NONCE_LEN];   /**< initiator nonce */
    uint8_t  n_r[MB_SESSION_NONCE_LEN];   /**< responder nonce */
    uint8_t  expect[MB_SESSION_MAC_LEN];  /**< responder: the FINISH it expects */
    uint32_t started_ms;
    uint32_t last_hello_tx_ms;
    uint32_t last_hello_rx_ms;
    uint8_t  state;                       /**< 0 idle, 1 wait REPLY, 2 wait FINISH */
    uint8_t  flags;                       /**< HELLO flags in use */
    uint8_t  sent_any;                    /**< a HELLO was ever sent */
    uint8_t  answered_any;                /**< a HELLO was ever answered */
    uint64_t tx_counter;                  /**< counter of the last HELLO sent */
    uint64_t rx_counter;                  /**< counter of the newest authentic HELLO answered */
    uint8_t  rx_mac[8];                   /**< its MAC_H (start), to tell a replay from a clone */
} mb_hs;

/** One side of a pair. Treat as opaque; wipe with mb_session_free(). */
typedef struct mb_session {
    mb_session_cfg cfg;
    uint8_t     pair_secret[MB_SESSION_KEY_LEN];  /**< PS, from the pair keys */
    uint8_t     key_id[MB_KEY_ID_LEN];
    /* sending direction */
    uint8_t     tx_key[MB_SESSION_KEY_LEN];
    uint8_t     tx_chain[MB_SESSION_KEY_LEN];     /**< chain key of epoch tx_epoch + 1 */
    mb_nonce    tx_nonce;
    uint32_t    tx_epoch;
    uint32_t    tx_epoch_ms;                      /**< when tx_epoch began */
    /* receiving direction */
    mb_rx_epoch rx_cur;
    mb_rx_epoch rx_prev;
    uint8_t     rx_chain[MB_SESSION_KEY_LEN];     /**< chain key of epoch rx_cur.epoch + 1 */
    uint8_t     rx_next_fixed[MB_NONCE_FIXED_LEN];
    mb_hs       hs;
    uint32_t    last_resync_ms;
    uint16_t    fail_run;                         /**< consecutive auth/epoch failures */
    uint8_t     established;
    uint8_t     resynced_any;
    /* command freshness (docs/PROTOCOL.md 7.5) */
    uint32_t    anchor_ms;                        /**< when this side installed the handshake keys */
    uint32_t    last_rehs_ms;                     /**< controller: last re-anchoring HELLO */
    uint8_t     anchor_late;                      /**< 1: this side was the responder */
    uint8_t     fresh_any;                        /**< a command was accepted this session */
    uint64_t    fresh_newest;                     /**< its position: epoch << 32 | counter */
    mb_reasm    reasm;
} mb_session;

/** A delivered application message. */
typedef struct mb_session_msg {
    uint8_t  ready;       /**< 1 when this call delivered a message */
    uint8_t  type;        /**< mb_msg_type, 0x4..0xF */
    uint8_t  encrypted;   /**< 0 only for a clear MB_MSG_DIAG the policy allowed */
    uint16_t len;         /**< plaintext length */
    uint32_t epoch;       /**< receive epoch it authenticated under */
    uint64_t counter;     /**< its message counter */
    uint8_t  data[MB_MSG_WIRE_MAX];
} mb_session_msg;

/** Read-only view for tests, health reports and the Swift layer. */
typedef struct mb_session_info {
    uint8_t  established;
    uint8_t  hs_state;
    uint16_t fail_run;
    uint32_t tx_epoch;
    uint64_t tx_next_counter;
    uint32_t rx_epoch;
    uint8_t  rx_prev_valid;
    unsigned reasm_in_use;
} mb_session_info;

/** \brief Fill \p cfg with the documented defaults (callbacks NULL). NULL-safe. */
void mb_session_cfg_defaults(mb_session_cfg *cfg);

/**
 * \brief  Set up a session from a pair's derived keys (mb_pair_derive()).
 *         Only the pair secret PS and key id are kept; \p keys may be wiped
 *         after the call.
 * \return MB_OK; MB_ERR_NULL (s, cfg, keys, cfg->rng, cfg->tx or cfg->aead);
 *         MB_ERR_INVALID_ARG for an unknown role/profile, a zero timeout,
 *         rekey_after_msgs 0 or above the counter limit, or the FD profile in
 *         a classic-only build; MB_ERR_CRYPTO.
 */
int mb_session_init(mb_session *s, const mb_session_cfg *cfg, const mb_pair_keys *keys);

/**
 * \brief  Set up a session from a stored pair secret PS and key id, as the
 *         key store keeps them (docs/PROTOCOL.md 6.1), without the pair keys.
 * \param ps      32 bytes, from mb_session_pair_secret() at provisioning.
 * \param key_id  4 bytes, mb_pair_keys.key_id.
 * \return As mb_session_init().
 */
int mb_session_init_secret(mb_session *s, const mb_session_cfg *cfg,
                           const uint8_t ps[32], const uint8_t key_id[4]);

/**
 * \brief  The pair secret PS of a pair's keys (docs/PROTOCOL.md 6.1):
 *         HKDF-SHA256(salt = "", IKM = key_lo>hi || key_hi>lo || confirm_key,
 *         info = "modbatt/session/v1/pair", 32). Both devices get the same PS.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_CRYPTO (then \p ps is zeroed).
 */
int mb_session_pair_secret(const mb_pair_keys *keys, uint8_t ps[32]);

/** \brief Wipe every key and all state. NULL-safe. */
void mb_session_free(mb_session *s);

/**
 * \brief  Start a handshake: send HELLO. The current keys (if any) keep
 *         working until the new ones are confirmed.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_RATE_LIMITED when a HELLO was sent less
 *         than hs_min_interval_ms ago; MB_ERR_RNG; the tx callback's code.
 */
int mb_session_start(mb_session *s, uint32_t now_ms);

/**
 * \brief  Process one received frame.
 * \param out  Receives an application message when out->ready is 1.
 * \return MB_OK (frame consumed: a chunk stored, a handshake step, a message
 *         delivered); MB_ERR_NULL; MB_ERR_CANID_RANGE for a frame this
 *         session does not take (see mb_session_accepts(); no event);
 *         otherwise the rejection, also reported as an MB_EV_REJECT or
 *         MB_EV_HS_FAILED event: MB_ERR_MALFORMED, MB_ERR_NO_SLOT,
 *         MB_ERR_AUTH (also a forged HELLO), MB_ERR_REPLAY (also a HELLO
 *         counter not above the newest answered), MB_ERR_EPOCH, MB_ERR_POLICY,
 *         MB_ERR_STALE (a command older than a newer one or the age bound),
 *         MB_ERR_STATE (data before the handshake), MB_ERR_HANDSHAKE,
 *         MB_ERR_VERSION, MB_ERR_RATE_LIMITED (HELLO too soon), MB_ERR_RNG,
 *         or the tx callback's code.
 */
int mb_session_rx(mb_session *s, const mb_frame *frame, uint32_t now_ms,
                  mb_session_msg *out);

/**
 * \brief  Seal and send an application message (rotating the sending keys
 *         first when a limit is reached).
 * \param type  MB_MSG_COMMAND .. MB_MSG_APP_LAST (0x4..0xF). A command type
 *              (cfg.fresh_types) is sealed with its freshness value ahead.
 * \param pt    Plaintext; NULL allowed when \p len is 0.
 * \param len   0 .. MB_SESSION_PT_MAX(profile), less MB_SESSION_FV_LEN for a command.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_INVALID_ARG for a bad type;
 *         MB_ERR_LENGTH; MB_ERR_STATE before the first handshake completed;
 *         MB_ERR_NONCE_EXHAUSTED when no further epoch exists (handshake
 *         needed); MB_ERR_CRYPTO; the tx callback's code.
 */
int mb_session_send(mb_session *s, unsigned type, const uint8_t *pt, size_t len,
                    uint32_t now_ms);

/**
 * \brief  Send an unencrypted MB_MSG_DIAG message (works without a session).
 * \return MB_OK; MB_ERR_NULL; MB_ERR_POLICY unless allow_clear_diag is set;
 *         MB_ERR_LENGTH above the profile's largest message; the tx code.
 */
int mb_session_send_clear_diag(mb_session *s, const uint8_t *data, size_t len);

/**
 * \brief  Rotate this side's sending keys now and ask the peer to rotate
 *         its own (a MB_MSG_SECURITY rekey request).
 * \return As mb_session_send().
 */
int mb_session_rekey(mb_session *s, uint32_t now_ms);

/**
 * \brief  Run the timers: handshake timeout, reassembly expiry, end of the
 *         grace period, time-based rotation. Call every few milliseconds.
 * \return MB_OK; MB_ERR_TIMEOUT when a handshake step timed out in this call
 *         (also reported as MB_EV_HS_FAILED); MB_ERR_NULL.
 */
int mb_session_poll(mb_session *s, uint32_t now_ms);

/** \brief Does this session take frames with this id? (right device id and a
 *         message id the peer sends on). False for NULL. */
bool mb_session_accepts(const mb_session *s, uint32_t can_id);

/** \brief Snapshot of the state. MB_OK or MB_ERR_NULL. */
int mb_session_get_info(const mb_session *s, mb_session_info *info);

/* ---- a pair at another address (docs/PROTOCOL.md 6.7) -------------------- */

/**
 * \brief  Move the session to another device id: the device's address
 *         changed (re-enumeration on the module bus), its pair did not.
 *
 * Every session key goes: the sending key and nonce state, both receive
 * epochs, the chain keys, the reassembly slots and any handshake under way
 * are wiped, and the session is no longer established. Kept: the settings,
 * the pair secret, the key id and both HELLO counters (the newest sent and
 * the newest answered), so the next HELLO this side sends is above every one
 * it sent before, and no HELLO it answered before is answered again. A
 * handshake at the new id follows (mb_session_start(), or the peer's HELLO);
 * its keys derive from fresh nonces and the new id, so no key, and no nonce
 * under a key, of the old address is used again.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_INVALID_ARG for MB_DEVICE_BROADCAST or
 *         MB_DEVICE_UNASSIGNED (the session is then unchanged); MB_ERR_CRYPTO.
 */
int mb_session_readdress(mb_session *s, uint8_t device_id);

/**
 * \brief  Is \p hello (one whole HELLO message) an authentic, fresh HELLO of
 *         this session's peer sent under \p device_id? Changes nothing.
 *
 * For a controller that hears one of its pairs at another address: the same
 * checks, in the same order, as the session makes on a HELLO at its own id
 * (length, version, key id, MAC_H in constant time, the ephemeral flag, a
 * counter above the newest this session answered), with MAC_H bound to
 * \p device_id. Only the holder of the pair secret passes; a replayed HELLO
 * does not.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_INVALID_ARG (broadcast or unassigned
 *         id); MB_ERR_MALFORMED; MB_ERR_VERSION; MB_ERR_HANDSHAKE (another
 *         pair's key id); MB_ERR_AUTH (forged); MB_ERR_POLICY (the ephemeral
 *         flag disagrees with cfg.kex); MB_ERR_REPLAY.
 */
int mb_session_check_hello(const mb_session *s, uint8_t device_id, const uint8_t *hello,
                           size_t len);

/**
 * \brief  Raise \p to's HELLO counters to \p from's: two sessions of one side
 *         of one pair (same role, key id and pair secret), such as the one at
 *         a pair's old address and the one that replaces it at the new
 *         address. Afterwards \p to's next HELLO is above every HELLO either
 *         sent, and \p to answers no HELLO that either answered.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_INVALID_ARG when the two are not one side
 *         of one pair (\p to is then unchanged).
 */
int mb_session_take_counters(mb_session *to, const mb_session *from);

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_SESSION_H */
