/**
 * \file mb_observe.h
 * \brief A passive observer of one pair's sessions: with the pair secret PS
 *        and key id (as a key store holds them), follow both directions of
 *        a recorded or live bus, reassemble, verify and decrypt what the two
 *        devices send, without ever sending anything (docs/PROTOCOL.md).
 *
 * The observer runs the receiving half of the protocol for both directions
 * at once. From the clear handshake it reads N_I (HELLO) and N_R (REPLY),
 * derives the session keys exactly as the devices do (PROTOCOL.md 6.2),
 * checks MAC_R and, on the FINISH, MAC_I; only a handshake whose both MACs
 * verify installs new keys (the previous ones stay accepted for the grace
 * period, as on a device). Encrypted messages are then opened with the
 * devices' own receive rules (epoch by fixed field, one epoch ahead,
 * replay window, authenticate before accepting): the code path is the
 * session's (mb_session_epoch.c), so the observer accepts what a receiving
 * device accepts and refuses what it refuses, with the same reason.
 *
 * A tool for logs and bench analysis (modbatt decode --keys); it holds the
 * pair secret, so it belongs where the key store may be read. About 2.2 KB
 * per pair on the host; caller-allocated, nothing allocates.
 */
#ifndef MODBATT_MB_OBSERVE_H
#define MODBATT_MB_OBSERVE_H

#include <stddef.h>
#include <stdint.h>

#include "modbatt/mb_session.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Handshake steps an observer reports (mb_observed.handshake). */
#define MB_OBS_HS_NONE    0u
#define MB_OBS_HS_HELLO   1u  /**< a HELLO under this pair's key id */
#define MB_OBS_HS_REPLY   2u  /**< a REPLY whose MAC_R verified */
#define MB_OBS_HS_FINISH  3u  /**< a FINISH whose MAC_I verified: new session keys installed */
/** A FINISH whose MAC_I verified, of a handshake with an ephemeral exchange
 *  (PROTOCOL.md 6.6): its keys cannot be derived from the pair secret, so the
 *  observer holds no keys for the session that follows (forward secrecy). */
#define MB_OBS_HS_EPHEMERAL 4u

/** One pair, both directions. Treat as opaque; wipe with mb_observer_free(). */
typedef struct mb_observer {
    mb_session dir[2];          /**< receive state per sender: [MB_ROLE_CONTROLLER], [MB_ROLE_DEVICE] */
    uint8_t  hello[2][MB_SESSION_HELLO_EPH_LEN];  /**< last HELLO per initiator role */
    uint8_t  hello_len[2];      /**< its length; 0: none seen */
    uint8_t  hs_keys[96];       /**< keys of a handshake whose REPLY verified, until its FINISH */
    uint8_t  expect[MB_SESSION_MAC_LEN];      /**< the FINISH (MAC_I) that completes it */
    uint8_t  hs_pending;        /**< 1: waiting for the FINISH of the initiator in hs_initiator */
    uint8_t  hs_initiator;      /**< mb_role */
    uint8_t  hs_ephemeral;      /**< the pending handshake adds an ephemeral exchange */
    uint8_t  established;       /**< 1 once any handshake completed */
    uint32_t sessions;          /**< handshakes completed */
} mb_observer;

/** What one frame produced. */
typedef struct mb_observed {
    uint8_t  complete;    /**< 1: this frame completed a message (fields below valid) */
    uint8_t  sender;      /**< mb_role of the message's sender */
    uint8_t  type;        /**< message type 0x0..0xF */
    uint8_t  encrypted;   /**< the encryption flag of its id */
    uint8_t  decrypted;   /**< 1: data holds the authentic plaintext (len bytes) */
    uint8_t  handshake;   /**< MB_OBS_HS_* for a handshake message that checked out */
    uint8_t  expired;     /**< partial messages dropped for age during this call */
    uint16_t len;         /**< plaintext (or clear message) length */
    uint32_t epoch;       /**< epoch it authenticated under */
    uint64_t counter;     /**< its message counter */
    uint8_t  data[MB_MSG_WIRE_MAX];
} mb_observed;

/**
 * \brief  Set up an observer of the pair whose device id is \p device_id.
 * \param ps      The pair secret, 32 bytes (mb_session_pair_secret()); copied.
 * \param key_id  The pair's key id, 4 bytes.
 * \param aead    Work context (mb_aead_init()ed by the caller); may be shared.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_INVALID_ARG for an unknown profile.
 */
int mb_observer_init(mb_observer *o, mb_profile profile, uint8_t device_id,
                     const uint8_t ps[32], const uint8_t key_id[4], mb_aead *aead);

/** \brief Does this observer take frames with this id (its device id, a session message id)? */
bool mb_observer_accepts(const mb_observer *o, uint32_t can_id);

/**
 * \brief  Observe one frame (in bus order, with the time it was seen).
 * \return MB_OK: a chunk stored, or a message completed and checked out
 *         (out->complete; out->decrypted for an encrypted message, out->handshake
 *         for a handshake step; a clear DIAG is passed on with encrypted 0).
 *         MB_ERR_CANID_RANGE: not this pair's frame. Otherwise why the frame
 *         or its message was refused, as a receiving device would refuse it:
 *         MB_ERR_MALFORMED / MB_ERR_NO_SLOT (reassembly), MB_ERR_HANDSHAKE
 *         (a handshake under another key id), MB_ERR_VERSION, MB_ERR_AUTH (a
 *         handshake MAC or a message tag), MB_ERR_REPLAY, MB_ERR_EPOCH,
 *         MB_ERR_STATE (encrypted data before any handshake was observed, or
 *         a REPLY/FINISH without its HELLO/REPLY), MB_ERR_POLICY (other clear
 *         data). out->complete tells a refused whole message from a refused
 *         frame. MB_ERR_NULL.
 */
int mb_observer_rx(mb_observer *o, const mb_frame *frame, uint32_t now_ms, mb_observed *out);

/** \brief Wipe every key and all state. NULL-safe. */
void mb_observer_free(mb_observer *o);

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_OBSERVE_H */
