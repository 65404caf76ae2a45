/*
 * test_observe.c - the passive observer (mb_observe.h) next to a real pair:
 * it follows the handshake, decrypts both directions byte for byte, follows
 * rotations and a second handshake, refuses replays, tampering, data before
 * a handshake, another pair's handshake and a wrong pair secret, and the
 * rotation of stored pair secrets (mb_ks_pair_rotate) keeps both ends in step.
 */
#include "mbt.h"
#include "test_session_util.h"
#include "modbatt/mb_observe.h"

static tnode ctl, dev;
static mb_observer obs;
static mb_aead obs_aead;

/* What the observer made of the frames it saw. */
typedef struct tally {
    size_t decrypted, handshakes, refused;
    int last_err;
    mb_observed last;       /* last message that decrypted */
} tally;

static void observe_init(mb_profile p, int variant, int flip_secret)
{
    mb_pair_keys k;
    uint8_t ps[32];
    t_pair_keys(0, variant, &k);
    MBT_EQ_INT(mb_session_pair_secret(&k, ps), MB_OK);
    ps[0] ^= (uint8_t)flip_secret;
    mb_aead_init(&obs_aead);
    MBT_EQ_INT(mb_observer_init(&obs, p, 0x05, ps, k.key_id, &obs_aead), MB_OK);
    mb_pair_keys_wipe(&k);
}

static void setup(mb_profile p, const mb_session_cfg *cfg, int variant, int flip_secret)
{
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, p, 0, cfg), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, p, 0, cfg), MB_OK);
    observe_init(p, variant, flip_secret);
}

static void teardown(void)
{
    t_node_free(&ctl);
    t_node_free(&dev);
    mb_observer_free(&obs);
    mb_aead_free(&obs_aead);
}

static void see(const mb_frame *f, uint32_t now, tally *t)
{
    static mb_observed o;
    int ret = mb_observer_rx(&obs, f, now, &o);
    if (ret != MB_OK) {
        t->refused++;
        t->last_err = ret;
    } else if (o.complete && o.decrypted) {
        t->decrypted++;
        t->last = o;
    } else if (o.handshake != MB_OBS_HS_NONE) {
        t->handshakes++;
    }
}

/* Frames `from` queued go to the observer (a bus tap) and to `to`. */
static void tap(tnode *from, tnode *to, uint32_t now, tally *t)
{
    static mb_frame q[TQ_MAX];
    size_t i, n = from->out.n;
    memcpy(q, from->out.f, n * sizeof(mb_frame));
    from->out.n = 0;
    for (i = 0; i < n; i++) {
        mb_session_msg m;
        see(&q[i], now, t);
        (void)mb_session_rx(&to->s, &q[i], now, &m);
    }
}

static void pump(uint32_t now, tally *t)
{
    int guard = 0;
    while ((ctl.out.n || dev.out.n) && guard++ < 16) {
        tap(&ctl, &dev, now, t);
        tap(&dev, &ctl, now, t);
    }
}

static void connect(uint32_t now, tally *t)
{
    MBT_EQ_INT(mb_session_start(&ctl.s, now), MB_OK);
    pump(now, t);
    MBT_CHECK(ctl.s.established && dev.s.established);
}

static void test_follows_handshake_and_decrypts(void)
{
    static const uint8_t status[10] = {0x9c, 0xb8, 0xfb, 0x2e, 0x00, 0xff, 0x22, 0x2e, 0x03, 0x04};
    static const uint8_t command[2] = {0x02, 0x00};
    tally t = {0};
    setup(MB_PROFILE_CLASSIC, NULL, 0, 0);
    connect(1, &t);
    MBT_EQ_INT((int)t.handshakes, 3);                  /* HELLO, REPLY, FINISH */
    MBT_EQ_INT(obs.sessions, 1);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_COMMAND, command, sizeof(command), 2), MB_OK);
    pump(2, &t);
    MBT_EQ_INT((int)t.decrypted, 1);
    MBT_EQ_INT(t.last.sender, MB_ROLE_CONTROLLER);
    MBT_EQ_INT(t.last.type, MB_MSG_COMMAND);
    MBT_EQ_INT(t.last.len, 2);
    MBT_EQ_MEM(t.last.data, command, sizeof(command));
    MBT_EQ_INT(mb_session_send(&dev.s, MB_MSG_STATUS, status, sizeof(status), 3), MB_OK);
    pump(3, &t);
    MBT_EQ_INT((int)t.decrypted, 2);
    MBT_EQ_INT(t.last.sender, MB_ROLE_DEVICE);
    MBT_EQ_INT(t.last.type, MB_MSG_STATUS);
    MBT_EQ_MEM(t.last.data, status, sizeof(status));
    MBT_EQ_INT((int)t.last.counter, 0);
    MBT_EQ_INT((int)t.refused, 0);
    teardown();
}

/* Rotation on request (both directions move to epoch 1), automatic rotation
 * by count, then a second handshake: the observer keeps up with all three. */
static void test_follows_rotation_and_rehandshake(void)
{
    mb_session_cfg cfg;
    uint8_t pt[4] = {1, 2, 3, 4};
    tally t = {0};
    int i;
    mb_session_cfg_defaults(&cfg);
    cfg.rekey_after_msgs = 5;
    setup(MB_PROFILE_FD, &cfg, 0, 0);
    connect(1, &t);
    for (i = 0; i < 12; i++) {
        pt[0] = (uint8_t)i;
        MBT_EQ_INT(mb_session_send(&dev.s, MB_MSG_STATUS, pt, sizeof(pt), (uint32_t)(10 + i)), MB_OK);
        MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_LIMITS, pt, sizeof(pt), (uint32_t)(10 + i)), MB_OK);
        pump((uint32_t)(10 + i), &t);
    }
    MBT_EQ_INT((int)t.decrypted, 24);
    MBT_EQ_INT((int)t.last.epoch, 2);                  /* 12 messages, 5 per epoch */
    MBT_EQ_INT(mb_session_rekey(&ctl.s, 30), MB_OK);   /* SECURITY request, decrypted too */
    pump(30, &t);
    MBT_EQ_INT(mb_session_send(&dev.s, MB_MSG_STATUS, pt, sizeof(pt), 31), MB_OK);
    pump(31, &t);
    MBT_EQ_INT((int)t.decrypted, 26);
    MBT_EQ_INT((int)t.last.epoch, 3);
    MBT_CHECK(t_count_ev(&dev, MB_EV_REKEY_REQUESTED, 1) == 1);   /* the devices agree */
    MBT_EQ_INT((int)t.refused, 0);
    /* The device restarts: a new handshake, new keys, counters from 0. */
    MBT_EQ_INT(mb_session_start(&dev.s, 1000), MB_OK);
    pump(1000, &t);
    MBT_EQ_INT(obs.sessions, 2);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_COMMAND, pt, 2, 1001), MB_OK);
    pump(1001, &t);
    MBT_EQ_INT((int)t.decrypted, 27);
    MBT_EQ_INT((int)t.last.epoch, 0);
    MBT_EQ_INT((int)t.last.counter, 0);
    MBT_EQ_INT((int)t.refused, 0);
    teardown();
}

static void test_refuses_replay_and_tamper(void)
{
    uint8_t pt[8] = {8, 7, 6, 5, 4, 3, 2, 1};
    mb_frame frames[8];
    size_t n, i;
    tally t = {0};
    static mb_observed o;
    setup(MB_PROFILE_CLASSIC, NULL, 0, 0);
    connect(1, &t);
    MBT_EQ_INT(mb_session_send(&dev.s, MB_MSG_STATUS, pt, sizeof(pt), 5), MB_OK);
    n = dev.out.n;
    MBT_CHECK(n <= 8);
    memcpy(frames, dev.out.f, n * sizeof(mb_frame));
    pump(5, &t);
    MBT_EQ_INT((int)t.decrypted, 1);
    for (i = 0; i < n; i++) {                          /* the same frames again */
        see(&frames[i], 6, &t);
    }
    MBT_EQ_INT(t.last_err, MB_ERR_REPLAY);
    MBT_EQ_INT((int)t.decrypted, 1);
    frames[n - 1].data[frames[n - 1].len - 1] ^= 0x01u;   /* a tag bit */
    frames[1].data[1] ^= 0x01u;                          /* the counter: looks new */
    t.last_err = MB_OK;
    for (i = 0; i < n; i++) {
        int ret = mb_observer_rx(&obs, &frames[i], 7, &o);
        if (i + 1 < n) {
            MBT_EQ_INT(ret, MB_OK);
        } else {
            MBT_EQ_INT(ret, MB_ERR_AUTH);
            MBT_EQ_INT(o.complete, 1);
            MBT_EQ_INT(o.decrypted, 0);
        }
    }
    teardown();
}

/* A log that starts after the handshake: the observer has no session keys. */
static void test_data_before_handshake(void)
{
    uint8_t pt[2] = {2, 0};
    tally t = {0};
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    MBT_EQ_INT(t_connect(&ctl, &dev, 1), 0);           /* not seen by the observer */
    observe_init(MB_PROFILE_CLASSIC, 0, 0);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_COMMAND, pt, sizeof(pt), 2), MB_OK);
    pump(2, &t);
    MBT_EQ_INT(t.last_err, MB_ERR_STATE);
    MBT_EQ_INT((int)t.decrypted, 0);
    teardown();
}

/* Keys of another pair: the HELLO names another key id and nothing decrypts;
 * the right key id with a wrong secret fails the HELLO's MAC, so the
 * observer takes no REPLY either. */
static void test_wrong_keys(void)
{
    uint8_t pt[2] = {2, 0};
    int flip;
    for (flip = 0; flip < 2; flip++) {
        tally t = {0};
        setup(MB_PROFILE_CLASSIC, NULL, flip ? 0 : 1, flip);
        MBT_EQ_INT(mb_session_start(&ctl.s, 1), MB_OK);
        tap(&ctl, &dev, 1, &t);
        MBT_EQ_INT(t.last_err, flip ? MB_ERR_AUTH : MB_ERR_HANDSHAKE);
        tap(&dev, &ctl, 1, &t);
        if (flip) {
            MBT_EQ_INT(t.last_err, MB_ERR_STATE);    /* a REPLY to a HELLO it refused */
        }
        pump(1, &t);
        MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_COMMAND, pt, sizeof(pt), 2), MB_OK);
        pump(2, &t);
        MBT_EQ_INT(t.last_err, MB_ERR_STATE);
        MBT_EQ_INT((int)t.decrypted, 0);
        MBT_EQ_INT(obs.sessions, 0);
        teardown();
    }
}

static void test_frames_not_for_it_and_nulls(void)
{
    static mb_observed o;
    mb_frame f;
    uint8_t ps[32] = {0}, kid[4] = {0};
    memset(&f, 0, sizeof(f));
    observe_init(MB_PROFILE_CLASSIC, 0, 0);
    f.id = 0x0C000206u;                                /* HELLO for device 0x06 */
    f.len = 8;
    MBT_EQ_INT(mb_observer_rx(&obs, &f, 0, &o), MB_ERR_CANID_RANGE);
    MBT_CHECK(!mb_observer_accepts(&obs, 0x10400105u));    /* 0x410: a transfer, not a session */
    MBT_CHECK(mb_observer_accepts(&obs, 0x0C000205u));
    MBT_CHECK(mb_observer_accepts(&obs, 0x0C440405u));
    MBT_CHECK(!mb_observer_accepts(NULL, 0x0C000205u));
    MBT_EQ_INT(mb_observer_rx(NULL, &f, 0, &o), MB_ERR_NULL);
    MBT_EQ_INT(mb_observer_rx(&obs, NULL, 0, &o), MB_ERR_NULL);
    MBT_EQ_INT(mb_observer_rx(&obs, &f, 0, NULL), MB_ERR_NULL);
    MBT_EQ_INT(mb_observer_init(NULL, MB_PROFILE_CLASSIC, 1, ps, kid, &obs_aead), MB_ERR_NULL);
    MBT_EQ_INT(mb_observer_init(&obs, MB_PROFILE_CLASSIC, 1, ps, kid, NULL), MB_ERR_NULL);
    MBT_EQ_INT(mb_observer_init(&obs, (mb_profile)7, 1, ps, kid, &obs_aead), MB_ERR_INVALID_ARG);
    mb_observer_free(NULL);
    mb_observer_free(&obs);
    mb_aead_free(&obs_aead);
}

/* Both ends rotate their stored entry once: same new secret and key id,
 * different from the old, and sessions from them still handshake. */
static void test_pair_secret_rotation(void)
{
    mb_pair_keys k;
    mb_ks_pair a, b, before;
    mb_session_cfg cfg;
    t_pair_keys(0, 0, &k);
    memset(&a, 0, sizeof(a));
    MBT_EQ_INT(mb_session_pair_secret(&k, a.secret), MB_OK);
    memcpy(a.key_id, k.key_id, 4);
    mb_pair_keys_wipe(&k);
    b = a;
    before = a;
    MBT_EQ_INT(mb_ks_pair_rotate(&a), MB_OK);
    MBT_EQ_INT(mb_ks_pair_rotate(&b), MB_OK);
    MBT_EQ_MEM(a.secret, b.secret, 32);
    MBT_EQ_MEM(a.key_id, b.key_id, 4);
    MBT_CHECK(memcmp(a.secret, before.secret, 32) != 0);
    MBT_CHECK(memcmp(a.key_id, before.key_id, 4) != 0);
    MBT_EQ_INT(mb_ks_pair_rotate(&b), MB_OK);          /* a second step differs again */
    MBT_CHECK(memcmp(a.secret, b.secret, 32) != 0);
    MBT_EQ_INT(mb_ks_pair_rotate(NULL), MB_ERR_NULL);

    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    t_cfg(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, &cfg);
    MBT_EQ_INT(mb_session_init_secret(&ctl.s, &cfg, a.secret, a.key_id), MB_OK);
    t_cfg(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, &cfg);
    MBT_EQ_INT(mb_session_init_secret(&dev.s, &cfg, b.secret, b.key_id), MB_OK);
    MBT_EQ_INT(mb_session_start(&ctl.s, 1), MB_OK);    /* one step apart: refused */
    t_pump(&ctl, &dev, 1, NULL, NULL);
    MBT_CHECK(!ctl.s.established && !dev.s.established);
    MBT_EQ_INT(mb_ks_pair_rotate(&a), MB_OK);          /* in step again */
    t_cfg(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, &cfg);
    MBT_EQ_INT(mb_session_init_secret(&ctl.s, &cfg, a.secret, a.key_id), MB_OK);
    t_cfg(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, &cfg);
    MBT_EQ_INT(mb_session_init_secret(&dev.s, &cfg, b.secret, b.key_id), MB_OK);
    MBT_EQ_INT(t_connect(&ctl, &dev, 500), 0);
    t_node_free(&ctl);
    t_node_free(&dev);
}

int main(void)
{
    MBT_RUN(test_follows_handshake_and_decrypts);
    MBT_RUN(test_follows_rotation_and_rehandshake);
    MBT_RUN(test_refuses_replay_and_tamper);
    MBT_RUN(test_data_before_handshake);
    MBT_RUN(test_wrong_keys);
    MBT_RUN(test_frames_not_for_it_and_nulls);
    MBT_RUN(test_pair_secret_rotation);
    return mbt_finish("test_observe");
}
