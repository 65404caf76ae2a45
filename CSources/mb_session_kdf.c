/*
 * mb_session_kdf.c - session key schedule (docs/PROTOCOL.md, section 6):
 *
 *   PS      = HKDF-SHA256(salt = "", IKM = key_lo>hi || key_hi>lo || confirm_key,
 *                         info = "modbatt/session/v1/pair", 32)
 *   SK      = HKDF-SHA256(salt = N_I || N_R, IKM = PS,
 *                         info = "modbatt/session/v1/hs" || key_id || device_id || initiator, 96)
 *           = mac_key (32) | chain_c2d[0] (32) | chain_d2c[0] (32)
 *   key[e]  = HMAC(chain[e], "mb1 key"  || BE32(e))
 *   fixed[e]= HMAC(chain[e], "mb1 fix"  || BE32(e))[0..3) || (e mod 256)
 *   chain[e+1] = HMAC(chain[e], "mb1 next" || BE32(e))
 *   MAC_H   = HMAC(PS, "mb2 hello" || sender role || device_id || HELLO before MAC_H)[0..16)
 *
 * With an ephemeral exchange (cfg.kex, PROTOCOL.md 6.6) the chain keys become
 *   chain_c2d[0] | chain_d2c[0] = HKDF-SHA256(salt = chain_c2d[0] | chain_d2c[0] above,
 *                                              IKM = Z, info = "modbatt/session/v2/ephemeral", 64)
 * where Z is the ECDH secret of the two ephemeral keys; mac_key is unchanged.
 */
#include <string.h>

#include "mb_session_priv.h"
#include "modbatt/mb_errors.h"
#include "modbatt/mb_hkdf.h"
#include "modbatt/mb_util.h"
#include "mb_bytes_priv.h"

#define PS_INFO "modbatt/session/v1/pair"
#define HS_INFO "modbatt/session/v1/hs"
#define EPH_INFO "modbatt/session/v2/ephemeral"
#define STRLEN(lit) (sizeof(lit) - 1u)

int mbs_pair_secret(const mb_pair_keys *keys, uint8_t ps[32])
{
    uint8_t ikm[3u * MB_SESSION_KEY_LEN];
    const uint8_t *lo_hi = keys->self_is_low ? keys->tx_key : keys->rx_key;
    const uint8_t *hi_lo = keys->self_is_low ? keys->rx_key : keys->tx_key;
    int ret;

    memcpy(ikm, lo_hi, MB_SESSION_KEY_LEN);
    memcpy(ikm + MB_SESSION_KEY_LEN, hi_lo, MB_SESSION_KEY_LEN);
    memcpy(ikm + 2u * MB_SESSION_KEY_LEN, keys->confirm_key, MB_SESSION_KEY_LEN);
    ret = mb_hkdf_sha256(NULL, 0u, ikm, sizeof(ikm), (const uint8_t *)PS_INFO,
                         STRLEN(PS_INFO), ps, MB_SESSION_KEY_LEN);
    mb_wipe(ikm, sizeof(ikm));
    return ret;
}

int mbs_hs_keys(const uint8_t ps[32], const uint8_t key_id[4],
                const uint8_t n_i[16], const uint8_t n_r[16],
                uint8_t device_id, mb_role initiator, uint8_t out[MBS_HS_KEYS_LEN])
{
    uint8_t salt[2u * MB_SESSION_NONCE_LEN];
    uint8_t info[STRLEN(HS_INFO) + MB_KEY_ID_LEN + 2u];
    size_t n = STRLEN(HS_INFO);

    memcpy(salt, n_i, MB_SESSION_NONCE_LEN);
    memcpy(salt + MB_SESSION_NONCE_LEN, n_r, MB_SESSION_NONCE_LEN);
    memcpy(info, HS_INFO, n);
    memcpy(info + n, key_id, MB_KEY_ID_LEN);
    info[n + MB_KEY_ID_LEN] = device_id;
    info[n + MB_KEY_ID_LEN + 1u] = (uint8_t)initiator;
    return mb_hkdf_sha256(salt, sizeof(salt), ps, MB_SESSION_KEY_LEN,
                          info, sizeof(info), out, MBS_HS_KEYS_LEN);
}

int mbs_hs_mix_ephemeral(uint8_t keys[MBS_HS_KEYS_LEN], const uint8_t z[32])
{
    uint8_t chains[2u * MB_SESSION_KEY_LEN];
    int ret = mb_hkdf_sha256(keys + MB_SESSION_KEY_LEN, sizeof(chains), z, MB_SESSION_KEY_LEN,
                             (const uint8_t *)EPH_INFO, STRLEN(EPH_INFO), chains, sizeof(chains));

    if (ret == MB_OK) {
        memcpy(keys + MB_SESSION_KEY_LEN, chains, sizeof(chains));
    }
    mb_wipe(chains, sizeof(chains));
    return ret;
}

/* HMAC(chain, label || BE32(epoch)). */
static int chain_prf(const uint8_t chain[32], const char *label, size_t label_len,
                     uint32_t epoch, uint8_t out[32])
{
    uint8_t be[4];
    mb_hmac h;
    int ret;

    mb_put_be32(be, epoch);
    ret = mb_hmac_starts(&h, chain, MB_SESSION_KEY_LEN);
    if (ret == MB_OK) {
        ret = mb_hmac_update(&h, (const uint8_t *)label, label_len);
    }
    if (ret == MB_OK) {
        ret = mb_hmac_update(&h, be, sizeof(be));
    }
    if (ret == MB_OK) {
        ret = mb_hmac_finish(&h, out);
    }
    mb_hmac_free(&h);
    return ret;
}

int mbs_epoch_key(const uint8_t chain[32], uint32_t epoch, uint8_t key[32])
{
    return chain_prf(chain, "mb1 key", STRLEN("mb1 key"), epoch, key);
}

int mbs_epoch_fixed(const uint8_t chain[32], uint32_t epoch, uint8_t fixed[4])
{
    uint8_t t[32];
    int ret = chain_prf(chain, "mb1 fix", STRLEN("mb1 fix"), epoch, t);

    if (ret == MB_OK) {
        memcpy(fixed, t, 3u);
        fixed[3] = (uint8_t)epoch;
    }
    mb_wipe(t, sizeof(t));
    return ret;
}

int mbs_chain_next(const uint8_t chain[32], uint32_t epoch, uint8_t next[32])
{
    return chain_prf(chain, "mb1 next", STRLEN("mb1 next"), epoch, next);
}

/* Finish a handshake MAC: the first 16 bytes of the HMAC, the context freed
 * and the full value wiped whatever happened; ret is the status so far. */
static int finish_mac16(mb_hmac *h, int ret, uint8_t mac[16])
{
    uint8_t full[32];

    if (ret == MB_OK) {
        ret = mb_hmac_finish(h, full);
    }
    if (ret == MB_OK) {
        memcpy(mac, full, MB_SESSION_MAC_LEN);
    }
    mb_hmac_free(h);
    mb_wipe(full, sizeof(full));
    return ret;
}

int mbs_hs_mac(const uint8_t mac_key[32], const char *label,
               const uint8_t *hello, size_t hello_len, const uint8_t *reply,
               size_t reply_len, uint8_t mac[16])
{
    mb_hmac h;
    int ret;

    ret = mb_hmac_starts(&h, mac_key, MB_SESSION_KEY_LEN);
    if (ret == MB_OK) {
        ret = mb_hmac_update(&h, (const uint8_t *)label, strlen(label));
    }
    if (ret == MB_OK) {
        ret = mb_hmac_update(&h, hello, hello_len);
    }
    if (ret == MB_OK) {
        ret = mb_hmac_update(&h, reply, reply_len);
    }
    return finish_mac16(&h, ret, mac);
}

int mbs_hello_mac(const uint8_t ps[32], mb_role sender, uint8_t device_id,
                  const uint8_t *hello, size_t mac_off, uint8_t mac[16])
{
    static const char label[] = "mb2 hello";
    const uint8_t bind[2] = { (uint8_t)sender, device_id };
    mb_hmac h;
    int ret;

    ret = mb_hmac_starts(&h, ps, MB_SESSION_KEY_LEN);
    if (ret == MB_OK) {
        ret = mb_hmac_update(&h, (const uint8_t *)label, STRLEN(label));
    }
    if (ret == MB_OK) {
        ret = mb_hmac_update(&h, bind, sizeof(bind));
    }
    if (ret == MB_OK) {
        ret = mb_hmac_update(&h, hello, mac_off);
    }
    return finish_mac16(&h, ret, mac);
}
