/* mb_keypkg_priv.h - P-256 and hashing helpers shared by mb_keypkg.c and
 * mb_keypkg_ec.c. Not part of the public API. */
#ifndef MODBATT_MB_KEYPKG_PRIV_H
#define MODBATT_MB_KEYPKG_PRIV_H

#include <stddef.h>
#include <stdint.h>

#include "modbatt/mb_keypkg.h"

/* The platform RNG seen through mbedTLS's f_rng signature. */
typedef struct mbk_rng {
    mb_keypkg_rng_fn fn;
    void            *user;
    int              failed;   /* set when fn reported a failure */
} mbk_rng;

/* mbedTLS f_rng adapter over an mbk_rng. */
int mbk_f_rng(void *p_rng, unsigned char *out, size_t len);

/* A fresh P-256 key pair (rejection-sampled scalar). MB_OK, MB_ERR_RNG, MB_ERR_CRYPTO. */
int mbk_keypair(mbk_rng *rng, uint8_t priv[32], uint8_t pub[65]);

/* MB_OK when pub is an uncompressed point on P-256, else MB_ERR_INVALID_ARG. */
int mbk_check_pub(const uint8_t pub[65]);

/* Z = x(priv * peer). MB_ERR_INVALID_ARG for a bad scalar or point. */
int mbk_ecdh(const uint8_t priv[32], const uint8_t peer[65], mbk_rng *rng, uint8_t z[32]);

/* key || iv = HKDF-SHA256(salt = e_pub || r_pub, IKM = z,
 *                         info = label || len(ctx) || ctx, 44) */
int mbk_seal_keys(const uint8_t z[32], const uint8_t e_pub[65], const uint8_t r_pub[65],
                  const char *label, const uint8_t *ctx, size_t ctx_len,
                  uint8_t key[32], uint8_t iv[12]);

/* SHA-256(a || b). */
int mbk_sha256(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len,
               uint8_t out[32]);

/* ECDSA-P256 over a 32-byte hash; signature r || s. MB_OK, MB_ERR_RNG,
 * MB_ERR_INVALID_ARG for a bad key, MB_ERR_CRYPTO.
 *   mbk_sign:     k from the RNG (the app's key packages: the app runs on a
 *                 host with an OS RNG, and the worked example of
 *                 docs/PROVISIONING.md 3.5 pins those bytes under a fixed RNG);
 *   mbk_sign_det: k from RFC 6979 (HMAC-SHA256 over key and hash), the
 *                 RNG only blinds: the same key and hash always give the
 *                 same signature (devices: sealed reports). */
int mbk_sign(const uint8_t priv[32], const uint8_t hash[32], mbk_rng *rng, uint8_t sig[64]);
int mbk_sign_det(const uint8_t priv[32], const uint8_t hash[32], mbk_rng *rng, uint8_t sig[64]);
/* MB_OK, MB_ERR_AUTH for a bad signature, MB_ERR_INVALID_ARG for a bad key. */
int mbk_verify(const uint8_t pub[65], const uint8_t hash[32], const uint8_t sig[64]);

/* AES-256-GCM with a one-off key; tag 16 bytes. */
int mbk_gcm_seal(const uint8_t key[32], const uint8_t iv[12], const uint8_t *aad,
                 size_t aad_len, const uint8_t *pt, size_t len, uint8_t *ct, uint8_t tag[16]);
int mbk_gcm_open(const uint8_t key[32], const uint8_t iv[12], const uint8_t *aad,
                 size_t aad_len, const uint8_t *ct, size_t len, const uint8_t tag[16],
                 uint8_t *pt);

#endif /* MODBATT_MB_KEYPKG_PRIV_H */
