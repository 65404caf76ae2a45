/*
 * test_rotation.c - automatic rotation by message count and by time, rekey
 * on request, in-flight messages across a rotation, the nonce never
 * repeating on the wire over a long run, the counter limit, the epoch
 * limit, and failure-driven resynchronisation with its rate limit.
 */
#include "mbt.h"
#include "test_session_util.h"

static tnode ctl, dev;

static void setup(const mb_session_cfg *cfg, mb_profile p)
{
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, p, 0, cfg), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, p, 0, cfg), MB_OK);
    MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);
}

static void teardown(void)
{
    t_node_free(&ctl);
    t_node_free(&dev);
}

#define RUN 3000
static uint8_t ivs[2 * RUN][12];

static int cmp_iv(const void *a, const void *b)
{
    return memcmp(a, b, 12);
}

/* Record the IV of the message whose frames start at q->f[from]. */
static void take_iv(const tq *q, size_t from, size_t *n)
{
    size_t i, got = 0;
    for (i = from; i < q->n && got < 12; i++) {
        size_t take = q->f[i].len < 12 - got ? q->f[i].len : 12 - got;
        memcpy(ivs[*n] + got, q->f[i].data, take);
        got += take;
    }
    (*n)++;
}

static void test_long_run_counters_never_repeat(void)
{
    mb_session_cfg cfg;
    tinbox bc, bd;
    size_t i, niv = 0, dups = 0;
    unsigned lost = 0;
    uint32_t now = 1;

    mb_session_cfg_defaults(&cfg);
    cfg.rekey_after_msgs = 7;
    cfg.rekey_after_ms = 400;
    setup(&cfg, MB_PROFILE_CLASSIC);
    for (i = 0; i < RUN; i++) {
        uint8_t pt[9];
        memset(pt, (int)i, sizeof(pt));
        now += 3;
        memset(&bc, 0, sizeof(bc));
        memset(&bd, 0, sizeof(bd));
        MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, sizeof(pt), now), MB_OK);
        take_iv(&ctl.out, 0, &niv);
        if (i % 5 == 0) {
            MBT_EQ_INT(mb_session_send(&dev.s, MB_MSG_STATUS, pt, sizeof(pt), now), MB_OK);
            take_iv(&dev.out, 0, &niv);
        }
        if (i % 97 == 0) {
            size_t from = dev.out.n;
            MBT_EQ_INT(mb_session_rekey(&dev.s, now), MB_OK);
            take_iv(&dev.out, from, &niv);
        }
        t_pump(&ctl, &dev, now, &bc, &bd);
        (void)mb_session_poll(&ctl.s, now);
        (void)mb_session_poll(&dev.s, now);
        if (bd.n != 1 || bd.errors || bc.errors || bd.m[0].data[0] != (uint8_t)i) {
            lost++;
        }
    }
    MBT_EQ_INT(lost, 0);
    MBT_CHECK(ctl.s.tx_epoch > RUN / 7 - 5);
    MBT_CHECK(dev.s.tx_epoch > 30);
    MBT_EQ_INT(dev.s.rx_cur.epoch, ctl.s.tx_epoch);
    qsort(ivs, niv, 12, cmp_iv);
    for (i = 1; i < niv; i++) {
        dups += memcmp(ivs[i - 1], ivs[i], 12) == 0;
    }
    MBT_CHECK(niv > RUN);
    MBT_EQ_INT(dups, 0);
    MBT_CHECK(t_count_ev(&ctl, MB_EV_REKEY_TX, MB_OK) >= RUN / 7 - 5);
    MBT_CHECK(t_count_ev(&dev, MB_EV_REKEY_RX, MB_OK) >= RUN / 7 - 5);
    MBT_CHECK(t_count_ev(&ctl, MB_EV_REKEY_REQUESTED, MB_OK) >= 30);
    teardown();
}

static void test_time_based(void)
{
    mb_session_cfg cfg;
    uint8_t pt[1] = { 1 };
    mb_session_cfg_defaults(&cfg);
    cfg.rekey_after_ms = 50;
    setup(&cfg, MB_PROFILE_FD);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, 1, 10), MB_OK);
    MBT_EQ_INT(ctl.s.tx_epoch, 0);
    MBT_EQ_INT(mb_session_poll(&ctl.s, 49), MB_OK);
    MBT_EQ_INT(ctl.s.tx_epoch, 0);
    MBT_EQ_INT(mb_session_poll(&ctl.s, 50), MB_OK);
    MBT_EQ_INT(ctl.s.tx_epoch, 1);
    /* An idle epoch is not rotated again (the peer follows one step only). */
    MBT_EQ_INT(mb_session_poll(&ctl.s, 200), MB_OK);
    MBT_EQ_INT(ctl.s.tx_epoch, 1);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, 1, 201), MB_OK);
    t_deliver(&ctl, &dev, 201, NULL);
    MBT_EQ_INT(dev.s.rx_cur.epoch, 1);
    teardown();
}

static void test_in_flight_across_rotation(void)
{
    mb_session_cfg cfg;
    tq held;
    tinbox bd;
    uint8_t pt[30] = { 7 };
    mb_session_cfg_defaults(&cfg);
    setup(&cfg, MB_PROFILE_CLASSIC);
    memset(&bd, 0, sizeof(bd));
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, 30, 1), MB_OK);
    held = ctl.out;                                  /* epoch 0, delayed */
    ctl.out.n = 0;
    MBT_EQ_INT(mb_session_rekey(&ctl.s, 2), MB_OK);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_LIMITS, pt, 30, 2), MB_OK);
    t_deliver(&ctl, &dev, 3, &bd);                   /* epoch 1 first */
    ctl.out = held;
    t_deliver(&ctl, &dev, 4, &bd);                   /* then the old one */
    MBT_EQ_INT(bd.n, 2);
    MBT_EQ_INT(bd.m[0].epoch, 1);
    MBT_EQ_INT(bd.m[1].epoch, 0);
    MBT_EQ_INT(bd.errors, 0);
    MBT_EQ_INT(mb_session_poll(&dev.s, 3 + 500), MB_OK);
    MBT_EQ_INT(dev.s.rx_prev.valid, 0);
    MBT_EQ_INT(t_count_ev(&dev, MB_EV_GRACE_END, MB_OK), 1);
    teardown();
}

static void test_counter_and_epoch_limits(void)
{
    mb_session_cfg cfg;
    tinbox bd;
    uint8_t pt[2] = { 1, 2 };
    mb_session_cfg_defaults(&cfg);
    cfg.rekey_after_msgs = MB_SESSION_COUNTER_LIMIT;
    setup(&cfg, MB_PROFILE_CLASSIC);
    memset(&bd, 0, sizeof(bd));
    /* Jump close to the limit (as if 2^32 - 1 messages had been sent). */
    ctl.s.tx_nonce.next = MB_SESSION_COUNTER_LIMIT - 1u;
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, 2, 1), MB_OK);
    MBT_EQ_INT(ctl.s.tx_epoch, 0);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, 2, 2), MB_OK);
    MBT_EQ_INT(ctl.s.tx_epoch, 1);                   /* rotated, never wrapped */
    MBT_EQ_INT(ctl.s.tx_nonce.next, 1);
    t_deliver(&ctl, &dev, 3, &bd);
    MBT_EQ_INT(bd.n, 2);
    MBT_EQ_INT(bd.m[0].counter, MB_SESSION_COUNTER_LIMIT - 1u);
    /* The last epoch cannot be rotated: a handshake is needed. */
    ctl.s.tx_epoch = UINT32_MAX;
    ctl.s.tx_nonce.next = MB_SESSION_COUNTER_LIMIT;
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, 2, 4), MB_ERR_NONCE_EXHAUSTED);
    MBT_EQ_INT(mb_session_rekey(&ctl.s, 4), MB_ERR_NONCE_EXHAUSTED);
    teardown();

    /* A receiver refuses counters at or above the limit. */
    mb_session_cfg_defaults(&cfg);
    setup(&cfg, MB_PROFILE_CLASSIC);
    ctl.s.cfg.rekey_after_msgs = UINT64_MAX;         /* a broken sender */
    ctl.s.tx_nonce.limit = UINT64_MAX;
    ctl.s.tx_nonce.next = MB_SESSION_COUNTER_LIMIT;
    memset(&bd, 0, sizeof(bd));
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, 2, 1), MB_OK);
    t_deliver(&ctl, &dev, 1, &bd);
    MBT_EQ_INT(bd.n, 0);
    MBT_EQ_INT(bd.last_err, MB_ERR_MALFORMED);
    teardown();
}

/* The controller skips an epoch (its messages lost): the device sees an
 * unknown epoch, and after resync_after failures runs the handshake again,
 * at most once per resync_min_interval_ms. */
static void test_resync(void)
{
    mb_session_cfg cfg;
    tinbox bc, bd;
    uint8_t pt[4] = { 4 };
    int i;
    mb_session_cfg_defaults(&cfg);
    cfg.resync_after = 3;
    setup(&cfg, MB_PROFILE_CLASSIC);
    memset(&bd, 0, sizeof(bd));
    memset(&bc, 0, sizeof(bc));
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, 4, 1), MB_OK);
    MBT_EQ_INT(mb_session_rekey(&ctl.s, 1), MB_OK);  /* epoch 1, lost */
    ctl.out.n = 0;
    MBT_EQ_INT(mb_session_rekey(&ctl.s, 1), MB_OK);  /* epoch 2 */
    ctl.out.n = 0;
    for (i = 0; i < 2; i++) {
        MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, 4, 2), MB_OK);
        t_deliver(&ctl, &dev, 2, &bd);
        MBT_EQ_INT(bd.last_err, MB_ERR_EPOCH);
    }
    MBT_EQ_INT(dev.out.n, 0);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, 4, 3), MB_OK);
    t_deliver(&ctl, &dev, 3, &bd);                   /* third failure: resync */
    MBT_EQ_INT(t_count_ev(&dev, MB_EV_RESYNC, MB_ERR_EPOCH), 1);
    MBT_EQ_INT(dev.out.n, T_HELLO_FRAMES);           /* a HELLO */
    MBT_EQ_INT(dev.out.f[0].data[1], MB_SESSION_FLAG_RESYNC);
    t_pump(&ctl, &dev, 4, &bc, &bd);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, 4, 5), MB_OK);
    memset(&bd, 0, sizeof(bd));
    t_deliver(&ctl, &dev, 5, &bd);
    MBT_EQ_INT(bd.n, 1);                             /* recovered */
    MBT_EQ_INT(bd.errors, 0);

    /* Garbage with the controller's ids: resyncs are rate-limited. */
    for (i = 0; i < 30; i++) {
        mb_frame f;
        mb_session_msg m;
        unsigned k;
        memset(&f, 0xA5, sizeof(f));
        for (k = 0; k < 4; k++) {
            f.id = (0x304u << 18) | MB_CANID_ENCRYPTED_BIT | (k << 12) | (3u << 8) | 0x05u;
            f.len = (uint8_t)(k < 3 ? 8 : 4);
            memset(f.data, 0xA5, 8);
            if (k == 0) memset(f.data + 4, 0, 4);    /* a small counter, */
            if (k == 1) memset(f.data, 0, 4);        /* an unknown epoch */
            (void)mb_session_rx(&dev.s, &f, (uint32_t)(100 + 100 * i), &m);
        }
        (void)mb_session_poll(&dev.s, (uint32_t)(100 + 100 * i));
    }
    /* 30 forged messages over 3 s: at most one resync per second. */
    MBT_EQ_INT(t_count_ev(&dev, MB_EV_RESYNC, 1), 3);
    dev.out.n = 0;
    teardown();
}

int main(void)
{
    MBT_RUN(test_long_run_counters_never_repeat);
    MBT_RUN(test_time_based);
    MBT_RUN(test_in_flight_across_rotation);
    MBT_RUN(test_counter_and_epoch_limits);
    MBT_RUN(test_resync);
    return mbt_finish("test_rotation");
}
