/* test_xfer.c - the acknowledged chunked transfer: clean runs, dropped and
 * corrupted frames in both directions (NACK or checksum mismatch, retry,
 * success), retries exhausted (abort with its reason, on the reference app's
 * timeline: 1 s timeout, 100 ms gap, 3 retries), resume after an
 * interruption on either side, refusals, the end-to-end CRC, and a seeded
 * random-fault soak in which a transfer never completes with wrong bytes. */
#include "mbt.h"

#include "modbatt/modbatt.h"
#include "modbatt/mb_xfer.h"

/* ---- a simulated bus between one sender and one receiver ----------------- */

#define QMAX 64

typedef struct frame { uint32_t id; uint8_t len; uint8_t d[8]; } frame;

typedef struct bus {
    frame    q[QMAX];
    int      n;
    uint32_t now;
    unsigned sent;           /* frames put on the bus, both ways */
    unsigned data_frames;    /* DATA frames the sender put on the bus */
    /* fault injection, by the sequence number of the frame on the bus */
    int      drop_from;      /* drop every frame from this one on (-1 off) */
    int      drop_only_acks; /* with drop_from: only receiver -> sender */
    int      drop_at[8];     /* drop these (-1 unused) */
    int      corrupt_at[8];  /* flip a bit in these */
    int      corrupt_byte;   /* which byte to flip */
    int      corrupt_len_at; /* shorten this frame by one byte */
    uint32_t rng;            /* random faults when drop_pct/corrupt_pct set */
    int      drop_pct, corrupt_pct;
    uint32_t ack_id;
} bus;

static bus B;

static uint32_t rnd(void)
{
    B.rng ^= B.rng << 13; B.rng ^= B.rng >> 17; B.rng ^= B.rng << 5;
    return B.rng;
}

static int in_list(const int *l, int v)
{
    int i;
    for (i = 0; i < 8; i++) if (l[i] == v) return 1;
    return 0;
}

static int bus_send(void *user, uint32_t id, const uint8_t *data, uint8_t len)
{
    int seq = (int)B.sent++;
    frame f;
    (void)user;
    if (id != B.ack_id && len >= 2 && data[0] == 0 && data[1] != 0) B.data_frames++;
    else if (id != B.ack_id && len >= 2 && data[0] != 0 && data[0] != 0xFF) B.data_frames++;
    if ((B.drop_from >= 0 && seq >= B.drop_from && (!B.drop_only_acks || id == B.ack_id)) ||
        in_list(B.drop_at, seq) ||
        (B.drop_pct && (int)(rnd() % 100) < B.drop_pct)) {
        return 0;   /* lost on the bus */
    }
    f.id = id; f.len = len;
    memset(f.d, 0, 8);
    memcpy(f.d, data, len);
    if (in_list(B.corrupt_at, seq)) f.d[B.corrupt_byte % (len ? len : 1)] ^= 0x10;
    if (B.corrupt_pct && (int)(rnd() % 100) < B.corrupt_pct && len) f.d[rnd() % len] ^= (uint8_t)(1u << (rnd() % 8));
    if (seq == B.corrupt_len_at && f.len > 0) f.len--;
    if (B.n < QMAX) B.q[B.n++] = f;
    return 0;
}

static void bus_reset(void)
{
    int i;
    memset(&B, 0, sizeof(B));
    B.drop_from = -1;
    B.corrupt_len_at = -1;
    for (i = 0; i < 8; i++) { B.drop_at[i] = -1; B.corrupt_at[i] = -1; }
    B.rng = 12345;
    B.now = 1000;
}

static mb_xfer_cfg cfg(uint8_t dev)
{
    mb_xfer_cfg c;
    mb_xfer_cfg_defaults(&c);
    c.device_id = dev;
    c.send = bus_send;
    return c;
}

/* Deliver frames and advance the clock until both sides settle or the time
 * limit passes. */
static void run(mb_xfer_tx *tx, mb_xfer_rx *rx, uint32_t limit_ms)
{
    uint32_t end = B.now + limit_ms;
    while (B.now < end) {
        while (B.n > 0) {
            frame f = B.q[0];
            memmove(B.q, B.q + 1, (size_t)(B.n - 1) * sizeof(frame));
            B.n--;
            if (f.id == B.ack_id) (void)mb_xfer_tx_on_frame(tx, f.id, f.d, f.len, B.now);
            else if (rx) (void)mb_xfer_rx_on_frame(rx, f.id, f.d, f.len, B.now);
        }
        if (mb_xfer_tx_state(tx) != MB_XFER_BUSY) return;
        B.now += 1;
        (void)mb_xfer_tx_poll(tx, B.now);
    }
}

static uint8_t blob[8000], rbuf[8000];

static void make_blob(size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) blob[i] = (uint8_t)(i * 131 + 7);
}

static void setup(mb_xfer_tx *tx, mb_xfer_rx *rx, size_t n)
{
    mb_xfer_cfg c = cfg(7);
    (void)tx;
    bus_reset();
    make_blob(n);
    memset(rbuf, 0, sizeof(rbuf));
    B.ack_id = 0;
    MBT_EQ_INT(mb_xfer_rx_init(rx, &c, rbuf, sizeof(rbuf)), MB_OK);
    {
        mb_canid f = { 0x410 + 0xA0, false, false, 1, 1, 7 };
        B.ack_id = mb_canid_encode(&f);
    }
}

/* ---- tests ------------------------------------------------------------- */

static void crc16_vector(void)
{
    MBT_EQ_INT(mb_crc16((const uint8_t *)"123456789", 9), 0x29B1);
}

static void ids(void)
{
    mb_canid f = { 0x410, false, false, 1, 1, 7 };
    MBT_EQ_INT(mb_canid_encode(&f), (0x410u << 18) | 7u);
    f.msg_id = 0x4B0;
    MBT_EQ_INT(mb_canid_encode(&f), (0x4B0u << 18) | 7u);
    MBT_EQ_INT((0x410u << 18) | 7u, 0x10400007u);
    MBT_EQ_INT((0x4B0u << 18) | 7u, 0x12C00007u);
}

static void clean_transfers(void)
{
    static mb_xfer_tx tx;
    static mb_xfer_rx rx;
    static const size_t sizes[] = { 1, 5, 6, 7, 406, 7045 };
    size_t i;
    mb_xfer_cfg c = cfg(7);

    for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
        size_t n = sizes[i], chunks = (n + 5) / 6;
        setup(&tx, &rx, n);
        MBT_EQ_INT(mb_xfer_tx_start(&tx, &c, 9, MB_XFER_KIND_KEYPKG, blob, n, B.now), MB_OK);
        run(&tx, &rx, 60000);
        MBT_EQ_INT(mb_xfer_tx_state(&tx), MB_XFER_DONE);
        MBT_EQ_INT(mb_xfer_rx_state(&rx), MB_XFER_DONE);
        MBT_EQ_INT(rx.len, n);
        MBT_EQ_INT(rx.kind, MB_XFER_KIND_KEYPKG);
        MBT_EQ_MEM(rbuf, blob, n);
        MBT_EQ_INT(tx.frames_sent, chunks + 2);        /* START + DATA + END */
        MBT_EQ_INT(tx.retries_total, 0);
        MBT_EQ_INT(B.sent, 2 * (chunks + 2));          /* every frame answered once */
    }
}

/* One lost data frame and one lost ACK: each costs a timeout and a retry. */
static void drops_are_retried(void)
{
    static mb_xfer_tx tx;
    static mb_xfer_rx rx;
    mb_xfer_cfg c = cfg(7);
    uint32_t t0;

    setup(&tx, &rx, 406);
    B.drop_at[0] = 10;   /* even: a sender frame */
    B.drop_at[1] = 41;   /* odd: an ACK */
    t0 = B.now;
    MBT_EQ_INT(mb_xfer_tx_start(&tx, &c, 1, MB_XFER_KIND_KEYPKG, blob, 406, B.now), MB_OK);
    run(&tx, &rx, 60000);
    MBT_EQ_INT(mb_xfer_tx_state(&tx), MB_XFER_DONE);
    MBT_EQ_MEM(rbuf, blob, 406);
    MBT_EQ_INT(tx.retries_total, 2);
    MBT_CHECK(B.now - t0 >= 2200 && B.now - t0 < 2300);   /* 2 x (1000 + 100) */
}

/* Corruption: a data byte (the ACK's checksum differs), the chunk number
 * (NACK), the frame length (NACK), an ACK's checksum field. */
static void corrupt_frames_nack_then_retry(void)
{
    static mb_xfer_tx tx;
    static mb_xfer_rx rx;
    mb_xfer_cfg c = cfg(7);
    struct { int seq, byte; int len_cut; unsigned nacks; } cases[] = {
        { 10, 5, 0, 0 },   /* data byte of DATA 5: checksum mismatch at the sender */
        { 10, 1, 0, 1 },   /* chunk number of DATA 5: receiver NACKs */
        { 10, 0, 1, 1 },   /* DATA 5 one byte short: receiver NACKs */
        { 11, 3, 0, 0 },   /* checksum in the ACK of DATA 5 */
        { 11, 6, 0, 0 },   /* 'next' in the ACK: harmless for DATA */
    };
    size_t i;
    uint32_t t0;

    for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        setup(&tx, &rx, 406);
        t0 = B.now;
        if (cases[i].len_cut) {
            B.corrupt_len_at = cases[i].seq;
        } else {
            B.corrupt_at[0] = cases[i].seq;
            B.corrupt_byte = cases[i].byte;
        }
        MBT_EQ_INT(mb_xfer_tx_start(&tx, &c, 1, MB_XFER_KIND_KEYPKG, blob, 406, B.now), MB_OK);
        run(&tx, &rx, 60000);
        MBT_EQ_INT(mb_xfer_tx_state(&tx), MB_XFER_DONE);
        MBT_EQ_INT(mb_xfer_rx_state(&rx), MB_XFER_DONE);
        MBT_EQ_MEM(rbuf, blob, 406);
        MBT_EQ_INT(rx.nacks, cases[i].nacks);
        MBT_EQ_INT(tx.retries_total, cases[i].byte == 6 ? 0 : 1);
        /* detected on the answer: one retry gap, no 1 s timeout */
        MBT_EQ_INT(B.now - t0, cases[i].byte == 6 ? 0 : 100);
    }
}

/* The receiver goes silent after DATA 10: the sender retries 3 times on the
 * reference timeline, then aborts with MB_ERR_ABORTED / RETRIES and tells
 * the receiver. */
static void retries_exhausted_abort(void)
{
    static mb_xfer_tx tx;
    static mb_xfer_rx rx;
    mb_xfer_cfg c = cfg(7);
    uint32_t t_last = 0, t;
    int ret = MB_OK;
    frame f;

    setup(&tx, &rx, 406);
    B.drop_from = 22;          /* the ACK of DATA 10 and everything after */
    B.drop_only_acks = 1;
    MBT_EQ_INT(mb_xfer_tx_start(&tx, &c, 1, MB_XFER_KIND_KEYPKG, blob, 406, B.now), MB_OK);
    /* step by hand to watch the timeline */
    for (t = 0; t < 10000 && ret == MB_OK; t++) {
        while (B.n > 0) {
            f = B.q[0];
            memmove(B.q, B.q + 1, (size_t)(B.n - 1) * sizeof(frame));
            B.n--;
            if (f.id == B.ack_id) ret = mb_xfer_tx_on_frame(&tx, f.id, f.d, f.len, B.now);
            else (void)mb_xfer_rx_on_frame(&rx, f.id, f.d, f.len, B.now);
            if (f.id != B.ack_id && f.d[0] == 0 && f.d[1] == 11 && t_last == 0) t_last = B.now;
        }
        if (ret != MB_OK) break;
        B.now++;
        ret = mb_xfer_tx_poll(&tx, B.now);
    }
    MBT_EQ_INT(ret, MB_ERR_ABORTED);
    MBT_EQ_INT(mb_xfer_tx_state(&tx), MB_XFER_ABORTED);
    MBT_EQ_INT(tx.abort_reason, MB_XFER_ABORT_RETRIES);
    MBT_EQ_INT(tx.retries_total, 3);
    MBT_EQ_INT(tx.cur, 11);
    /* first send of DATA 11 at t_last; aborted 1000 + 3 x (100 + 1000) later */
    MBT_EQ_INT(B.now - t_last, 4300);
    /* the ABORT frame reached the receiver, which keeps its progress */
    while (B.n > 0) {
        f = B.q[0];
        memmove(B.q, B.q + 1, (size_t)(B.n - 1) * sizeof(frame));
        B.n--;
        if (f.id != B.ack_id) (void)mb_xfer_rx_on_frame(&rx, f.id, f.d, f.len, B.now);
    }
    MBT_EQ_INT(mb_xfer_rx_state(&rx), MB_XFER_ABORTED);
    MBT_EQ_INT(rx.abort_reason, MB_XFER_ABORT_SENDER);
    MBT_EQ_INT(rx.have, 11);
    /* further calls keep reporting the abort */
    MBT_EQ_INT(mb_xfer_tx_poll(&tx, B.now + 5000), MB_ERR_ABORTED);
    MBT_EQ_INT(mb_strerror(MB_ERR_ABORTED)[0] != 'u', 1);
}

/* Resume: the link dies half-way, the sender aborts; later the sender
 * resumes and only the missing part is sent again. */
static void resume_after_interruption(void)
{
    static mb_xfer_tx tx;
    static mb_xfer_rx rx;
    mb_xfer_cfg c = cfg(7);
    unsigned chunks = (7045 + 5) / 6, data_before;

    setup(&tx, &rx, 7045);
    B.drop_from = 1200;        /* both ways, from frame 1200 (DATA ~600) */
    MBT_EQ_INT(mb_xfer_tx_start(&tx, &c, 3, MB_XFER_KIND_FORWARD, blob, 7045, B.now), MB_OK);
    run(&tx, &rx, 60000);
    MBT_EQ_INT(mb_xfer_tx_state(&tx), MB_XFER_ABORTED);
    MBT_EQ_INT(tx.abort_reason, MB_XFER_ABORT_RETRIES);
    MBT_EQ_INT(mb_xfer_rx_state(&rx), MB_XFER_BUSY);    /* the ABORT was lost too */
    MBT_CHECK(rx.have > 500 && rx.have < 700);
    data_before = tx.frames_sent;
    /* link back */
    B.drop_from = -1;
    B.now += 30000;
    MBT_EQ_INT(mb_xfer_tx_resume(&tx, B.now), MB_OK);
    run(&tx, &rx, 60000);
    MBT_EQ_INT(mb_xfer_tx_state(&tx), MB_XFER_DONE);
    MBT_EQ_INT(mb_xfer_rx_state(&rx), MB_XFER_DONE);
    MBT_EQ_MEM(rbuf, blob, 7045);
    /* START + resend of the unconfirmed chunk + the rest + END */
    MBT_CHECK(tx.frames_sent - data_before <= chunks - 500 + 3);
    printf("  resume: %u frames before the cut, %u after (a full run is %u)\n",
           data_before, (unsigned)(tx.frames_sent - data_before), chunks + 2);
}

/* The app restarts (sender state lost): a new sender with the same transfer
 * id and blob resumes from the receiver's position. */
static void resume_with_fresh_sender(void)
{
    static mb_xfer_tx tx, tx2;
    static mb_xfer_rx rx;
    mb_xfer_cfg c = cfg(7);
    uint16_t have;

    setup(&tx, &rx, 406);
    B.drop_from = 50;
    MBT_EQ_INT(mb_xfer_tx_start(&tx, &c, 5, MB_XFER_KIND_KEYPKG, blob, 406, B.now), MB_OK);
    run(&tx, &rx, 60000);
    have = rx.have;
    MBT_CHECK(have >= 20 && have <= 26);
    B.drop_from = -1;
    B.n = 0;
    MBT_EQ_INT(mb_xfer_tx_start(&tx2, &c, 5, MB_XFER_KIND_KEYPKG, blob, 406, B.now), MB_OK);
    run(&tx2, &rx, 60000);
    MBT_EQ_INT(mb_xfer_tx_state(&tx2), MB_XFER_DONE);
    MBT_EQ_MEM(rbuf, blob, 406);
    MBT_EQ_INT(tx2.frames_sent, 1 + (68 - have + 1) + 1);
    /* a different blob under the same id starts over */
    blob[0] ^= 1;
    MBT_EQ_INT(mb_xfer_tx_start(&tx2, &c, 5, MB_XFER_KIND_KEYPKG, blob, 406, B.now), MB_OK);
    run(&tx2, &rx, 60000);
    MBT_EQ_INT(tx2.frames_sent, 68 + 2);
    MBT_EQ_MEM(rbuf, blob, 406);
}

/* The receiver reboots mid-transfer: it NACKs DATA with next = 0, the sender
 * goes back to START and the transfer begins again. */
static void receiver_lost_state(void)
{
    static mb_xfer_tx tx;
    static mb_xfer_rx rx;
    mb_xfer_cfg c = cfg(7);

    setup(&tx, &rx, 406);
    B.drop_from = 30;
    MBT_EQ_INT(mb_xfer_tx_start(&tx, &c, 5, MB_XFER_KIND_KEYPKG, blob, 406, B.now), MB_OK);
    run(&tx, &rx, 500);          /* sender still retrying */
    MBT_EQ_INT(mb_xfer_tx_state(&tx), MB_XFER_BUSY);
    MBT_EQ_INT(mb_xfer_rx_init(&rx, &c, rbuf, sizeof(rbuf)), MB_OK);   /* reboot */
    B.drop_from = -1;
    run(&tx, &rx, 60000);
    MBT_EQ_INT(mb_xfer_tx_state(&tx), MB_XFER_DONE);
    MBT_EQ_INT(mb_xfer_rx_state(&rx), MB_XFER_DONE);
    MBT_EQ_MEM(rbuf, blob, 406);
}

static void refusals(void)
{
    static mb_xfer_tx tx;
    static mb_xfer_rx rx;
    static uint8_t small[100];
    mb_xfer_cfg c = cfg(7);

    setup(&tx, &rx, 406);
    MBT_EQ_INT(mb_xfer_rx_init(&rx, &c, small, sizeof(small)), MB_OK);
    MBT_EQ_INT(mb_xfer_tx_start(&tx, &c, 1, MB_XFER_KIND_KEYPKG, blob, 406, B.now), MB_OK);
    run(&tx, &rx, 60000);
    MBT_EQ_INT(mb_xfer_tx_state(&tx), MB_XFER_ABORTED);
    MBT_EQ_INT(tx.abort_reason, MB_XFER_ABORT_REFUSED);
    MBT_EQ_INT(mb_xfer_rx_state(&rx), MB_XFER_IDLE);
    /* a kind the receiver does not take */
    setup(&tx, &rx, 406);
    rx.accept_kinds = 1u << MB_XFER_KIND_KEYPKG;
    MBT_EQ_INT(mb_xfer_tx_start(&tx, &c, 1, MB_XFER_KIND_REPORT, blob, 406, B.now), MB_OK);
    run(&tx, &rx, 60000);
    MBT_EQ_INT(tx.abort_reason, MB_XFER_ABORT_REFUSED);
}

/* END's CRC-32: one corrupted END makes the receiver start over and the
 * transfer still completes; an END that never matches aborts with CRC. */
static void end_to_end_crc(void)
{
    static mb_xfer_tx tx;
    static mb_xfer_rx rx;
    mb_xfer_cfg c = cfg(7);
    unsigned chunks = (406 + 5) / 6;
    int i;

    setup(&tx, &rx, 406);
    B.corrupt_at[0] = 2 * (int)(chunks + 1);    /* the first END */
    B.corrupt_byte = 3;
    MBT_EQ_INT(mb_xfer_tx_start(&tx, &c, 1, MB_XFER_KIND_KEYPKG, blob, 406, B.now), MB_OK);
    run(&tx, &rx, 60000);
    MBT_EQ_INT(mb_xfer_tx_state(&tx), MB_XFER_DONE);
    MBT_EQ_MEM(rbuf, blob, 406);
    MBT_EQ_INT(tx.frames_sent, 2 * (chunks + 1) + 1);

    setup(&tx, &rx, 30);
    for (i = 0; i < 8; i++) B.corrupt_at[i] = 12 + 12 * i;   /* every END: 5 chunks + END, answered */
    B.corrupt_byte = 3;
    MBT_EQ_INT(mb_xfer_tx_start(&tx, &c, 1, MB_XFER_KIND_KEYPKG, blob, 30, B.now), MB_OK);
    run(&tx, &rx, 60000);
    MBT_EQ_INT(mb_xfer_tx_state(&tx), MB_XFER_ABORTED);
    MBT_EQ_INT(tx.abort_reason, MB_XFER_ABORT_CRC);
}

/* Random drops and bit flips both ways: each run completes with the exact
 * bytes, or aborts; resuming until done always gets there. */
static void random_fault_soak(void)
{
    static mb_xfer_tx tx;
    static mb_xfer_rx rx;
    mb_xfer_cfg c = cfg(7);
    unsigned run_no, done = 0, wrong = 0, resumes = 0;

    for (run_no = 0; run_no < 200; run_no++) {
        int tries = 0;
        size_t n = 50 + (run_no * 37) % 900;
        setup(&tx, &rx, n);
        B.rng = 0x1234567u + run_no * 7919u;
        B.drop_pct = 10;
        B.corrupt_pct = 5;
        MBT_EQ_INT(mb_xfer_tx_start(&tx, &c, (uint8_t)run_no, MB_XFER_KIND_KEYPKG, blob, n, B.now), MB_OK);
        run(&tx, &rx, 600000);
        while (mb_xfer_tx_state(&tx) == MB_XFER_ABORTED && tries++ < 20) {
            resumes++;
            B.n = 0;
            (void)mb_xfer_tx_resume(&tx, B.now);
            run(&tx, &rx, 600000);
        }
        if (mb_xfer_tx_state(&tx) == MB_XFER_DONE) done++;
        if (mb_xfer_rx_state(&rx) == MB_XFER_DONE && memcmp(rbuf, blob, n) != 0) wrong++;
    }
    MBT_EQ_INT(wrong, 0);
    MBT_EQ_INT(done, 200);
    printf("  soak: 200 transfers, 10%% drops + 5%% bit flips: %u done, %u resumes, 0 wrong\n",
           done, resumes);
}

static void ignored_and_malformed(void)
{
    static mb_xfer_tx tx;
    static mb_xfer_rx rx;
    mb_xfer_cfg c = cfg(7), bad;
    uint8_t ack[8] = { 1, 0, 0, 0, 0, 1, 0, 1 };
    uint8_t data[8] = { 0 };
    mb_canid other = { 0x410, false, false, 1, 1, 8 };

    setup(&tx, &rx, 406);
    MBT_EQ_INT(mb_xfer_tx_start(&tx, &c, 1, MB_XFER_KIND_KEYPKG, blob, 406, B.now), MB_OK);
    MBT_EQ_INT(mb_xfer_tx_on_frame(&tx, 0x123, ack, 8, B.now), MB_ERR_CANID_RANGE);
    MBT_EQ_INT(mb_xfer_tx_on_frame(&tx, B.ack_id, ack, 7, B.now), MB_ERR_MALFORMED);
    ack[5] = 2;   /* another transfer id: ignored */
    MBT_EQ_INT(mb_xfer_tx_on_frame(&tx, B.ack_id, ack, 8, B.now), MB_OK);
    MBT_EQ_INT(tx.cur, 0);
    MBT_EQ_INT(mb_xfer_rx_on_frame(&rx, mb_canid_encode(&other), data, 8, B.now), MB_ERR_CANID_RANGE);
    MBT_EQ_INT(mb_xfer_rx_on_frame(&rx, (0x410u << 18) | 7u, data, 1, B.now), MB_ERR_MALFORMED);
    /* DATA before any START: NACK, next 0 */
    B.n = 0;
    data[1] = 3;
    MBT_EQ_INT(mb_xfer_rx_on_frame(&rx, (0x410u << 18) | 7u, data, 8, B.now), MB_OK);
    MBT_EQ_INT(B.n, 1);
    MBT_EQ_INT(B.q[0].d[0], MB_XFER_NACK);
    MBT_EQ_INT(B.q[0].d[7], 0);
    /* config and argument errors */
    bad = c; bad.send = NULL;
    MBT_EQ_INT(mb_xfer_tx_start(&tx, &bad, 1, 1, blob, 10, 0), MB_ERR_NULL);
    bad = c; bad.data_msg_id = 0x7F0;
    MBT_EQ_INT(mb_xfer_tx_start(&tx, &bad, 1, 1, blob, 10, 0), MB_ERR_INVALID_ARG);
    bad = c; bad.max_retries = 0;
    MBT_EQ_INT(mb_xfer_rx_init(&rx, &bad, rbuf, 10), MB_ERR_INVALID_ARG);
    MBT_EQ_INT(mb_xfer_tx_start(&tx, &c, 1, 1, blob, 0, 0), MB_ERR_LENGTH);
    MBT_EQ_INT(mb_xfer_tx_start(&tx, &c, 1, 1, blob, 65536, 0), MB_ERR_LENGTH);
    MBT_EQ_INT(mb_xfer_tx_start(NULL, &c, 1, 1, blob, 1, 0), MB_ERR_NULL);
    MBT_EQ_INT(mb_xfer_tx_resume(&tx, 0), MB_ERR_STATE);
    MBT_EQ_INT(mb_xfer_tx_poll(NULL, 0), MB_ERR_NULL);
    MBT_EQ_INT(mb_xfer_tx_state(NULL), MB_XFER_IDLE);
    MBT_EQ_INT(mb_xfer_rx_state(NULL), MB_XFER_IDLE);
    mb_xfer_rx_reset(NULL);
    /* local abort */
    MBT_EQ_INT(mb_xfer_tx_start(&tx, &c, 1, 1, blob, 10, 0), MB_OK);
    MBT_EQ_INT(mb_xfer_tx_abort(&tx), MB_OK);
    MBT_EQ_INT(tx.abort_reason, MB_XFER_ABORT_LOCAL);
    /* reset wipes the received bytes */
    MBT_EQ_INT(mb_xfer_rx_init(&rx, &c, rbuf, sizeof(rbuf)), MB_OK);
    memset(rbuf, 0xAA, 10);
    mb_xfer_rx_reset(&rx);
    MBT_EQ_INT(rbuf[0] | rbuf[9], 0);
}

int main(void)
{
    MBT_RUN(crc16_vector);
    MBT_RUN(ids);
    MBT_RUN(clean_transfers);
    MBT_RUN(drops_are_retried);
    MBT_RUN(corrupt_frames_nack_then_retry);
    MBT_RUN(retries_exhausted_abort);
    MBT_RUN(resume_after_interruption);
    MBT_RUN(resume_with_fresh_sender);
    MBT_RUN(receiver_lost_state);
    MBT_RUN(refusals);
    MBT_RUN(end_to_end_crc);
    MBT_RUN(random_fault_soak);
    MBT_RUN(ignored_and_malformed);
    return mbt_finish("test_xfer");
}
