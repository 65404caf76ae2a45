/*
 * test_reasm.c - segmentation (mb_seg) and bounded reassembly (mb_reasm):
 * frame layouts, FD padding, malformed frames, interleaving, expiry, and a
 * flood of first chunks from many ids (memory bounded, legitimate messages
 * still delivered, alone and inside a session).
 */
#include "mbt.h"
#include "test_session_util.h"

static uint8_t msgbuf[MB_MSG_WIRE_MAX];

static void test_fd_lengths(void)
{
    static const uint8_t want[65] = {
        0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 12, 12, 12, 16, 16, 16, 16, 20, 20, 20, 20,
        24, 24, 24, 24, 32, 32, 32, 32, 32, 32, 32, 32, 48, 48, 48, 48, 48, 48, 48,
        48, 48, 48, 48, 48, 48, 48, 48, 48, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64,
        64, 64, 64, 64, 64, 64 };
    size_t i;
    for (i = 0; i <= 64; i++) {
        MBT_EQ_INT(mb_seg_fd_len(i), want[i]);
    }
    MBT_EQ_INT(mb_seg_fd_len(65), 0xFF);
    MBT_EQ_INT(mb_seg_frame_count(MB_PROFILE_CLASSIC, 0), 1);
    MBT_EQ_INT(mb_seg_frame_count(MB_PROFILE_CLASSIC, 128), 16);
    MBT_EQ_INT(mb_seg_frame_count(MB_PROFILE_CLASSIC, 129), 0);
    MBT_EQ_INT(mb_seg_frame_count(MB_PROFILE_FD, 64), 1);
    MBT_EQ_INT(mb_seg_frame_count(MB_PROFILE_FD, 65), 2);
    MBT_EQ_INT(mb_seg_frame_count(MB_PROFILE_FD, 256), 4);
    MBT_EQ_INT(mb_seg_frame_count(MB_PROFILE_FD, 257), 0);
    MBT_EQ_INT(mb_seg_frame_count((mb_profile)7, 1), 0);
}

static void test_frame_layout(void)
{
    uint8_t msg[100];
    mb_frame f;
    uint32_t key;
    size_t i, body;
    for (i = 0; i < sizeof(msg); i++) msg[i] = (uint8_t)i;

    /* Classic, 21 bytes: 3 frames, 8 + 8 + 5. */
    key = mb_seg_message_id(MB_PROFILE_CLASSIC, 0x306, true, 0x2A, 21);
    MBT_EQ_INT(key, (0x306u << 18) | (1u << 17) | 0x2Au);
    MBT_EQ_INT(mb_seg_frame(MB_PROFILE_CLASSIC, key, msg, 21, 3, &f), MB_OK);
    MBT_EQ_INT(f.id, key | (2u << 12) | (2u << 8));
    MBT_EQ_INT(f.len, 5);
    MBT_EQ_INT(f.data[0], 16);
    MBT_EQ_INT(mb_seg_frame(MB_PROFILE_CLASSIC, key, msg, 21, 4, &f), MB_ERR_CHUNK_RANGE);
    MBT_EQ_INT(mb_seg_frame(MB_PROFILE_CLASSIC, key, msg, 21, 0, &f), MB_ERR_CHUNK_RANGE);
    MBT_EQ_INT(mb_seg_frame(MB_PROFILE_CLASSIC, key, msg, 129, 1, &f), MB_ERR_LENGTH);
    MBT_EQ_INT(mb_seg_frame(MB_PROFILE_CLASSIC, key | 0x100u, msg, 21, 1, &f), MB_ERR_CANID_RANGE);
    MBT_EQ_INT(mb_seg_frame(MB_PROFILE_CLASSIC, key, NULL, 21, 1, &f), MB_ERR_NULL);
    MBT_EQ_INT(mb_seg_message_id(MB_PROFILE_CLASSIC, 0x800, true, 1, 8), MB_CANID_INVALID);

    /* FD, 29 bytes -> 32 with 3 bytes of padding: CC CC 03, spare bit set. */
    key = mb_seg_message_id(MB_PROFILE_FD, 0x306, true, 0x2A, 29);
    MBT_CHECK((key & MB_CANID_SPARE_BIT) != 0);
    MBT_EQ_INT(mb_seg_frame(MB_PROFILE_FD, key, msg, 29, 1, &f), MB_OK);
    MBT_EQ_INT(f.len, 32);
    MBT_EQ_INT(f.data[28], 28);
    MBT_EQ_INT(f.data[29], 0xCC);
    MBT_EQ_INT(f.data[30], 0xCC);
    MBT_EQ_INT(f.data[31], 3);
    MBT_EQ_INT(mb_seg_unframe(MB_PROFILE_FD, &f, 1, 1, true, &body), MB_OK);
    MBT_EQ_INT(body, 29);
    /* Spare bit must match the padding need. */
    MBT_EQ_INT(mb_seg_frame(MB_PROFILE_FD, key & ~MB_CANID_SPARE_BIT, msg, 29, 1, &f),
               MB_ERR_CANID_RANGE);
    /* FD, 100 bytes: 64 + 36 -> 48 (12 bytes of padding). */
    key = mb_seg_message_id(MB_PROFILE_FD, 0x306, true, 0x2A, 100);
    MBT_EQ_INT(mb_seg_frame(MB_PROFILE_FD, key, msg, 100, 2, &f), MB_OK);
    MBT_EQ_INT(f.len, 48);
    MBT_EQ_INT(f.data[47], 12);
    /* No padding needed on a legal length. */
    key = mb_seg_message_id(MB_PROFILE_FD, 0x306, true, 0x2A, 48);
    MBT_CHECK((key & MB_CANID_SPARE_BIT) == 0);
}

static void test_unframe_rejects(void)
{
    mb_frame f;
    size_t body;
    memset(&f, 0, sizeof(f));
    f.len = 7;                                        /* short non-last chunk */
    MBT_EQ_INT(mb_seg_unframe(MB_PROFILE_CLASSIC, &f, 2, 1, false, &body), MB_ERR_MALFORMED);
    f.len = 9;                                        /* classic frames carry 8 */
    MBT_EQ_INT(mb_seg_unframe(MB_PROFILE_CLASSIC, &f, 1, 1, false, &body), MB_ERR_MALFORMED);
    f.len = 8;                                        /* spare bit on classic */
    MBT_EQ_INT(mb_seg_unframe(MB_PROFILE_CLASSIC, &f, 1, 1, true, &body), MB_ERR_MALFORMED);
    f.len = 0;                                        /* empty last chunk */
    MBT_EQ_INT(mb_seg_unframe(MB_PROFILE_CLASSIC, &f, 2, 2, false, &body), MB_ERR_MALFORMED);
    MBT_EQ_INT(mb_seg_unframe(MB_PROFILE_CLASSIC, &f, 1, 1, false, &body), MB_OK);
    MBT_EQ_INT(body, 0);
    f.len = 10;                                       /* not an FD length */
    MBT_EQ_INT(mb_seg_unframe(MB_PROFILE_FD, &f, 1, 1, false, &body), MB_ERR_MALFORMED);
    f.len = 64;                                       /* 5 FD chunks > 256 bytes */
    MBT_EQ_INT(mb_seg_unframe(MB_PROFILE_FD, &f, 5, 1, false, &body), MB_ERR_MALFORMED);
    /* Padding: count 0, count too big, non-canonical, wrong filler. */
    memset(f.data, 0, sizeof(f.data));
    f.len = 12;
    f.data[11] = 0;
    MBT_EQ_INT(mb_seg_unframe(MB_PROFILE_FD, &f, 1, 1, true, &body), MB_ERR_MALFORMED);
    f.data[11] = 12;
    MBT_EQ_INT(mb_seg_unframe(MB_PROFILE_FD, &f, 1, 1, true, &body), MB_ERR_MALFORMED);
    f.data[11] = 4;                                   /* body 8: needs no padding */
    f.data[8] = f.data[9] = f.data[10] = 0xCC;
    MBT_EQ_INT(mb_seg_unframe(MB_PROFILE_FD, &f, 1, 1, true, &body), MB_ERR_MALFORMED);
    f.data[11] = 2;                                   /* body 10 -> 12: fine */
    MBT_EQ_INT(mb_seg_unframe(MB_PROFILE_FD, &f, 1, 1, true, &body), MB_OK);
    MBT_EQ_INT(body, 10);
    f.data[10] = 0xCD;
    MBT_EQ_INT(mb_seg_unframe(MB_PROFILE_FD, &f, 1, 1, true, &body), MB_ERR_MALFORMED);
}

/* Frames of a wire message of `len` bytes under `key`. */
static size_t split(mb_profile p, uint32_t key, const uint8_t *msg, size_t len, mb_frame *out)
{
    unsigned i, n = mb_seg_frame_count(p, len);
    for (i = 1; i <= n; i++) {
        if (mb_seg_frame(p, key, msg, len, i, &out[i - 1]) != MB_OK) return 0;
    }
    return n;
}

static void test_roundtrip_all_lengths(void)
{
    uint8_t msg[MB_SEG_FD_MAX];
    mb_frame fr[16];
    mb_reasm r;
    mb_reasm_done d;
    size_t len, i, bad = 0;
    int p;
    for (i = 0; i < sizeof(msg); i++) msg[i] = (uint8_t)(i * 13u);
    for (p = 0; p < 2; p++) {
        size_t max = mb_seg_wire_max((mb_profile)p);
        MBT_EQ_INT(mb_reasm_init(&r, (mb_profile)p, 50), MB_OK);
        for (len = 0; len <= max; len++) {
            uint32_t key = mb_seg_message_id((mb_profile)p, 0x316, len % 2 == 0, 9, len);
            size_t n = split((mb_profile)p, key, msg, len, fr);
            for (i = 0; i < n; i++) {
                if (mb_reasm_push(&r, &fr[i], 1, msgbuf, sizeof(msgbuf), &d) != MB_OK ||
                    d.complete != (i + 1 == n)) bad++;
            }
            if (!d.complete || d.len != len || d.key != key || memcmp(msgbuf, msg, len) != 0) bad++;
        }
        MBT_EQ_INT(bad, 0);
        MBT_EQ_INT(mb_reasm_in_use(&r), 0);
    }
    MBT_EQ_INT(mb_reasm_init(&r, MB_PROFILE_CLASSIC, 0), MB_ERR_INVALID_ARG);
    MBT_EQ_INT(mb_reasm_init(&r, MB_PROFILE_CLASSIC, 10), MB_OK);
    MBT_EQ_INT(mb_reasm_push(&r, &fr[0], 1, msgbuf, 10, &d), MB_ERR_BUFFER_TOO_SMALL);
}

static void test_interleaving_and_expiry(void)
{
    uint8_t a[100], b[100];
    mb_frame fa[16], fb[16];
    mb_reasm r;
    mb_reasm_done d;
    size_t i, na, nb, got = 0;
    memset(a, 0xAA, sizeof(a));
    memset(b, 0xBB, sizeof(b));
    MBT_EQ_INT(mb_reasm_init(&r, MB_PROFILE_CLASSIC, 100), MB_OK);
    na = split(MB_PROFILE_CLASSIC, mb_seg_message_id(MB_PROFILE_CLASSIC, 0x316, true, 1, 100), a, 100, fa);
    nb = split(MB_PROFILE_CLASSIC, mb_seg_message_id(MB_PROFILE_CLASSIC, 0x316, true, 2, 100), b, 100, fb);
    for (i = 0; i < na; i++) {
        MBT_EQ_INT(mb_reasm_push(&r, &fa[i], 1, msgbuf, sizeof(msgbuf), &d), MB_OK);
        if (d.complete) { got++; MBT_EQ_INT(msgbuf[0], 0xAA); }
        MBT_EQ_INT(mb_reasm_push(&r, &fb[i], 1, msgbuf, sizeof(msgbuf), &d), MB_OK);
        if (d.complete) { got++; MBT_EQ_INT(msgbuf[0], 0xBB); }
    }
    MBT_EQ_INT(got, 2);
    MBT_EQ_INT(nb, na);
    /* A partial message expires after the timeout, not before. */
    MBT_EQ_INT(mb_reasm_push(&r, &fa[0], 1000, msgbuf, sizeof(msgbuf), &d), MB_OK);
    MBT_EQ_INT(mb_reasm_expire(&r, 1100), 0);
    MBT_EQ_INT(mb_reasm_in_use(&r), 1);
    MBT_EQ_INT(mb_reasm_expire(&r, 1101), 1);
    MBT_EQ_INT(mb_reasm_in_use(&r), 0);
    /* Its continuation is now an orphan. */
    MBT_EQ_INT(mb_reasm_push(&r, &fa[1], 1102, msgbuf, sizeof(msgbuf), &d), MB_ERR_MALFORMED);
    /* A duplicated chunk drops the message. */
    MBT_EQ_INT(mb_reasm_push(&r, &fa[0], 1200, msgbuf, sizeof(msgbuf), &d), MB_OK);
    MBT_EQ_INT(mb_reasm_push(&r, &fa[1], 1200, msgbuf, sizeof(msgbuf), &d), MB_OK);
    MBT_EQ_INT(mb_reasm_push(&r, &fa[1], 1200, msgbuf, sizeof(msgbuf), &d), MB_ERR_MALFORMED);
    MBT_EQ_INT(mb_reasm_in_use(&r), 0);
    /* Wrapping clock. */
    MBT_EQ_INT(mb_reasm_push(&r, &fa[0], 0xFFFFFFF0u, msgbuf, sizeof(msgbuf), &d), MB_OK);
    MBT_EQ_INT(mb_reasm_expire(&r, 0x50u), 0);
    MBT_EQ_INT(mb_reasm_expire(&r, 0x55u), 1);
    mb_reasm_clear(&r);
}

/* Deterministic ids for the flood: any device id, any message id. */
static uint32_t flood_id(unsigned i)
{
    uint32_t msg = (i * 2654435761u) % 2048u;
    uint32_t dev = (i * 40503u) & 0xFFu;
    return (msg << 18) | (1u << 17) | (15u << 8) | dev;    /* chunk 1 of 16 */
}

static void test_flood_bare(void)
{
    uint8_t a[128];
    mb_frame fa[16], junk;
    mb_reasm r;
    mb_reasm_done d;
    size_t i, n;
    unsigned k, round, delivered = 0, no_slot = 0;
    memset(a, 0x5A, sizeof(a));
    memset(&junk, 0, sizeof(junk));
    junk.len = 8;
    n = split(MB_PROFILE_CLASSIC, mb_seg_message_id(MB_PROFILE_CLASSIC, 0x316, true, 7, 128), a, 128, fa);
    MBT_EQ_INT(n, 16);
    MBT_EQ_INT(mb_reasm_init(&r, MB_PROFILE_CLASSIC, 100), MB_OK);
    for (round = 0; round < 50; round++) {
        for (i = 0; i < n; i++) {
            (void)mb_reasm_push(&r, &fa[i], round, msgbuf, sizeof(msgbuf), &d);
            if (d.complete) delivered++;
            /* Between chunk 1 and 2: MB_REASM_SLOTS - 1 flood frames; after
             * that: 200 flood first chunks between every two chunks. */
            for (k = 0; k < (i == 0 ? MB_REASM_SLOTS - 1u : 200u); k++) {
                int ret;
                junk.id = flood_id(round * 10007u + (unsigned)i * 211u + k);
                ret = mb_reasm_push(&r, &junk, round, msgbuf, sizeof(msgbuf), &d);
                no_slot += ret == MB_ERR_NO_SLOT;
                MBT_CHECK(mb_reasm_in_use(&r) <= MB_REASM_SLOTS);
            }
        }
    }
    MBT_EQ_INT(delivered, 50);
    MBT_EQ_INT(no_slot, 0);                /* the flood evicts only itself */
    /* Every slot busy with a message that made progress: first chunks are
     * refused rather than evicting it. */
    for (k = 0; k < MB_REASM_SLOTS; k++) {
        mb_frame two[2];
        uint32_t key = mb_seg_message_id(MB_PROFILE_CLASSIC, (uint16_t)(0x310 + k), true, 7, 128);
        MBT_EQ_INT(mb_seg_frame(MB_PROFILE_CLASSIC, key, a, 128, 1, &two[0]), MB_OK);
        MBT_EQ_INT(mb_seg_frame(MB_PROFILE_CLASSIC, key, a, 128, 2, &two[1]), MB_OK);
        MBT_EQ_INT(mb_reasm_push(&r, &two[0], 60, msgbuf, sizeof(msgbuf), &d), MB_OK);
        MBT_EQ_INT(mb_reasm_push(&r, &two[1], 60, msgbuf, sizeof(msgbuf), &d), MB_OK);
    }
    junk.id = flood_id(1);
    MBT_EQ_INT(mb_reasm_push(&r, &junk, 60, msgbuf, sizeof(msgbuf), &d), MB_ERR_NO_SLOT);
    MBT_EQ_INT(mb_reasm_push(&r, &junk, 161, msgbuf, sizeof(msgbuf), &d), MB_OK);  /* after expiry */
    MBT_EQ_INT(d.expired, MB_REASM_SLOTS);
    MBT_CHECK(sizeof(mb_reasm) <= MB_REASM_SLOTS * (MB_MSG_WIRE_MAX + 16u) + 16u);
}

/* Inside a session only the peer's ids reach the reassembler: a flood from
 * every other id cannot touch its slots at all. */
static tnode ctl, dev;

static void test_flood_session(void)
{
    uint8_t pt[100];
    mb_frame f[16], junk;
    tinbox box;
    size_t i, n;
    unsigned k, round, delivered = 0;
    memset(pt, 0x33, sizeof(pt));
    memset(&junk, 0, sizeof(junk));
    junk.len = 8;
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);
    for (round = 0; round < 30; round++) {
        MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, sizeof(pt), round), MB_OK);
        n = ctl.out.n;
        memcpy(f, ctl.out.f, n * sizeof(mb_frame));
        ctl.out.n = 0;
        memset(&box, 0, sizeof(box));
        for (i = 0; i < n; i++) {
            mb_session_msg m;
            (void)mb_session_rx(&dev.s, &f[i], round, &m);
            delivered += m.ready;
            for (k = 0; k < 300; k++) {
                junk.id = flood_id(round * 7919u + (unsigned)i * 331u + k);
                if (mb_session_accepts(&dev.s, junk.id)) continue;   /* skip the peer's own ids */
                (void)mb_session_rx(&dev.s, &junk, round, &m);
                delivered += m.ready;
                MBT_CHECK(mb_reasm_in_use(&dev.s.reasm) <= 1);
            }
        }
    }
    MBT_EQ_INT(delivered, 30);
    MBT_EQ_INT(t_count_ev(&dev, MB_EV_REJECT, 1), 0);
    t_node_free(&ctl);
    t_node_free(&dev);
}

int main(void)
{
    MBT_RUN(test_fd_lengths);
    MBT_RUN(test_frame_layout);
    MBT_RUN(test_unframe_rejects);
    MBT_RUN(test_roundtrip_all_lengths);
    MBT_RUN(test_interleaving_and_expiry);
    MBT_RUN(test_flood_bare);
    MBT_RUN(test_flood_session);
    return mbt_finish("test_reasm");
}
