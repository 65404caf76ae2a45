/* mb_nonce.c - fixed field || counter nonces that refuse to repeat. */
#include "modbatt/mb_nonce.h"

#include <stddef.h>
#include <string.h>

#include "modbatt/mb_errors.h"

int mb_nonce_init(mb_nonce *g, const uint8_t fixed[4], uint64_t limit)
{
    if (g == NULL || fixed == NULL) {
        return MB_ERR_NULL;
    }
    if (limit == 0u) {
        return MB_ERR_INVALID_ARG;
    }
    memcpy(g->fixed, fixed, MB_NONCE_FIXED_LEN);
    g->next = 0u;
    g->limit = limit;
    return MB_OK;
}

void mb_nonce_compose(const uint8_t fixed[4], uint64_t counter, uint8_t nonce[12])
{
    unsigned i;

    memcpy(nonce, fixed, MB_NONCE_FIXED_LEN);
    for (i = 0; i < 8u; i++) {
        nonce[MB_NONCE_FIXED_LEN + i] = (uint8_t)(counter >> (56u - 8u * i));
    }
}

uint64_t mb_nonce_counter(const uint8_t nonce[12])
{
    uint64_t counter = 0u;
    unsigned i;

    for (i = 0; i < 8u; i++) {
        counter = (counter << 8) | nonce[MB_NONCE_FIXED_LEN + i];
    }
    return counter;
}

int mb_nonce_next(mb_nonce *g, uint8_t nonce[12], uint64_t *counter)
{
    if (g == NULL || nonce == NULL) {
        return MB_ERR_NULL;
    }
    if (g->next >= g->limit) {
        return MB_ERR_NONCE_EXHAUSTED;
    }
    mb_nonce_compose(g->fixed, g->next, nonce);
    if (counter != NULL) {
        *counter = g->next;
    }
    g->next++;
    return MB_OK;
}

uint64_t mb_nonce_remaining(const mb_nonce *g)
{
    if (g == NULL || g->next >= g->limit) {
        return 0u;
    }
    return g->limit - g->next;
}
