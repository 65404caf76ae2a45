/*
 * test_fresh_commands.c - protocol v2, command freshness (docs/PROTOCOL.md
 * 7.5): a delayed, reordered or suppressed-then-replayed command is never
 * applied, and the receiver reports the injected chunk that suppressed it.
 *
 * The attack of issue #14: the controller sends COMMAND "on"; an attacker
 * records it and, right after its first chunk, injects a frame under the
 * same message id claiming "chunk 1 of 1", so the device drops the partial
 * message. The controller then sends "off" (delivered at t = 5 s). At
 * t = 30 min the attacker replays "on". Protocol v1 delivered it (counter 0
 * was inside the replay window); v2 refuses it as stale.
 */
#include "mbt.h"
#include "test_session_util.h"

static tnode ctl, dev;
static tinbox box;

static void setup(void)
{
    memset(&box, 0, sizeof(box));
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);
}

static void teardown(void)
{
    t_node_free(&ctl);
    t_node_free(&dev);
}

/* Seal a COMMAND at `now` and take its frames out of ctl's queue. */
static size_t command(uint8_t state, uint32_t now, mb_frame *frames)
{
    mb_command c;
    uint8_t pt[MB_COMMAND_LEN];
    size_t len, n;

    c.state = state;
    MBT_EQ_INT(mb_msg_encode_command(&c, pt, sizeof(pt), &len), MB_OK);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_COMMAND, pt, len, now), MB_OK);
    n = ctl.out.n;
    memcpy(frames, ctl.out.f, n * sizeof(mb_frame));
    ctl.out.n = 0;
    return n;
}

/* Feed frames to the device; returns how many messages it delivered. */
static size_t feed(const mb_frame *frames, size_t n, uint32_t now)
{
    size_t i, before = box.n;
    for (i = 0; i < n; i++) {
        mb_session_msg m;
        int ret = mb_session_rx(&dev.s, &frames[i], now, &m);
        if (ret != MB_OK) {
            box.last_err = ret;
            box.errors++;
        } else if (m.ready && box.n < 64) {
            box.m[box.n++] = m;
        }
    }
    return box.n - before;
}

static uint8_t delivered_state(size_t i)
{
    mb_command c;
    MBT_EQ_INT(mb_msg_decode_command(box.m[i].data, box.m[i].len, &c), MB_OK);
    return c.state;
}

/* The frame an attacker injects: the message's id, "chunk 1 of 1". */
static mb_frame injected_first_chunk(const mb_frame *genuine)
{
    mb_frame f = *genuine;
    f.id &= ~(uint32_t)0xFF00u;               /* chunk index 0, total 1 */
    memset(f.data, 0xA5, sizeof(f.data));
    return f;
}

static void test_suppressed_then_replayed_command(void)
{
    mb_frame on[16], off[16], inject;
    size_t n_on, n_off;

    setup();
    n_on = command(MB_STATE_ON, 10, on);
    MBT_CHECK(n_on >= 2);
    /* Chunk 1 arrives, then the injected "1 of 1": the partial is dropped. */
    MBT_EQ_INT(feed(on, 1, 11), 0);
    inject = injected_first_chunk(&on[0]);
    dev.nev = 0;
    MBT_EQ_INT(feed(&inject, 1, 11), 0);
    MBT_CHECK(box.errors >= 1);
    /* The receiver reports it: a rejected frame/message under COMMAND's id. */
    MBT_CHECK(t_count_ev(&dev, MB_EV_REJECT, 1) >= 1);
    MBT_EQ_INT(dev.ev[0].msg_id, mb_msg_id(MB_ROLE_CONTROLLER, MB_MSG_COMMAND));
    (void)feed(on + 1, n_on - 1, 12);          /* the rest: orphans, refused */
    MBT_EQ_INT(box.n, 0);

    n_off = command(MB_STATE_OFF, 5000, off);
    MBT_EQ_INT(feed(off, n_off, 5000), 1);
    MBT_EQ_INT(delivered_state(0), MB_STATE_OFF);

    /* 30 minutes later the recorded "on" comes back: stale, not applied. */
    dev.nev = 0;
    MBT_EQ_INT(feed(on, n_on, 1800000u), 0);
    MBT_EQ_INT(box.last_err, MB_ERR_STALE);
    MBT_EQ_INT(t_count_ev(&dev, MB_EV_REJECT, MB_ERR_STALE), 1);
    MBT_EQ_INT(box.n, 1);
    teardown();
}

/* Commands apply in the order sent: an older one never overtakes a newer
 * one (no reorder window, unlike data), whatever the type. */
static void test_order_strictly_increasing(void)
{
    mb_frame a[16], b[16], lim[16], data[16];
    uint8_t limits[MB_LIMITS_LEN] = { 0 };
    uint8_t pt[4] = { 1, 2, 3, 4 };
    size_t na, nb, nl, nd;

    setup();
    na = command(MB_STATE_ON, 10, a);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_LIMITS, limits, sizeof(limits), 11), MB_OK);
    nl = ctl.out.n;
    memcpy(lim, ctl.out.f, nl * sizeof(mb_frame));
    ctl.out.n = 0;
    nd = t_seal(&ctl, pt, sizeof(pt), 12, data);
    nb = command(MB_STATE_OFF, 13, b);
    MBT_EQ_INT(feed(b, nb, 20), 1);            /* the newest first */
    MBT_EQ_INT(feed(a, na, 21), 0);
    MBT_EQ_INT(box.last_err, MB_ERR_STALE);
    MBT_EQ_INT(feed(lim, nl, 22), 0);          /* older than the newest command */
    MBT_EQ_INT(box.last_err, MB_ERR_STALE);
    MBT_EQ_INT(feed(data, nd, 23), 1);         /* data keeps its reorder window */
    MBT_EQ_INT(feed(b, nb, 24), 0);            /* and a replay is still a replay */
    MBT_EQ_INT(box.last_err, MB_ERR_REPLAY);
    MBT_EQ_INT(delivered_state(0), MB_STATE_OFF);
    teardown();
}

/* The age bound: the device (responder, anchored up to hs_timeout_ms after
 * the controller) refuses a command delayed by more than fresh_max_age_ms
 * minus that uncertainty, and always accepts one delayed by less. */
static void test_age_bound(void)
{
    mb_frame f[16];
    uint32_t max_age = 1000u, hs_timeout = 250u;
    size_t n;

    setup();                                   /* both anchored at t = 0 */
    n = command(MB_STATE_ON, 100, f);
    MBT_EQ_INT(feed(f, n, 100 + max_age - hs_timeout), 1);
    n = command(MB_STATE_OFF, 2000, f);
    MBT_EQ_INT(feed(f, n, 2000 + max_age - hs_timeout + 1u), 0);
    MBT_EQ_INT(box.last_err, MB_ERR_STALE);
    /* The controller as receiver (initiator, anchored first) has no slack. */
    {
        mb_session_msg m;
        uint8_t pt[MB_COMMAND_LEN] = { MB_STATE_ON, 0 };
        size_t i;
        int last = MB_OK;
        MBT_EQ_INT(mb_session_send(&dev.s, MB_MSG_COMMAND, pt, sizeof(pt), 3000), MB_OK);
        for (i = 0; i < dev.out.n; i++) {
            last = mb_session_rx(&ctl.s, &dev.out.f[i], 3000 + max_age + 1u, &m);
        }
        MBT_EQ_INT(last, MB_ERR_STALE);
        dev.out.n = 0;
        MBT_EQ_INT(mb_session_send(&dev.s, MB_MSG_COMMAND, pt, sizeof(pt), 4000), MB_OK);
        for (i = 0; i < dev.out.n; i++) {
            last = mb_session_rx(&ctl.s, &dev.out.f[i], 4000 + max_age, &m);
        }
        MBT_EQ_INT(last, MB_OK);
        MBT_CHECK(m.ready);
        dev.out.n = 0;
    }
    teardown();
}

/* A command sealed under the previous session's keys is refused after a new
 * handshake, even inside that session's grace period; data is not. */
static void test_old_session_commands(void)
{
    mb_frame cmd[16], data[16];
    uint8_t pt[3] = { 7, 7, 7 };
    size_t nc, nd;

    setup();
    nc = command(MB_STATE_ON, 10, cmd);
    nd = t_seal(&ctl, pt, sizeof(pt), 10, data);
    MBT_EQ_INT(mb_session_start(&ctl.s, 100), MB_OK);
    t_pump(&ctl, &dev, 100, NULL, NULL);
    MBT_CHECK(dev.s.rx_prev.valid && dev.s.rx_prev.older_session);
    MBT_EQ_INT(feed(data, nd, 101), 1);
    MBT_EQ_INT(feed(cmd, nc, 101), 0);
    MBT_EQ_INT(box.last_err, MB_ERR_STALE);
    teardown();
}

/* The controller renews the handshake every rehandshake_ms (re-anchoring
 * command ages); the device never does; traffic flows throughout. */
static void test_rehandshake_reanchors(void)
{
    mb_session_cfg cfg;
    mb_frame f[16];
    size_t n;

    memset(&box, 0, sizeof(box));
    mb_session_cfg_defaults(&cfg);
    cfg.rehandshake_ms = 60000u;
    cfg.rekey_after_ms = 0u;
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, &cfg), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, 0, &cfg), MB_OK);
    MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);
    MBT_EQ_INT(mb_session_poll(&ctl.s, 59999u), MB_OK);
    MBT_EQ_INT(mb_session_poll(&dev.s, 59999u), MB_OK);
    MBT_EQ_INT(ctl.out.n + dev.out.n, 0);
    MBT_EQ_INT(mb_session_poll(&dev.s, 60000u), MB_OK);
    MBT_EQ_INT(dev.out.n, 0);                  /* the device waits */
    MBT_EQ_INT(mb_session_poll(&ctl.s, 60000u), MB_OK);
    MBT_EQ_INT(ctl.out.n, T_HELLO_FRAMES);     /* a new HELLO */
    t_pump(&ctl, &dev, 60001u, NULL, NULL);
    MBT_EQ_INT(t_count_ev(&dev, MB_EV_HS_DONE, MB_OK), 2);
    MBT_EQ_INT(ctl.s.anchor_ms, 60001u);
    /* A command 30 s into the new anchor is fresh (it would not be aged
     * from the first anchor's point of view only by drift; here: accepted). */
    n = command(MB_STATE_ON, 90000u, f);
    MBT_EQ_INT(feed(f, n, 90000u), 1);
    teardown();
}

/* Configuration: commands are types 4..15 only; the age bound is not 0. */
static void test_config(void)
{
    mb_session_cfg cfg;
    mb_session_cfg_defaults(&cfg);
    MBT_EQ_INT(cfg.fresh_types, (1u << MB_MSG_COMMAND) | (1u << MB_MSG_LIMITS));
    MBT_EQ_INT(cfg.fresh_max_age_ms, 1000u);
    cfg.fresh_types = 1u << MB_MSG_SECURITY;
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, &cfg), MB_ERR_INVALID_ARG);
    mb_session_cfg_defaults(&cfg);
    cfg.fresh_max_age_ms = 0u;
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, &cfg), MB_ERR_INVALID_ARG);
    /* An application type declared a command gets the same rules. */
    mb_session_cfg_defaults(&cfg);
    cfg.fresh_types |= 1u << MB_MSG_APP_FIRST;
    memset(&box, 0, sizeof(box));
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, &cfg), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, 0, &cfg), MB_OK);
    MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);
    {
        mb_frame f[16];
        uint8_t pt[2] = { 1, 2 };
        size_t n = t_seal(&ctl, pt, sizeof(pt), 10, f);
        MBT_EQ_INT(feed(f, n, 5000), 0);
        MBT_EQ_INT(box.last_err, MB_ERR_STALE);
    }
    teardown();
}

int main(void)
{
    MBT_RUN(test_suppressed_then_replayed_command);
    MBT_RUN(test_order_strictly_increasing);
    MBT_RUN(test_age_bound);
    MBT_RUN(test_old_session_commands);
    MBT_RUN(test_rehandshake_reanchors);
    MBT_RUN(test_config);
    return mbt_finish("test_fresh_commands");
}
