/**
 * \file mb_pair.h
 * \brief Pair key derivation: two 64-byte key halves + the app's salt ->
 *        everything one device pair needs (docs/KEY_DERIVATION.md).
 *
 * Both devices call mb_pair_derive() with the same halves, salt and LCT id,
 * each naming itself as "self" and the other as "peer". The halves may be
 * given in either order and either device may be "self": the derivation
 * orders both canonically, so device A's tx key is device B's rx key.
 */
#ifndef MODBATT_MB_PAIR_H
#define MODBATT_MB_PAIR_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MB_KEY_HALF_LEN   64u
#define MB_SALT_LEN       32u
#define MB_PAIR_ID_MAX    64u   /**< longest component or LCT id, bytes */
#define MB_KEY_ID_LEN      4u
#define MB_PAIR_OKM_LEN  108u   /**< 2 keys + 2 fixed fields + confirm key + key id */
#define MB_PAIR_INFO_LABEL "modbatt/pair/v1"

/** Inputs; all pointers borrowed for the duration of the call. */
typedef struct mb_pair_params {
    const uint8_t *half_1;     /**< 64 bytes: one key half (either) */
    const uint8_t *half_2;     /**< 64 bytes: the other key half */
    const uint8_t *salt;       /**< 32 bytes, app-generated */
    const uint8_t *self_id;    /**< this device's component id, 1..64 bytes */
    size_t         self_id_len;
    const uint8_t *peer_id;    /**< the other device's component id, 1..64 bytes */
    size_t         peer_id_len;
    const uint8_t *lct_id;     /**< the pair's LCT id, 1..64 bytes */
    size_t         lct_id_len;
} mb_pair_params;

/** Derived material, from this device's point of view. Wipe with
 *  mb_pair_keys_wipe(). */
typedef struct mb_pair_keys {
    uint8_t tx_key[32];        /**< AES-256 key for frames this device sends */
    uint8_t rx_key[32];        /**< AES-256 key for frames it receives */
    uint8_t tx_fixed[4];       /**< nonce fixed field, sending direction */
    uint8_t rx_fixed[4];       /**< nonce fixed field, receiving direction */
    uint8_t confirm_key[32];   /**< HMAC key for key confirmation (handshake) */
    uint8_t key_id[4];         /**< public name of this pair key (same on both sides) */
    uint8_t self_is_low;       /**< 1 if self's id sorts before peer's */
} mb_pair_keys;

/**
 * \brief  Derive a pair's keys with HKDF-SHA256.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_LENGTH for an id of 0 or more than 64
 *         bytes; MB_ERR_INVALID_ARG when the two ids or the two halves are
 *         equal; MB_ERR_CRYPTO. On error \p out is zeroed.
 */
int mb_pair_derive(const mb_pair_params *params, mb_pair_keys *out);

/** \brief Zeroize derived keys. NULL-safe. */
void mb_pair_keys_wipe(mb_pair_keys *keys);

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_PAIR_H */
