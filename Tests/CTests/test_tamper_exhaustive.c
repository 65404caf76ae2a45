/*
 * test_tamper_exhaustive.c - tampering beyond test_session_tamper.c (which
 * flips every single id and data bit of every frame of sealed messages):
 *
 *   - every other length (DLC) of every frame of a sealed message;
 *   - every single bit of every frame of the handshake (HELLO, REPLY,
 *     FINISH): the receiver of a tampered frame never completes it;
 *   - every single bit of the first message of a new epoch: a forgery never
 *     moves the receiver to the next epoch;
 *   - random multi-bit tampering (2..24 distinct bits over the ids and data of
 *     all frames of a message, or over the data only so that most trials
 *     reach the tag check) in both profiles, across key rotations.
 *
 * Zero forgeries may be accepted, and the genuine message must still go
 * through exactly once afterwards. MB_TAMPER_TRIALS sets the random trials
 * per profile (default 3000 in CI; the long run in
 * docs/security/CRYPTO_CHECKS.md used 1000000), MB_TAMPER_SEED the seed.
 */
#include <stdlib.h>

#include "mbt.h"
#include "test_session_util.h"

#define ID_BITS       29u
#define DEFAULT_TRIALS 3000ul
#define MAX_FLIPS     24u

static tnode ctl, dev;
static uint32_t now_ms;

static void setup(mb_profile p, uint64_t rekey_after_msgs)
{
    mb_session_cfg cfg;
    mb_session_cfg_defaults(&cfg);
    cfg.resync_after = 0;              /* forgeries must not trigger a new handshake here */
    cfg.rekey_after_ms = 0;
    cfg.rekey_after_msgs = rekey_after_msgs;
    now_ms = 0;
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, p, 0, &cfg), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, p, 0, &cfg), MB_OK);
    MBT_EQ_INT(t_connect(&ctl, &dev, now_ms), 0);
}

static void teardown(void)
{
    t_node_free(&ctl);
    t_node_free(&dev);
}

/* Seal one message from ctl and take its frames. */
static size_t seal(size_t len, uint8_t seed, mb_frame *frames)
{
    uint8_t pt[MB_SEG_FD_MAX];
    size_t i;
    for (i = 0; i < len; i++) {
        pt[i] = (uint8_t)(seed ^ (i * 11u));
    }
    return t_seal(&ctl, pt, len, now_ms, frames);
}

/* Feed frames to dev; count deliveries. Partial messages a forgery left in
 * the reassembly buffer are expired afterwards so they cannot collide with
 * the genuine message (that would be a false reject, not an acceptance). */
static int last_reject;                 /* last error mb_session_rx returned in feed() */

static size_t feed(const mb_frame *frames, size_t n)
{
    size_t i, delivered = 0;
    last_reject = MB_OK;
    for (i = 0; i < n; i++) {
        mb_session_msg m;
        int ret = mb_session_rx(&dev.s, &frames[i], now_ms, &m);
        last_reject = ret != MB_OK ? ret : last_reject;
        delivered += m.ready ? 1u : 0u;
    }
    return delivered;
}

static void expire_partials(void)
{
    now_ms += dev.s.cfg.reasm_timeout_ms + 1u;
    (void)mb_session_poll(&dev.s, now_ms);
}

static size_t frame_bits(const mb_frame *f)
{
    return ID_BITS + 8u * f->len;
}

/* Flip bit \p bit of a frame: id bits first, then data bits. */
static void flip(mb_frame *f, size_t bit)
{
    if (bit < ID_BITS) {
        f->id ^= UINT32_C(1) << bit;
    } else {
        size_t b = bit - ID_BITS;
        f->data[b / 8u] ^= (uint8_t)(1u << (b % 8u));
    }
}

/* ---- every other length of every frame -------------------------------- */

static void dlc_changes(mb_profile p, size_t len)
{
    mb_frame genuine[16], bad[16];
    size_t n, k;
    unsigned tried = 0, accepted = 0, lost = 0;
    unsigned max_len = p == MB_PROFILE_FD ? 64u : 8u, l;

    setup(p, UINT64_C(1) << 20);
    n = seal(len, 1, genuine);
    MBT_CHECK(n > 0);
    for (k = 0; k < n; k++) {
        for (l = 0; l <= max_len; l++) {
            if (l == genuine[k].len) {
                continue;
            }
            memcpy(bad, genuine, n * sizeof(mb_frame));
            if (l > bad[k].len) {
                memset(bad[k].data + bad[k].len, 0, l - bad[k].len);
            }
            bad[k].len = (uint8_t)l;
            tried++;
            accepted += (unsigned)feed(bad, n);
            expire_partials();
        }
    }
    lost += feed(genuine, n) == 1 ? 0u : 1u;
    if (getenv("MBT_VERBOSE")) printf("  lengths profile %d len %zu: %u forgeries tried\n", (int)p, len, tried);
    MBT_CHECK(tried > 0);
    MBT_EQ_INT(accepted, 0);
    MBT_EQ_INT(lost, 0);
    teardown();
}

static void test_dlc_every_length(void)
{
    dlc_changes(MB_PROFILE_CLASSIC, 0);
    dlc_changes(MB_PROFILE_CLASSIC, 21);
    dlc_changes(MB_PROFILE_CLASSIC, 100);
    dlc_changes(MB_PROFILE_FD, 0);
    dlc_changes(MB_PROFILE_FD, 37);
    dlc_changes(MB_PROFILE_FD, 228);
}

/* ---- handshake frames ---------------------------------------------------- */

/* Handshake stage whose frames are tampered: 0 HELLO, 1 REPLY, 2 FINISH. */
static size_t stage_frames(int stage, tnode **from, tnode **to)
{
    *from = stage == 1 ? &dev : &ctl;
    *to = stage == 1 ? &ctl : &dev;
    return (*from)->out.n;
}

/* Run a handshake with bit \p bit of frame \p k of stage \p stage flipped.
 * Returns 1 if the receiver of the tampered frame completed a handshake. */
static int tampered_handshake(mb_profile p, int stage, size_t k, size_t bit, size_t *frames_out,
                              size_t *bits_out)
{
    tnode *from, *to;
    int s, completed;

    t_node_init(&ctl, MB_ROLE_CONTROLLER, p, 0, NULL);
    t_node_init(&dev, MB_ROLE_DEVICE, p, 0, NULL);
    (void)mb_session_start(&ctl.s, 0);
    for (s = 0; s < 3; s++) {
        size_t n = stage_frames(s, &from, &to);
        if (s == stage) {
            *frames_out = n;
            *bits_out = k < n ? frame_bits(&from->out.f[k]) : 0u;
            if (k < n && bit < *bits_out) {
                flip(&from->out.f[k], bit);
            }
        }
        t_deliver(from, to, 0, NULL);
        if (s == stage) {
            break;
        }
    }
    /* Let the rest of the exchange run, as a real bus would. */
    t_pump(&ctl, &dev, 0, NULL, NULL);
    completed = t_count_ev(stage == 1 ? &ctl : &dev, MB_EV_HS_DONE, 1) != 0;
    if (stage == 0) {
        completed |= t_count_ev(&ctl, MB_EV_HS_DONE, 1) != 0;
    }
    t_node_free(&ctl);
    t_node_free(&dev);
    return completed;
}

static void handshake_bitflips(mb_profile p)
{
    unsigned tried = 0, completed = 0;
    int stage;

    for (stage = 0; stage < 3; stage++) {
        size_t k, nframes = 1, bit, nbits;
        for (k = 0; k < nframes; k++) {
            (void)tampered_handshake(p, stage, k, SIZE_MAX, &nframes, &nbits);
            for (bit = 0; bit < nbits; bit++) {
                size_t nf, nb;
                tried++;
                completed += (unsigned)tampered_handshake(p, stage, k, bit, &nf, &nb);
            }
        }
    }
    if (getenv("MBT_VERBOSE")) printf("  handshake profile %d: %u single-bit tamperings\n", (int)p, tried);
    MBT_CHECK(tried > 500u);
    MBT_EQ_INT(completed, 0);
    /* The untampered handshake does complete (the check above can fail). */
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, p, 0, NULL), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, p, 0, NULL), MB_OK);
    MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);
    teardown();
}

static void test_handshake_every_bit(void)
{
    handshake_bitflips(MB_PROFILE_CLASSIC);
    handshake_bitflips(MB_PROFILE_FD);
}

/* ---- the first message of a new epoch ------------------------------------ */

static void next_epoch_bitflips(mb_profile p)
{
    mb_frame genuine[16], bad[16];
    mb_session_info info;
    size_t n, k, bit;
    unsigned accepted = 0, moved = 0, tried = 0;

    setup(p, UINT64_C(1) << 20);
    n = seal(3, 9, genuine);
    MBT_EQ_INT(feed(genuine, n), 1);                 /* epoch 0 in use */
    MBT_EQ_INT(mb_session_rekey(&ctl.s, now_ms), MB_OK);
    ctl.out.n = 0;                                   /* the rekey request is lost */
    n = seal(40, 10, genuine);                       /* first message of epoch 1 */
    for (k = 0; k < n; k++) {
        for (bit = 0; bit < frame_bits(&genuine[k]); bit++) {
            memcpy(bad, genuine, n * sizeof(mb_frame));
            flip(&bad[k], bit);
            tried++;
            accepted += (unsigned)feed(bad, n);
            expire_partials();
            (void)mb_session_get_info(&dev.s, &info);
            moved += info.rx_epoch != 0u ? 1u : 0u;
        }
    }
    if (getenv("MBT_VERBOSE")) printf("  next epoch profile %d: %u forgeries tried\n", (int)p, tried);
    MBT_CHECK(tried > 100u);
    MBT_EQ_INT(accepted, 0);
    MBT_EQ_INT(moved, 0);
    MBT_EQ_INT(feed(genuine, n), 1);
    (void)mb_session_get_info(&dev.s, &info);
    MBT_EQ_INT(info.rx_epoch, 1);                    /* the genuine one does move it */
    teardown();
}

static void test_next_epoch_every_bit(void)
{
    next_epoch_bitflips(MB_PROFILE_CLASSIC);
    next_epoch_bitflips(MB_PROFILE_FD);
}

/* ---- random multi-bit tampering ------------------------------------------ */

static uint64_t rng_state;

static uint64_t rnd(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* unsigned long long: the seed is 64 bits, and long is 32 on ILP32 targets. */
static unsigned long long env_ull(const char *name, unsigned long long fallback)
{
    const char *v = getenv(name);
    char *end;
    unsigned long long x;
    if (v == NULL || *v == '\0') {
        return fallback;
    }
    x = strtoull(v, &end, 0);
    return (*end == '\0' && x > 0) ? x : fallback;
}

/* Where a trial flips bits: anywhere in ids and data, in the data only, or
 * in the ciphertext and tag only (wire bytes from 12 on: the IV left intact,
 * so the forgery reaches the tag check). */
enum { FLIP_ANYWHERE, FLIP_DATA, FLIP_CT_TAG, FLIP_MODES };

/* First data byte of frame \p k a trial in \p mode may flip. */
static size_t first_byte(const mb_frame *f, size_t k, size_t chunk, int mode)
{
    size_t start = k * chunk;
    if (mode != FLIP_CT_TAG || start >= MB_NONCE_LEN) {
        return 0;
    }
    return MB_NONCE_LEN - start < f->len ? MB_NONCE_LEN - start : f->len;
}

static size_t tamper_bits(const mb_frame *f, size_t k, size_t chunk, int mode)
{
    return (mode == FLIP_ANYWHERE ? ID_BITS : 0u) + 8u * (f->len - first_byte(f, k, chunk, mode));
}

/* Flip \p count distinct bits chosen over all frames of a message. */
static void flip_random_bits(mb_frame *f, size_t n, size_t chunk, unsigned count, int mode)
{
    size_t chosen[MAX_FLIPS];
    size_t total = 0, i;
    unsigned c = 0;

    for (i = 0; i < n; i++) {
        total += tamper_bits(&f[i], i, chunk, mode);
    }
    if (count > total) {
        count = (unsigned)total;
    }
    while (c < count) {
        size_t pick = (size_t)(rnd() % total), j, at = pick;
        int dup = 0;
        for (j = 0; j < c; j++) {
            dup |= chosen[j] == pick;
        }
        if (dup) {
            continue;
        }
        chosen[c++] = pick;
        for (i = 0; at >= tamper_bits(&f[i], i, chunk, mode); i++) {
            at -= tamper_bits(&f[i], i, chunk, mode);
        }
        flip(&f[i], mode == FLIP_ANYWHERE ? at : ID_BITS + 8u * first_byte(&f[i], i, chunk, mode) + at);
    }
}

static void random_multibit(mb_profile p, unsigned long trials)
{
    static const size_t classic_lens[] = { 0, 1, 5, 20, 21, 52, 100 };
    static const size_t fd_lens[] = { 0, 4, 36, 37, 100, 164, 228 };
    const size_t *lens = p == MB_PROFILE_FD ? fd_lens : classic_lens;
    mb_frame genuine[16], bad[16];
    size_t n = 0;
    unsigned long t, accepted = 0, lost = 0, messages = 0, auth = 0;
    mb_session_info info;

    setup(p, 64);                                    /* rotate every 64 messages */
    for (t = 0; t < trials; t++) {
        if (t % 32u == 0u) {
            if (n != 0) {
                lost += feed(genuine, n) == 1 ? 0u : 1u;
            }
            n = seal(lens[rnd() % 7u], (uint8_t)t, genuine);
            messages++;
        }
        memcpy(bad, genuine, n * sizeof(mb_frame));
        flip_random_bits(bad, n, p == MB_PROFILE_FD ? MB_SEG_FD_CHUNK : MB_SEG_CLASSIC_CHUNK,
                         2u + (unsigned)(rnd() % (MAX_FLIPS - 1u)), (int)(t % FLIP_MODES));
        accepted += (unsigned long)feed(bad, n);
        auth += last_reject == MB_ERR_AUTH ? 1u : 0u;
        expire_partials();
    }
    lost += feed(genuine, n) == 1 ? 0u : 1u;
    (void)mb_session_get_info(&dev.s, &info);
    printf("  random multi-bit tampering, %s: %lu trials over %lu messages and %u epochs, "
           "%lu refused by the tag check, %lu accepted, %lu genuine lost\n",
           p == MB_PROFILE_FD ? "CAN FD" : "classic", trials, messages,
           (unsigned)info.rx_epoch + 1u, auth, accepted, lost);
    MBT_EQ_INT(accepted, 0);
    MBT_EQ_INT(lost, 0);
    MBT_CHECK(info.rx_epoch > 0u || messages <= 64u);   /* rotations were crossed */
    MBT_CHECK(auth >= trials / FLIP_MODES);             /* the tag check was reached */
    teardown();
}

static void test_random_multibit(void)
{
    unsigned long trials = (unsigned long)env_ull("MB_TAMPER_TRIALS", DEFAULT_TRIALS);
    rng_state = env_ull("MB_TAMPER_SEED", 0x9E3779B97F4A7C15ull);
    printf("  seed %#llx\n", (unsigned long long)rng_state);
    random_multibit(MB_PROFILE_CLASSIC, trials);
    random_multibit(MB_PROFILE_FD, trials);
}

int main(void)
{
    MBT_RUN(test_dlc_every_length);
    MBT_RUN(test_handshake_every_bit);
    MBT_RUN(test_next_epoch_every_bit);
    MBT_RUN(test_random_multibit);
    return mbt_finish("test_tamper_exhaustive");
}
