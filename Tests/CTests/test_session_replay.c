/*
 * test_session_replay.c - every earlier message or frame replayed is
 * rejected; messages reordered within the window are accepted exactly once;
 * replays across a rotation and a re-handshake are rejected.
 */
#include "mbt.h"
#include "test_session_util.h"

#define NMSG 100

static int check_counter = 1;

static tnode ctl, dev;
static mb_frame frames[NMSG][16];
static size_t nframes[NMSG];

static void setup(void)
{
    mb_session_cfg cfg;
    mb_session_cfg_defaults(&cfg);
    cfg.resync_after = 0;
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, &cfg), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, 0, &cfg), MB_OK);
    MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);
}

static void teardown(void)
{
    t_node_free(&ctl);
    t_node_free(&dev);
}

static void seal_n(size_t count, uint32_t now)
{
    size_t i;
    uint8_t pt[12];
    for (i = 0; i < count; i++) {
        memset(pt, (int)i, sizeof(pt));
        MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, sizeof(pt), now), MB_OK);
        nframes[i] = ctl.out.n;
        memcpy(frames[i], ctl.out.f, ctl.out.n * sizeof(mb_frame));
        ctl.out.n = 0;
    }
}

/* Feed message i; return 1 if delivered, and the last rx code. */
static int feed(size_t i, uint32_t now, int *code)
{
    size_t k;
    int got = 0;
    for (k = 0; k < nframes[i]; k++) {
        mb_session_msg m;
        *code = mb_session_rx(&dev.s, &frames[i][k], now, &m);
        if (m.ready) {
            got++;
            if (m.data[0] != (uint8_t)i || (check_counter && m.counter != i)) {
                got += 100;
            }
        }
    }
    return got;
}

static void test_replay_every_message(void)
{
    size_t i, k;
    int code, delivered = 0, replays = 0;
    setup();
    seal_n(NMSG, 1);
    for (i = 0; i < NMSG; i++) {
        delivered += feed(i, 2, &code);
    }
    MBT_EQ_INT(delivered, NMSG);
    for (i = 0; i < NMSG; i++) {
        replays += feed(i, 3, &code);
        if (i >= NMSG - 64) {
            MBT_EQ_INT(code, MB_ERR_REPLAY);         /* inside the window */
        } else {
            MBT_EQ_INT(code, MB_ERR_REPLAY);         /* behind it: too old */
        }
    }
    MBT_EQ_INT(replays, 0);
    /* Single frames replayed on their own never deliver anything. */
    for (i = 0; i < NMSG; i++) {
        for (k = 0; k < nframes[i]; k++) {
            mb_session_msg m;
            (void)mb_session_rx(&dev.s, &frames[i][k], 4, &m);
            replays += m.ready;
        }
    }
    MBT_EQ_INT(replays, 0);
    MBT_EQ_INT(t_count_ev(&dev, MB_EV_REJECT, MB_ERR_REPLAY), 2 * NMSG);
    teardown();
}

static void test_reorder_within_window(void)
{
    /* A fixed permutation of 0..39 that moves every message. */
    size_t order[40];
    size_t i;
    int code, delivered = 0;
    for (i = 0; i < 40; i++) {
        order[i] = (i * 17u + 5u) % 40u;
    }
    setup();
    seal_n(40, 1);
    for (i = 0; i < 40; i++) {
        delivered += feed(order[i], 2, &code);
    }
    MBT_EQ_INT(delivered, 40);
    for (i = 0; i < 40; i++) {
        delivered += feed(order[i], 3, &code);
    }
    MBT_EQ_INT(delivered, 40);                       /* exactly once */
    teardown();
}

static void test_window_edge(void)
{
    size_t i;
    int code, delivered = 0;
    setup();
    seal_n(NMSG, 1);
    MBT_EQ_INT(feed(NMSG - 1, 2, &code), 1);         /* counter 99 first */
    for (i = 0; i < NMSG - 1; i++) {
        int got = feed(i, 2, &code);
        delivered += got;
        /* Accepted iff 99 - i < 64, i.e. i >= 36. */
        MBT_EQ_INT(got, i >= 36 ? 1 : 0);
    }
    MBT_EQ_INT(delivered, 63);
    teardown();
}

static void test_replay_across_rotation_and_rehandshake(void)
{
    int code;
    check_counter = 0;
    setup();
    seal_n(3, 1);                                    /* epoch 0: messages 0..2 */
    MBT_EQ_INT(feed(0, 2, &code), 1);
    MBT_EQ_INT(mb_session_rekey(&ctl.s, 3), MB_OK);  /* request goes out in epoch 1 */
    t_deliver(&ctl, &dev, 3, NULL);
    MBT_EQ_INT(dev.s.rx_cur.epoch, 1);
    MBT_EQ_INT(feed(0, 4, &code), 0);                /* old epoch, inside grace */
    MBT_EQ_INT(code, MB_ERR_REPLAY);
    MBT_EQ_INT(feed(1, 4, &code), 1);                /* in flight: still accepted */
    MBT_EQ_INT(feed(2, 3 + 500, &code), 0);          /* grace over */
    MBT_EQ_INT(code, MB_ERR_EPOCH);
    /* A re-handshake: nothing from the old session is accepted after grace. */
    seal_n(2, 600);
    MBT_EQ_INT(mb_session_start(&ctl.s, 600), MB_OK);
    t_pump(&ctl, &dev, 601, NULL, NULL);
    MBT_EQ_INT(feed(0, 602, &code), 1);              /* sent before: in grace */
    MBT_EQ_INT(feed(0, 602, &code), 0);
    MBT_EQ_INT(code, MB_ERR_REPLAY);
    MBT_EQ_INT(feed(1, 601 + 501, &code), 0);
    MBT_EQ_INT(code, MB_ERR_EPOCH);
    teardown();
}

int main(void)
{
    MBT_RUN(test_replay_every_message);
    MBT_RUN(test_reorder_within_window);
    MBT_RUN(test_window_edge);
    MBT_RUN(test_replay_across_rotation_and_rehandshake);
    return mbt_finish("test_session_replay");
}
