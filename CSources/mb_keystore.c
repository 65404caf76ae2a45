/*
 * mb_keystore.c - two-slot, power-cut-safe key store (docs/PROVISIONING.md, 5).
 *
 * Record v1, all integers big-endian:
 *
 *   off  len  field                                  protection
 *     0    4  magic "MBKS"                           MAC, CRC
 *     4    1  format version (1)
 *     5    1  pair count n
 *     6    2  record length L = 196 + 38 n
 *     8    4  generation
 *    12   16  device uid
 *    28    4  package version
 *    32   16  record nonce (random per write)
 *    48    1  CAN device id
 *    49    1  role
 *    50    1  flags
 *    51    1  profile
 *    52    4  rekey_after_ms
 *    56    4  rekey_after_msgs
 *    60   65  app public key (zero when not flagged)
 *   125    3  reserved (0)
 *   128   32  binding private key                    encrypted, MAC, CRC
 *   160 38 n  pairs: peer, flags, key_id(4), secret(32)
 *  L-36   32  HMAC-SHA256(mac_key, bytes 0 .. L-36)
 *   L-4    4  CRC-32(bytes 0 .. L-4)
 *
 *   mac_key = HMAC-SHA256(storage_key, "modbatt/keystore/v1/mac" || uid)
 *   enc_key = HMAC-SHA256(storage_key, "modbatt/keystore/v1/enc")
 *   keystream block i = HMAC-SHA256(enc_key, nonce || BE32(i))
 */
#include <string.h>

#include "modbatt/mb_keystore.h"

#include "modbatt/mb_errors.h"
#include "modbatt/mb_hkdf.h"
#include "modbatt/mb_util.h"
#include "mb_bytes_priv.h"

#define OFF_MAGIC     0u
#define OFF_VERSION   4u
#define OFF_COUNT     5u
#define OFF_LENGTH    6u
#define OFF_GEN       8u
#define OFF_UID      12u
#define OFF_PKGVER   28u
#define OFF_NONCE    32u
#define OFF_DEVID    48u
#define OFF_ROLE     49u
#define OFF_FLAGS    50u
#define OFF_PROFILE  51u
#define OFF_REKEY_MS 52u
#define OFF_REKEY_N  56u
#define OFF_APPPUB   60u
#define OFF_RESERVED 125u
#define OFF_SECRET   128u
#define OFF_PAIRS    (OFF_SECRET + MB_KS_PRIV_LEN)

#define MAC_LABEL "modbatt/keystore/v1/mac"
#define ENC_LABEL "modbatt/keystore/v1/enc"
#define STRLEN(lit) (sizeof(lit) - 1u)

uint32_t mb_crc32(const uint8_t *data, size_t len)
{
    uint32_t crc = 0xFFFFFFFFu;
    size_t i;
    unsigned b;

    if (data == NULL) {
        len = 0;
    }
    for (i = 0; i < len; i++) {
        crc ^= data[i];
        for (b = 0; b < 8u; b++) {
            /* Branch-free: the CRC covers public bytes only, but keep it simple. */
            crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
        }
    }
    return ~crc;
}

/* XOR the HMAC-SHA256 keystream into buf[0..len). */
static int keystream_xor(const uint8_t enc_key[32], const uint8_t nonce[16],
                         uint8_t *buf, size_t len)
{
    uint8_t in[MB_KS_NONCE_LEN + 4u], block[32];
    uint32_t i = 0;
    size_t off = 0, n, j;
    int ret = MB_OK;

    memcpy(in, nonce, MB_KS_NONCE_LEN);
    while (off < len) {
        mb_put_be32(in + MB_KS_NONCE_LEN, i++);
        ret = mb_hmac_sha256(enc_key, 32u, in, sizeof(in), block);
        if (ret != MB_OK) {
            break;
        }
        n = len - off < sizeof(block) ? len - off : sizeof(block);
        for (j = 0; j < n; j++) {
            buf[off + j] ^= block[j];
        }
        off += n;
    }
    mb_wipe(block, sizeof(block));
    return ret;
}

static int hook(int rc)
{
    return rc == MB_OK ? MB_OK : MB_ERR_FLASH;
}

/* ---- setup ----------------------------------------------------------- */

int mb_keystore_init(mb_keystore *ks, const mb_ks_platform *plat,
                     const uint8_t storage_key[32], const uint8_t uid[16])
{
    uint8_t label[STRLEN(MAC_LABEL) + MB_KS_UID_LEN];
    uint32_t rec;
    int ret;

    if (ks == NULL || plat == NULL || storage_key == NULL || uid == NULL ||
        plat->read == NULL || plat->erase == NULL || plat->write == NULL) {
        return MB_ERR_NULL;
    }
    memset(ks, 0, sizeof(*ks));
    ks->current = -1;
    if (plat->page_size == 0u || plat->page_size > 65536u ||
        (plat->page_size & (plat->page_size - 1u)) != 0u ||
        !(plat->write_unit == 1u || plat->write_unit == 2u || plat->write_unit == 4u ||
          plat->write_unit == 8u || plat->write_unit == 16u) ||
        (plat->counter_read != NULL && plat->counter_raise == NULL)) {
        return MB_ERR_INVALID_ARG;
    }
    memcpy(label, MAC_LABEL, STRLEN(MAC_LABEL));
    memcpy(label + STRLEN(MAC_LABEL), uid, MB_KS_UID_LEN);
    ret = mb_hmac_sha256(storage_key, MB_KS_STORAGE_KEY_LEN, label, sizeof(label), ks->mac_key);
    if (ret == MB_OK) {
        ret = mb_hmac_sha256(storage_key, MB_KS_STORAGE_KEY_LEN,
                             (const uint8_t *)ENC_LABEL, STRLEN(ENC_LABEL), ks->enc_key);
    }
    if (ret != MB_OK) {
        mb_wipe(ks, sizeof(*ks));
        ks->current = -1;
        return MB_ERR_CRYPTO;
    }
    memcpy(ks->uid, uid, MB_KS_UID_LEN);
    rec = (uint32_t)MB_KS_BUF_LEN;
    ks->slot_size = ((rec + plat->page_size - 1u) / plat->page_size) * plat->page_size;
#if SIZE_MAX < 0xFFFFFFFFu
    /* 16-bit size_t (8-bit MCUs): a slot must be erasable in one call. */
    if (ks->slot_size > SIZE_MAX) {
        mb_wipe(ks, sizeof(*ks));
        ks->current = -1;
        return MB_ERR_INVALID_ARG;
    }
#endif
    ks->plat = plat;
    return MB_OK;
}

uint32_t mb_keystore_slot_size(const mb_keystore *ks)
{
    return ks == NULL ? 0u : ks->slot_size;
}

/* ---- checking one slot ----------------------------------------------- */

/* Index one past the last byte of buf[0..len) that is not erased. */
static size_t written_end(const uint8_t *buf, size_t len, uint8_t erased)
{
    while (len > 0u && buf[len - 1u] == erased) {
        len--;
    }
    return len;
}

/* A structural failure is a cut write when nothing was written past a point
 * before the end of the region the record needs (the rest is still erased). */
static int cut_or(int code, const uint8_t *buf, size_t need, uint8_t erased)
{
    return written_end(buf, MB_KS_RECORD_MAX, erased) < need ? MB_ERR_TRUNCATED : code;
}

/* Read slot \p slot into ks->buf and check it; *gen gets the generation it
 * claims once its header is intact. */
static int check_slot(mb_keystore *ks, int slot, uint32_t floor, int have_floor,
                      uint32_t *gen)
{
    const uint8_t erased = ks->plat->erased;
    uint8_t *b = ks->buf;
    uint8_t mac[MB_KS_MAC_LEN];
    uint8_t magic[4];
    size_t len, n;
    int ret;

    *gen = 0;
    ret = hook(ks->plat->read(ks->plat->user, (uint32_t)slot * ks->slot_size, b,
                              MB_KS_RECORD_MAX));
    if (ret != MB_OK) {
        return ret;
    }
    if (written_end(b, MB_KS_RECORD_MAX, erased) == 0u) {
        return MB_ERR_NOT_FOUND;
    }
    mb_put_be32(magic, MB_KS_MAGIC);
    if (memcmp(b + OFF_MAGIC, magic, 4u) != 0) {
        return cut_or(MB_ERR_INTEGRITY, b, MB_KS_HEADER_LEN, erased);
    }
    if (b[OFF_VERSION] != MB_KS_VERSION) {
        return cut_or(MB_ERR_VERSION, b, MB_KS_HEADER_LEN, erased);
    }
    n = b[OFF_COUNT];
    len = ((size_t)b[OFF_LENGTH] << 8) | b[OFF_LENGTH + 1u];
    if (n > MB_KS_MAX_PAIRS || len != MB_KS_RECORD_LEN(n)) {
        return cut_or(MB_ERR_INTEGRITY, b, MB_KS_HEADER_LEN, erased);
    }
    if (mb_crc32(b, len - MB_KS_CRC_LEN) != mb_get_be32(b + len - MB_KS_CRC_LEN)) {
        return cut_or(MB_ERR_INTEGRITY, b, len, erased);
    }
    *gen = mb_get_be32(b + OFF_GEN);
    /* CRC-intact: a mismatching uid is another device's record, not damage. */
    if (mb_ct_compare(b + OFF_UID, ks->uid, MB_KS_UID_LEN) != 0) {
        return MB_ERR_WRONG_DEVICE;
    }
    ret = mb_hmac_sha256(ks->mac_key, sizeof(ks->mac_key), b,
                         len - MB_KS_MAC_LEN - MB_KS_CRC_LEN, mac);
    if (ret != MB_OK) {
        return MB_ERR_CRYPTO;
    }
    if (mb_ct_compare(mac, b + len - MB_KS_MAC_LEN - MB_KS_CRC_LEN, MB_KS_MAC_LEN) != 0) {
        return MB_ERR_AUTH;
    }
    if (have_floor && *gen < floor) {
        return MB_ERR_ROLLBACK;
    }
    return MB_OK;
}

/* Decode the verified record in ks->buf into *out (decrypts in place). */
static int decode(mb_keystore *ks, mb_ks_record *out)
{
    uint8_t *b = ks->buf;
    size_t n = b[OFF_COUNT], i, len = MB_KS_RECORD_LEN(n);
    int ret;

    ret = keystream_xor(ks->enc_key, b + OFF_NONCE, b + OFF_SECRET,
                        len - OFF_SECRET - MB_KS_MAC_LEN - MB_KS_CRC_LEN);
    if (ret != MB_OK) {
        return MB_ERR_CRYPTO;
    }
    out->generation = mb_get_be32(b + OFF_GEN);
    out->package_version = mb_get_be32(b + OFF_PKGVER);
    out->device_id = b[OFF_DEVID];
    out->role = b[OFF_ROLE];
    out->flags = b[OFF_FLAGS];
    out->params.profile = b[OFF_PROFILE];
    out->params.rekey_after_ms = mb_get_be32(b + OFF_REKEY_MS);
    out->params.rekey_after_msgs = mb_get_be32(b + OFF_REKEY_N);
    memcpy(out->app_pub, b + OFF_APPPUB, MB_KS_PUB_LEN);
    memcpy(out->binding_priv, b + OFF_SECRET, MB_KS_PRIV_LEN);
    out->pair_count = (uint8_t)n;
    for (i = 0; i < n; i++) {
        const uint8_t *p = b + OFF_PAIRS + i * MB_KS_PAIR_LEN;
        out->pairs[i].peer_id = p[0];
        out->pairs[i].flags = p[1];
        memcpy(out->pairs[i].key_id, p + 2, 4u);
        memcpy(out->pairs[i].secret, p + 6, MB_KS_SECRET_LEN);
    }
    return MB_OK;
}

/* ---- erasing the other slot ------------------------------------------ */

/* *blank = 1 when every byte of \p slot reads erased (read through ks->buf,
 * which is at most a slot long). */
static int slot_blank(mb_keystore *ks, int slot, int *blank)
{
    uint32_t off;
    size_t n;
    int ret = MB_OK;

    *blank = 1;
    for (off = 0; off < ks->slot_size && *blank; off += (uint32_t)n) {
        n = ks->slot_size - off < sizeof(ks->buf) ? (size_t)(ks->slot_size - off) : sizeof(ks->buf);
        ret = hook(ks->plat->read(ks->plat->user, (uint32_t)slot * ks->slot_size + off,
                                  ks->buf, n));
        *blank = ret == MB_OK && written_end(ks->buf, n, ks->plat->erased) == 0u;
    }
    return ret;
}

/* Leave \p slot blank: the last step of a write, and of a boot that selected
 * the record in the other slot. Whatever it holds is not the record in use
 * (an older generation, a cut write, damage, a foreign record) and a write
 * would erase it before programming anyway; an older generation in
 * particular still decrypts under the storage key to the secrets that a
 * rotation or a revocation replaced. Already blank: no erase (no wear).
 * Checked blank afterwards, so a failed erase is reported. */
static int erase_other(mb_keystore *ks, int slot)
{
    int blank = 0, ret;

    ret = slot_blank(ks, slot, &blank);
    if (ret != MB_OK || blank) {
        return ret;
    }
    ret = hook(ks->plat->erase(ks->plat->user, (uint32_t)slot * ks->slot_size, (size_t)ks->slot_size));
    if (ret == MB_OK) {
        ret = slot_blank(ks, slot, &blank);
    }
    return ret == MB_OK && !blank ? MB_ERR_FLASH : ret;
}

/* Security-relevant reasons first. */
static int rank(int code)
{
    static const int order[] = {
        MB_ERR_ROLLBACK, MB_ERR_WRONG_DEVICE, MB_ERR_AUTH, MB_ERR_VERSION,
        MB_ERR_INTEGRITY, MB_ERR_TRUNCATED, MB_ERR_NOT_FOUND
    };
    int i;
    for (i = 0; i < (int)(sizeof(order) / sizeof(order[0])); i++) {
        if (order[i] == code) {
            return i;
        }
    }
    return -1;  /* hook or crypto failure: outranks everything */
}

int mb_keystore_boot(mb_keystore *ks, mb_ks_record *out, mb_ks_boot_info *info)
{
    mb_ks_boot_info local;
    uint32_t floor = 0, gen[2];
    int status[2], slot, have_floor = 0, sel = -1, ret;

    if (ks == NULL || out == NULL || ks->plat == NULL) {
        return MB_ERR_NULL;
    }
    if (info == NULL) {
        info = &local;
    }
    memset(info, 0, sizeof(*info));
    info->selected = -1;
    memset(out, 0, sizeof(*out));
    ks->booted = 0;
    ks->current = -1;
    ks->generation = 0;

    if (ks->plat->counter_read != NULL) {
        if (ks->plat->counter_read(ks->plat->user, &floor) != MB_OK) {
            return MB_ERR_FLASH;
        }
        have_floor = 1;
        info->counter = floor;
    }
    for (slot = 0; slot < 2; slot++) {
        status[slot] = check_slot(ks, slot, floor, have_floor, &gen[slot]);
        info->slot_status[slot] = status[slot];
        info->slot_generation[slot] = gen[slot];
        if (status[slot] == MB_ERR_FLASH || status[slot] == MB_ERR_CRYPTO) {
            ret = status[slot];
            goto exit;
        }
        if (status[slot] == MB_OK && (sel < 0 || gen[slot] > gen[sel])) {
            sel = slot;
        }
    }
    /* The writer never targets the slot holding the newest valid record, so
     * a write in progress is always in the other one. */
    ks->generation = floor;
    if (sel < 0) {
        ret = rank(status[0]) <= rank(status[1]) ? status[0] : status[1];
        ks->booted = 1;
        goto exit;
    }
    ret = check_slot(ks, sel, floor, have_floor, &gen[sel]);  /* reload into buf */
    if (ret == MB_OK) {
        ret = decode(ks, out);
    }
    if (ret == MB_OK && have_floor && gen[sel] > floor) {
        ret = hook(ks->plat->counter_raise(ks->plat->user, gen[sel]));
    }
    if (ret == MB_OK) {
        /* Finish what a write cut before its last step left behind: with
         * the newer record selected (and the counter raised) nothing else
         * on flash is needed. At boot rather than at the next write, which
         * may be months away: a stale secret lasts until the next reset,
         * not until the next rotation. Never when nothing was selected: a
         * refusing boot leaves the flash as it found it. */
        ret = erase_other(ks, 1 - sel);
    }
    if (ret != MB_OK) {
        mb_ks_record_wipe(out);
        goto exit;
    }
    ks->current = sel;
    ks->generation = gen[sel];
    ks->booted = 1;
    info->selected = sel;
exit:
    mb_wipe(ks->buf, sizeof(ks->buf));
    return ret;
}

/* ---- writing --------------------------------------------------------- */

static void encode(mb_keystore *ks, const mb_ks_record *rec, uint32_t gen,
                   const uint8_t nonce[16])
{
    uint8_t *b = ks->buf;
    size_t n = rec->pair_count, i, len = MB_KS_RECORD_LEN(n);

    memset(b, ks->plat->erased, sizeof(ks->buf));
    memset(b, 0, len);
    mb_put_be32(b + OFF_MAGIC, MB_KS_MAGIC);
    b[OFF_VERSION] = MB_KS_VERSION;
    b[OFF_COUNT] = (uint8_t)n;
    b[OFF_LENGTH] = (uint8_t)(len >> 8);
    b[OFF_LENGTH + 1u] = (uint8_t)len;
    mb_put_be32(b + OFF_GEN, gen);
    memcpy(b + OFF_UID, ks->uid, MB_KS_UID_LEN);
    mb_put_be32(b + OFF_PKGVER, rec->package_version);
    memcpy(b + OFF_NONCE, nonce, MB_KS_NONCE_LEN);
    b[OFF_DEVID] = rec->device_id;
    b[OFF_ROLE] = rec->role;
    b[OFF_FLAGS] = rec->flags;
    b[OFF_PROFILE] = rec->params.profile;
    mb_put_be32(b + OFF_REKEY_MS, rec->params.rekey_after_ms);
    mb_put_be32(b + OFF_REKEY_N, rec->params.rekey_after_msgs);
    if (rec->flags & MB_KS_FLAG_HAS_APP_KEY) {
        memcpy(b + OFF_APPPUB, rec->app_pub, MB_KS_PUB_LEN);
    }
    memcpy(b + OFF_SECRET, rec->binding_priv, MB_KS_PRIV_LEN);
    for (i = 0; i < n; i++) {
        uint8_t *p = b + OFF_PAIRS + i * MB_KS_PAIR_LEN;
        p[0] = rec->pairs[i].peer_id;
        p[1] = rec->pairs[i].flags;
        memcpy(p + 2, rec->pairs[i].key_id, 4u);
        memcpy(p + 6, rec->pairs[i].secret, MB_KS_SECRET_LEN);
    }
}

static int readback_equal(mb_keystore *ks, uint32_t base, size_t len)
{
    uint8_t chunk[32];
    size_t off, n;
    int ret = MB_OK;

    for (off = 0; off < len; off += n) {
        n = len - off < sizeof(chunk) ? len - off : sizeof(chunk);
        ret = hook(ks->plat->read(ks->plat->user, base + (uint32_t)off, chunk, n));
        if (ret != MB_OK) {
            break;
        }
        if (memcmp(chunk, ks->buf + off, n) != 0) {
            ret = MB_ERR_INTEGRITY;
            break;
        }
    }
    mb_wipe(chunk, sizeof(chunk));
    return ret;
}

int mb_keystore_write(mb_keystore *ks, mb_ks_record *rec,
                      int (*rng)(void *user, uint8_t *out, size_t len), void *rng_user)
{
    const mb_ks_platform *plat;
    uint8_t nonce[MB_KS_NONCE_LEN];
    uint32_t gen, base;
    size_t len, padded;
    int target, ret;

    if (ks == NULL || rec == NULL || rng == NULL || ks->plat == NULL) {
        return MB_ERR_NULL;
    }
    plat = ks->plat;
    if (!ks->booted) {
        return MB_ERR_STATE;
    }
    if (rec->pair_count > MB_KS_MAX_PAIRS) {
        return MB_ERR_INVALID_ARG;
    }
    if (ks->generation == UINT32_MAX) {
        return MB_ERR_STATE;
    }
    gen = ks->generation + 1u;
    if (rng(rng_user, nonce, sizeof(nonce)) != MB_OK) {
        mb_wipe(nonce, sizeof(nonce));
        return MB_ERR_RNG;
    }
    len = (size_t)MB_KS_RECORD_LEN((size_t)rec->pair_count);
    padded = (size_t)(((len + plat->write_unit - 1u) / plat->write_unit) * plat->write_unit);
    target = ks->current == 0 ? 1 : 0;
    base = (uint32_t)target * ks->slot_size;

    encode(ks, rec, gen, nonce);
    ret = keystream_xor(ks->enc_key, nonce, ks->buf + OFF_SECRET,
                        len - OFF_SECRET - MB_KS_MAC_LEN - MB_KS_CRC_LEN);
    if (ret == MB_OK) {
        ret = mb_hmac_sha256(ks->mac_key, sizeof(ks->mac_key), ks->buf,
                             len - MB_KS_MAC_LEN - MB_KS_CRC_LEN,
                             ks->buf + len - MB_KS_MAC_LEN - MB_KS_CRC_LEN);
    }
    if (ret != MB_OK) {
        ret = MB_ERR_CRYPTO;
        goto exit;
    }
    mb_put_be32(ks->buf + len - MB_KS_CRC_LEN, mb_crc32(ks->buf, len - MB_KS_CRC_LEN));

    /* From here on the target slot is invalid until the last byte lands;
     * the other slot, holding the newest valid record, is not touched until
     * the new one is verified and counted. */
    ret = hook(plat->erase(plat->user, base, (size_t)ks->slot_size));   /* fits: mb_keystore_init */
    if (ret == MB_OK) {
        ret = hook(plat->write(plat->user, base, ks->buf, padded));
    }
    if (ret == MB_OK) {
        ret = readback_equal(ks, base, padded);
    }
    if (ret != MB_OK) {
        goto exit;
    }
    ks->current = target;
    ks->generation = gen;
    rec->generation = gen;
    if (plat->counter_raise != NULL) {
        /* After the record: a cut here leaves counter < generation, which
         * the next boot repairs. */
        ret = hook(plat->counter_raise(plat->user, gen));
    }
    if (ret == MB_OK) {
        /* Last: the older generation goes only once the new one is verified
         * on flash and covered by the counter. A cut from here on leaves
         * both records; boot selects the newer one and finishes the erase. */
        ret = erase_other(ks, 1 - target);
    }
exit:
    mb_wipe(ks->buf, sizeof(ks->buf));
    mb_wipe(nonce, sizeof(nonce));
    return ret;
}

void mb_keystore_free(mb_keystore *ks)
{
    if (ks != NULL) {
        mb_wipe(ks, sizeof(*ks));
        ks->current = -1;
    }
}

void mb_ks_record_wipe(mb_ks_record *rec)
{
    mb_wipe(rec, rec == NULL ? 0u : sizeof(*rec));
}
