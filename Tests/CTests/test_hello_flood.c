/*
 * test_hello_flood.c - protocol v2, authenticated HELLO (docs/PROTOCOL.md
 * 6.3): a stranger on the bus cannot keep a pair from establishing.
 *
 * Issue #14's attack: forged HELLOs every 50 ms in both directions kept a
 * controller and a device unestablished for 60 s and longer under v1
 * (answering any HELLO reset the responder's handshake, and forged and
 * genuine HELLOs shared one rate-limit slot). Here, under that flood and
 * under a replay of recorded genuine HELLOs, a pair establishes within 2 s
 * of both sides being up and again within 2 s after either side reboots;
 * a forged or replayed HELLO leaves the receiver's state untouched.
 */
#include "mbt.h"
#include "test_session_util.h"

#define FLOOD_PERIOD_MS 50u
#define RETRY_MS        300u    /* the nodes' retry policy: start when idle */
#define LIMIT_MS        2000u

static tnode ctl, dev;
static uint32_t dev_boots, ctl_boots;

static void boot(tnode *n, mb_role role, uint32_t boots)
{
    mb_session_cfg cfg;
    t_cfg(n, role, MB_PROFILE_CLASSIC, &cfg);
    cfg.hello_counter_base = (uint64_t)boots << 32;   /* a persisted boot count */
    MBT_EQ_INT(t_node_init(n, role, MB_PROFILE_CLASSIC, 0, &cfg), MB_OK);
    n->rng_state ^= (uint64_t)boots * 0x9E3779B97F4A7C15ull;   /* other nonces each boot */
}

/* A forged HELLO: right version and (public) key id, anything else. */
static size_t forged_hello(mb_role sender, uint64_t *seed, mb_frame *out)
{
    uint8_t hello[MB_SESSION_HELLO_LEN];
    size_t i;
    for (i = 0; i < sizeof(hello); i++) {
        *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
        hello[i] = (uint8_t)(*seed >> 56);
    }
    hello[0] = MB_PROTO_VERSION;
    hello[1] = 0;
    memcpy(hello + 2, ctl.s.key_id, MB_KEY_ID_LEN);
    hello[22] = 0x7F;                          /* a huge counter, for good measure */
    return t_frames_of(sender, MB_MSG_HELLO, hello, sizeof(hello), out);
}

/* Recorded genuine HELLO frames, replayed by the attacker. */
typedef struct recording {
    mb_frame f[64][8];
    size_t len[64];
    size_t n;
} recording;

static recording rec_ctl, rec_dev;

static void record_hellos(const tnode *n, recording *r)
{
    size_t i, start = 0;
    for (i = 0; i < n->out.n; i++) {
        mb_canid f;
        mb_role role;
        unsigned type;
        (void)mb_canid_decode(n->out.f[i].id, &f);
        (void)mb_msg_parse_id(f.msg_id, &role, &type);
        if (type == MB_MSG_HELLO && f.chunk_index == 1 && r->n < 64) {
            start = i;
            memcpy(r->f[r->n], &n->out.f[start], T_HELLO_FRAMES * sizeof(mb_frame));
            r->len[r->n++] = T_HELLO_FRAMES;
        }
    }
}

/* Feed frames to a node; if `untouched`, its handshake state must not move. */
static void inject(tnode *to, const mb_frame *f, size_t n, uint32_t now, size_t *state_moved)
{
    mb_hs before = to->s.hs;
    uint8_t established = to->s.established;
    size_t i;
    for (i = 0; i < n; i++) {
        mb_session_msg m;
        (void)mb_session_rx(&to->s, &f[i], now, &m);
    }
    if (memcmp(&before, &to->s.hs, sizeof(before)) != 0 || established != to->s.established) {
        (*state_moved)++;
    }
}

typedef enum { ATTACK_FORGE, ATTACK_REPLAY } attack;

static int both_up(void)
{
    return ctl.s.established && dev.s.established && ctl.out.n == 0 && dev.out.n == 0 &&
           ctl.s.hs.state == 0 && dev.s.hs.state == 0;
}

/* Run the bus for `duration` ms from `from` under the attack, which starts
 * with the run and never stops; returns when the pair was first established
 * (ms after `from`; `duration` if never). Every ms: both nodes poll and
 * retry, the attacker sends one HELLO each way every `period` ms (ahead of
 * the genuine frames of that ms, so it lands between handshake steps), and
 * the queued frames are delivered. */
static uint32_t run(uint32_t from, uint32_t duration, uint32_t period, attack a,
                    size_t *state_moved)
{
    static mb_frame q[TQ_MAX], evil[16];
    uint64_t seed = 0xC0FFEEull + from;
    uint32_t now, first = duration;
    size_t k = 0;

    for (now = from; now < from + duration; now++) {
        if (first == duration && both_up()) {
            first = now - from;
        }
        (void)mb_session_poll(&ctl.s, now);
        (void)mb_session_poll(&dev.s, now);
        if (!ctl.s.established && ctl.s.hs.state == 0 && (now - from) % RETRY_MS == 0) {
            (void)mb_session_start(&ctl.s, now);
        }
        if (!dev.s.established && dev.s.hs.state == 0 && (now - from) % RETRY_MS == 150) {
            (void)mb_session_start(&dev.s, now);
        }
        if ((now - from) % period == 0) {
            if (a == ATTACK_FORGE) {
                size_t n = forged_hello(MB_ROLE_CONTROLLER, &seed, evil);
                inject(&dev, evil, n, now, state_moved);
                n = forged_hello(MB_ROLE_DEVICE, &seed, evil);
                inject(&ctl, evil, n, now, state_moved);
            } else if (rec_ctl.n && rec_dev.n) {
                inject(&dev, rec_ctl.f[k % rec_ctl.n], rec_ctl.len[k % rec_ctl.n], now, state_moved);
                inject(&ctl, rec_dev.f[k % rec_dev.n], rec_dev.len[k % rec_dev.n], now, state_moved);
                k++;
            }
        }
        {
            size_t n = ctl.out.n, i;
            memcpy(q, ctl.out.f, n * sizeof(mb_frame));
            ctl.out.n = 0;
            for (i = 0; i < n; i++) {
                mb_session_msg m;
                (void)mb_session_rx(&dev.s, &q[i], now, &m);
            }
            n = dev.out.n;
            memcpy(q, dev.out.f, n * sizeof(mb_frame));
            dev.out.n = 0;
            for (i = 0; i < n; i++) {
                mb_session_msg m;
                (void)mb_session_rx(&ctl.s, &q[i], now, &m);
            }
        }
    }
    return first;
}

/* After a run: both still established, and a message goes each way. */
static void check_traffic(uint32_t now)
{
    uint8_t pt[4] = { 1, 2, 3, 4 };
    tinbox bc, bd;
    memset(&bc, 0, sizeof(bc));
    memset(&bd, 0, sizeof(bd));
    MBT_CHECK(both_up());
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, sizeof(pt), now), MB_OK);
    MBT_EQ_INT(mb_session_send(&dev.s, MB_MSG_STATUS, pt, sizeof(pt), now), MB_OK);
    t_pump(&ctl, &dev, now, &bc, &bd);
    MBT_EQ_INT(bc.n, 1);
    MBT_EQ_INT(bd.n, 1);
}

/* Reboot one node at `at` while the forged flood goes on; the pair must be
 * back within LIMIT_MS and carry traffic. */
static void reboot_under_flood(tnode *n, mb_role role, uint32_t *boots, uint32_t at, uint32_t period,
                               size_t *moved)
{
    uint32_t took;
    t_node_free(n);
    boot(n, role, ++*boots);
    took = run(at, 5000u, period, ATTACK_FORGE, moved);
    printf("  %s reboot under it: re-established after %u ms\n",
           role == MB_ROLE_DEVICE ? "device" : "controller", (unsigned)took);
    MBT_CHECK(took <= LIMIT_MS);
    check_traffic(at + 5000u);
}

static void test_forged_flood(void)
{
    size_t moved = 0;
    uint32_t took;

    static const uint32_t periods[2] = { FLOOD_PERIOD_MS, 1u };
    int p;

    for (p = 0; p < 2; p++) {
        uint32_t period = periods[p];
        boot(&ctl, MB_ROLE_CONTROLLER, ++ctl_boots);
        boot(&dev, MB_ROLE_DEVICE, ++dev_boots);
        took = run(0, 5000u, period, ATTACK_FORGE, &moved);
        printf("  forged HELLOs every %u ms both ways: established after %u ms\n",
               (unsigned)period, (unsigned)took);
        MBT_CHECK(took <= LIMIT_MS);
        check_traffic(5000u);
        MBT_EQ_INT(moved, 0);                  /* no forged HELLO moved any state */
        MBT_CHECK(t_count_ev(&dev, MB_EV_REJECT, MB_ERR_AUTH) >= 100u);   /* each one seen */
        MBT_CHECK(t_count_ev(&ctl, MB_EV_REJECT, MB_ERR_AUTH) >= 100u);
        MBT_EQ_INT(t_count_ev(&dev, MB_EV_HS_FAILED, 1), 0);

        /* Either side reboots under the flood: back within 2 s. */
        reboot_under_flood(&dev, MB_ROLE_DEVICE, &dev_boots, 10000u, period, &moved);
        reboot_under_flood(&ctl, MB_ROLE_CONTROLLER, &ctl_boots, 20000u, period, &moved);
        MBT_EQ_INT(moved, 0);
        t_node_free(&ctl);
        t_node_free(&dev);
    }
}

/* Recorded genuine HELLOs (both directions, several sessions) replayed
 * every 50 ms, also right after the receivers reboot (when they no longer
 * remember the newest counter): the genuine sender's counter is above
 * every recorded one, so its HELLO still wins. */
static void test_replayed_flood(void)
{
    size_t moved = 0;
    uint32_t took;
    int i;

    memset(&rec_ctl, 0, sizeof(rec_ctl));
    memset(&rec_dev, 0, sizeof(rec_dev));
    boot(&ctl, MB_ROLE_CONTROLLER, ++ctl_boots);
    boot(&dev, MB_ROLE_DEVICE, ++dev_boots);
    for (i = 0; i < 4; i++) {                  /* record four handshakes each way */
        MBT_EQ_INT(mb_session_start(&ctl.s, (uint32_t)(1000 * i)), MB_OK);
        record_hellos(&ctl, &rec_ctl);
        t_pump(&ctl, &dev, (uint32_t)(1000 * i), NULL, NULL);
        MBT_EQ_INT(mb_session_start(&dev.s, (uint32_t)(1000 * i + 500)), MB_OK);
        record_hellos(&dev, &rec_dev);
        t_pump(&ctl, &dev, (uint32_t)(1000 * i + 500), NULL, NULL);
    }
    MBT_EQ_INT(rec_ctl.n, 4);
    MBT_EQ_INT(rec_dev.n, 4);

    /* The replays against established nodes: refused, nothing moves. */
    took = run(5000u, 1000u, FLOOD_PERIOD_MS, ATTACK_REPLAY, &moved);
    MBT_EQ_INT(took, 0);
    MBT_EQ_INT(moved, 0);
    check_traffic(6000u);
    MBT_CHECK(t_count_ev(&dev, MB_EV_REJECT, MB_ERR_REPLAY) >= 1);
    MBT_EQ_INT(t_count_ev(&dev, MB_EV_CLONE_SUSPECT, 1), 0);

    /* Both reboot: the replays may each be answered once (the receivers
     * forgot the counters), but establishment still follows within 2 s. */
    t_node_free(&ctl);
    t_node_free(&dev);
    boot(&ctl, MB_ROLE_CONTROLLER, ++ctl_boots);
    boot(&dev, MB_ROLE_DEVICE, ++dev_boots);
    took = run(10000u, 5000u, FLOOD_PERIOD_MS, ATTACK_REPLAY, &moved);
    printf("  recorded HELLOs replayed every %u ms after both rebooted: established after %u ms\n",
           FLOOD_PERIOD_MS, (unsigned)took);
    MBT_CHECK(took <= LIMIT_MS);
    check_traffic(15000u);
    t_node_free(&ctl);
    t_node_free(&dev);
}

/* Two different authentic HELLOs with one counter: only a second holder of
 * the pair key (a cloned device) can produce that; it is reported. */
static void test_clone_evidence(void)
{
    mb_frame first[8], second[8];
    size_t moved = 0;

    boot(&ctl, MB_ROLE_CONTROLLER, 1);
    boot(&dev, MB_ROLE_DEVICE, 1);
    MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
    memcpy(first, ctl.out.f, T_HELLO_FRAMES * sizeof(mb_frame));
    t_pump(&ctl, &dev, 0, NULL, NULL);
    MBT_CHECK(ctl.s.established && dev.s.established);
    /* The clone: same key, same persisted counter, other nonce. */
    t_node_free(&ctl);
    boot(&ctl, MB_ROLE_CONTROLLER, 1);
    ctl.rng_state ^= 0x5555ull;
    MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
    memcpy(second, ctl.out.f, T_HELLO_FRAMES * sizeof(mb_frame));
    ctl.out.n = 0;
    MBT_CHECK(memcmp(first, second, sizeof(first)) != 0);
    inject(&dev, first, T_HELLO_FRAMES, 10, &moved);      /* a plain replay */
    MBT_EQ_INT(t_count_ev(&dev, MB_EV_CLONE_SUSPECT, 1), 0);
    inject(&dev, second, T_HELLO_FRAMES, 20, &moved);     /* the clone */
    MBT_EQ_INT(t_count_ev(&dev, MB_EV_CLONE_SUSPECT, MB_ERR_REPLAY), 1);
    MBT_EQ_INT(moved, 0);
    MBT_CHECK(dev.s.established);
    t_node_free(&ctl);
    t_node_free(&dev);
}

/* The HELLO counter never repeats: it starts above the base and a node
 * that has sent UINT64_MAX refuses to send another. */
static void test_counter_exhausted(void)
{
    boot(&ctl, MB_ROLE_CONTROLLER, 1);
    ctl.s.hs.tx_counter = UINT64_MAX - 1u;
    MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
    MBT_CHECK(ctl.s.hs.tx_counter == UINT64_MAX);
    MBT_EQ_INT(mb_session_start(&ctl.s, 1000), MB_ERR_NONCE_EXHAUSTED);
    t_node_free(&ctl);
}

int main(void)
{
    MBT_RUN(test_forged_flood);
    MBT_RUN(test_replayed_flood);
    MBT_RUN(test_clone_evidence);
    MBT_RUN(test_counter_exhausted);
    return mbt_finish("test_hello_flood");
}
