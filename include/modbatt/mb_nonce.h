/**
 * \file mb_nonce.h
 * \brief Deterministic 96-bit GCM nonces (NIST SP 800-38D, 8.2.1):
 *        a 4-byte fixed field naming the sender || an 8-byte big-endian
 *        invocation counter.
 *
 * The generator never wraps: once the counter reaches its limit every call
 * fails with MB_ERR_NONCE_EXHAUSTED until the caller rekeys and calls
 * mb_nonce_init() again with a new key's fixed field.
 */
#ifndef MODBATT_MB_NONCE_H
#define MODBATT_MB_NONCE_H

#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MB_NONCE_FIXED_LEN 4u
#define MB_NONCE_LEN       12u

typedef struct mb_nonce {
    uint64_t next;                       /**< counter the next nonce carries */
    uint64_t limit;                      /**< first counter that is refused */
    uint8_t  fixed[MB_NONCE_FIXED_LEN];  /**< device- and direction-specific */
} mb_nonce;

/**
 * \brief  Start a generator at counter 0.
 * \param limit  First counter that must not be used; UINT64_MAX for "all but
 *               the last". 0 is invalid (the generator could issue nothing).
 * \return MB_OK, MB_ERR_NULL, MB_ERR_INVALID_ARG.
 */
int mb_nonce_init(mb_nonce *g, const uint8_t fixed[4], uint64_t limit);

/**
 * \brief  Issue the next nonce.
 * \param counter  If not NULL, receives the counter carried in the nonce.
 * \return MB_OK; MB_ERR_NONCE_EXHAUSTED (and \p nonce untouched) when the
 *         counter reached the limit; MB_ERR_NULL.
 */
int mb_nonce_next(mb_nonce *g, uint8_t nonce[12], uint64_t *counter);

/** \brief Nonces left before exhaustion (0 for a NULL generator). */
uint64_t mb_nonce_remaining(const mb_nonce *g);

/** \brief Write the 12-byte nonce for \p fixed and \p counter (receivers use
 *         this to rebuild the IV they expect). */
void mb_nonce_compose(const uint8_t fixed[4], uint64_t counter, uint8_t nonce[12]);

/** \brief Read the big-endian counter from bytes 4..11 of a nonce. */
uint64_t mb_nonce_counter(const uint8_t nonce[12]);

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_NONCE_H */
