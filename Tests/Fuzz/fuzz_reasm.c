/*
 * fuzz_reasm.c - frame -> reassembly (mb_seg_unframe + mb_reasm) on
 * arbitrary, interleaved frames, both profiles.
 *
 * Input: profile u8, then frames: dt u8 | id u32 | len u8 | data[len].
 * Invariants:
 *  - never more than MB_REASM_SLOTS messages in progress (bounded memory);
 *  - a completed message is one a sender could have sent: cutting it again
 *    with mb_seg_frame() gives exactly the frames that were accepted for
 *    its key, in order (ids, lengths, data bytes, padding), and its length
 *    fits the profile;
 *  - errors are only the documented codes.
 */
#include "fuzz_common.h"

#define LOG_MAX 256u

static mb_frame accepted[LOG_MAX];
static size_t n_accepted;

static int same_frame(const mb_frame *a, const mb_frame *b)
{
    return a->id == b->id && a->len == b->len && memcmp(a->data, b->data, a->len) == 0;
}

static void check_complete(mb_profile profile, const mb_reasm_done *done, const uint8_t *msg)
{
    unsigned n = mb_seg_frame_count(profile, done->len);
    unsigned index = n;
    size_t i = n_accepted;
    mb_frame regen;

    FZ_CHECK(done->len <= mb_seg_wire_max(profile));
    FZ_CHECK(n >= 1u);
    while (index >= 1u) {
        FZ_CHECK(i > 0u);   /* fewer accepted frames than the message needs */
        i--;
        if (mb_canid_message_key(accepted[i].id) != done->key) {
            continue;
        }
        FZ_CHECK(mb_seg_frame(profile, done->key, msg, done->len, index, &regen) == MB_OK);
        FZ_CHECK(same_frame(&regen, &accepted[i]));
        index--;
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static mb_reasm r;
    fz_in in = { data, size };
    mb_profile profile = (fz_u8(&in) & 1u) ? MB_PROFILE_FD : MB_PROFILE_CLASSIC;
    uint8_t msg[MB_MSG_WIRE_MAX];
    uint32_t now = 1000u;

    FZ_CHECK(mb_reasm_init(&r, profile, 100u) == MB_OK);
    n_accepted = 0;
    while (in.n > 0u && n_accepted < LOG_MAX) {
        mb_frame f;
        mb_reasm_done done;
        int ret;
        now += fz_u8(&in);
        memset(&f, 0, sizeof(f));
        f.id = fz_u32(&in);
        f.len = (uint8_t)(fz_u8(&in) % (MB_FRAME_DATA_MAX + 1u));
        (void)fz_bytes(&in, f.data, f.len);
        ret = mb_reasm_push(&r, &f, now, msg, sizeof(msg), &done);
        FZ_CHECK(done.expired <= MB_REASM_SLOTS);
        FZ_CHECK(mb_reasm_in_use(&r) <= MB_REASM_SLOTS);
        if (ret != MB_OK) {
            FZ_CHECK(ret == MB_ERR_MALFORMED || ret == MB_ERR_NO_SLOT ||
                     ret == MB_ERR_CANID_RANGE || ret == MB_ERR_CHUNK_RANGE);
            FZ_CHECK(!done.complete);
            continue;
        }
        accepted[n_accepted++] = f;
        if (done.complete) {
            FZ_CHECK(done.key == mb_canid_message_key(f.id));
            check_complete(profile, &done, msg);
        }
    }
    return 0;
}
