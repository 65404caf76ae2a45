/*
 * mb_keystore_rotate.c - the next generation of a stored pair secret
 * (mb_ks_pair_rotate(), mb_keystore.h): one HKDF step from PS and the key
 * id, so both ends of a pair compute the same successor independently.
 */
#include <string.h>

#include "modbatt/mb_errors.h"
#include "modbatt/mb_hkdf.h"
#include "modbatt/mb_keystore.h"
#include "modbatt/mb_util.h"

#define ROTATE_INFO "modbatt/keystore/v1/rotate"

int mb_ks_pair_rotate(mb_ks_pair *pair)
{
    uint8_t next[MB_KS_SECRET_LEN + sizeof(pair->key_id)];
    int ret;

    if (pair == NULL) {
        return MB_ERR_NULL;
    }
    ret = mb_hkdf_sha256(pair->key_id, sizeof(pair->key_id), pair->secret, MB_KS_SECRET_LEN,
                         (const uint8_t *)ROTATE_INFO, sizeof(ROTATE_INFO) - 1u,
                         next, sizeof(next));
    if (ret == MB_OK) {
        memcpy(pair->secret, next, MB_KS_SECRET_LEN);
        memcpy(pair->key_id, next + MB_KS_SECRET_LEN, sizeof(pair->key_id));
    }
    mb_wipe(next, sizeof(next));
    return ret;
}
