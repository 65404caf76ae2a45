/*
 * fuzz_canid.c - the 29-bit CAN id layout (mb_canid), the message-id
 * classification (mb_msg_parse_id) and the per-frame check of a received
 * frame (mb_seg_unframe), on arbitrary ids and frame bytes.
 *
 * Input: id u32 | profile u8 | frame len u8 | frame data (rest).
 * Invariants:
 *  - decode accepts exactly the ids <= 29 bits with chunk index <= total,
 *    leaves the fields untouched on error, and encode(decode(id)) == id;
 *  - the message key clears the chunk fields only, and decodes as 1/1;
 *  - parse_id accepts exactly 0x300..0x31F and mb_msg_id() inverts it;
 *  - an accepted frame: a non-last chunk is full and unpadded, a padded
 *    last chunk ends with 0xCC.. p (p = the bytes removed), the body fits
 *    the frame, and a multi-frame message's last chunk is not empty.
 */
#include "fuzz_common.h"

static void check_id(uint32_t id, mb_canid *f, int *ok)
{
    mb_canid sentinel;
    int ret;
    memset(f, 0xA5, sizeof(*f));
    sentinel = *f;
    ret = mb_canid_decode(id, f);
    *ok = ret == MB_OK;
    if (id > MB_CANID_MAX) {
        FZ_CHECK(ret == MB_ERR_CANID_RANGE);
    } else if (((id >> 12) & 0xFu) > ((id >> 8) & 0xFu)) {
        FZ_CHECK(ret == MB_ERR_CHUNK_RANGE);
    } else {
        FZ_CHECK(ret == MB_OK);
    }
    if (!*ok) {
        FZ_CHECK(memcmp(f, &sentinel, sizeof(*f)) == 0);
        return;
    }
    FZ_CHECK(mb_canid_encode(f) == id);
    FZ_CHECK(f->chunk_index >= 1u && f->chunk_index <= f->chunk_total &&
             f->chunk_total <= MB_CANID_CHUNKS_MAX && f->msg_id <= MB_CANID_MSG_MAX);
    {
        uint32_t key = mb_canid_message_key(id);
        mb_canid k;
        FZ_CHECK(key == (id & ~0xFF00u));
        FZ_CHECK(mb_canid_decode(key, &k) == MB_OK);
        FZ_CHECK(k.chunk_index == 1u && k.chunk_total == 1u && k.msg_id == f->msg_id &&
                 k.encrypted == f->encrypted && k.spare == f->spare &&
                 k.device_id == f->device_id);
    }
}

static void check_msg_id(uint16_t msg_id)
{
    mb_role sender;
    unsigned type;
    int ret = mb_msg_parse_id(msg_id, &sender, &type);
    if (msg_id < MB_MSGID_BASE || msg_id > (MB_MSGID_BASE | MB_MSGID_UP | MB_MSG_TYPE_MASK)) {
        FZ_CHECK(ret == MB_ERR_CANID_RANGE);
        return;
    }
    FZ_CHECK(ret == MB_OK);
    FZ_CHECK(type <= MB_MSG_TYPE_MASK);
    FZ_CHECK(mb_msg_id(sender, type) == msg_id);
}

static void check_unframe(const mb_canid *f, mb_profile profile, const mb_frame *frame)
{
    size_t body = 0;
    size_t chunk = profile == MB_PROFILE_FD ? MB_SEG_FD_CHUNK : MB_SEG_CLASSIC_CHUNK;
    size_t i, pad;
    int ret = mb_seg_unframe(profile, frame, f->chunk_total, f->chunk_index, f->spare, &body);
    if (ret != MB_OK) {
        FZ_CHECK(ret == MB_ERR_MALFORMED);
        return;
    }
    FZ_CHECK(body <= frame->len && body <= chunk);
    FZ_CHECK((size_t)f->chunk_total * chunk <= mb_seg_wire_max(profile));
    if (f->chunk_index < f->chunk_total) {
        FZ_CHECK(body == chunk && frame->len == chunk);
        return;
    }
    FZ_CHECK(f->chunk_total == 1u || body > 0u);
    if (!f->spare) {
        FZ_CHECK(body == frame->len);
        return;
    }
    FZ_CHECK(profile == MB_PROFILE_FD);
    pad = frame->len - body;
    FZ_CHECK(pad >= 1u && pad <= 15u && frame->data[frame->len - 1u] == pad);
    for (i = body; i + 1u < frame->len; i++) {
        FZ_CHECK(frame->data[i] == MB_SEG_PAD_BYTE);
    }
    FZ_CHECK(mb_seg_fd_len(body) == frame->len);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    uint32_t id = fz_u32(&in);
    mb_profile profile = (fz_u8(&in) & 1u) ? MB_PROFILE_FD : MB_PROFILE_CLASSIC;
    mb_frame frame;
    mb_canid f;
    int ok;

    memset(&frame, 0, sizeof(frame));
    frame.id = id;
    frame.len = fz_u8(&in);
    (void)fz_bytes(&in, frame.data, sizeof(frame.data));
    check_id(id, &f, &ok);
    if (!ok) {
        return 0;
    }
    check_msg_id(f.msg_id);
    if (frame.len <= MB_FRAME_DATA_MAX) {
        check_unframe(&f, profile, &frame);
    }
    return 0;
}
