/*
 * mb_keypkg_report.c - payloads of the sealed reports a device sends the app
 * (docs/PROVISIONING.md, 5). Big-endian; signed fields in two's complement.
 *
 *   delivery result  [package version u32][result i16][pairs u8][generation u32]      11 bytes
 *   key-store status [slot 0 i16][slot 1 i16][selected i8][generation u32]
 *                    [counter u32][package version u32][flags u8]                      18 bytes
 */
#include <string.h>

#include "modbatt/mb_keypkg.h"

#include "modbatt/mb_errors.h"
#include "mb_bytes_priv.h"

/* Two's complement without implementation-defined conversions. */
static int16_t to_i16(uint16_t v)
{
    return v < 0x8000u ? (int16_t)v : (int16_t)(-(int32_t)(0x10000u - v));
}

static uint16_t from_i16(int16_t v)
{
    return v >= 0 ? (uint16_t)v : (uint16_t)(0x10000 + (int32_t)v);
}

int mb_report_keystore_from_boot(const mb_ks_boot_info *info, const mb_ks_record *rec,
                                 mb_report_keystore *out)
{
    if (info == NULL || out == NULL) {
        return MB_ERR_NULL;
    }
    memset(out, 0, sizeof(*out));
    out->slot_status[0] = (int16_t)info->slot_status[0];
    out->slot_status[1] = (int16_t)info->slot_status[1];
    out->selected = (int8_t)info->selected;
    out->counter = info->counter;
    if (rec != NULL && info->selected >= 0) {
        out->generation = rec->generation;
        out->package_version = rec->package_version;
        out->flags = rec->flags;
    }
    return MB_OK;
}

int mb_report_encode_delivery(const mb_report_delivery *d, uint8_t *out, size_t cap, size_t *len)
{
    if (d == NULL || out == NULL || len == NULL) {
        return MB_ERR_NULL;
    }
    *len = 0;
    if (cap < MB_REPORT_DELIVERY_LEN) {
        return MB_ERR_BUFFER_TOO_SMALL;
    }
    mb_put_be32(out, d->package_version);
    mb_put_be16(out + 4, from_i16(d->result));
    out[6] = d->pairs;
    mb_put_be32(out + 7, d->generation);
    *len = MB_REPORT_DELIVERY_LEN;
    return MB_OK;
}

int mb_report_decode_delivery(const uint8_t *in, size_t len, mb_report_delivery *d)
{
    if (in == NULL || d == NULL) {
        return MB_ERR_NULL;
    }
    if (len != MB_REPORT_DELIVERY_LEN) {
        return MB_ERR_MALFORMED;
    }
    d->package_version = mb_get_be32(in);
    d->result = to_i16(mb_get_be16(in + 4));
    d->pairs = in[6];
    d->generation = mb_get_be32(in + 7);
    return MB_OK;
}

int mb_report_encode_keystore(const mb_report_keystore *k, uint8_t *out, size_t cap, size_t *len)
{
    if (k == NULL || out == NULL || len == NULL) {
        return MB_ERR_NULL;
    }
    *len = 0;
    if (k->selected < -1 || k->selected > 1) {
        return MB_ERR_INVALID_ARG;
    }
    if (cap < MB_REPORT_KEYSTORE_LEN) {
        return MB_ERR_BUFFER_TOO_SMALL;
    }
    mb_put_be16(out, from_i16(k->slot_status[0]));
    mb_put_be16(out + 2, from_i16(k->slot_status[1]));
    out[4] = k->selected < 0 ? 0xFFu : (uint8_t)k->selected;
    mb_put_be32(out + 5, k->generation);
    mb_put_be32(out + 9, k->counter);
    mb_put_be32(out + 13, k->package_version);
    out[17] = k->flags;
    *len = MB_REPORT_KEYSTORE_LEN;
    return MB_OK;
}

int mb_report_decode_keystore(const uint8_t *in, size_t len, mb_report_keystore *k)
{
    if (in == NULL || k == NULL) {
        return MB_ERR_NULL;
    }
    if (len != MB_REPORT_KEYSTORE_LEN || (in[4] > 1u && in[4] != 0xFFu)) {
        return MB_ERR_MALFORMED;
    }
    k->slot_status[0] = to_i16(mb_get_be16(in));
    k->slot_status[1] = to_i16(mb_get_be16(in + 2));
    k->selected = in[4] == 0xFFu ? (int8_t)-1 : (int8_t)in[4];
    k->generation = mb_get_be32(in + 5);
    k->counter = mb_get_be32(in + 9);
    k->package_version = mb_get_be32(in + 13);
    k->flags = in[17];
    return MB_OK;
}
