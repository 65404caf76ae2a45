/*
 * mb_msg.c - protocol v1 message ids and payload codecs (mb_msg.h,
 * docs/PROTOCOL.md section 8). Big-endian throughout.
 */
#include "modbatt/mb_msg.h"

#include "modbatt/mb_errors.h"

static void put16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v >> 8);
    p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
    put16(p, (uint16_t)(v >> 16));
    put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
    return (uint16_t)(((unsigned)p[0] << 8) | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
    return ((uint32_t)get16(p) << 16) | get16(p + 2);
}

uint16_t mb_msg_id(mb_role sender, unsigned type)
{
    return (uint16_t)(MB_MSGID_BASE | (sender == MB_ROLE_DEVICE ? MB_MSGID_UP : 0u) |
                      (type & MB_MSG_TYPE_MASK));
}

int mb_msg_parse_id(uint16_t msg_id, mb_role *sender, unsigned *type)
{
    if (sender == NULL || type == NULL) {
        return MB_ERR_NULL;
    }
    if (msg_id < MB_MSGID_BASE || msg_id > (MB_MSGID_BASE | MB_MSGID_UP | MB_MSG_TYPE_MASK)) {
        return MB_ERR_CANID_RANGE;
    }
    *sender = (msg_id & MB_MSGID_UP) != 0u ? MB_ROLE_DEVICE : MB_ROLE_CONTROLLER;
    *type = msg_id & MB_MSG_TYPE_MASK;
    return MB_OK;
}

static int enc_check(const void *m, const uint8_t *out, size_t cap, const size_t *len,
                     size_t need)
{
    if (m == NULL || out == NULL || len == NULL) {
        return MB_ERR_NULL;
    }
    return cap < need ? MB_ERR_BUFFER_TOO_SMALL : MB_OK;
}

static int dec_check(const uint8_t *in, const void *m, size_t len, size_t need)
{
    if (in == NULL || m == NULL) {
        return MB_ERR_NULL;
    }
    return len != need ? MB_ERR_MALFORMED : MB_OK;
}

int mb_msg_encode_command(const mb_command *m, uint8_t *out, size_t cap, size_t *len)
{
    int ret = enc_check(m, out, cap, len, MB_COMMAND_LEN);

    if (ret != MB_OK) {
        return ret;
    }
    if (m->state > MB_STATE_ON) {
        return MB_ERR_INVALID_ARG;
    }
    out[0] = m->state;
    out[1] = 0u;
    *len = MB_COMMAND_LEN;
    return MB_OK;
}

int mb_msg_decode_command(const uint8_t *in, size_t len, mb_command *m)
{
    int ret = dec_check(in, m, len, MB_COMMAND_LEN);

    if (ret != MB_OK) {
        return ret;
    }
    if (in[0] > MB_STATE_ON || in[1] != 0u) {
        return MB_ERR_MALFORMED;
    }
    m->state = in[0];
    return MB_OK;
}

int mb_msg_encode_limits(const mb_limits *m, uint8_t *out, size_t cap, size_t *len)
{
    int ret = enc_check(m, out, cap, len, MB_LIMITS_LEN);

    if (ret != MB_OK) {
        return ret;
    }
    put16(out, m->charge_current_da);
    put16(out + 2, m->discharge_current_da);
    put16(out + 4, m->charge_voltage_cv);
    put16(out + 6, m->discharge_voltage_cv);
    *len = MB_LIMITS_LEN;
    return MB_OK;
}

int mb_msg_decode_limits(const uint8_t *in, size_t len, mb_limits *m)
{
    int ret = dec_check(in, m, len, MB_LIMITS_LEN);

    if (ret != MB_OK) {
        return ret;
    }
    m->charge_current_da = get16(in);
    m->discharge_current_da = get16(in + 2);
    m->charge_voltage_cv = get16(in + 4);
    m->discharge_voltage_cv = get16(in + 6);
    return MB_OK;
}

int mb_msg_encode_status(const mb_status *m, uint8_t *out, size_t cap, size_t *len)
{
    int ret = enc_check(m, out, cap, len, MB_STATUS_LEN);

    if (ret != MB_OK) {
        return ret;
    }
    if (m->state > MB_STATE_ON || m->soc_cpct > 10000u) {
        return MB_ERR_INVALID_ARG;
    }
    put16(out, m->voltage_cv);
    put16(out + 2, (uint16_t)m->current_da);
    put16(out + 4, (uint16_t)m->temperature_dc);
    put16(out + 6, m->soc_cpct);
    out[8] = m->state;
    out[9] = m->flags;
    *len = MB_STATUS_LEN;
    return MB_OK;
}

/* Two's complement from 16 bits without implementation-defined casts. */
static int16_t to_i16(uint16_t v)
{
    return v < 0x8000u ? (int16_t)v : (int16_t)(-(int32_t)(0x10000u - v));
}

int mb_msg_decode_status(const uint8_t *in, size_t len, mb_status *m)
{
    int ret = dec_check(in, m, len, MB_STATUS_LEN);

    if (ret != MB_OK) {
        return ret;
    }
    if (get16(in + 6) > 10000u || in[8] > MB_STATE_ON) {
        return MB_ERR_MALFORMED;
    }
    m->voltage_cv = get16(in);
    m->current_da = to_i16(get16(in + 2));
    m->temperature_dc = to_i16(get16(in + 4));
    m->soc_cpct = get16(in + 6);
    m->state = in[8];
    m->flags = in[9];
    return MB_OK;
}

int mb_msg_encode_diag_errors(const mb_diag_errors *m, uint8_t *out, size_t cap, size_t *len)
{
    int ret;
    unsigned i;

    if (m != NULL && m->count > MB_DIAG_MAX_CODES) {
        return MB_ERR_INVALID_ARG;
    }
    ret = enc_check(m, out, cap, len, m == NULL ? 0u : 2u + 2u * (size_t)m->count);
    if (ret != MB_OK) {
        return ret;
    }
    out[0] = MB_DIAG_ERRORS;
    out[1] = m->count;
    for (i = 0; i < m->count; i++) {
        put16(out + 2 + 2u * i, m->codes[i]);
    }
    *len = 2u + 2u * (size_t)m->count;
    return MB_OK;
}

int mb_msg_decode_diag_errors(const uint8_t *in, size_t len, mb_diag_errors *m)
{
    unsigned i;

    if (in == NULL || m == NULL) {
        return MB_ERR_NULL;
    }
    if (len < 2u || in[0] != MB_DIAG_ERRORS || in[1] > MB_DIAG_MAX_CODES ||
        len != 2u + 2u * (size_t)in[1]) {
        return MB_ERR_MALFORMED;
    }
    m->count = in[1];
    for (i = 0; i < m->count; i++) {
        m->codes[i] = get16(in + 2 + 2u * i);
    }
    return MB_OK;
}

int mb_msg_encode_diag_health(const mb_diag_health *m, uint8_t *out, size_t cap, size_t *len)
{
    int ret = enc_check(m, out, cap, len, MB_DIAG_HEALTH_LEN);

    if (ret != MB_OK) {
        return ret;
    }
    out[0] = MB_DIAG_HEALTH;
    put32(out + 1, m->uptime_s);
    put16(out + 5, m->rejects);
    put16(out + 7, m->resyncs);
    put32(out + 9, m->tx_epoch);
    put16(out + 13, m->reasm_drops);
    *len = MB_DIAG_HEALTH_LEN;
    return MB_OK;
}

int mb_msg_decode_diag_health(const uint8_t *in, size_t len, mb_diag_health *m)
{
    int ret = dec_check(in, m, len, MB_DIAG_HEALTH_LEN);

    if (ret != MB_OK) {
        return ret;
    }
    if (in[0] != MB_DIAG_HEALTH) {
        return MB_ERR_MALFORMED;
    }
    m->uptime_s = get32(in + 1);
    m->rejects = get16(in + 5);
    m->resyncs = get16(in + 7);
    m->tx_epoch = get32(in + 9);
    m->reasm_drops = get16(in + 13);
    return MB_OK;
}
