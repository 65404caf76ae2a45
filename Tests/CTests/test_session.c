/*
 * test_session.c - handshake, round trips in both profiles, policy and
 * handshake failures (wrong key, tampering, replay, timeout, rate limits).
 */
#include "mbt.h"
#include "test_session_util.h"

static tnode ctl, dev;
static tinbox box_c, box_d;

static void reset_boxes(void)
{
    memset(&box_c, 0, sizeof(box_c));
    memset(&box_d, 0, sizeof(box_d));
}

static void setup(mb_profile p)
{
    reset_boxes();
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, p, 0, NULL), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, p, 0, NULL), MB_OK);
}

static void teardown(void)
{
    t_node_free(&ctl);
    t_node_free(&dev);
}

static void test_handshake_frames(void)
{
    setup(MB_PROFILE_CLASSIC);
    MBT_EQ_INT(mb_session_start(&ctl.s, 1000), MB_OK);
    MBT_EQ_INT(ctl.out.n, 6);                        /* HELLO: 46 bytes */
    MBT_EQ_INT(ctl.out.f[0].id >> 18, 0x300);
    MBT_EQ_INT(ctl.out.f[0].id & 0xFF, 0x05);
    MBT_EQ_INT((ctl.out.f[0].id >> 17) & 1, 0);
    t_deliver(&ctl, &dev, 1001, &box_d);
    MBT_EQ_INT(dev.out.n, 5);                        /* REPLY: 38 bytes */
    MBT_EQ_INT(dev.out.f[0].id >> 18, 0x311);
    MBT_EQ_INT(dev.s.established, 0);
    t_deliver(&dev, &ctl, 1002, &box_c);
    MBT_EQ_INT(ctl.s.established, 1);
    MBT_EQ_INT(ctl.out.n, 2);                        /* FINISH: 16 bytes */
    MBT_EQ_INT(ctl.out.f[0].id >> 18, 0x302);
    t_deliver(&ctl, &dev, 1003, &box_d);
    MBT_EQ_INT(dev.s.established, 1);
    MBT_EQ_INT(box_c.errors + box_d.errors, 0);
    MBT_EQ_INT(t_count_ev(&ctl, MB_EV_HS_STARTED, MB_OK), 1);
    MBT_EQ_INT(t_count_ev(&dev, MB_EV_HS_ACCEPTED, MB_OK), 1);
    MBT_EQ_INT(t_count_ev(&ctl, MB_EV_HS_DONE, MB_OK), 1);
    MBT_EQ_INT(t_count_ev(&dev, MB_EV_HS_DONE, MB_OK), 1);
    teardown();

    setup(MB_PROFILE_FD);
    MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
    MBT_EQ_INT(ctl.out.n, 1);
    MBT_EQ_INT(ctl.out.f[0].len, 48);                /* 46 padded to 48 */
    MBT_CHECK((ctl.out.f[0].id & MB_CANID_SPARE_BIT) != 0);
    MBT_EQ_INT(ctl.out.f[0].data[46], 0xCC);
    MBT_EQ_INT(ctl.out.f[0].data[47], 2);
    t_deliver(&ctl, &dev, 1, &box_d);
    MBT_EQ_INT(dev.out.n, 1);
    MBT_EQ_INT(dev.out.f[0].len, 48);                /* 38 padded to 48 */
    t_pump(&ctl, &dev, 2, &box_c, &box_d);
    MBT_CHECK(ctl.s.established && dev.s.established);
    teardown();
}

static void roundtrip_profile(mb_profile p)
{
    uint8_t pt[MB_SEG_FD_MAX];
    size_t len, i, max = MB_SESSION_PT_MAX(p);
    unsigned bad = 0, frames_bad = 0;

    setup(p);
    MBT_EQ_INT(t_connect(&ctl, &dev, 10), 0);
    for (len = 0; len <= max; len++) {
        for (i = 0; i < len; i++) {
            pt[i] = (uint8_t)(len * 7u + i);
        }
        reset_boxes();
        MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, len, 20), MB_OK);
        if (ctl.out.n != mb_seg_frame_count(p, len + 28)) {
            frames_bad++;
        }
        for (i = 0; i < ctl.out.n; i++) {
            if ((ctl.out.f[i].id & MB_CANID_ENCRYPTED_BIT) == 0) {
                frames_bad++;
            }
            if (p == MB_PROFILE_FD && mb_seg_fd_len(ctl.out.f[i].len) != ctl.out.f[i].len) {
                frames_bad++;
            }
        }
        t_deliver(&ctl, &dev, 21, &box_d);
        MBT_EQ_INT(mb_session_send(&dev.s, MB_MSG_STATUS, pt, len, 22), MB_OK);
        t_deliver(&dev, &ctl, 23, &box_c);
        if (box_d.n != 1 || box_c.n != 1 || box_d.m[0].len != len || box_c.m[0].len != len ||
            memcmp(box_d.m[0].data, pt, len) != 0 || memcmp(box_c.m[0].data, pt, len) != 0 ||
            box_d.m[0].type != MB_MSG_APP_FIRST || box_c.m[0].type != MB_MSG_STATUS ||
            !box_d.m[0].encrypted || box_d.errors || box_c.errors) {
            bad++;
        }
    }
    MBT_EQ_INT(bad, 0);
    MBT_EQ_INT(frames_bad, 0);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, max + 1, 30), MB_ERR_LENGTH);
    /* A command carries its 4-byte freshness value: 4 bytes less room. */
    reset_boxes();
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_COMMAND, pt, max - 4, 31), MB_OK);
    MBT_EQ_INT(ctl.out.n, mb_seg_frame_count(p, max + 28));
    t_deliver(&ctl, &dev, 32, &box_d);
    MBT_EQ_INT(box_d.n, 1);
    MBT_EQ_INT(box_d.m[0].len, max - 4);
    MBT_CHECK(memcmp(box_d.m[0].data, pt, max - 4) == 0);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_COMMAND, pt, max - 3, 33), MB_ERR_LENGTH);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_HELLO, pt, 1, 30), MB_ERR_INVALID_ARG);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_SECURITY, pt, 1, 30), MB_ERR_INVALID_ARG);
    MBT_EQ_INT(mb_session_send(&ctl.s, 16, pt, 1, 30), MB_ERR_INVALID_ARG);
    teardown();
}

static void test_roundtrip_classic(void) { roundtrip_profile(MB_PROFILE_CLASSIC); }
static void test_roundtrip_fd(void) { roundtrip_profile(MB_PROFILE_FD); }

static void test_fd_single_frame(void)
{
    uint8_t pt[36] = { 1, 2, 3 };
    setup(MB_PROFILE_FD);
    MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, 36, 1), MB_OK);
    MBT_EQ_INT(ctl.out.n, 1);                        /* 64 bytes: no padding */
    MBT_EQ_INT(ctl.out.f[0].len, 64);
    MBT_CHECK((ctl.out.f[0].id & MB_CANID_SPARE_BIT) == 0);
    t_deliver(&ctl, &dev, 2, &box_d);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, 37, 3), MB_OK);
    MBT_EQ_INT(ctl.out.n, 2);                        /* 65 bytes: 64 + 1 */
    MBT_EQ_INT(ctl.out.f[1].len, 1);
    t_deliver(&ctl, &dev, 4, &box_d);
    MBT_EQ_INT(box_d.n, 2);
    teardown();
}

static void test_before_handshake(void)
{
    uint8_t pt[4] = { 0 };
    mb_session_msg m;
    setup(MB_PROFILE_CLASSIC);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_COMMAND, pt, 4, 0), MB_ERR_STATE);
    MBT_EQ_INT(mb_session_rekey(&ctl.s, 0), MB_ERR_STATE);
    /* Establish a third node with the device, then show its frames to ctl. */
    MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);
    MBT_EQ_INT(mb_session_send(&dev.s, MB_MSG_STATUS, pt, 4, 1), MB_OK);
    t_node_free(&ctl);
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    {
        size_t i;
        int last = MB_OK;
        for (i = 0; i < dev.out.n; i++) {
            last = mb_session_rx(&ctl.s, &dev.out.f[i], 2, &m);
        }
        MBT_EQ_INT(last, MB_ERR_STATE);
        MBT_EQ_INT(m.ready, 0);
    }
    teardown();
}

static void test_not_for_us(void)
{
    mb_frame f;
    mb_session_msg m;
    setup(MB_PROFILE_CLASSIC);
    memset(&f, 0, sizeof(f));
    f.len = 8;
    f.id = (0x310u << 18) | 0x06u;                   /* another device id */
    MBT_EQ_INT(mb_session_rx(&ctl.s, &f, 0, &m), MB_ERR_CANID_RANGE);
    f.id = (0x300u << 18) | 0x05u;                   /* our own direction */
    MBT_EQ_INT(mb_session_rx(&ctl.s, &f, 0, &m), MB_ERR_CANID_RANGE);
    f.id = (0x407u << 18) | 0x05u;                   /* key distribution ids */
    MBT_EQ_INT(mb_session_rx(&ctl.s, &f, 0, &m), MB_ERR_CANID_RANGE);
    MBT_CHECK(!mb_session_accepts(&ctl.s, 0x20000000u));
    MBT_CHECK(mb_session_accepts(&ctl.s, (0x316u << 18) | 0x05u));
    MBT_CHECK(mb_session_accepts(&dev.s, (0x304u << 18) | 0x05u));
    MBT_EQ_INT(ctl.nev, 0);
    teardown();
}

static void test_clear_diag_policy(void)
{
    uint8_t diag[5] = { 1, 2, 0x12, 0x34, 0x56 };
    mb_session_cfg cfg;
    setup(MB_PROFILE_CLASSIC);
    MBT_EQ_INT(mb_session_send_clear_diag(&dev.s, diag, 5), MB_ERR_POLICY);
    teardown();

    /* Sender allows, receiver (default) refuses. */
    reset_boxes();
    mb_session_cfg_defaults(&cfg);
    cfg.allow_clear_diag = 1;
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, 0, &cfg), MB_OK);
    MBT_EQ_INT(mb_session_send_clear_diag(&dev.s, diag, 5), MB_OK);
    MBT_EQ_INT(dev.out.n, 1);
    MBT_EQ_INT((dev.out.f[0].id >> 17) & 1, 0);
    MBT_EQ_INT(dev.out.f[0].id >> 18, 0x317);
    t_deliver(&dev, &ctl, 0, &box_c);
    MBT_EQ_INT(box_c.last_err, MB_ERR_POLICY);
    MBT_EQ_INT(box_c.n, 0);
    MBT_EQ_INT(t_count_ev(&ctl, MB_EV_REJECT, MB_ERR_POLICY), 1);
    teardown();

    /* Both allow: delivered as clear, even with no session. */
    reset_boxes();
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, &cfg), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, 0, &cfg), MB_OK);
    MBT_EQ_INT(mb_session_send_clear_diag(&dev.s, diag, 5), MB_OK);
    t_deliver(&dev, &ctl, 0, &box_c);
    MBT_EQ_INT(box_c.n, 1);
    MBT_EQ_INT(box_c.m[0].encrypted, 0);
    MBT_EQ_INT(box_c.m[0].type, MB_MSG_DIAG);
    MBT_EQ_INT(box_c.m[0].len, 5);
    MBT_EQ_MEM(box_c.m[0].data, diag, 5);
    /* A clear frame on any other data id is refused even then. */
    {
        mb_frame f;
        mb_session_msg m;
        memset(&f, 0, sizeof(f));
        f.id = (0x316u << 18) | 0x05u;
        f.len = 3;
        MBT_EQ_INT(mb_session_rx(&ctl.s, &f, 1, &m), MB_ERR_POLICY);
    }
    teardown();
}

static void test_wrong_pair_key(void)
{
    reset_boxes();
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, 1, NULL), MB_OK);
    MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
    t_deliver(&ctl, &dev, 1, &box_d);
    MBT_EQ_INT(box_d.last_err, MB_ERR_HANDSHAKE);
    MBT_EQ_INT(dev.out.n, 0);
    MBT_EQ_INT(t_count_ev(&dev, MB_EV_REJECT, MB_ERR_HANDSHAKE), 1);   /* not our handshake */
    MBT_EQ_INT(mb_session_poll(&ctl.s, 250), MB_OK);
    MBT_EQ_INT(mb_session_poll(&ctl.s, 251), MB_ERR_TIMEOUT);
    MBT_EQ_INT(t_count_ev(&ctl, MB_EV_HS_FAILED, MB_ERR_TIMEOUT), 1);
    MBT_EQ_INT(mb_session_poll(&ctl.s, 400), MB_OK);  /* reported once */
    MBT_CHECK(!ctl.s.established && !dev.s.established);
    teardown();
}

/* Flip one bit in the k-th frame sent by `from` during a handshake step. */
static void flip(tnode *from, size_t k, size_t byte, unsigned bit)
{
    from->out.f[k].data[byte] ^= (uint8_t)(1u << bit);
}

static void test_tampered_handshake(void)
{
    /* Tampered HELLO (nonce, counter, MAC_H): the responder checks MAC_H
     * and neither answers nor changes state (protocol v2). */
    {
        static const size_t frame_of[3] = { 1, 3, 5 };
        size_t k;
        for (k = 0; k < 3; k++) {
            setup(MB_PROFILE_CLASSIC);
            MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
            flip(&ctl, frame_of[k], 3, 0);
            t_deliver(&ctl, &dev, 1, &box_d);
            MBT_EQ_INT(box_d.last_err, MB_ERR_AUTH);
            MBT_EQ_INT(dev.out.n, 0);                /* no REPLY */
            MBT_EQ_INT(dev.s.hs.state, 0);
            MBT_EQ_INT(dev.s.hs.answered_any, 0);
            MBT_EQ_INT(t_count_ev(&dev, MB_EV_REJECT, MB_ERR_AUTH), 1);
            MBT_EQ_INT(t_count_ev(&dev, MB_EV_HS_FAILED, MB_ERR_AUTH), 0);
            teardown();
        }
    }

    /* Tampered REPLY (nonce, then MAC). */
    {
        size_t byte;
        for (byte = 0; byte < 2; byte++) {
            setup(MB_PROFILE_CLASSIC);
            MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
            t_deliver(&ctl, &dev, 1, &box_d);
            flip(&dev, byte == 0 ? 1 : 4, 2, 7);
            t_deliver(&dev, &ctl, 2, &box_c);
            MBT_EQ_INT(box_c.last_err, MB_ERR_AUTH);
            MBT_CHECK(!ctl.s.established);
            teardown();
        }
    }

    /* Tampered key id in the REPLY. */
    setup(MB_PROFILE_CLASSIC);
    MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
    t_deliver(&ctl, &dev, 1, &box_d);
    flip(&dev, 0, 3, 1);
    t_deliver(&dev, &ctl, 2, &box_c);
    MBT_EQ_INT(box_c.last_err, MB_ERR_HANDSHAKE);
    teardown();

    /* Tampered FINISH. */
    setup(MB_PROFILE_CLASSIC);
    MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
    t_deliver(&ctl, &dev, 1, &box_d);
    t_deliver(&dev, &ctl, 2, &box_c);
    flip(&ctl, 1, 7, 7);
    t_deliver(&ctl, &dev, 3, &box_d);
    MBT_EQ_INT(box_d.last_err, MB_ERR_AUTH);
    MBT_CHECK(!dev.s.established);
    MBT_EQ_INT(mb_session_poll(&dev.s, 300), MB_ERR_TIMEOUT);
    teardown();

    /* Unsupported version in HELLO. */
    setup(MB_PROFILE_CLASSIC);
    MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
    flip(&ctl, 0, 0, 1);
    t_deliver(&ctl, &dev, 1, &box_d);
    MBT_EQ_INT(box_d.last_err, MB_ERR_VERSION);
    teardown();
}

static void test_replayed_handshake(void)
{
    tq old_c, old_d;
    uint8_t pt[3] = { 9, 8, 7 };
    size_t i;

    setup(MB_PROFILE_CLASSIC);
    MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
    old_c.n = 0;
    old_d.n = 0;
    for (i = 0; i < ctl.out.n; i++) old_c.f[old_c.n++] = ctl.out.f[i];
    t_deliver(&ctl, &dev, 1, &box_d);
    for (i = 0; i < dev.out.n; i++) old_d.f[old_d.n++] = dev.out.f[i];
    t_deliver(&dev, &ctl, 2, &box_c);
    for (i = 0; i < ctl.out.n; i++) old_c.f[old_c.n++] = ctl.out.f[i];
    t_deliver(&ctl, &dev, 3, &box_d);
    MBT_CHECK(ctl.s.established && dev.s.established);

    /* A second, genuine handshake. */
    MBT_EQ_INT(mb_session_start(&ctl.s, 1000), MB_OK);
    t_pump(&ctl, &dev, 1001, &box_c, &box_d);
    MBT_EQ_INT(box_c.errors + box_d.errors, 0);

    /* Replay the old HELLO: its counter is not above the newest answered,
     * so it is refused without an answer or any state change (v2), and the
     * old FINISH finds no handshake to complete. */
    reset_boxes();
    for (i = 0; i < T_HELLO_FRAMES; i++) {
        mb_session_msg m;
        box_d.last_err = mb_session_rx(&dev.s, &old_c.f[i], 2000, &m);
    }
    MBT_EQ_INT(box_d.last_err, MB_ERR_REPLAY);
    MBT_EQ_INT(dev.s.hs.state, 0);
    MBT_EQ_INT(dev.out.n, 0);
    MBT_EQ_INT(t_count_ev(&dev, MB_EV_CLONE_SUSPECT, MB_ERR_REPLAY), 0);
    for (i = T_HELLO_FRAMES; i < old_c.n; i++) {
        mb_session_msg m;
        box_d.last_err = mb_session_rx(&dev.s, &old_c.f[i], 2001, &m);
    }
    MBT_EQ_INT(box_d.last_err, MB_ERR_STATE);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_COMMAND, pt, 3, 2002), MB_OK);
    t_deliver(&ctl, &dev, 2002, &box_d);
    MBT_EQ_INT(box_d.n, 1);                          /* current keys still fine */

    /* Replay the old REPLY to an initiator waiting for a new one. */
    MBT_EQ_INT(mb_session_start(&ctl.s, 3000), MB_OK);
    ctl.out.n = 0;
    for (i = 0; i < old_d.n; i++) {
        mb_session_msg m;
        box_c.last_err = mb_session_rx(&ctl.s, &old_d.f[i], 3001, &m);
    }
    MBT_EQ_INT(box_c.last_err, MB_ERR_AUTH);
    MBT_EQ_INT(ctl.out.n, 0);
    /* REPLY when no handshake is pending. */
    MBT_EQ_INT(mb_session_poll(&ctl.s, 3300), MB_ERR_TIMEOUT);
    for (i = 0; i < old_d.n; i++) {
        mb_session_msg m;
        box_c.last_err = mb_session_rx(&ctl.s, &old_d.f[i], 3301, &m);
    }
    MBT_EQ_INT(box_c.last_err, MB_ERR_STATE);
    teardown();
}

static void test_rate_limits(void)
{
    size_t i;
    tq hello;
    setup(MB_PROFILE_CLASSIC);
    MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
    MBT_EQ_INT(mb_session_start(&ctl.s, 99), MB_ERR_RATE_LIMITED);
    hello.n = 0;
    for (i = 0; i < ctl.out.n; i++) hello.f[hello.n++] = ctl.out.f[i];
    t_deliver(&ctl, &dev, 1, &box_d);
    MBT_EQ_INT(dev.out.n, 5);
    dev.out.n = 0;
    /* Same HELLO again: a replay, refused whatever the time. */
    for (i = 0; i < hello.n; i++) {
        mb_session_msg m;
        box_d.last_err = mb_session_rx(&dev.s, &hello.f[i], 500, &m);
    }
    MBT_EQ_INT(box_d.last_err, MB_ERR_REPLAY);
    /* A genuine, newer HELLO 10 ms later: below half the interval, refused. */
    ctl.s.cfg.hs_min_interval_ms = 10;
    ctl.out.n = 0;
    MBT_EQ_INT(mb_session_start(&ctl.s, 10), MB_OK);
    t_deliver(&ctl, &dev, 11, &box_d);
    MBT_EQ_INT(box_d.last_err, MB_ERR_RATE_LIMITED);
    MBT_EQ_INT(dev.out.n, 0);
    ctl.s.cfg.hs_min_interval_ms = 100;
    MBT_EQ_INT(mb_session_start(&ctl.s, 110), MB_OK);
    teardown();
}

static void test_reboot_and_simultaneous(void)
{
    uint8_t pt[10] = { 0 };
    mb_session_cfg cfg;
    setup(MB_PROFILE_CLASSIC);
    MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);
    MBT_EQ_INT(mb_session_send(&dev.s, MB_MSG_STATUS, pt, 10, 1), MB_OK);
    t_deliver(&dev, &ctl, 1, &box_c);
    /* The device reboots: counters restart from 0 under new keys. */
    t_node_free(&dev);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    dev.rng_state = 0xabcdefull;
    MBT_EQ_INT(mb_session_start(&dev.s, 5000), MB_OK);
    t_pump(&ctl, &dev, 5001, &box_c, &box_d);
    MBT_CHECK(ctl.s.established && dev.s.established);
    MBT_EQ_INT(mb_session_send(&dev.s, MB_MSG_STATUS, pt, 10, 5002), MB_OK);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_COMMAND, pt, 2, 5002), MB_OK);
    t_pump(&ctl, &dev, 5003, &box_c, &box_d);
    MBT_EQ_INT(box_c.n, 2);
    MBT_EQ_INT(box_d.n, 1);
    MBT_EQ_INT(box_c.errors + box_d.errors, 0);
    teardown();

    /* Both start at once: the controller's HELLO wins. */
    setup(MB_PROFILE_CLASSIC);
    MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
    MBT_EQ_INT(mb_session_start(&dev.s, 0), MB_OK);
    t_pump(&ctl, &dev, 1, &box_c, &box_d);
    MBT_CHECK(ctl.s.established && dev.s.established);
    MBT_EQ_INT(box_c.last_err, MB_ERR_STATE);        /* the device's HELLO, ignored */
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_COMMAND, pt, 2, 2), MB_OK);
    t_deliver(&ctl, &dev, 3, &box_d);
    MBT_EQ_INT(box_d.n, 1);
    teardown();

    /* Bad configurations. */
    mb_session_cfg_defaults(&cfg);
    cfg.rekey_after_msgs = 0;
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, &cfg), MB_ERR_INVALID_ARG);
    mb_session_cfg_defaults(&cfg);
    cfg.hs_timeout_ms = 0;
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, &cfg), MB_ERR_INVALID_ARG);
    MBT_EQ_INT(mb_session_init(NULL, &cfg, NULL), MB_ERR_NULL);
    mb_session_cfg_defaults(&cfg);
    {
        mb_pair_keys k;
        t_pair_keys(0, 0, &k);
        MBT_EQ_INT(mb_session_init(&ctl.s, &cfg, &k), MB_ERR_NULL);  /* no callbacks */
    }
}

static void test_rng_and_tx_failure(void)
{
    setup(MB_PROFILE_CLASSIC);
    ctl.rng_fail = 1;
    MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_ERR_RNG);
    MBT_EQ_INT(t_count_ev(&ctl, MB_EV_HS_FAILED, MB_ERR_RNG), 1);
    ctl.rng_fail = 0;
    ctl.tx_fail = 1;
    MBT_EQ_INT(mb_session_start(&ctl.s, 200), MB_ERR_CRYPTO);
    MBT_EQ_INT(ctl.s.hs.state, 0);
    ctl.tx_fail = 0;
    MBT_EQ_INT(mb_session_start(&ctl.s, 400), MB_OK);
    t_deliver(&ctl, &dev, 401, &box_d);
    dev.rng_fail = 1;
    teardown();
}

/* Events never carry key bytes: the struct has no room for them, and no
 * 4-byte run of any session key appears in the event log. */
static void test_events_no_keys(void)
{
    size_t i;
    uint8_t pt[20] = { 0 };
    setup(MB_PROFILE_CLASSIC);
    MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);
    MBT_EQ_INT(mb_session_rekey(&ctl.s, 1), MB_OK);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_COMMAND, pt, 20, 2), MB_OK);
    t_pump(&ctl, &dev, 3, &box_c, &box_d);
    MBT_CHECK(sizeof(mb_event) <= 32);
    for (i = 0; i + 4 <= sizeof(ctl.s.tx_key); i++) {
        size_t e;
        for (e = 0; e < ctl.nev; e++) {
            const uint8_t *p = (const uint8_t *)&ctl.ev[e];
            size_t j;
            for (j = 0; j + 4 <= sizeof(mb_event); j++) {
                MBT_CHECK(memcmp(p + j, ctl.s.tx_key + i, 4) != 0);
            }
        }
    }
    teardown();
}

/* Firmware keeps only PS and the key id (the key store): a session set up
 * from them talks to one set up from the pair keys. */
static void test_init_from_secret(void)
{
    mb_pair_keys kc, kd;
    uint8_t ps_c[32], ps_d[32];
    mb_session_cfg cfg;
    uint8_t pt[5] = { 1, 2, 3, 4, 5 };
    setup(MB_PROFILE_CLASSIC);
    t_pair_keys(0, 0, &kc);
    t_pair_keys(1, 0, &kd);
    MBT_EQ_INT(mb_session_pair_secret(&kc, ps_c), MB_OK);
    MBT_EQ_INT(mb_session_pair_secret(&kd, ps_d), MB_OK);
    MBT_EQ_MEM(ps_c, ps_d, 32);                      /* both sides agree */
    MBT_EQ_MEM(ps_c, ctl.s.pair_secret, 32);
    MBT_EQ_INT(mb_session_pair_secret(NULL, ps_c), MB_ERR_NULL);
    cfg = dev.s.cfg;
    mb_session_free(&dev.s);
    MBT_EQ_INT(mb_session_init_secret(&dev.s, &cfg, ps_d, kd.key_id), MB_OK);
    MBT_EQ_INT(mb_session_init_secret(&dev.s, &cfg, NULL, kd.key_id), MB_ERR_NULL);
    MBT_EQ_INT(mb_session_init_secret(&dev.s, &cfg, ps_d, kd.key_id), MB_OK);
    MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);
    MBT_EQ_INT(mb_session_send(&dev.s, MB_MSG_STATUS, pt, 5, 1), MB_OK);
    t_deliver(&dev, &ctl, 1, &box_c);
    MBT_EQ_INT(box_c.n, 1);
    mb_pair_keys_wipe(&kc);
    mb_pair_keys_wipe(&kd);
    teardown();
}

/* A pack controller with two modules on one bus: two controller sessions
 * sharing one AES-GCM work context; the modules' frames interleave; every
 * frame reaches both sessions, each takes only its own pair's. */
static tnode ctl2, dev2;

static void test_two_pairs_one_bus(void)
{
    uint8_t a[100], b[100];
    size_t i, n, got_a = 0, got_b = 0, foreign = 0;
    setup(MB_PROFILE_CLASSIC);
    MBT_EQ_INT(t_node_init(&ctl2, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    MBT_EQ_INT(t_node_init(&dev2, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    ctl2.s.cfg.device_id = 6;
    dev2.s.cfg.device_id = 6;
    ctl2.s.cfg.aead = &ctl.aead;                     /* one work context */
    MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);
    MBT_EQ_INT(t_connect(&ctl2, &dev2, 0), 0);
    MBT_CHECK(memcmp(ctl.s.tx_key, ctl2.s.tx_key, 32) != 0);   /* device id bound in SK */
    memset(a, 0xA1, sizeof(a));
    memset(b, 0xB2, sizeof(b));
    MBT_EQ_INT(mb_session_send(&dev.s, MB_MSG_STATUS, a, 100, 1), MB_OK);
    MBT_EQ_INT(mb_session_send(&dev2.s, MB_MSG_STATUS, b, 100, 1), MB_OK);
    n = dev.out.n;
    MBT_EQ_INT(dev2.out.n, n);
    for (i = 0; i < 2 * n; i++) {
        const mb_frame *f = (i % 2 == 0) ? &dev.out.f[i / 2] : &dev2.out.f[i / 2];
        mb_session_msg m;
        int r1 = mb_session_rx(&ctl.s, f, 2, &m);
        if (r1 == MB_OK && m.ready) got_a += m.len == 100 && m.data[0] == 0xA1;
        r1 = mb_session_rx(&ctl2.s, f, 2, &m);
        if (r1 == MB_OK && m.ready) got_b += m.len == 100 && m.data[0] == 0xB2;
        foreign += r1 == MB_ERR_CANID_RANGE;
    }
    MBT_EQ_INT(got_a, 1);
    MBT_EQ_INT(got_b, 1);
    MBT_EQ_INT(foreign, n);
    MBT_EQ_INT(t_count_ev(&ctl, MB_EV_REJECT, 1), 0);
    mb_session_free(&ctl2.s);
    mb_aead_free(&ctl2.aead);
    t_node_free(&dev2);
    teardown();
}

int main(void)
{
    MBT_RUN(test_handshake_frames);
    MBT_RUN(test_roundtrip_classic);
    MBT_RUN(test_roundtrip_fd);
    MBT_RUN(test_fd_single_frame);
    MBT_RUN(test_before_handshake);
    MBT_RUN(test_not_for_us);
    MBT_RUN(test_clear_diag_policy);
    MBT_RUN(test_wrong_pair_key);
    MBT_RUN(test_tampered_handshake);
    MBT_RUN(test_replayed_handshake);
    MBT_RUN(test_rate_limits);
    MBT_RUN(test_reboot_and_simultaneous);
    MBT_RUN(test_rng_and_tx_failure);
    MBT_RUN(test_events_no_keys);
    MBT_RUN(test_init_from_secret);
    MBT_RUN(test_two_pairs_one_bus);
    return mbt_finish("test_session");
}
