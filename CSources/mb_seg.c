/*
 * mb_seg.c - split wire messages into CAN / CAN FD frames and validate
 * received frames (docs/PROTOCOL.md, section 4).
 */
#include "modbatt/mb_seg.h"

#include <string.h>

#include "modbatt/mb_canid.h"
#include "modbatt/mb_errors.h"

#define CHUNK_FIELDS 0xFF00u
#define INDEX_SHIFT  12u
#define TOTAL_SHIFT   8u

static size_t chunk_size(mb_profile profile)
{
    return profile == MB_PROFILE_FD ? MB_SEG_FD_CHUNK : MB_SEG_CLASSIC_CHUNK;
}

size_t mb_seg_wire_max(mb_profile profile)
{
    switch (profile) {
    case MB_PROFILE_CLASSIC: return MB_SEG_CLASSIC_MAX;
    case MB_PROFILE_FD:      return MB_SEG_FD_MAX;
    default:                 return 0u;
    }
}

uint8_t mb_seg_fd_len(size_t len)
{
    static const uint8_t legal[] = { 12u, 16u, 20u, 24u, 32u, 48u, 64u };
    size_t i;

    if (len <= 8u) {
        return (uint8_t)len;
    }
    for (i = 0; i < sizeof(legal); i++) {
        if (len <= legal[i]) {
            return legal[i];
        }
    }
    return 0xFFu;
}

unsigned mb_seg_frame_count(mb_profile profile, size_t len)
{
    size_t max = mb_seg_wire_max(profile);
    size_t chunk = chunk_size(profile);

    if (max == 0u || len > max) {
        return 0u;
    }
    return len == 0u ? 1u : (unsigned)((len + chunk - 1u) / chunk);
}

/* Bytes of the last frame before padding. */
static size_t last_body(mb_profile profile, size_t len)
{
    size_t chunk = chunk_size(profile);
    unsigned n = mb_seg_frame_count(profile, len);

    return len - (size_t)(n - 1u) * chunk;
}

static bool needs_pad(mb_profile profile, size_t len)
{
    size_t body = last_body(profile, len);

    return profile == MB_PROFILE_FD && mb_seg_fd_len(body) != body;
}

uint32_t mb_seg_message_id(mb_profile profile, uint16_t msg_id, bool encrypted,
                           uint8_t device_id, size_t len)
{
    mb_canid f;
    uint32_t id;

    if (mb_seg_frame_count(profile, len) == 0u) {
        return MB_CANID_INVALID;
    }
    f.msg_id = msg_id;
    f.encrypted = encrypted;
    f.spare = needs_pad(profile, len);
    f.chunk_index = 1u;
    f.chunk_total = 1u;
    f.device_id = device_id;
    id = mb_canid_encode(&f);
    return id == MB_CANID_INVALID ? id : mb_canid_message_key(id);
}

static void write_pad(uint8_t *data, size_t body, size_t frame_len)
{
    size_t pad = frame_len - body;

    memset(data + body, (int)MB_SEG_PAD_BYTE, pad - 1u);
    data[frame_len - 1u] = (uint8_t)pad;
}

int mb_seg_frame(mb_profile profile, uint32_t msg_key, const uint8_t *msg,
                 size_t len, unsigned index, mb_frame *out)
{
    unsigned n = mb_seg_frame_count(profile, len);
    size_t chunk = chunk_size(profile);
    size_t body;
    size_t flen;

    if (out == NULL || (msg == NULL && len != 0u)) {
        return MB_ERR_NULL;
    }
    if (n == 0u) {
        return MB_ERR_LENGTH;
    }
    if (index == 0u || index > n) {
        return MB_ERR_CHUNK_RANGE;
    }
    if (msg_key > MB_CANID_MAX || (msg_key & CHUNK_FIELDS) != 0u ||
        ((msg_key & MB_CANID_SPARE_BIT) != 0u) != needs_pad(profile, len)) {
        return MB_ERR_CANID_RANGE;
    }
    body = index < n ? chunk : last_body(profile, len);
    flen = profile == MB_PROFILE_FD ? mb_seg_fd_len(body) : body;
    memset(out, 0, sizeof(*out));
    out->id = msg_key | ((uint32_t)(index - 1u) << INDEX_SHIFT) |
              ((uint32_t)(n - 1u) << TOTAL_SHIFT);
    out->len = (uint8_t)flen;
    if (body != 0u) {
        memcpy(out->data, msg + (size_t)(index - 1u) * chunk, body);
    }
    if (flen != body) {
        write_pad(out->data, body, flen);
    }
    return MB_OK;
}

/* Check FD padding "0xCC.. p" and return the body length, or -1. */
static int strip_pad(const mb_frame *frame)
{
    size_t flen = frame->len;
    size_t pad;
    size_t body;
    size_t i;

    if (flen == 0u) {
        return -1;
    }
    pad = frame->data[flen - 1u];
    if (pad == 0u || pad >= flen) {
        return -1;
    }
    body = flen - pad;
    /* Canonical: the sender pads only when needed, to the next legal length. */
    if (mb_seg_fd_len(body) != flen) {
        return -1;
    }
    for (i = body; i < flen - 1u; i++) {
        if (frame->data[i] != MB_SEG_PAD_BYTE) {
            return -1;
        }
    }
    return (int)body;
}

static int frame_len_ok(mb_profile profile, size_t len)
{
    if (profile == MB_PROFILE_FD) {
        return len <= MB_FRAME_DATA_MAX && mb_seg_fd_len(len) == len;
    }
    return len <= MB_SEG_CLASSIC_CHUNK;
}

int mb_seg_unframe(mb_profile profile, const mb_frame *frame, unsigned total,
                   unsigned index, bool spare, size_t *body_len)
{
    size_t chunk = chunk_size(profile);
    size_t body;
    int stripped;

    if (frame == NULL || body_len == NULL) {
        return MB_ERR_NULL;
    }
    if (mb_seg_wire_max(profile) == 0u || total == 0u || index == 0u || index > total ||
        (size_t)total * chunk > mb_seg_wire_max(profile) ||
        !frame_len_ok(profile, frame->len) ||
        (spare && profile != MB_PROFILE_FD)) {
        return MB_ERR_MALFORMED;
    }
    body = frame->len;
    if (index < total) {
        /* Non-last chunks are always full (and never padded). */
        if (body != chunk) {
            return MB_ERR_MALFORMED;
        }
    } else {
        if (spare) {
            stripped = strip_pad(frame);
            if (stripped < 0) {
                return MB_ERR_MALFORMED;
            }
            body = (size_t)stripped;
        } else if (profile == MB_PROFILE_FD && mb_seg_fd_len(body) != body) {
            return MB_ERR_MALFORMED;
        }
        /* Canonical chunk count: a multi-frame message's last chunk is not empty. */
        if (total > 1u && body == 0u) {
            return MB_ERR_MALFORMED;
        }
    }
    *body_len = body;
    return MB_OK;
}
