/*
 * test_ephemeral.c - the optional ephemeral P-256 exchange in the handshake
 * (mb_kex.h, docs/PROTOCOL.md 6.6): forward secrecy for the app <-> pack link.
 *
 * The property of issue #15 item 6: a recorded session cannot be decrypted
 * with the pair secret alone. The recording is replayed to a passive
 * observer that holds the pair secret (mb_observe.h): without the exchange
 * it reads every message; with it, it reads none, and neither do keys derived
 * from the pair secret by hand; adding the ECDH secret (which only the two
 * ends ever held) reads them all, so the recording is the real thing.
 *
 * Also: a node without the pair secret never gets a key exchange computed
 * (forged HELLO, forged REPLY), the flag cannot be stripped, the two ends must
 * agree, a bad point from a key holder fails cleanly, and the secrets are
 * wiped as soon as the handshake no longer needs them.
 */
#include <stdint.h>
#include <stdlib.h>

#include "mbt.h"
#include "test_session_util.h"
#include "modbatt/mb_kex.h"
#include "../../CSources/mb_session_priv.h"   /* mbs_hs_keys, mbs_hs_mix_ephemeral, ... */

/* An mb_kex that counts its operations, remembers the last shared secret
 * (standing in for an attacker who also broke ECDH) and can fail on demand. */
typedef struct counting_kex {
    mb_kex            k;                  /* first: the session sees only this */
    mb_kex_keypair_fn real_keypair;
    mb_kex_agree_fn   real_agree;
    unsigned          keypairs, agrees;
    int               fail_keypair;
    uint8_t           z_seen[MB_KEX_SECRET_LEN];
} counting_kex;

static int c_keypair(mb_kex *k, mb_rng_fn rng, void *user)
{
    counting_kex *c = (counting_kex *)k;
    c->keypairs++;
    return c->fail_keypair ? MB_ERR_RNG : c->real_keypair(k, rng, user);
}

static int c_agree(const mb_kex *k, const uint8_t peer[MB_KEX_PUB_LEN], mb_rng_fn rng,
                   void *user, uint8_t z[MB_KEX_SECRET_LEN])
{
    counting_kex *c = (counting_kex *)(uintptr_t)k;
    int ret = c->real_agree(k, peer, rng, user, z);
    c->agrees++;
    if (ret == MB_OK) {
        memcpy(c->z_seen, z, MB_KEX_SECRET_LEN);
    }
    return ret;
}

static void counting_init(counting_kex *c)
{
    memset(c, 0, sizeof(*c));
    mb_kex_p256_init(&c->k);
    c->real_keypair = c->k.keypair;
    c->real_agree = c->k.agree;
    c->k.keypair = c_keypair;
    c->k.agree = c_agree;
}

static tnode ctl, dev;
static counting_kex kex_ctl, kex_dev;

/* Both nodes on `profile`; each uses its exchange when its flag is set. */
static void setup(mb_profile profile, int ctl_eph, int dev_eph)
{
    mb_session_cfg cfg;
    counting_init(&kex_ctl);
    counting_init(&kex_dev);
    mb_session_cfg_defaults(&cfg);
    cfg.kex = ctl_eph ? &kex_ctl.k : NULL;
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, profile, 0, &cfg), MB_OK);
    cfg.kex = dev_eph ? &kex_dev.k : NULL;
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, profile, 0, &cfg), MB_OK);
}

static void teardown(void)
{
    t_node_free(&ctl);
    t_node_free(&dev);
}

static int all_zero(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (p[i] != 0u) {
            return 0;
        }
    }
    return 1;
}

/* ---- a recording of everything on the bus -------------------------------- */

typedef struct recording {
    mb_frame f[512];
    size_t n;
} recording;

static recording rec;

/* Deliver what `from` queued to `to`, recording every frame. */
static void deliver_recorded(tnode *from, tnode *to, uint32_t now, tinbox *box)
{
    size_t i;
    for (i = 0; i < from->out.n && rec.n < 512; i++) {
        rec.f[rec.n++] = from->out.f[i];
    }
    t_deliver(from, to, now, box);
}

/* A handshake and three messages each way, all on the recording. */
static void record_session(void)
{
    static const uint8_t pt[3][8] = { "cell 3.7", "temp 21C", "soc  88%" };
    tinbox to_dev, to_ctl;
    int guard = 0, i;
    memset(&rec, 0, sizeof(rec));
    memset(&to_dev, 0, sizeof(to_dev));
    memset(&to_ctl, 0, sizeof(to_ctl));
    MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
    while ((ctl.out.n || dev.out.n) && guard++ < 8) {
        deliver_recorded(&ctl, &dev, 1, NULL);
        deliver_recorded(&dev, &ctl, 1, NULL);
    }
    MBT_CHECK(ctl.s.established && dev.s.established);
    for (i = 0; i < 3; i++) {
        MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt[i], 8, 2), MB_OK);
        deliver_recorded(&ctl, &dev, 2, &to_dev);
        MBT_EQ_INT(mb_session_send(&dev.s, MB_MSG_APP_FIRST, pt[i], 8, 2), MB_OK);
        deliver_recorded(&dev, &ctl, 2, &to_ctl);
    }
    MBT_EQ_INT((int)to_dev.n, 3);              /* the pair itself reads everything */
    MBT_EQ_INT((int)to_ctl.n, 3);
    MBT_EQ_MEM(to_dev.m[2].data, pt[2], 8);
}

/* An observer holding this pair's secret (and, if keys != NULL, epoch-0
 * chain keys installed by hand). */
static void observer_init(mb_observer *o, mb_aead *aead, const uint8_t *keys)
{
    mb_pair_keys k;
    uint8_t ps[32];
    t_pair_keys(0, 0, &k);
    MBT_EQ_INT(mb_session_pair_secret(&k, ps), MB_OK);
    mb_aead_init(aead);
    MBT_EQ_INT(mb_observer_init(o, MB_PROFILE_CLASSIC, 0x05, ps, k.key_id, aead), MB_OK);
    if (keys != NULL) {
        MBT_EQ_INT(mbs_rx_install_epoch0(&o->dir[MB_ROLE_CONTROLLER], keys + 32, 0), MB_OK);
        MBT_EQ_INT(mbs_rx_install_epoch0(&o->dir[MB_ROLE_DEVICE], keys + 64, 0), MB_OK);
        o->established = 1u;
    }
    mb_pair_keys_wipe(&k);
}

/* Replay the recording (from frame `first`) to an observer: messages read,
 * and the last handshake step it reported. */
static size_t replay_to(mb_observer *o, size_t first, uint8_t *last_hs)
{
    static mb_observed seen;
    size_t i, read = 0;
    for (i = first; i < rec.n; i++) {
        if (mb_observer_rx(o, &rec.f[i], 2, &seen) == MB_OK) {
            read += seen.complete && seen.decrypted;
            if (seen.handshake != MB_OBS_HS_NONE && last_hs != NULL) {
                *last_hs = seen.handshake;
            }
        }
    }
    return read;
}

/* The wire bytes of the first message of `type` on the recording. */
static size_t recorded_message(unsigned type, uint8_t *msg)
{
    mb_reasm r;
    mb_reasm_done done;
    size_t i;
    MBT_EQ_INT(mb_reasm_init(&r, MB_PROFILE_CLASSIC, 100), MB_OK);
    for (i = 0; i < rec.n; i++) {
        mb_canid f;
        mb_role role;
        unsigned t;
        (void)mb_canid_decode(rec.f[i].id, &f);
        (void)mb_msg_parse_id(f.msg_id, &role, &t);
        if (t == type && mb_reasm_push(&r, &rec.f[i], 1, msg, MB_MSG_WIRE_MAX, &done) == MB_OK &&
            done.complete) {
            return done.len;
        }
    }
    MBT_CHECK(0);
    return 0;
}

/* Index of the first encrypted frame: where the handshake ends. */
static size_t first_data_frame(void)
{
    size_t i;
    for (i = 0; i < rec.n; i++) {
        mb_canid f;
        (void)mb_canid_decode(rec.f[i].id, &f);
        if (f.encrypted) {
            return i;
        }
    }
    return rec.n;
}

/* Chain keys an attacker derives from the recording: the pair secret and
 * both nonces, plus the ECDH secret when given. */
static void attacker_keys(const uint8_t *z, uint8_t keys[MBS_HS_KEYS_LEN])
{
    uint8_t hello[MB_MSG_WIRE_MAX], reply[MB_MSG_WIRE_MAX], ps[32];
    mb_pair_keys k;
    (void)recorded_message(MB_MSG_HELLO, hello);
    (void)recorded_message(MB_MSG_REPLY, reply);
    t_pair_keys(0, 0, &k);
    MBT_EQ_INT(mb_session_pair_secret(&k, ps), MB_OK);
    MBT_EQ_INT(mbs_hs_keys(ps, k.key_id, hello + 6, reply + 6, 0x05, MB_ROLE_CONTROLLER, keys),
               MB_OK);
    if (z != NULL) {
        MBT_EQ_INT(mbs_hs_mix_ephemeral(keys, z), MB_OK);
    }
    mb_pair_keys_wipe(&k);
}

/* ---- tests ---------------------------------------------------------------- */

static void test_pre_shared_only_recording_is_readable(void)
{
    mb_observer o;
    mb_aead a;
    uint8_t hs = MB_OBS_HS_NONE;
    setup(MB_PROFILE_CLASSIC, 0, 0);
    record_session();
    observer_init(&o, &a, NULL);
    MBT_EQ_INT((int)replay_to(&o, 0, &hs), 6);   /* the weakness the option removes */
    MBT_EQ_INT(hs, MB_OBS_HS_FINISH);
    mb_observer_free(&o);
    mb_aead_free(&a);
    teardown();
}

static void test_recorded_session_needs_more_than_pair_secret(void)
{
    mb_observer o;
    mb_aead a;
    uint8_t keys[MBS_HS_KEYS_LEN];
    uint8_t hs = MB_OBS_HS_NONE;
    setup(MB_PROFILE_CLASSIC, 1, 1);
    record_session();
    MBT_EQ_INT((int)kex_ctl.keypairs, 1);
    MBT_EQ_INT((int)kex_dev.keypairs, 1);
    MBT_EQ_MEM(kex_ctl.z_seen, kex_dev.z_seen, MB_KEX_SECRET_LEN);

    /* The pair secret's holder follows the handshake and reads nothing. */
    observer_init(&o, &a, NULL);
    MBT_EQ_INT((int)replay_to(&o, 0, &hs), 0);
    MBT_EQ_INT(hs, MB_OBS_HS_EPHEMERAL);
    mb_observer_free(&o);
    mb_aead_free(&a);

    /* Keys derived by hand from the pair secret and the recorded nonces: nothing. */
    attacker_keys(NULL, keys);
    observer_init(&o, &a, keys);
    MBT_EQ_INT((int)replay_to(&o, first_data_frame(), NULL), 0);
    mb_observer_free(&o);
    mb_aead_free(&a);

    /* The same, plus the ECDH secret only the two ends held: everything. */
    attacker_keys(kex_ctl.z_seen, keys);
    observer_init(&o, &a, keys);
    MBT_EQ_INT((int)replay_to(&o, first_data_frame(), NULL), 6);
    mb_observer_free(&o);
    mb_aead_free(&a);
    mb_wipe(keys, sizeof(keys));
    teardown();
}

static void test_wire_sizes_and_fd(void)
{
    uint8_t msg[MB_MSG_WIRE_MAX];
    setup(MB_PROFILE_CLASSIC, 1, 1);
    record_session();
    MBT_EQ_INT((int)recorded_message(MB_MSG_HELLO, msg), (int)MB_SESSION_HELLO_EPH_LEN);
    MBT_CHECK(msg[1] & MB_SESSION_FLAG_EPHEMERAL);
    MBT_EQ_INT(msg[MBS_HELLO_EPH_OFF], 0x04);             /* uncompressed point */
    MBT_EQ_INT((int)recorded_message(MB_MSG_REPLY, msg), (int)MB_SESSION_REPLY_EPH_LEN);
    MBT_CHECK(msg[1] & MB_SESSION_FLAG_EPHEMERAL);
    MBT_EQ_INT(msg[MBS_REPLY_EPH_OFF], 0x04);
    MBT_EQ_INT((int)mb_seg_frame_count(MB_PROFILE_CLASSIC, MB_SESSION_HELLO_EPH_LEN), 14);
    MBT_EQ_INT((int)mb_seg_frame_count(MB_PROFILE_CLASSIC, MB_SESSION_REPLY_EPH_LEN), 13);
    teardown();

    setup(MB_PROFILE_FD, 1, 1);
    MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);
    MBT_EQ_INT((int)mb_seg_frame_count(MB_PROFILE_FD, MB_SESSION_HELLO_EPH_LEN), 2);
    teardown();
}

static void test_secrets_wiped(void)
{
    setup(MB_PROFILE_CLASSIC, 1, 1);
    MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);
    MBT_CHECK(all_zero(kex_ctl.k.priv, MB_KEX_PRIV_LEN));
    MBT_CHECK(all_zero(kex_ctl.k.z, MB_KEX_SECRET_LEN));
    MBT_CHECK(all_zero(kex_dev.k.priv, MB_KEX_PRIV_LEN));
    MBT_CHECK(all_zero(kex_dev.k.z, MB_KEX_SECRET_LEN));

    /* Mid-handshake (initiator holds its private key), then freed. */
    MBT_EQ_INT(mb_session_start(&ctl.s, 1000), MB_OK);
    MBT_CHECK(!all_zero(kex_ctl.k.priv, MB_KEX_PRIV_LEN));
    t_node_free(&ctl);
    MBT_CHECK(all_zero(kex_ctl.k.priv, MB_KEX_PRIV_LEN));
    t_node_free(&dev);

    /* A handshake that times out wipes too. */
    setup(MB_PROFILE_CLASSIC, 1, 1);
    MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
    MBT_EQ_INT(mb_session_poll(&ctl.s, 10000), MB_ERR_TIMEOUT);
    MBT_CHECK(all_zero(kex_ctl.k.priv, MB_KEX_PRIV_LEN));
    teardown();
}

/* Feed frames to a node; returns the last error (MB_OK if none). */
static int feed(tnode *to, const mb_frame *f, size_t n)
{
    size_t i;
    int last = MB_OK;
    for (i = 0; i < n; i++) {
        mb_session_msg m;
        int ret = mb_session_rx(&to->s, &f[i], 5, &m);
        if (ret != MB_OK) {
            last = ret;
        }
    }
    return last;
}

static void test_strangers_get_no_key_exchange(void)
{
    uint8_t msg[MB_SESSION_HELLO_EPH_LEN];
    mb_frame f[16];
    mb_hs before;
    size_t n, i;
    setup(MB_PROFILE_CLASSIC, 1, 1);

    /* A forged ephemeral HELLO: the responder checks one MAC and stops. */
    for (i = 0; i < sizeof(msg); i++) {
        msg[i] = (uint8_t)(i * 29u + 7u);
    }
    msg[0] = MB_PROTO_VERSION;
    msg[1] = MB_SESSION_FLAG_EPHEMERAL;
    memcpy(msg + 2, ctl.s.key_id, MB_KEY_ID_LEN);
    n = t_frames_of(MB_ROLE_CONTROLLER, MB_MSG_HELLO, msg, MB_SESSION_HELLO_EPH_LEN, f);
    before = dev.s.hs;
    MBT_EQ_INT(feed(&dev, f, n), MB_ERR_AUTH);
    MBT_EQ_INT((int)(kex_dev.keypairs + kex_dev.agrees), 0);
    MBT_CHECK(memcmp(&before, &dev.s.hs, sizeof(before)) == 0);
    MBT_EQ_INT((int)dev.out.n, 0);

    /* A forged REPLY to a waiting initiator: one MAC, no ECDH, handshake goes on. */
    MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
    msg[1] = MB_SESSION_FLAG_EPHEMERAL;
    n = t_frames_of(MB_ROLE_DEVICE, MB_MSG_REPLY, msg, MB_SESSION_REPLY_EPH_LEN, f);
    MBT_EQ_INT(feed(&ctl, f, n), MB_ERR_AUTH);
    MBT_EQ_INT((int)kex_ctl.agrees, 0);
    t_pump(&ctl, &dev, 6, NULL, NULL);
    MBT_CHECK(ctl.s.established && dev.s.established);
    MBT_EQ_INT((int)kex_ctl.agrees, 1);
    teardown();
}

static void test_flag_cannot_be_stripped(void)
{
    uint8_t hello[MB_MSG_WIRE_MAX], stripped[MB_SESSION_HELLO_LEN], *one;
    mb_frame f[16];
    size_t n;
    /* A genuine ephemeral HELLO, recorded ... */
    setup(MB_PROFILE_CLASSIC, 1, 1);
    record_session();
    (void)recorded_message(MB_MSG_HELLO, hello);
    teardown();
    /* ... cut down to a pre-shared-only HELLO for a device that would accept one. */
    memcpy(stripped, hello, MBS_HELLO_EPH_OFF);
    stripped[1] = 0u;
    memcpy(stripped + MBS_HELLO_EPH_OFF, hello + MBS_MAC_OFF(MB_SESSION_HELLO_EPH_LEN),
           MB_SESSION_MAC_LEN);
    setup(MB_PROFILE_CLASSIC, 0, 0);
    n = t_frames_of(MB_ROLE_CONTROLLER, MB_MSG_HELLO, stripped, sizeof(stripped), f);
    MBT_EQ_INT(feed(&dev, f, n), MB_ERR_AUTH);
    MBT_CHECK(!dev.s.hs.answered_any);
    /* A flag that disagrees with the length does not parse. */
    stripped[1] = MB_SESSION_FLAG_EPHEMERAL;
    n = t_frames_of(MB_ROLE_CONTROLLER, MB_MSG_HELLO, stripped, sizeof(stripped), f);
    MBT_EQ_INT(feed(&dev, f, n), MB_ERR_MALFORMED);
    /* A 1-byte HELLO is refused before its (absent) flag byte is read: the
     * sanitized run's ASan watches the exact-size buffer. */
    one = (uint8_t *)malloc(1);
    MBT_CHECK(one != NULL);
    one[0] = MB_PROTO_VERSION;
    MBT_EQ_INT(mbs_hs_check_hello(dev.s.pair_secret, dev.s.key_id, 0x05, MB_ROLE_CONTROLLER, one, 1),
               MB_ERR_MALFORMED);
    free(one);
    teardown();
}

static void test_both_ends_must_agree(void)
{
    int ctl_eph;
    for (ctl_eph = 0; ctl_eph <= 1; ctl_eph++) {
        setup(MB_PROFILE_CLASSIC, ctl_eph, !ctl_eph);
        MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
        t_pump(&ctl, &dev, 1, NULL, NULL);
        MBT_CHECK(!ctl.s.established && !dev.s.established);
        MBT_CHECK(!dev.s.hs.answered_any);                /* refused before any state */
        MBT_EQ_INT((int)t_count_ev(&dev, MB_EV_REJECT, MB_ERR_POLICY), 1);
        MBT_EQ_INT((int)(kex_dev.agrees + kex_ctl.agrees), 0);
        teardown();
    }
}

static void test_bad_point_from_key_holder(void)
{
    uint8_t hello[MB_SESSION_HELLO_EPH_LEN];
    mb_frame f[16];
    size_t n;
    setup(MB_PROFILE_CLASSIC, 1, 1);
    memset(hello, 0, sizeof(hello));
    hello[0] = MB_PROTO_VERSION;
    hello[1] = MB_SESSION_FLAG_EPHEMERAL;
    memcpy(hello + 2, ctl.s.key_id, MB_KEY_ID_LEN);
    /* counter 0: below the genuine controller's first HELLO */
    hello[MBS_HELLO_EPH_OFF] = 0x04;
    memset(hello + MBS_HELLO_EPH_OFF + 1, 0xFF, 64);     /* not on the curve */
    MBT_EQ_INT(mbs_hello_mac(ctl.s.pair_secret, MB_ROLE_CONTROLLER, 0x05, hello,
                             MBS_MAC_OFF(sizeof(hello)), hello + MBS_MAC_OFF(sizeof(hello))),
               MB_OK);
    n = t_frames_of(MB_ROLE_CONTROLLER, MB_MSG_HELLO, hello, sizeof(hello), f);
    MBT_EQ_INT(feed(&dev, f, n), MB_ERR_INVALID_ARG);
    MBT_EQ_INT((int)t_count_ev(&dev, MB_EV_HS_FAILED, MB_ERR_INVALID_ARG), 1);
    MBT_EQ_INT((int)dev.out.n, 0);                       /* no REPLY */
    MBT_EQ_INT(dev.s.hs.state, MBS_HS_IDLE);
    MBT_CHECK(all_zero(kex_dev.k.priv, MB_KEX_PRIV_LEN));
    MBT_CHECK(all_zero(kex_dev.k.z, MB_KEX_SECRET_LEN));
    /* The genuine controller still gets through. */
    MBT_EQ_INT(t_connect(&ctl, &dev, 200), 0);
    teardown();
}

/* An authentic REPLY (MAC_R under the pair's keys) whose Q_R is not a
 * point: the initiator ends this handshake cleanly and can start again. */
static void test_bad_reply_point_from_key_holder(void)
{
    uint8_t hello[MB_MSG_WIRE_MAX], reply[MB_SESSION_REPLY_EPH_LEN], keys[MBS_HS_KEYS_LEN];
    mb_frame f[16];
    size_t i, n, hello_len;
    setup(MB_PROFILE_CLASSIC, 1, 1);
    memset(&rec, 0, sizeof(rec));
    MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
    for (i = 0; i < ctl.out.n; i++) {
        rec.f[rec.n++] = ctl.out.f[i];
    }
    ctl.out.n = 0;
    hello_len = recorded_message(MB_MSG_HELLO, hello);
    memset(reply, 0x33, sizeof(reply));
    reply[0] = MB_PROTO_VERSION;
    reply[1] = MB_SESSION_FLAG_EPHEMERAL;
    memcpy(reply + 2, ctl.s.key_id, MB_KEY_ID_LEN);
    reply[MBS_REPLY_EPH_OFF] = 0x04;
    memset(reply + MBS_REPLY_EPH_OFF + 1, 0xFF, 64);        /* not on the curve */
    MBT_EQ_INT(mbs_hs_keys(ctl.s.pair_secret, ctl.s.key_id, hello + 6, reply + 6, 0x05,
                           MB_ROLE_CONTROLLER, keys), MB_OK);
    MBT_EQ_INT(mbs_hs_mac(keys, "mb1 resp", hello, hello_len, reply, MBS_MAC_OFF(sizeof(reply)),
                          reply + MBS_MAC_OFF(sizeof(reply))), MB_OK);
    n = t_frames_of(MB_ROLE_DEVICE, MB_MSG_REPLY, reply, sizeof(reply), f);
    MBT_EQ_INT(feed(&ctl, f, n), MB_ERR_INVALID_ARG);
    MBT_EQ_INT((int)t_count_ev(&ctl, MB_EV_HS_FAILED, MB_ERR_INVALID_ARG), 1);
    MBT_EQ_INT(ctl.s.hs.state, MBS_HS_IDLE);                 /* over, not stuck waiting */
    MBT_EQ_INT((int)ctl.out.n, 0);                           /* no FINISH */
    MBT_CHECK(all_zero(kex_ctl.k.priv, MB_KEX_PRIV_LEN));
    MBT_EQ_INT(t_connect(&ctl, &dev, 200), 0);
    mb_wipe(keys, sizeof(keys));
    teardown();
}

static void test_keypair_failure_and_config(void)
{
    mb_session_cfg cfg;
    mb_kex broken;
    setup(MB_PROFILE_CLASSIC, 1, 1);
    kex_ctl.fail_keypair = 1;
    MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_ERR_RNG);
    MBT_EQ_INT((int)t_count_ev(&ctl, MB_EV_HS_FAILED, MB_ERR_RNG), 1);
    MBT_EQ_INT((int)ctl.out.n, 0);
    MBT_EQ_INT(ctl.s.hs.state, MBS_HS_IDLE);
    kex_ctl.fail_keypair = 0;
    MBT_EQ_INT(t_connect(&ctl, &dev, 500), 0);
    teardown();

    /* An exchange without its operations is refused at init. */
    memset(&broken, 0, sizeof(broken));
    mb_session_cfg_defaults(&cfg);
    cfg.kex = &broken;
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, &cfg), MB_ERR_NULL);
    mb_aead_free(&ctl.aead);
    mb_kex_p256_init(NULL);                               /* NULL-safe */
}

static void test_every_handshake_is_fresh(void)
{
    uint8_t first_z[MB_KEX_SECRET_LEN];
    setup(MB_PROFILE_CLASSIC, 1, 1);
    MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);
    memcpy(first_z, kex_ctl.z_seen, sizeof(first_z));
    MBT_EQ_INT(t_connect(&ctl, &dev, 1000), 0);          /* a re-handshake */
    MBT_EQ_INT((int)kex_ctl.keypairs, 2);
    MBT_EQ_INT((int)kex_dev.keypairs, 2);
    MBT_CHECK(memcmp(first_z, kex_ctl.z_seen, sizeof(first_z)) != 0);
    MBT_EQ_MEM(kex_ctl.z_seen, kex_dev.z_seen, MB_KEX_SECRET_LEN);
    teardown();
}

int main(void)
{
    MBT_RUN(test_pre_shared_only_recording_is_readable);
    MBT_RUN(test_recorded_session_needs_more_than_pair_secret);
    MBT_RUN(test_wire_sizes_and_fd);
    MBT_RUN(test_secrets_wiped);
    MBT_RUN(test_strangers_get_no_key_exchange);
    MBT_RUN(test_flag_cannot_be_stripped);
    MBT_RUN(test_both_ends_must_agree);
    MBT_RUN(test_bad_point_from_key_holder);
    MBT_RUN(test_bad_reply_point_from_key_holder);
    MBT_RUN(test_keypair_failure_and_config);
    MBT_RUN(test_every_handshake_is_fresh);
    return mbt_finish("test_ephemeral");
}
