/*
 * test_session_util.h - a two-node bus for the session tests: a controller
 * and a device session, deterministic RNGs, frame queues and an event log.
 * Include after mbt.h.
 */
#ifndef TEST_SESSION_UTIL_H
#define TEST_SESSION_UTIL_H

#include <stdio.h>
#include <string.h>

#include "modbatt/modbatt.h"

#define TQ_MAX   4096
#define TEV_MAX  4096

typedef struct tq {
    mb_frame f[TQ_MAX];
    size_t n;
} tq;

typedef struct tnode {
    mb_session s;
    mb_aead aead;
    tq out;                  /* frames this node sent */
    mb_event ev[TEV_MAX];
    size_t nev;
    uint64_t rng_state;
    int rng_fail;
    int tx_fail;
} tnode;

static int t_rng(void *user, uint8_t *out, size_t len)
{
    tnode *n = (tnode *)user;
    size_t i;
    if (n->rng_fail) {
        return -1;
    }
    for (i = 0; i < len; i++) {
        n->rng_state ^= n->rng_state << 13;
        n->rng_state ^= n->rng_state >> 7;
        n->rng_state ^= n->rng_state << 17;
        out[i] = (uint8_t)(n->rng_state >> 24);
    }
    return 0;
}

static int t_tx(void *user, const mb_frame *f)
{
    tnode *n = (tnode *)user;
    if (n->tx_fail) {
        return MB_ERR_CRYPTO;
    }
    if (n->out.n < TQ_MAX) {
        n->out.f[n->out.n++] = *f;
    }
    return MB_OK;
}

static void t_event(void *user, const mb_event *ev)
{
    tnode *n = (tnode *)user;
    if (n->nev < TEV_MAX) {
        n->ev[n->nev++] = *ev;
    }
}

static size_t t_count_ev(const tnode *n, int type, int code)
{
    size_t i, c = 0;
    for (i = 0; i < n->nev; i++) {
        if (n->ev[i].type == type && (code == 1 || n->ev[i].code == code)) {
            c++;
        }
    }
    return c;
}

/* Pair keys for one side; variant != 0 gives a different pair key. */
static void t_pair_keys(int device_side, int variant, mb_pair_keys *out)
{
    uint8_t h1[64], h2[64], salt[32];
    static const char *ctl = "comp_1751725111";
    static const char *dev = "comp_1751725222";
    static const char *lct = "lct_comp_1751725111";
    mb_pair_params p;
    size_t i;
    for (i = 0; i < 64; i++) {
        h1[i] = (uint8_t)(0x10 + i);
        h2[i] = (uint8_t)(0xA0 + i + (unsigned)variant);
    }
    for (i = 0; i < 32; i++) {
        salt[i] = (uint8_t)(0x55 ^ i);
    }
    p.half_1 = h1;
    p.half_2 = h2;
    p.salt = salt;
    p.self_id = (const uint8_t *)(device_side ? dev : ctl);
    p.self_id_len = strlen(device_side ? dev : ctl);
    p.peer_id = (const uint8_t *)(device_side ? ctl : dev);
    p.peer_id_len = strlen(device_side ? ctl : dev);
    p.lct_id = (const uint8_t *)lct;
    p.lct_id_len = strlen(lct);
    if (mb_pair_derive(&p, out) != MB_OK) {
        fprintf(stderr, "pair derive failed\n");
        exit(2);
    }
}

static void t_cfg(tnode *n, mb_role role, mb_profile profile, mb_session_cfg *cfg)
{
    mb_session_cfg_defaults(cfg);
    cfg->role = role;
    cfg->profile = profile;
    cfg->device_id = 0x05;
    cfg->rng = t_rng;
    cfg->tx = t_tx;
    cfg->event = t_event;
    cfg->user = n;
    cfg->aead = &n->aead;
}

/* Set up a node; cfg may be tweaked through the callback-free defaults. */
static int t_node_init(tnode *n, mb_role role, mb_profile profile, int key_variant,
                       const mb_session_cfg *override)
{
    mb_session_cfg cfg;
    mb_pair_keys k;
    int ret;
    memset(n, 0, sizeof(*n));
    n->rng_state = role == MB_ROLE_CONTROLLER ? 0x1234567887654321ull : 0x0fedcba987654321ull;
    mb_aead_init(&n->aead);
    if (override != NULL) {
        cfg = *override;
        cfg.rng = t_rng;
        cfg.tx = t_tx;
        cfg.event = t_event;
        cfg.user = n;
        cfg.aead = &n->aead;
        cfg.role = role;
        cfg.profile = profile;
        cfg.device_id = 0x05;
    } else {
        t_cfg(n, role, profile, &cfg);
    }
    t_pair_keys(role == MB_ROLE_DEVICE, key_variant, &k);
    ret = mb_session_init(&n->s, &cfg, &k);
    mb_pair_keys_wipe(&k);
    return ret;
}

static void t_node_free(tnode *n)
{
    mb_session_free(&n->s);
    mb_aead_free(&n->aead);
}

/* Classic frames of a HELLO (46 bytes). */
#define T_HELLO_FRAMES 6u

/* Seal one data message (an application type, not a command: no freshness
 * rules) from `from` and move its frames into `frames`; returns the frame
 * count, 0 when sending failed. */
static inline size_t t_seal(tnode *from, const uint8_t *pt, size_t len, uint32_t now,
                            mb_frame *frames)
{
    size_t n;
    if (mb_session_send(&from->s, MB_MSG_APP_FIRST, pt, len, now) != MB_OK) {
        return 0;
    }
    n = from->out.n;
    memcpy(frames, from->out.f, n * sizeof(mb_frame));
    from->out.n = 0;
    return n;
}

#ifdef MBT_EQ_INT   /* Tests/CT includes this header without mbt.h's checks */
/* One message of `sender` as classic frames for device 0x05 (clear, as
 * handshakes travel), e.g. a forged or doctored handshake message. */
static inline size_t t_frames_of(mb_role sender, unsigned type, const uint8_t *msg, size_t len,
                                 mb_frame *out)
{
    uint32_t key = mb_seg_message_id(MB_PROFILE_CLASSIC, mb_msg_id(sender, type), false,
                                     0x05, len);
    unsigned i, n = mb_seg_frame_count(MB_PROFILE_CLASSIC, len);
    for (i = 1; i <= n; i++) {
        MBT_EQ_INT(mb_seg_frame(MB_PROFILE_CLASSIC, key, msg, len, i, &out[i - 1]), MB_OK);
    }
    return n;
}
#endif

/* Delivered messages collected by t_pump. */
typedef struct tinbox {
    mb_session_msg m[64];
    size_t n;
    int last_err;
    size_t errors;
} tinbox;

/* Feed every frame queued by `from` to `to`, collecting deliveries. */
static void t_deliver(tnode *from, tnode *to, uint32_t now, tinbox *box)
{
    size_t i;
    static mb_frame q[TQ_MAX];
    size_t n = from->out.n;
    memcpy(q, from->out.f, n * sizeof(mb_frame));
    from->out.n = 0;
    for (i = 0; i < n; i++) {
        mb_session_msg m;
        int ret = mb_session_rx(&to->s, &q[i], now, &m);
        if (ret != MB_OK) {
            if (box) { box->last_err = ret; box->errors++; }
        } else if (m.ready && box && box->n < 64) {
            box->m[box->n++] = m;
        }
    }
}

/* Exchange frames both ways until both queues are empty. */
static void t_pump(tnode *a, tnode *b, uint32_t now, tinbox *box_a, tinbox *box_b)
{
    int guard = 0;
    while ((a->out.n || b->out.n) && guard++ < 16) {
        t_deliver(a, b, now, box_b);
        t_deliver(b, a, now, box_a);
    }
}

/* Controller starts, frames pumped: both established. */
static inline int t_connect(tnode *ctl, tnode *dev, uint32_t now)
{
    if (mb_session_start(&ctl->s, now) != MB_OK) {
        return -1;
    }
    t_pump(ctl, dev, now, NULL, NULL);
    return (ctl->s.established && dev->s.established) ? 0 : -1;
}

#endif /* TEST_SESSION_UTIL_H */
