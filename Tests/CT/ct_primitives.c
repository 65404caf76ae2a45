/*
 * ct_primitives.c - constant-time cases for the core's primitives: the tag
 * comparison, SHA-256 / HMAC / HKDF on secret keys, pair and session key
 * derivation, AES-256-GCM seal and open under a secret key (with the
 * received ciphertext and tag secret too, as an attacker chooses them).
 */
#include <string.h>

#include "ct_cases.h"
#include "ct_secret.h"
#include "modbatt/modbatt.h"

static void fill(uint8_t *buf, size_t len, uint8_t seed)
{
    size_t i;
    for (i = 0; i < len; i++) {
        buf[i] = (uint8_t)(seed + 7u * i);
    }
}

int ct_compare(void)
{
    uint8_t a[32], b[32];
    int equal, unequal;

    fill(a, sizeof(a), 1);
    memcpy(b, a, sizeof(b));
    CT_SECRET(a, sizeof(a));
    CT_SECRET(b, sizeof(b));
    equal = ct_declassify_int(mb_ct_compare(a, b, sizeof(a)));
    b[31] ^= 0x80u;                          /* differs in the last byte only */
    unequal = ct_declassify_int(mb_ct_compare(a, b, sizeof(a)));
    b[0] ^= 0x01u;                           /* and in the first */
    unequal &= ct_declassify_int(mb_ct_compare(a, b, sizeof(a)));
    return (equal == 0 && unequal == 1) ? 0 : 1;
}

int ct_sha256(void)
{
    uint8_t msg[200], digest[32];

    fill(msg, sizeof(msg), 2);
    CT_SECRET(msg, sizeof(msg));
    return mb_sha256(msg, sizeof(msg), digest) == MB_OK ? 0 : 1;
}

int ct_hmac(void)
{
    uint8_t key[100], msg[80], mac[32];
    int ret;

    fill(key, sizeof(key), 3);
    fill(msg, sizeof(msg), 4);
    CT_SECRET(key, sizeof(key));
    CT_SECRET(msg, sizeof(msg));
    ret = mb_hmac_sha256(key, 32, msg, sizeof(msg), mac);          /* short key */
    if (ret == MB_OK) {
        ret = mb_hmac_sha256(key, sizeof(key), msg, sizeof(msg), mac);  /* hashed key */
    }
    return ret == MB_OK ? 0 : 1;
}

int ct_hkdf(void)
{
    static const uint8_t info[] = "modbatt/ct/hkdf";
    uint8_t salt[32], ikm[96], okm[108];

    fill(salt, sizeof(salt), 5);
    fill(ikm, sizeof(ikm), 6);
    CT_SECRET(salt, sizeof(salt));
    CT_SECRET(ikm, sizeof(ikm));
    return mb_hkdf_sha256(salt, sizeof(salt), ikm, sizeof(ikm), info, sizeof(info) - 1u,
                          okm, sizeof(okm)) == MB_OK ? 0 : 1;
}

/* Key halves are the secrets; salt and ids travel in the clear. */
int ct_pair_derive(void)
{
    static const char self[] = "comp_pack_0001", peer[] = "comp_module_07";
    static const char lct[] = "lct_pack_0001_module_07";
    uint8_t h1[64], h2[64], salt[32];
    mb_pair_params p;
    mb_pair_keys keys;
    int ret;

    fill(h1, sizeof(h1), 7);
    fill(h2, sizeof(h2), 8);
    fill(salt, sizeof(salt), 9);
    CT_SECRET(h1, sizeof(h1));
    CT_SECRET(h2, sizeof(h2));
    p.half_1 = h1;
    p.half_2 = h2;
    p.salt = salt;
    p.self_id = (const uint8_t *)self;
    p.self_id_len = sizeof(self) - 1u;
    p.peer_id = (const uint8_t *)peer;
    p.peer_id_len = sizeof(peer) - 1u;
    p.lct_id = (const uint8_t *)lct;
    p.lct_id_len = sizeof(lct) - 1u;
    ret = mb_pair_derive(&p, &keys);
    mb_pair_keys_wipe(&keys);
    return ct_declassify_int(ret) == MB_OK ? 0 : 1;
}

/* PS from the pair keys, then a session set up from a secret PS. */
int ct_session_kdf(void)
{
    mb_pair_keys keys;
    uint8_t ps[32];
    int ret;

    memset(&keys, 0, sizeof(keys));
    fill(keys.tx_key, sizeof(keys.tx_key), 10);
    fill(keys.rx_key, sizeof(keys.rx_key), 11);
    fill(keys.confirm_key, sizeof(keys.confirm_key), 12);
    keys.self_is_low = 1u;                   /* from the public ids */
    CT_SECRET(keys.tx_key, sizeof(keys.tx_key));
    CT_SECRET(keys.rx_key, sizeof(keys.rx_key));
    CT_SECRET(keys.confirm_key, sizeof(keys.confirm_key));
    ret = mb_session_pair_secret(&keys, ps);
    mb_pair_keys_wipe(&keys);
    mb_wipe(ps, sizeof(ps));
    return ret == MB_OK ? 0 : 1;
}

int ct_aead_seal(void)
{
    uint8_t key[32], nonce[12], aad[7], pt[100], ct[100], tag[16];
    mb_aead gcm;
    int ret;

    fill(key, sizeof(key), 13);
    fill(nonce, sizeof(nonce), 14);
    fill(aad, sizeof(aad), 15);
    fill(pt, sizeof(pt), 16);
    CT_SECRET(key, sizeof(key));
    CT_SECRET(pt, sizeof(pt));
    mb_aead_init(&gcm);
    ret = mb_aead_setkey(&gcm, key);
    if (ret == MB_OK) {
        /* The same key again: the work context's key cache compares it. */
        ret = mb_aead_setkey(&gcm, key);
    }
    if (ret == MB_OK) {
        ret = mb_aead_seal(&gcm, nonce, aad, sizeof(aad), pt, sizeof(pt), ct, tag, sizeof(tag));
    }
    mb_aead_free(&gcm);
    return ret == MB_OK ? 0 : 1;
}

/* Received ciphertext and tag are secret too: an attacker chooses them and
 * must learn nothing from how far the comparison got. */
int ct_aead_open(void)
{
    uint8_t key[32], nonce[12], aad[7], pt[100], ct[100], tag[16], out[100];
    mb_aead gcm;
    int good, bad;

    fill(key, sizeof(key), 17);
    fill(nonce, sizeof(nonce), 18);
    fill(aad, sizeof(aad), 19);
    fill(pt, sizeof(pt), 20);
    mb_aead_init(&gcm);
    if (mb_aead_setkey(&gcm, key) != MB_OK ||
        mb_aead_seal(&gcm, nonce, aad, sizeof(aad), pt, sizeof(pt), ct, tag, sizeof(tag)) != MB_OK) {
        mb_aead_free(&gcm);
        return 1;
    }
    mb_aead_free(&gcm);
    mb_aead_init(&gcm);
    CT_SECRET(key, sizeof(key));
    CT_SECRET(ct, sizeof(ct));
    CT_SECRET(tag, sizeof(tag));
    good = mb_aead_setkey(&gcm, key);
    if (good == MB_OK) {
        good = ct_declassify_int(mb_aead_open(&gcm, nonce, aad, sizeof(aad), ct, sizeof(ct),
                                              tag, sizeof(tag), out));
    }
    tag[15] ^= 0x01u;                        /* wrong in the last byte only */
    bad = ct_declassify_int(mb_aead_open(&gcm, nonce, aad, sizeof(aad), ct, sizeof(ct),
                                         tag, sizeof(tag), out));
    mb_aead_free(&gcm);
    return (good == MB_OK && bad == MB_ERR_AUTH) ? 0 : 1;
}
