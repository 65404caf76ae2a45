/**
 * \file mb_kex.h
 * \brief Optional ephemeral key exchange in the session handshake
 *        (docs/PROTOCOL.md 6.6): forward secrecy for a link whose two ends
 *        can afford two P-256 scalar multiplications per handshake (the app
 *        and the pack controller).
 *
 * Without it, whoever later learns a pair secret can derive the keys of every
 * recorded session of that pair. With it, each handshake also mixes an ECDH
 * secret between two fresh key pairs into the traffic keys; the pair secret
 * still authenticates the exchange (MAC_H, MAC_R, MAC_I cover both public
 * keys), so a node without it cannot get a key exchange computed.
 *
 * The exchange is reached through function pointers so that a firmware that
 * never sets cfg.kex (the modules) links no elliptic-curve code. One mb_kex
 * belongs to one session: it holds that session's ephemeral private key (the
 * initiator, until the REPLY) or the shared secret (the responder, until the
 * FINISH); the session wipes both when the handshake ends, and
 * mb_session_free() wipes them too.
 */
#ifndef MODBATT_MB_KEX_H
#define MODBATT_MB_KEX_H

#include <stddef.h>
#include <stdint.h>

#include "modbatt/mb_session.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MB_KEX_PRIV_LEN   32u  /**< P-256 scalar */
#define MB_KEX_PUB_LEN    65u  /**< uncompressed P-256 point: 0x04 | X | Y */
#define MB_KEX_SECRET_LEN 32u  /**< x coordinate of the shared point */

/**
 * \brief  Make a fresh key pair into kex->priv and kex->pub.
 * \param  rng       The session's random source (cfg.rng) and its user pointer.
 * \return MB_OK, MB_ERR_RNG or MB_ERR_CRYPTO.
 */
typedef int (*mb_kex_keypair_fn)(mb_kex *kex, mb_rng_fn rng, void *rng_user);

/**
 * \brief  z = the shared secret of kex->priv and the peer's public key.
 * \param  peer      MB_KEX_PUB_LEN bytes; checked to be a point of the curve.
 * \return MB_OK; MB_ERR_INVALID_ARG for a peer key that is not a point of the
 *         curve; MB_ERR_RNG or MB_ERR_CRYPTO. z is wiped on failure.
 */
typedef int (*mb_kex_agree_fn)(const mb_kex *kex, const uint8_t peer[MB_KEX_PUB_LEN],
                               mb_rng_fn rng, void *rng_user,
                               uint8_t z[MB_KEX_SECRET_LEN]);

/** One session's exchange: the two operations and their state. */
struct mb_kex {
    mb_kex_keypair_fn keypair;
    mb_kex_agree_fn   agree;
    uint8_t priv[MB_KEX_PRIV_LEN];   /**< initiator: until the REPLY */
    uint8_t pub[MB_KEX_PUB_LEN];     /**< this side's public key of the handshake under way */
    uint8_t z[MB_KEX_SECRET_LEN];    /**< responder: from the HELLO until the FINISH */
};

/**
 * \brief Set \p kex up for ephemeral ECDH on P-256 (mbedTLS ecp/ecdh),
 *        with no key yet. NULL-safe.
 */
void mb_kex_p256_init(mb_kex *kex);

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_KEX_H */
