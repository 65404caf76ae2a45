/*
 * test_nonce_reuse.c - no public path seals two messages under one
 * (key, IV) pair (the argument: docs/security/CRYPTO_CHECKS.md, "Nonce
 * uniqueness").
 *
 * Detector, black-box: every sealed message on the bus is recorded with its
 * IV and, for messages of 16 known zero bytes, its first 16 keystream bytes
 * (= its ciphertext). GCM under one (key, IV) always produces the same
 * keystream, so two equal keystreams mean a reused pair (two different pairs
 * collide with probability 2^-128); equal IVs are refused too (sufficient,
 * stronger than needed). Two positive controls show the detector firing: the
 * raw mb_aead primitive (which leaves nonces to its caller) given one nonce
 * twice, and a restart in which both devices' RNGs repeat their output.
 *
 * Paths tried, all on one pair key: many messages in one epoch, rotation on
 * every message, explicit and timed rekeys, new handshakes and resyncs
 * while established, restarts of either side (sessions keep no counters
 * across a reboot: a fresh handshake yields fresh keys), handshake frames
 * replayed to a restarted device, the counter limit and the last epoch.
 */
#include <stdlib.h>

#include "mbt.h"
#include "test_session_util.h"

#define LEDGER_MAX 20000
#define KNOWN_LEN  16u                 /* plaintext of zero bytes: ct = keystream */

typedef struct sealed {
    uint8_t iv[MB_NONCE_LEN];
    uint8_t keystream[KNOWN_LEN];
    uint8_t has_keystream;
} sealed;

typedef struct ledger {
    sealed e[LEDGER_MAX];
    size_t n;
} ledger;

static ledger book, control_book;
static tnode ctl, dev;
static uint64_t next_seed = 0x2545F4914F6CDD1Dull;
static uint32_t now_ms;

/* ---- the detector ---------------------------------------------------- */

static void ledger_add(ledger *l, const uint8_t iv[12], const uint8_t *ks)
{
    if (l->n < LEDGER_MAX) {
        memcpy(l->e[l->n].iv, iv, MB_NONCE_LEN);
        l->e[l->n].has_keystream = ks != NULL;
        if (ks != NULL) {
            memcpy(l->e[l->n].keystream, ks, KNOWN_LEN);
        }
        l->n++;
    }
}

static int by_iv(const void *a, const void *b)
{
    return memcmp(((const sealed *)a)->iv, ((const sealed *)b)->iv, MB_NONCE_LEN);
}

static int by_keystream(const void *a, const void *b)
{
    const sealed *x = a, *y = b;
    if (x->has_keystream != y->has_keystream) {
        return x->has_keystream - y->has_keystream;
    }
    return memcmp(x->keystream, y->keystream, KNOWN_LEN);
}

/* Neighbouring entries, sorted by \p order, that are equal under it: each is
 * a reused (key, IV) pair (entries without a keystream never match by it). */
static size_t repeats(const ledger *l, int (*order)(const void *, const void *))
{
    static sealed sorted[LEDGER_MAX];
    size_t i, found = 0;
    memcpy(sorted, l->e, l->n * sizeof(sealed));
    qsort(sorted, l->n, sizeof(sealed), order);
    for (i = 1; i < l->n; i++) {
        found += (order(&sorted[i - 1], &sorted[i]) == 0 &&
                  (order == by_iv || sorted[i].has_keystream)) ? 1u : 0u;
    }
    return found;
}

static size_t ledger_reuses(const ledger *l)
{
    return repeats(l, by_iv) + repeats(l, by_keystream);
}

/* Record every encrypted message a node has queued for the bus. */
static void capture(tnode *n, ledger *l)
{
    uint8_t wire[MB_MSG_WIRE_MAX];
    size_t i, at = 0;
    for (i = 0; i < n->out.n; i++) {
        const mb_frame *f = &n->out.f[i];
        mb_canid c;
        if (mb_canid_decode(f->id, &c) != MB_OK || !c.encrypted) {
            continue;
        }
        if (c.chunk_index == 1u) {
            at = 0;
        }
        memcpy(wire + at, f->data, f->len);
        at += f->len;
        if (c.chunk_index == c.chunk_total) {
            /* 16 known bytes: wire = IV | 16 ct | 16 tag (FD pads to 48). */
            int known = at == MB_SESSION_OVERHEAD + KNOWN_LEN || at == 48u;
            ledger_add(l, wire, known ? wire + MB_NONCE_LEN : NULL);
        }
    }
}

/* Deliver both ways until quiet, recording what each side seals. */
static void exchange(ledger *l)
{
    int guard = 0;
    while ((ctl.out.n || dev.out.n) && guard++ < 16) {
        capture(&ctl, l);
        t_deliver(&ctl, &dev, now_ms, NULL);
        capture(&dev, l);
        t_deliver(&dev, &ctl, now_ms, NULL);
    }
}

static int send_known(tnode *n)
{
    static const uint8_t zeros[KNOWN_LEN];
    return mb_session_send(&n->s, MB_MSG_STATUS, zeros, sizeof(zeros), now_ms);
}

/* ---- pairs ------------------------------------------------------------- */

/* A node on the pair key, with a fresh RNG seed (a TRNG after reset). */
static void boot(tnode *n, mb_role role, mb_profile p, const mb_session_cfg *cfg)
{
    MBT_EQ_INT(t_node_init(n, role, p, 0, cfg), MB_OK);
    n->rng_state = next_seed;
    next_seed = next_seed * 6364136223846793005ull + 1442695040888963407ull;
}

static void connect(mb_profile p, const mb_session_cfg *cfg)
{
    boot(&ctl, MB_ROLE_CONTROLLER, p, cfg);
    boot(&dev, MB_ROLE_DEVICE, p, cfg);
    MBT_EQ_INT(mb_session_start(&ctl.s, now_ms), MB_OK);
    exchange(&book);
    MBT_CHECK(ctl.s.established && dev.s.established);
}

static void shutdown_pair(void)
{
    t_node_free(&ctl);
    t_node_free(&dev);
}

static void both_send(unsigned count)
{
    unsigned i;
    for (i = 0; i < count; i++) {
        MBT_EQ_INT(send_known(&ctl), MB_OK);
        MBT_EQ_INT(send_known(&dev), MB_OK);
        exchange(&book);
    }
}

static void take(tnode *n, mb_frame *frames, size_t *count)
{
    *count = n->out.n;
    memcpy(frames, n->out.f, *count * sizeof(mb_frame));
}

static void replay(const mb_frame *frames, size_t count, tnode *to)
{
    size_t i;
    for (i = 0; i < count; i++) {
        mb_session_msg m;
        (void)mb_session_rx(&to->s, &frames[i], now_ms, &m);
    }
}

/* ---- paths ------------------------------------------------------------- */

static void test_one_epoch(void)
{
    mb_profile p;
    for (p = MB_PROFILE_CLASSIC; p <= MB_PROFILE_FD; p++) {
        connect(p, NULL);
        both_send(1000);
        shutdown_pair();
    }
    MBT_EQ_INT(ledger_reuses(&book), 0);
}

static void test_rotation_every_message(void)
{
    mb_session_cfg cfg;
    mb_session_info info;
    mb_session_cfg_defaults(&cfg);
    cfg.rekey_after_msgs = 1;
    connect(MB_PROFILE_CLASSIC, &cfg);
    both_send(400);
    (void)mb_session_get_info(&ctl.s, &info);
    MBT_EQ_INT(info.tx_epoch, 399);
    shutdown_pair();
    MBT_EQ_INT(ledger_reuses(&book), 0);
}

static void test_rekey_requests_and_timer(void)
{
    mb_session_cfg cfg;
    unsigned i;
    mb_session_cfg_defaults(&cfg);
    cfg.rekey_after_ms = 1000;
    connect(MB_PROFILE_CLASSIC, &cfg);
    for (i = 0; i < 100; i++) {
        MBT_EQ_INT(mb_session_rekey(i % 2 ? &dev.s : &ctl.s, now_ms), MB_OK);
        MBT_EQ_INT(mb_session_rekey(&ctl.s, now_ms), MB_OK);   /* twice in a row */
        exchange(&book);
        both_send(1);
        now_ms += 1000;                                          /* timed rotation */
        MBT_EQ_INT(mb_session_poll(&ctl.s, now_ms), MB_OK);
        MBT_EQ_INT(mb_session_poll(&dev.s, now_ms), MB_OK);
        both_send(1);
    }
    MBT_CHECK(ctl.s.tx_epoch > 100u && dev.s.tx_epoch > 100u);
    shutdown_pair();
    MBT_EQ_INT(ledger_reuses(&book), 0);
}

/* A message of ctl's with its last tag byte flipped, fed to dev 5 times:
 * 5 authentication failures in a row make dev resynchronise. */
static void force_resync(void)
{
    static mb_frame forged[16];
    size_t n, j;
    MBT_EQ_INT(send_known(&ctl), MB_OK);
    capture(&ctl, &book);                            /* it was sealed, so it counts */
    take(&ctl, forged, &n);
    ctl.out.n = 0;
    forged[n - 1].data[forged[n - 1].len - 1u] ^= 0x01u;
    for (j = 0; j < 5; j++) {
        replay(forged, n, &dev);
    }
}

/* New handshakes while established: started by either side, or by the
 * receiver's resynchronisation after failed frames. */
static void test_new_handshakes_and_resync(void)
{
    unsigned i;
    connect(MB_PROFILE_CLASSIC, NULL);
    for (i = 0; i < 60; i++) {
        both_send(2);
        now_ms += 1000;
        if (i % 3 == 2) {
            force_resync();
            exchange(&book);
        } else {
            MBT_EQ_INT(mb_session_start(i % 3 ? &dev.s : &ctl.s, now_ms), MB_OK);
            exchange(&book);
        }
        MBT_CHECK(ctl.s.established && dev.s.established);
    }
    MBT_CHECK(t_count_ev(&dev, MB_EV_RESYNC, 1) >= 20u);
    shutdown_pair();
    MBT_EQ_INT(ledger_reuses(&book), 0);
}

/* Reboots: a session keeps no counter across a reset; the new handshake's
 * fresh nonces give keys never used before. */
static void test_restarts(void)
{
    unsigned i;
    connect(MB_PROFILE_CLASSIC, NULL);
    for (i = 0; i < 40; i++) {
        tnode *rebooted = i % 2 ? &ctl : &dev;
        both_send(3);
        t_node_free(rebooted);
        boot(rebooted, rebooted == &ctl ? MB_ROLE_CONTROLLER : MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, NULL);
        MBT_EQ_INT(send_known(rebooted), MB_ERR_STATE);   /* nothing sealed before a handshake */
        now_ms += 1000;
        MBT_EQ_INT(mb_session_start(&rebooted->s, now_ms), MB_OK);
        exchange(&book);
        MBT_CHECK(ctl.s.established && dev.s.established);
    }
    both_send(3);
    shutdown_pair();
    MBT_EQ_INT(ledger_reuses(&book), 0);
}

/* An attacker replays a recorded handshake to a rebooted device: the device's
 * own fresh nonce keeps it from reaching the recorded keys. */
static void test_replayed_handshake_after_restart(void)
{
    static mb_frame hello[8], reply[8], finish[8];
    size_t nh, nr, nf;

    boot(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, NULL);
    boot(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, NULL);
    MBT_EQ_INT(mb_session_start(&ctl.s, now_ms), MB_OK);
    take(&ctl, hello, &nh);
    t_deliver(&ctl, &dev, now_ms, NULL);
    take(&dev, reply, &nr);
    t_deliver(&dev, &ctl, now_ms, NULL);
    take(&ctl, finish, &nf);
    t_deliver(&ctl, &dev, now_ms, NULL);
    MBT_CHECK(ctl.s.established && dev.s.established);
    both_send(2);

    /* The responder reboots; HELLO and FINISH are replayed to it. */
    t_node_free(&dev);
    boot(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, NULL);
    replay(hello, nh, &dev);
    dev.out.n = 0;                                   /* its REPLY carries a new N_R */
    replay(finish, nf, &dev);
    MBT_EQ_INT(dev.s.established, 0);
    MBT_EQ_INT(t_count_ev(&dev, MB_EV_HS_FAILED, MB_ERR_AUTH), 1);
    MBT_EQ_INT(send_known(&dev), MB_ERR_STATE);

    /* The initiator reboots; the old REPLY is replayed to its new HELLO. */
    t_node_free(&ctl);
    boot(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, NULL);
    MBT_EQ_INT(mb_session_start(&ctl.s, now_ms), MB_OK);
    ctl.out.n = 0;
    replay(reply, nr, &ctl);
    MBT_EQ_INT(ctl.s.established, 0);
    MBT_EQ_INT(t_count_ev(&ctl, MB_EV_HS_FAILED, MB_ERR_AUTH), 1);
    MBT_EQ_INT(send_known(&ctl), MB_ERR_STATE);
    MBT_EQ_INT(ctl.out.n, 0);
    shutdown_pair();
    MBT_EQ_INT(ledger_reuses(&book), 0);
}

/* The counter limit and the last epoch. Reaching them through the API would
 * take 2^32 messages (and 2^32 epochs), so the public state fields are moved
 * forward (mb_session_info shows the same values). */
static void test_counter_and_epoch_limits(void)
{
    mb_session_cfg cfg;
    mb_session_info info;
    int i;

    mb_session_cfg_defaults(&cfg);
    cfg.rekey_after_ms = 0;
    cfg.rekey_after_msgs = MB_SESSION_COUNTER_LIMIT;   /* the largest allowed */
    connect(MB_PROFILE_CLASSIC, &cfg);
    both_send(1);
    /* Last counter of an epoch: used once, then the sender rotates. */
    ctl.s.tx_nonce.next = MB_SESSION_COUNTER_LIMIT - 1u;
    MBT_EQ_INT(send_known(&ctl), MB_OK);
    exchange(&book);
    MBT_EQ_INT(send_known(&ctl), MB_OK);
    exchange(&book);
    (void)mb_session_get_info(&ctl.s, &info);
    MBT_EQ_INT(info.tx_epoch, 1);
    MBT_EQ_INT(info.tx_next_counter, 1);
    (void)mb_session_get_info(&dev.s, &info);
    MBT_EQ_INT(info.rx_epoch, 1);                      /* the receiver followed */

    /* Last epoch, last counter: refused, repeatedly, and nothing is sent. */
    ctl.s.tx_epoch = UINT32_MAX;
    ctl.s.tx_nonce.next = MB_SESSION_COUNTER_LIMIT;
    for (i = 0; i < 3; i++) {
        MBT_EQ_INT(send_known(&ctl), MB_ERR_NONCE_EXHAUSTED);
        MBT_EQ_INT(mb_session_rekey(&ctl.s, now_ms), MB_ERR_NONCE_EXHAUSTED);
        MBT_EQ_INT(mb_session_poll(&ctl.s, now_ms), MB_OK);
    }
    MBT_EQ_INT(ctl.out.n, 0);
    /* The generator itself refuses at its limit even without the session. */
    MBT_EQ_INT(mb_nonce_remaining(&ctl.s.tx_nonce), 0);
    /* Only a new handshake helps, and it brings new keys. */
    now_ms += 1000;
    MBT_EQ_INT(mb_session_start(&ctl.s, now_ms), MB_OK);
    exchange(&book);
    (void)mb_session_get_info(&ctl.s, &info);
    MBT_EQ_INT(info.tx_epoch, 0);
    both_send(2);
    shutdown_pair();
    MBT_EQ_INT(ledger_reuses(&book), 0);
    MBT_CHECK(book.n > 5000u && book.n < LEDGER_MAX);
}

/* ---- the detector fires ------------------------------------------------ */

static void test_control_raw_aead_reuse_is_detected(void)
{
    static const uint8_t zeros[KNOWN_LEN];
    uint8_t key[32], iv[12] = { 1, 2, 3 }, ct[KNOWN_LEN], tag[16];
    mb_aead raw;
    int i;

    memset(&control_book, 0, sizeof(control_book));
    memset(key, 0x42, sizeof(key));
    mb_aead_init(&raw);
    MBT_EQ_INT(mb_aead_setkey(&raw, key), MB_OK);
    for (i = 0; i < 2; i++) {                        /* the caller's mistake */
        MBT_EQ_INT(mb_aead_seal(&raw, iv, NULL, 0, zeros, sizeof(zeros), ct, tag, 16), MB_OK);
        ledger_add(&control_book, iv, ct);
    }
    mb_aead_free(&raw);
    MBT_EQ_INT(repeats(&control_book, by_keystream), 1);
    MBT_EQ_INT(repeats(&control_book, by_iv), 1);
}

/* Both devices reboot and both RNGs repeat their earlier output: the whole
 * handshake, and so every key and IV, repeats. This is the assumption the
 * argument rests on (at least one side's RNG must not repeat). */
static void test_control_repeating_rngs_are_detected(void)
{
    int run;
    memset(&control_book, 0, sizeof(control_book));
    for (run = 0; run < 2; run++) {
        MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
        MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
        MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);       /* clear frames only */
        MBT_EQ_INT(send_known(&ctl), MB_OK);
        exchange(&control_book);
        shutdown_pair();
    }
    MBT_EQ_INT(repeats(&control_book, by_keystream), 1);
    MBT_EQ_INT(repeats(&control_book, by_iv), 1);
    /* With only the controller's RNG repeating, the keys are new. */
    memset(&control_book, 0, sizeof(control_book));
    for (run = 0; run < 2; run++) {
        MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
        boot(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, NULL);
        MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);       /* clear frames only */
        MBT_EQ_INT(send_known(&ctl), MB_OK);
        exchange(&control_book);
        shutdown_pair();
    }
    MBT_EQ_INT(ledger_reuses(&control_book), 0);
}

/* Run a path test; MBT_VERBOSE prints how many messages it sealed. */
#define RUN_PATH(fn) do { \
        size_t before_ = book.n; \
        MBT_RUN(fn); \
        if (getenv("MBT_VERBOSE")) printf("  %-40s %zu sealed\n", #fn, book.n - before_); \
    } while (0)

int main(void)
{
    RUN_PATH(test_one_epoch);
    RUN_PATH(test_rotation_every_message);
    RUN_PATH(test_rekey_requests_and_timer);
    RUN_PATH(test_new_handshakes_and_resync);
    RUN_PATH(test_restarts);
    RUN_PATH(test_replayed_handshake_after_restart);
    RUN_PATH(test_counter_and_epoch_limits);
    MBT_RUN(test_control_raw_aead_reuse_is_detected);
    MBT_RUN(test_control_repeating_rngs_are_detected);
    if (getenv("MBT_VERBOSE")) printf("  %zu sealed messages recorded, none sharing (key, IV)\n", book.n);
    return mbt_finish("test_nonce_reuse");
}
