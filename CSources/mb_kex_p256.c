/*
 * mb_kex_p256.c - ephemeral P-256 ECDH for the session handshake
 * (include/modbatt/mb_kex.h, docs/PROTOCOL.md 6.6). A thin adapter over the
 * P-256 helpers the key packages already use; a build that never calls
 * mb_kex_p256_init() does not link it.
 */
#include <string.h>

#include "mb_keypkg_priv.h"
#include "modbatt/mb_kex.h"

static int p256_keypair(mb_kex *kex, mb_rng_fn rng, void *rng_user)
{
    mbk_rng r = { rng, rng_user, 0 };

    return mbk_keypair(&r, kex->priv, kex->pub);
}

static int p256_agree(const mb_kex *kex, const uint8_t peer[MB_KEX_PUB_LEN],
                      mb_rng_fn rng, void *rng_user,
                      uint8_t z[MB_KEX_SECRET_LEN])
{
    mbk_rng r = { rng, rng_user, 0 };

    return mbk_ecdh(kex->priv, peer, &r, z);
}

void mb_kex_p256_init(mb_kex *kex)
{
    if (kex != NULL) {
        memset(kex, 0, sizeof(*kex));
        kex->keypair = p256_keypair;
        kex->agree = p256_agree;
    }
}
