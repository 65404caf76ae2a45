/*
 * fuzz_xfer.c - the acknowledged chunked transfer (mb_xfer) on both ends.
 *
 * Input: mode u8, then steps.
 *  mode 0, receiver: capacity u8, then frames (dt u8, id choice u8, len u8,
 *    data) to a receiver. Invariants: every answer is one 8-byte frame on
 *    the ack id; chunks stored never exceed the announced count or the
 *    buffer (ASan watches an exact-size buffer); DONE is only reached on an
 *    END whose CRC-32 matches the stored blob.
 *  mode 1, sender: blob length u8, then frames (dt u8, len u8, data) as
 *    ACKs to a sender. Invariants: it only ever sends START with the
 *    blob's fields, DATA k (1..N) carrying exactly chunk k of the blob,
 *    END with its CRC-32, or ABORT; at most 1 + max_retries sends of a
 *    frame per ACK/poll; DONE only after END was sent.
 *  mode 2, channel: a genuine sender and receiver; the fuzzer drops,
 *    duplicates, reorders and delays frames (no corruption). Invariants:
 *    a DONE receiver holds exactly the blob; a DONE sender implies a DONE
 *    receiver; once the channel is clean, resuming always completes.
 */
#include "fuzz_common.h"

#define SENT_MAX 64u

typedef struct sent_frame {
    uint32_t id;
    uint8_t len;
    uint8_t data[8];
} sent_frame;

typedef struct wire {
    sent_frame f[SENT_MAX];
    size_t n;
} wire;

static int capture(void *user, uint32_t can_id, const uint8_t *data, uint8_t len)
{
    wire *w = (wire *)user;
    FZ_CHECK(len <= 8u);
    if (w->n < SENT_MAX) {
        w->f[w->n].id = can_id;
        w->f[w->n].len = len;
        memcpy(w->f[w->n].data, data, len);
        w->n++;
    }
    return MB_OK;
}

static uint32_t id_of(uint16_t msg_id)
{
    mb_canid f = { 0, false, false, 1, 1, 0x07 };
    f.msg_id = msg_id;
    return mb_canid_encode(&f);
}

static uint32_t get32be(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

static void cfg_for(mb_xfer_cfg *cfg, wire *w)
{
    mb_xfer_cfg_defaults(cfg);
    cfg->device_id = 0x07;
    cfg->send = capture;
    cfg->user = w;
}

static void receiver(fz_in *in)
{
    static wire w;
    mb_xfer_cfg cfg;
    mb_xfer_rx rx;
    size_t cap = 1u + fz_u8(in) * 2u;
    uint8_t *buf = (uint8_t *)malloc(cap);
    uint32_t now = 0;

    FZ_CHECK(buf != NULL);
    cfg_for(&cfg, &w);
    FZ_CHECK(mb_xfer_rx_init(&rx, &cfg, buf, cap) == MB_OK);
    while (in->n > 0u) {
        uint8_t d[8], len, sel;
        uint32_t id;
        uint8_t before = rx.state;
        size_t i;
        int ret;
        now += fz_u8(in) * 10u;
        sel = fz_u8(in);
        id = (sel & 0x80u) ? fz_u32(in) : id_of(MB_XFER_MSGID_DOWN);
        len = (uint8_t)(fz_u8(in) % 10u);
        len = len > 8u ? 8u : len;          /* what the receiver gets is what is checked */
        (void)fz_bytes(in, d, sizeof(d));
        w.n = 0;
        ret = mb_xfer_rx_on_frame(&rx, id, d, len, now);
        FZ_CHECK(ret == MB_OK || ret == MB_ERR_CANID_RANGE || ret == MB_ERR_MALFORMED);
        FZ_CHECK(w.n <= 1u);
        for (i = 0; i < w.n; i++) {
            FZ_CHECK(w.f[i].id == id_of(MB_XFER_MSGID_DOWN + MB_XFER_ACK_OFFSET));
            FZ_CHECK(w.f[i].len == 8u);
        }
        FZ_CHECK(rx.state <= MB_XFER_ABORTED);
        if (rx.state != MB_XFER_IDLE) {
            FZ_CHECK(rx.len >= 1u && rx.len <= cap && rx.have <= rx.chunks);
            FZ_CHECK(rx.chunks == (rx.len + MB_XFER_CHUNK - 1u) / MB_XFER_CHUNK);
        }
        if (rx.state == MB_XFER_DONE && before != MB_XFER_DONE) {
            FZ_CHECK(len == 8u && d[0] == 0xFFu && d[1] == 0xFFu);
            FZ_CHECK(get32be(d + 2) == mb_crc32(buf, rx.len));
            FZ_CHECK(rx.have == rx.chunks);
        }
    }
    free(buf);
}

static void check_sent_by_tx(const mb_xfer_tx *tx, const wire *w, const uint8_t *blob)
{
    size_t i;
    for (i = 0; i < w->n; i++) {
        const sent_frame *f = &w->f[i];
        uint16_t k = (uint16_t)((f->data[0] << 8) | f->data[1]);
        FZ_CHECK(f->id == id_of(MB_XFER_MSGID_DOWN) && f->len >= 2u);
        if (k == MB_XFER_IDX_START) {
            FZ_CHECK(f->len == 8u && f->data[2] == tx->xfer_id && f->data[3] == tx->kind &&
                     ((f->data[4] << 8) | f->data[5]) == tx->len &&
                     ((f->data[6] << 8) | f->data[7]) == mb_crc16(blob, tx->len));
        } else if (k == MB_XFER_IDX_END) {
            FZ_CHECK(f->len == 8u && get32be(f->data + 2) == mb_crc32(blob, tx->len));
        } else if (k == MB_XFER_IDX_ABORT) {
            FZ_CHECK(f->len == 8u && tx->state == MB_XFER_ABORTED);
        } else {
            size_t off = (size_t)(k - 1u) * MB_XFER_CHUNK;
            FZ_CHECK(k >= 1u && k <= tx->chunks);
            FZ_CHECK(f->len == 2u + (tx->len - off < 6u ? tx->len - off : 6u));
            FZ_CHECK(memcmp(f->data + 2, blob + off, f->len - 2u) == 0);
        }
    }
}

static void sender(fz_in *in)
{
    static wire w;
    static uint8_t blob[256];
    mb_xfer_cfg cfg;
    mb_xfer_tx tx;
    size_t len = 1u + fz_u8(in);
    uint32_t now = 0;
    size_t i;

    for (i = 0; i < len; i++) {
        blob[i] = (uint8_t)(i * 37u + 11u);
    }
    cfg_for(&cfg, &w);
    w.n = 0;
    FZ_CHECK(mb_xfer_tx_start(&tx, &cfg, 0x5A, MB_XFER_KIND_KEYPKG, blob, len, now) == MB_OK);
    check_sent_by_tx(&tx, &w, blob);
    while (in->n > 0u) {
        uint8_t d[8], flen, op = fz_u8(in);
        int ret;
        w.n = 0;
        now += (op & 0x7Fu) * 20u;
        if (op & 0x80u) {
            ret = mb_xfer_tx_poll(&tx, now);
        } else {
            flen = (uint8_t)(fz_u8(in) % 9u);
            (void)fz_bytes(in, d, sizeof(d));
            ret = mb_xfer_tx_on_frame(&tx, id_of(MB_XFER_MSGID_DOWN + MB_XFER_ACK_OFFSET),
                                      d, flen, now);
            FZ_CHECK(ret != MB_ERR_CANID_RANGE);
        }
        FZ_CHECK(ret == MB_OK || ret == MB_ERR_ABORTED || ret == MB_ERR_MALFORMED);
        FZ_CHECK(w.n <= 2u);   /* at most one frame, or a frame and ABORT */
        check_sent_by_tx(&tx, &w, blob);
        FZ_CHECK(tx.cur == MB_XFER_IDX_START || tx.cur == MB_XFER_IDX_END ||
                 (tx.cur >= 1u && tx.cur <= tx.chunks));
        FZ_CHECK(tx.retries <= cfg.max_retries);
        if (tx.state == MB_XFER_DONE) {
            FZ_CHECK(tx.cur == MB_XFER_IDX_END);
        }
    }
}

/* Deliver frame i of `from` to the other end. */
static void channel_deliver(mb_xfer_tx *tx, mb_xfer_rx *rx, const sent_frame *f, uint32_t now)
{
    if (f->id == id_of(MB_XFER_MSGID_DOWN)) {
        FZ_CHECK(mb_xfer_rx_on_frame(rx, f->id, f->data, f->len, now) == MB_OK);
    } else {
        int ret = mb_xfer_tx_on_frame(tx, f->id, f->data, f->len, now);
        FZ_CHECK(ret == MB_OK || ret == MB_ERR_ABORTED);
    }
}

static void channel(fz_in *in)
{
    static wire w;
    static uint8_t blob[300], buf[300];
    mb_xfer_cfg cfg;
    mb_xfer_tx tx;
    mb_xfer_rx rx;
    size_t len = 1u + fz_u8(in), i, steps;
    uint32_t now = 0;

    for (i = 0; i < len; i++) {
        blob[i] = (uint8_t)(i * 13u + 5u);
    }
    cfg_for(&cfg, &w);
    w.n = 0;
    FZ_CHECK(mb_xfer_rx_init(&rx, &cfg, buf, sizeof(buf)) == MB_OK);
    FZ_CHECK(mb_xfer_tx_start(&tx, &cfg, 0x21, MB_XFER_KIND_REPORT, blob, len, now) == MB_OK);
    for (steps = 0; steps < 400u && in->n > 0u; steps++) {
        uint8_t op = fz_u8(in);
        sent_frame f;
        if (w.n == 0u || (op & 3u) == 3u) {
            now += (op >> 2) * 40u;
            (void)mb_xfer_tx_poll(&tx, now);
            continue;
        }
        i = (op >> 2) % w.n;                 /* which pending frame: reorder */
        f = w.f[i];
        if ((op & 3u) != 2u) {               /* 2: duplicate (keep it queued) */
            memmove(&w.f[i], &w.f[i + 1u], (w.n - i - 1u) * sizeof(sent_frame));
            w.n--;
        }
        if ((op & 3u) != 1u) {               /* 1: drop */
            channel_deliver(&tx, &rx, &f, now);
        }
        if (rx.state == MB_XFER_DONE) {
            FZ_CHECK(rx.len == len && memcmp(buf, blob, len) == 0);
        }
        if (tx.state == MB_XFER_DONE) {
            FZ_CHECK(rx.state == MB_XFER_DONE);
        }
    }
    /* Clean channel from here: resume until both ends are done. */
    w.n = 0;
    for (steps = 0; steps < 64u && tx.state != MB_XFER_DONE; steps++) {
        if (tx.state == MB_XFER_ABORTED || steps == 0u) {
            FZ_CHECK(mb_xfer_tx_resume(&tx, now) == MB_OK);
        }
        for (i = 0; i < 2000u && w.n > 0u; i++) {
            sent_frame f = w.f[0];
            memmove(&w.f[0], &w.f[1], (w.n - 1u) * sizeof(sent_frame));
            w.n--;
            channel_deliver(&tx, &rx, &f, now);
        }
        now += 1200u;
        (void)mb_xfer_tx_poll(&tx, now);
    }
    FZ_CHECK(tx.state == MB_XFER_DONE && rx.state == MB_XFER_DONE);
    FZ_CHECK(rx.len == len && memcmp(buf, blob, len) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    fz_in in = { data, size };
    switch (fz_u8(&in) % 3u) {
    case 0: receiver(&in); break;
    case 1: sender(&in); break;
    default: channel(&in); break;
    }
    return 0;
}
