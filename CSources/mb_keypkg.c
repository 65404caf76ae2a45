/*
 * mb_keypkg.c - key package v1: serialize, seal to a device and sign as the
 * app, open, authenticate and validate on the device (docs/PROVISIONING.md,
 * 3). All integers big-endian.
 *
 * Header (clear; the AAD of the body):
 *     0   4  magic "MBKP"
 *     4   1  format version (1)
 *     5   1  mode: 1 sealed, 2 factory bootstrap (clear)
 *     6   1  target role (0 pack controller, 1 module)
 *     7   1  target CAN device id
 *     8   4  package version (>= 1, increases per device)
 *    12   1  pair count n
 *    13   1  target component id length c (1..64)
 *    14   2  reserved (0)
 *    16   4  body length B
 *    20   8  recipient key id = SHA-256(device binding pub)[0..8)  (0 in bootstrap)
 *    28   8  signer key id    = SHA-256(app pub)[0..8)
 *    36  65  ephemeral public key E                               (0 in bootstrap)
 *   101   c  target component id
 * Body (B bytes; AES-256-GCM ciphertext when sealed):
 *     0   1  profile
 *     1   1  flags (bit 0: app public key present; must be 1 in v1)
 *     2   2  reserved (0)
 *     4   4  rekey_after_ms
 *     8   4  rekey_after_msgs
 *    12  65  app public key (the key reports are encrypted to; may be a new one)
 *    77   1  reserved (0)
 *    78      n entries: peer id(1) flags(1) key id(4) len p, peer component id(p)
 *                       len l, LCT id(l) half_1(64) half_2(64) salt(32)
 * Trailer: 16 bytes, the GCM tag (sealed) or SHA-256(header || body)[0..16)
 * (bootstrap); then 64 bytes, the app's ECDSA-P256 signature r || s over
 * SHA-256("modbatt/keypkg/v1/sig" || header || body || 16-byte trailer).
 */
#include <string.h>

#include "mb_keypkg_priv.h"

#include "modbatt/mb_errors.h"
#include "modbatt/mb_session.h"
#include "modbatt/mb_util.h"
#include "mb_bytes_priv.h"

#define H_MAGIC    0u
#define H_VERSION  4u
#define H_MODE     5u
#define H_ROLE     6u
#define H_DEVID    7u
#define H_PKGVER   8u
#define H_COUNT   12u
#define H_COMPLEN 13u
#define H_RSVD    14u
#define H_BODYLEN 16u
#define H_RECIP   20u
#define H_SIGNER  28u
#define H_EPUB    36u
#define H_COMP    MB_KEYPKG_FIXED_HDR

#define B_PROFILE  0u
#define B_FLAGS    1u
#define B_RSVD     2u
#define B_REKEY_MS 4u
#define B_REKEY_N  8u
#define B_APPPUB  12u
#define B_RSVD2   77u

#define SIG_LABEL "modbatt/keypkg/v1/sig"
#define TRAILER   (MB_KEYPKG_TAG_LEN + MB_P256_SIG_LEN)

static int id_ok(const uint8_t *id, size_t len)
{
    return id != NULL && len >= 1u && len <= MB_PAIR_ID_MAX;
}

static size_t entry_len(const mb_keypkg_pair *e)
{
    return MB_KEYPKG_ENTRY_FIXED + e->peer_comp_len + e->lct_id_len;
}

/* ---- sealing (app side) ------------------------------------------------ */

static int check_contents(const mb_keypkg_contents *c, size_t *body_len)
{
    size_t i, n = MB_KEYPKG_PARAMS_LEN;

    if (c->package_version == 0u || !id_ok(c->comp_id, c->comp_id_len) ||
        c->pair_count > MB_KEYPKG_MAX_PAIRS || c->has_app_pub != 1u) {
        return MB_ERR_INVALID_ARG;
    }
    if ((c->pairs == NULL && c->pair_count != 0u) || c->app_pub == NULL) {
        return MB_ERR_NULL;
    }
    for (i = 0; i < c->pair_count; i++) {
        const mb_keypkg_pair *e = &c->pairs[i];
        if (e->half_1 == NULL || e->half_2 == NULL || e->salt == NULL) {
            return MB_ERR_NULL;
        }
        if (!id_ok(e->peer_comp, e->peer_comp_len) || !id_ok(e->lct_id, e->lct_id_len) ||
            mb_ct_compare(e->half_1, e->half_2, MB_KEY_HALF_LEN) == 0) {
            return MB_ERR_INVALID_ARG;
        }
        n += entry_len(e);
    }
    *body_len = n;
    return MB_OK;
}

static void write_body(const mb_keypkg_contents *c, uint8_t *b)
{
    size_t i;

    memset(b, 0, MB_KEYPKG_PARAMS_LEN);
    b[B_PROFILE] = c->params.profile;
    b[B_FLAGS] = c->has_app_pub ? 1u : 0u;
    mb_put_be32(b + B_REKEY_MS, c->params.rekey_after_ms);
    mb_put_be32(b + B_REKEY_N, c->params.rekey_after_msgs);
    if (c->has_app_pub) {
        memcpy(b + B_APPPUB, c->app_pub, MB_P256_PUB_LEN);
    }
    b += MB_KEYPKG_PARAMS_LEN;
    for (i = 0; i < c->pair_count; i++) {
        const mb_keypkg_pair *e = &c->pairs[i];
        b[0] = e->peer_id;
        b[1] = e->flags;
        memcpy(b + 2, e->key_id, MB_KEY_ID_LEN);
        b[6] = (uint8_t)e->peer_comp_len;
        memcpy(b + 7, e->peer_comp, e->peer_comp_len);
        b += 7u + e->peer_comp_len;
        b[0] = (uint8_t)e->lct_id_len;
        memcpy(b + 1, e->lct_id, e->lct_id_len);
        b += 1u + e->lct_id_len;
        memcpy(b, e->half_1, MB_KEY_HALF_LEN);
        memcpy(b + MB_KEY_HALF_LEN, e->half_2, MB_KEY_HALF_LEN);
        memcpy(b + 2u * MB_KEY_HALF_LEN, e->salt, MB_SALT_LEN);
        b += 2u * MB_KEY_HALF_LEN + MB_SALT_LEN;
    }
}

int mb_keypkg_seal(const mb_keypkg_contents *c, uint8_t mode, const uint8_t *device_pub,
                   const uint8_t app_priv[32], mb_keypkg_rng_fn rng, void *rng_user,
                   uint8_t *out, size_t cap, size_t *out_len)
{
    uint8_t e_priv[32], z[32], key[32], iv[12], h[32], signer[MB_P256_PUB_LEN];
    size_t body_len = 0, hdr_len, total = 0;
    uint8_t *body;
    mbk_rng r;
    int ret;

    if (c == NULL || out == NULL || out_len == NULL || app_priv == NULL || rng == NULL ||
        (mode == MB_KEYPKG_MODE_SEALED && device_pub == NULL)) {
        return MB_ERR_NULL;
    }
    *out_len = 0;
    if (mode != MB_KEYPKG_MODE_SEALED && mode != MB_KEYPKG_MODE_BOOTSTRAP) {
        return MB_ERR_INVALID_ARG;
    }
    ret = check_contents(c, &body_len);
    if (ret != MB_OK) {
        return ret;
    }
    hdr_len = MB_KEYPKG_FIXED_HDR + c->comp_id_len;
    total = hdr_len + body_len + TRAILER;
    if (cap < total) {
        return MB_ERR_BUFFER_TOO_SMALL;
    }
    r.fn = rng;
    r.user = rng_user;
    r.failed = 0;
    /* The signer: normally the key the package carries; to rotate the app
     * key, the old key signs a package carrying the new one. */
    ret = mb_binding_public(app_priv, rng, rng_user, signer);
    if (ret != MB_OK) {
        return ret;
    }

    memset(out, 0, hdr_len);
    mb_put_be32(out + H_MAGIC, MB_KEYPKG_MAGIC);
    out[H_VERSION] = MB_KEYPKG_VERSION;
    out[H_MODE] = mode;
    out[H_ROLE] = c->role;
    out[H_DEVID] = c->device_id;
    mb_put_be32(out + H_PKGVER, c->package_version);
    out[H_COUNT] = (uint8_t)c->pair_count;
    out[H_COMPLEN] = (uint8_t)c->comp_id_len;
    mb_put_be32(out + H_BODYLEN, (uint32_t)body_len);
    memcpy(out + H_COMP, c->comp_id, c->comp_id_len);
    ret = mb_binding_key_id(signer, out + H_SIGNER);
    body = out + hdr_len;
    write_body(c, body);

    if (ret == MB_OK && mode == MB_KEYPKG_MODE_BOOTSTRAP) {
        /* Error detection only: anyone on the line can read it. */
        ret = mbk_sha256(out, hdr_len + body_len, NULL, 0u, h);
        if (ret == MB_OK) {
            memcpy(body + body_len, h, MB_KEYPKG_TAG_LEN);
        }
    } else if (ret == MB_OK) {
        ret = mbk_check_pub(device_pub);
        if (ret == MB_OK) {
            ret = mb_binding_key_id(device_pub, out + H_RECIP);
        }
        if (ret == MB_OK) {
            ret = mbk_keypair(&r, e_priv, out + H_EPUB);
        }
        if (ret == MB_OK) {
            ret = mbk_ecdh(e_priv, device_pub, &r, z);
        }
        if (ret == MB_OK) {
            ret = mbk_seal_keys(z, out + H_EPUB, device_pub, MB_KEYPKG_INFO_LABEL,
                                c->comp_id, c->comp_id_len, key, iv);
        }
        if (ret == MB_OK) {
            ret = mbk_gcm_seal(key, iv, out, hdr_len, body, body_len, body, body + body_len);
        }
    }
    if (ret == MB_OK) {
        ret = mbk_sha256((const uint8_t *)SIG_LABEL, sizeof(SIG_LABEL) - 1u, out,
                         hdr_len + body_len + MB_KEYPKG_TAG_LEN, h);
    }
    if (ret == MB_OK) {
        ret = mbk_sign(app_priv, h, &r, body + body_len + MB_KEYPKG_TAG_LEN);
    }
    if (ret == MB_OK) {
        *out_len = total;
    } else {
        mb_wipe(out, total);
    }
    mb_wipe(e_priv, sizeof(e_priv));
    mb_wipe(z, sizeof(z));
    mb_wipe(key, sizeof(key));
    mb_wipe(iv, sizeof(iv));
    return ret;
}

/* ---- opening (device side) --------------------------------------------- */

/* Walk one entry at b[0..left); fill e. MB_ERR_MALFORMED if it overruns. */
static int parse_entry(const uint8_t *b, size_t left, mb_keypkg_pair *e, size_t *used)
{
    size_t p, l;

    if (left < 7u) {
        return MB_ERR_MALFORMED;
    }
    p = b[6];
    if (p < 1u || p > MB_PAIR_ID_MAX || left < 7u + p + 1u) {
        return MB_ERR_MALFORMED;
    }
    l = b[7u + p];
    if (l < 1u || l > MB_PAIR_ID_MAX || left < MB_KEYPKG_ENTRY_FIXED + p + l) {
        return MB_ERR_MALFORMED;
    }
    e->peer_id = b[0];
    e->flags = b[1];
    memcpy(e->key_id, b + 2, MB_KEY_ID_LEN);
    e->peer_comp = b + 7;
    e->peer_comp_len = p;
    e->lct_id = b + 8u + p;
    e->lct_id_len = l;
    e->half_1 = b + 8u + p + l;
    e->half_2 = e->half_1 + MB_KEY_HALF_LEN;
    e->salt = e->half_2 + MB_KEY_HALF_LEN;
    *used = MB_KEYPKG_ENTRY_FIXED + p + l;
    return MB_OK;
}

static int derive_entry(const mb_keypkg_contents *c, const mb_keypkg_pair *e,
                        mb_pair_keys *keys)
{
    mb_pair_params p;

    p.half_1 = e->half_1;
    p.half_2 = e->half_2;
    p.salt = e->salt;
    p.self_id = c->comp_id;
    p.self_id_len = c->comp_id_len;
    p.peer_id = e->peer_comp;
    p.peer_id_len = e->peer_comp_len;
    p.lct_id = e->lct_id;
    p.lct_id_len = e->lct_id_len;
    return mb_pair_derive(&p, keys);
}

/* The app key of a decrypted body: flagged, on the curve. */
static int body_app_key(const uint8_t *b, size_t len)
{
    if (len < MB_KEYPKG_PARAMS_LEN || b[B_FLAGS] != 1u || b[B_RSVD] != 0u ||
        b[B_RSVD + 1u] != 0u || b[B_RSVD2] != 0u) {
        return MB_ERR_MALFORMED;
    }
    return mbk_check_pub(b + B_APPPUB) == MB_OK ? MB_OK : MB_ERR_MALFORMED;
}

/* Parse and validate the entries of the decrypted body into *out. */
static int check_body(const uint8_t *b, size_t len, mb_keypkg_contents *out)
{
    mb_keypkg_pair e;
    mb_pair_keys keys;
    size_t i, off = MB_KEYPKG_PARAMS_LEN, used = 0;
    int ret;

    out->params.profile = b[B_PROFILE];
    out->params.rekey_after_ms = mb_get_be32(b + B_REKEY_MS);
    out->params.rekey_after_msgs = mb_get_be32(b + B_REKEY_N);
    out->has_app_pub = 1;
    out->app_pub = b + B_APPPUB;
    for (i = 0; i < out->pair_count; i++) {
        ret = parse_entry(b + off, len - off, &e, &used);
        if (ret != MB_OK) {
            return ret;
        }
        /* Validate before use: the derivation must give the announced key id
         * (and mb_pair_derive refuses equal halves or equal ids). */
        ret = derive_entry(out, &e, &keys);
        if (ret == MB_OK && mb_ct_compare(keys.key_id, e.key_id, MB_KEY_ID_LEN) != 0) {
            ret = MB_ERR_INTEGRITY;
        }
        mb_pair_keys_wipe(&keys);
        if (ret != MB_OK) {
            return ret == MB_ERR_CRYPTO ? ret : MB_ERR_INTEGRITY;
        }
        off += used;
    }
    return off == len ? MB_OK : MB_ERR_MALFORMED;
}

/* Verify the app's signature with \p app_pub, whose key id must be the
 * header's signer key id. */
static int verify_signature(const uint8_t *pkg, size_t signed_len, const uint8_t *app_pub)
{
    uint8_t id[MB_BINDING_KEY_ID_LEN], h[32];
    int ret = mb_binding_key_id(app_pub, id);

    if (ret == MB_OK && memcmp(id, pkg + H_SIGNER, MB_BINDING_KEY_ID_LEN) != 0) {
        return MB_ERR_AUTH;   /* signed by another app */
    }
    if (ret == MB_OK) {
        ret = mbk_sha256((const uint8_t *)SIG_LABEL, sizeof(SIG_LABEL) - 1u, pkg, signed_len, h);
    }
    if (ret == MB_OK) {
        ret = mbk_verify(app_pub, h, pkg + signed_len);
        if (ret == MB_ERR_INVALID_ARG) {
            ret = MB_ERR_MALFORMED;
        }
    }
    return ret;
}

/* The structural checks shared by peek and open: sizes, magic, version,
 * counts and the exact length. */
static int check_structure(const uint8_t *pkg, size_t len)
{
    size_t c, n, body_len, signed_len;
    uint32_t body_len32;
    uint8_t mode;

    if (len < MB_KEYPKG_FIXED_HDR) {
        return MB_ERR_TRUNCATED;
    }
    if (mb_get_be32(pkg + H_MAGIC) != MB_KEYPKG_MAGIC) {
        return MB_ERR_MALFORMED;
    }
    if (pkg[H_VERSION] != MB_KEYPKG_VERSION) {
        return MB_ERR_VERSION;
    }
    mode = pkg[H_MODE];
    n = pkg[H_COUNT];
    c = pkg[H_COMPLEN];
    /* The 32-bit field is bounded before it becomes a size_t (16 bits on
     * an 8-bit MCU, where a larger value would wrap into range). */
    body_len32 = mb_get_be32(pkg + H_BODYLEN);
    if ((mode != MB_KEYPKG_MODE_SEALED && mode != MB_KEYPKG_MODE_BOOTSTRAP) ||
        n > MB_KEYPKG_MAX_PAIRS || c < 1u || c > MB_PAIR_ID_MAX ||
        pkg[H_RSVD] != 0u || pkg[H_RSVD + 1u] != 0u ||
        body_len32 > MB_KEYPKG_BODY_MAX ||
        (size_t)body_len32 < MB_KEYPKG_PARAMS_LEN + n * (MB_KEYPKG_ENTRY_FIXED + 2u)) {
        return MB_ERR_MALFORMED;
    }
    body_len = (size_t)body_len32;
    signed_len = MB_KEYPKG_FIXED_HDR + c + body_len + MB_KEYPKG_TAG_LEN;
    if (len != signed_len + MB_P256_SIG_LEN) {
        return len < signed_len + MB_P256_SIG_LEN ? MB_ERR_TRUNCATED : MB_ERR_MALFORMED;
    }
    return MB_OK;
}

int mb_keypkg_peek(const uint8_t *pkg, size_t len, mb_keypkg_route *out)
{
    int ret;

    if (pkg == NULL || out == NULL) {
        return MB_ERR_NULL;
    }
    memset(out, 0, sizeof(*out));
    ret = check_structure(pkg, len);
    if (ret == MB_OK) {
        out->mode = pkg[H_MODE];
        out->role = pkg[H_ROLE];
        out->device_id = pkg[H_DEVID];
        out->package_version = mb_get_be32(pkg + H_PKGVER);
        memcpy(out->recipient, pkg + H_RECIP, MB_BINDING_KEY_ID_LEN);
    }
    return ret;
}

int mb_keypkg_open(const uint8_t *pkg, size_t len, const mb_keypkg_expect *expect,
                   mb_keypkg_rng_fn rng, void *rng_user,
                   uint8_t *body, size_t body_cap, mb_keypkg_contents *out)
{
    uint8_t z[32], key[32], iv[12], h[32], id[MB_BINDING_KEY_ID_LEN];
    size_t hdr_len, body_len, c, n, signed_len;
    uint8_t mode;
    mbk_rng r;
    int ret;

    if (pkg == NULL || expect == NULL || body == NULL || out == NULL) {
        return MB_ERR_NULL;
    }
    memset(out, 0, sizeof(*out));
    /* Zeroed on every error, early ones too: no earlier package's key
     * halves survive in a reused buffer (found by Tests/Fuzz/fuzz_keypkg). */
    mb_wipe(body, body_cap);
    ret = check_structure(pkg, len);
    if (ret != MB_OK) {
        return ret;
    }
    mode = pkg[H_MODE];
    n = pkg[H_COUNT];
    c = pkg[H_COMPLEN];
    body_len = (size_t)mb_get_be32(pkg + H_BODYLEN);   /* <= MB_KEYPKG_BODY_MAX: checked above */
    hdr_len = MB_KEYPKG_FIXED_HDR + c;
    signed_len = hdr_len + body_len + MB_KEYPKG_TAG_LEN;
    if (body_cap < c + body_len) {
        return MB_ERR_BUFFER_TOO_SMALL;
    }
    if (mode == MB_KEYPKG_MODE_BOOTSTRAP && !expect->allow_bootstrap) {
        return MB_ERR_POLICY;
    }
    /* Addressed to this device? */
    if ((expect->comp_id != NULL &&
         (expect->comp_id_len != c || memcmp(expect->comp_id, pkg + H_COMP, c) != 0)) ||
        (expect->device_id != 0xFFFFu && expect->device_id != pkg[H_DEVID])) {
        return MB_ERR_WRONG_DEVICE;
    }
    if (mode == MB_KEYPKG_MODE_SEALED) {
        if (expect->binding_priv == NULL || expect->binding_pub == NULL || rng == NULL) {
            return MB_ERR_NULL;
        }
        ret = mb_binding_key_id(expect->binding_pub, id);
        if (ret != MB_OK) {
            return ret;
        }
        if (memcmp(id, pkg + H_RECIP, MB_BINDING_KEY_ID_LEN) != 0) {
            return MB_ERR_WRONG_DEVICE;
        }
    }
    /* With a pinned app key, nothing of an unsigned package is processed. */
    if (expect->app_pub != NULL) {
        ret = verify_signature(pkg, signed_len, expect->app_pub);
        if (ret != MB_OK) {
            return ret;
        }
    }

    r.fn = rng;
    r.user = rng_user;
    r.failed = 0;
    if (mode == MB_KEYPKG_MODE_SEALED) {
        ret = mbk_ecdh(expect->binding_priv, pkg + H_EPUB, &r, z);
        if (ret == MB_ERR_INVALID_ARG) {
            /* our own scalar was checked at boot; this is the package's point */
            ret = mbk_check_pub(pkg + H_EPUB) == MB_OK ? MB_ERR_INVALID_ARG : MB_ERR_MALFORMED;
        }
        if (ret == MB_OK) {
            ret = mbk_seal_keys(z, pkg + H_EPUB, expect->binding_pub, MB_KEYPKG_INFO_LABEL,
                                pkg + H_COMP, c, key, iv);
        }
        if (ret == MB_OK) {
            ret = mbk_gcm_open(key, iv, pkg, hdr_len, pkg + hdr_len, body_len,
                               pkg + hdr_len + body_len, body + c);
        }
    } else {
        ret = mbk_sha256(pkg, hdr_len + body_len, NULL, 0u, h);
        if (ret == MB_OK &&
            mb_ct_compare(h, pkg + hdr_len + body_len, MB_KEYPKG_TAG_LEN) != 0) {
            ret = MB_ERR_INTEGRITY;
        }
        if (ret == MB_OK) {
            memcpy(body + c, pkg + hdr_len, body_len);
        }
    }
    if (ret == MB_OK) {
        ret = body_app_key(body + c, body_len);
    }
    /* First provisioning (no pinned key): the package must be signed by the
     * app key it carries, which the device then pins. */
    if (ret == MB_OK && expect->app_pub == NULL) {
        ret = verify_signature(pkg, signed_len, body + c + B_APPPUB);
    }
    if (ret != MB_OK) {
        goto exit;
    }
    /* Authenticated from here on. The caller's buffer gets the component id,
     * then the body, so the contents point into it alone. */
    memcpy(body, pkg + H_COMP, c);
    out->mode = mode;
    out->package_version = mb_get_be32(pkg + H_PKGVER);
    out->role = pkg[H_ROLE];
    out->device_id = pkg[H_DEVID];
    out->comp_id = body;
    out->comp_id_len = c;
    memcpy(out->recipient, pkg + H_RECIP, MB_BINDING_KEY_ID_LEN);
    memcpy(out->signer, pkg + H_SIGNER, MB_BINDING_KEY_ID_LEN);
    out->pair_count = n;
    out->pairs = NULL;
    out->body_ = body + c;
    if (out->package_version <= expect->min_version) {
        ret = MB_ERR_ROLLBACK;
        goto exit;
    }
    ret = check_body(body + c, body_len, out);
exit:
    if (ret != MB_OK) {
        mb_wipe(body, c + body_len);
        memset(out, 0, sizeof(*out));
    }
    mb_wipe(z, sizeof(z));
    mb_wipe(key, sizeof(key));
    mb_wipe(iv, sizeof(iv));
    return ret;
}

int mb_keypkg_pair_at(const mb_keypkg_contents *c, size_t index, mb_keypkg_pair *out)
{
    const uint8_t *b;
    size_t i, used = 0, off = MB_KEYPKG_PARAMS_LEN;
    int ret;

    if (c == NULL || out == NULL) {
        return MB_ERR_NULL;
    }
    if (index >= c->pair_count || (c->body_ == NULL && c->pairs == NULL)) {
        return MB_ERR_INVALID_ARG;
    }
    if (c->body_ == NULL) {
        *out = c->pairs[index];   /* contents being built for mb_keypkg_seal() */
        return MB_OK;
    }
    b = c->body_;
    for (i = 0; i <= index; i++) {
        /* Bounds were checked by mb_keypkg_open(); SIZE_MAX just walks. */
        ret = parse_entry(b + off, (size_t)-1 - off, out, &used);
        if (ret != MB_OK) {
            return ret;
        }
        off += used;
    }
    return MB_OK;
}

int mb_keypkg_derive(const mb_keypkg_contents *c, size_t index, mb_pair_keys *keys)
{
    mb_keypkg_pair e;
    int ret;

    if (keys == NULL) {
        return MB_ERR_NULL;
    }
    ret = mb_keypkg_pair_at(c, index, &e);
    if (ret != MB_OK) {
        mb_pair_keys_wipe(keys);
        return ret;
    }
    return derive_entry(c, &e, keys);
}

int mb_keypkg_to_record(const mb_keypkg_contents *c, const uint8_t binding_priv[32],
                        mb_ks_record *rec)
{
    mb_keypkg_pair e;
    mb_pair_keys keys;
    size_t i;
    int ret = MB_OK;

    if (c == NULL || binding_priv == NULL || rec == NULL) {
        return MB_ERR_NULL;
    }
    memset(rec, 0, sizeof(*rec));
    if (c->body_ == NULL || c->pair_count > MB_KS_MAX_PAIRS) {
        return MB_ERR_INVALID_ARG;
    }
    rec->package_version = c->package_version;
    rec->device_id = c->device_id;
    rec->role = c->role;
    rec->flags = (uint8_t)((c->has_app_pub ? MB_KS_FLAG_HAS_APP_KEY : 0u) |
                           (c->mode == MB_KEYPKG_MODE_BOOTSTRAP ? MB_KS_FLAG_BOOTSTRAPPED : 0u));
    /* has_app_pub is always 1 for opened v1 packages: the device pins it. */
    rec->params = c->params;
    if (c->has_app_pub) {
        memcpy(rec->app_pub, c->app_pub, MB_P256_PUB_LEN);
    }
    memcpy(rec->binding_priv, binding_priv, MB_P256_PRIV_LEN);
    rec->pair_count = (uint8_t)c->pair_count;
    for (i = 0; i < c->pair_count && ret == MB_OK; i++) {
        ret = mb_keypkg_pair_at(c, i, &e);
        if (ret == MB_OK) {
            ret = derive_entry(c, &e, &keys);
        }
        if (ret == MB_OK) {
            rec->pairs[i].peer_id = e.peer_id;
            rec->pairs[i].flags = e.flags;
            memcpy(rec->pairs[i].key_id, keys.key_id, MB_KEY_ID_LEN);
            ret = mb_session_pair_secret(&keys, rec->pairs[i].secret);
        }
        mb_pair_keys_wipe(&keys);
    }
    if (ret != MB_OK) {
        mb_ks_record_wipe(rec);
    }
    return ret;
}
