/*
 * mb_pair.c - pair key derivation (docs/KEY_DERIVATION.md).
 *
 *   IKM  = min(half_1, half_2) || max(half_1, half_2)          (128 bytes)
 *   info = "modbatt/pair/v1" || len(lo) || lo || len(hi) || hi || len(lct) || lct
 *   OKM  = HKDF-SHA256(salt, IKM, info, 108)
 *        = key lo>hi (32) | key hi>lo (32) | fixed lo>hi (4) | fixed hi>lo (4)
 *          | confirm key (32) | key id (4)
 *
 * "lo" is the device whose component id sorts first (bytewise, shorter
 * first on a common prefix), so both ends agree without negotiation.
 */
#include "modbatt/mb_pair.h"

#include <string.h>

#include "modbatt/mb_errors.h"
#include "modbatt/mb_hkdf.h"
#include "modbatt/mb_util.h"

#define LABEL_LEN   (sizeof(MB_PAIR_INFO_LABEL) - 1u)
#define INFO_MAX    (LABEL_LEN + 3u * (1u + MB_PAIR_ID_MAX))

/* Offsets into the OKM. */
#define OFF_KEY_LO_HI    0u
#define OFF_KEY_HI_LO   32u
#define OFF_FIX_LO_HI   64u
#define OFF_FIX_HI_LO   68u
#define OFF_CONFIRM     72u
#define OFF_KEY_ID     104u

static int id_ok(const uint8_t *id, size_t len)
{
    if (id == NULL) {
        return MB_ERR_NULL;
    }
    return (len == 0u || len > MB_PAIR_ID_MAX) ? MB_ERR_LENGTH : MB_OK;
}

/* Bytewise order with the shorter id first on a common prefix. */
static int id_order(const uint8_t *a, size_t a_len, const uint8_t *b, size_t b_len)
{
    size_t common = a_len < b_len ? a_len : b_len;
    int c = memcmp(a, b, common);

    if (c != 0) {
        return c;
    }
    return (a_len > b_len) - (a_len < b_len);
}

/* 1 if a sorts before b (bytewise, as memcmp < 0), else 0, in time that
 * depends only on len: the halves are secret. The first differing byte
 * decides; later bytes are looked at but cannot change the answer. */
static uint32_t ct_before(const uint8_t *a, const uint8_t *b, size_t len)
{
    uint32_t before = 0u, decided = 0u;
    size_t i;

    for (i = 0; i < len; i++) {
        uint32_t x = a[i], y = b[i];
        uint32_t lt = (x - y) >> 31;                  /* x < y (both below 256) */
        uint32_t ne = ((x ^ y) + 0xFFu) >> 8;         /* x != y */
        before |= lt & (decided ^ 1u);
        decided |= ne;
    }
    return before;
}

/* IKM = lower half || higher half, copied without a secret-dependent
 * address: a mask picks each byte. */
static void ordered_halves(const uint8_t *h1, const uint8_t *h2, uint8_t ikm[2u * MB_KEY_HALF_LEN])
{
    uint8_t h1_first = (uint8_t)(0u - ct_before(h1, h2, MB_KEY_HALF_LEN));
    size_t i;

    for (i = 0; i < MB_KEY_HALF_LEN; i++) {
        ikm[i] = (uint8_t)((h1[i] & h1_first) | (h2[i] & (uint8_t)~h1_first));
        ikm[MB_KEY_HALF_LEN + i] = (uint8_t)((h2[i] & h1_first) | (h1[i] & (uint8_t)~h1_first));
    }
}

static size_t put_id(uint8_t *dst, const uint8_t *id, size_t len)
{
    dst[0] = (uint8_t)len;
    memcpy(dst + 1, id, len);
    return 1u + len;
}

static int check_params(const mb_pair_params *p)
{
    int ret;

    if (p->half_1 == NULL || p->half_2 == NULL || p->salt == NULL) {
        return MB_ERR_NULL;
    }
    if ((ret = id_ok(p->self_id, p->self_id_len)) != MB_OK ||
        (ret = id_ok(p->peer_id, p->peer_id_len)) != MB_OK ||
        (ret = id_ok(p->lct_id, p->lct_id_len)) != MB_OK) {
        return ret;
    }
    if (id_order(p->self_id, p->self_id_len, p->peer_id, p->peer_id_len) == 0 ||
        mb_ct_compare(p->half_1, p->half_2, MB_KEY_HALF_LEN) == 0) {
        return MB_ERR_INVALID_ARG;
    }
    return MB_OK;
}

static void split_okm(const uint8_t okm[MB_PAIR_OKM_LEN], int self_is_low,
                      mb_pair_keys *out)
{
    size_t tx_key = self_is_low ? OFF_KEY_LO_HI : OFF_KEY_HI_LO;
    size_t rx_key = self_is_low ? OFF_KEY_HI_LO : OFF_KEY_LO_HI;
    size_t tx_fix = self_is_low ? OFF_FIX_LO_HI : OFF_FIX_HI_LO;
    size_t rx_fix = self_is_low ? OFF_FIX_HI_LO : OFF_FIX_LO_HI;

    memcpy(out->tx_key, okm + tx_key, sizeof(out->tx_key));
    memcpy(out->rx_key, okm + rx_key, sizeof(out->rx_key));
    memcpy(out->tx_fixed, okm + tx_fix, sizeof(out->tx_fixed));
    memcpy(out->rx_fixed, okm + rx_fix, sizeof(out->rx_fixed));
    memcpy(out->confirm_key, okm + OFF_CONFIRM, sizeof(out->confirm_key));
    memcpy(out->key_id, okm + OFF_KEY_ID, sizeof(out->key_id));
    out->self_is_low = (uint8_t)(self_is_low ? 1u : 0u);
}

int mb_pair_derive(const mb_pair_params *p, mb_pair_keys *out)
{
    uint8_t ikm[2u * MB_KEY_HALF_LEN];
    uint8_t info[INFO_MAX];
    uint8_t okm[MB_PAIR_OKM_LEN];
    size_t info_len = LABEL_LEN;
    int self_is_low;
    int ret;

    if (p == NULL || out == NULL) {
        return MB_ERR_NULL;
    }
    mb_wipe(out, sizeof(*out));
    if ((ret = check_params(p)) != MB_OK) {
        return ret;
    }

    /* Canonical half order: neither side needs to know who is "A". */
    ordered_halves(p->half_1, p->half_2, ikm);

    self_is_low = id_order(p->self_id, p->self_id_len, p->peer_id, p->peer_id_len) < 0;
    memcpy(info, MB_PAIR_INFO_LABEL, LABEL_LEN);
    if (self_is_low) {
        info_len += put_id(info + info_len, p->self_id, p->self_id_len);
        info_len += put_id(info + info_len, p->peer_id, p->peer_id_len);
    } else {
        info_len += put_id(info + info_len, p->peer_id, p->peer_id_len);
        info_len += put_id(info + info_len, p->self_id, p->self_id_len);
    }
    info_len += put_id(info + info_len, p->lct_id, p->lct_id_len);

    ret = mb_hkdf_sha256(p->salt, MB_SALT_LEN, ikm, sizeof(ikm),
                         info, info_len, okm, sizeof(okm));
    if (ret == MB_OK) {
        split_okm(okm, self_is_low, out);
    }
    mb_wipe(ikm, sizeof(ikm));
    mb_wipe(okm, sizeof(okm));
    return ret;
}

void mb_pair_keys_wipe(mb_pair_keys *keys)
{
    mb_wipe(keys, sizeof(*keys));
}
