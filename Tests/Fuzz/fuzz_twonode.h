/*
 * fuzz_twonode.h - a controller and a device session sharing the pair
 * keys of the protocol vectors, connected through a bus the fuzzer owns:
 * it decides which frames arrive, in what order, dropped, duplicated,
 * replayed, altered, or forged, and when time passes. Used by
 * fuzz_session.c (established pair, data traffic) and fuzz_handshake.c
 * (pair starting from scratch).
 *
 * Invariants checked on every step:
 *  - authenticity: a delivered message is one the other node sealed in
 *    this run (same type and bytes; the harness numbers every plaintext),
 *    delivered encrypted, and at most once (no replay gets through);
 *  - key confirmation: when a responder completes a handshake (FINISH
 *    accepted), the initiator has completed the same handshake: its
 *    epoch-0 keys are the responder's, mirrored;
 *  - return codes are the documented ones; reassembly slots stay bounded;
 *  - no state corruption: when the attacker stops (queues flushed, time
 *    passes), the pair recovers by the protocol's own means (timeouts,
 *    resynchronisation) and a fresh genuine message goes through each way
 *    within a bounded number of rounds.
 */
#ifndef FUZZ_TWONODE_H
#define FUZZ_TWONODE_H

#include "fuzz_common.h"
#include "fuzz_fixtures.h"
#include "../../CSources/mb_session_priv.h"   /* MBS_HS_* states, for the confirmation check */

#define TN_QMAX     96u
#define TN_LOGMAX   64u
#define TN_HISTMAX  64u
#define TN_STEPS   160u    /* ops per input: bounds the work per execution */

typedef struct tn_sealed {
    uint8_t  type;
    uint8_t  delivered;
    uint16_t len;
    uint8_t  data[MB_MSG_WIRE_MAX];
} tn_sealed;

typedef struct tn_node {
    mb_session s;
    uint64_t rng;
    mb_frame q[TN_QMAX];          /* sent, not yet delivered */
    size_t nq;
    mb_frame hist[TN_HISTMAX];    /* everything sent, for replays */
    size_t nhist;
    tn_sealed log[TN_LOGMAX];     /* plaintexts this node sealed */
    uint16_t nlog;
    uint32_t hs_done;
    uint8_t done_tx[32], done_rx[32];   /* epoch-0 keys at the last HS_DONE */
    uint8_t has_done;
    uint16_t cmd_next;            /* commands delivered from this node: serials at least this */
    mb_kex kex;                   /* the ephemeral exchange, in worlds that use one */
} tn_node;

/* AES-GCM work contexts stay outside the worlds that inputs copy: they own
 * mbedTLS allocations, which a byte copy would share and then leak. */
static mb_aead tn_aead[2];
static int tn_aead_ready;

typedef struct tn_world {
    tn_node n[2];                 /* 0 controller, 1 device */
    uint32_t now;
} tn_world;

static int tn_tx(void *user, const mb_frame *f)
{
    tn_node *n = (tn_node *)user;
    if (n->nq < TN_QMAX) {
        n->q[n->nq++] = *f;
    }
    n->hist[n->nhist % TN_HISTMAX] = *f;
    n->nhist++;
    return MB_OK;
}

static int tn_rng(void *user, uint8_t *out, size_t len)
{
    return fz_rng(&((tn_node *)user)->rng, out, len);
}

static void tn_event(void *user, const mb_event *ev)
{
    tn_node *n = (tn_node *)user;
    if (ev->type == MB_EV_HS_DONE) {
        n->hs_done++;
        memcpy(n->done_tx, n->s.tx_key, 32);
        memcpy(n->done_rx, n->s.rx_cur.key, 32);
        n->has_done = 1;
    }
}

static void tn_node_init(tn_node *n, mb_role role, mb_profile profile, int ephemeral)
{
    mb_session_cfg cfg;
    mb_pair_keys k;
    memset(n, 0, sizeof(*n));
    n->rng = role == MB_ROLE_CONTROLLER ? 0x1234567887654321ull : 0x0fedcba987654321ull;
    mb_session_cfg_defaults(&cfg);
    cfg.role = role;
    cfg.profile = profile;
    cfg.device_id = 0x05;
    cfg.rng = tn_rng;
    cfg.tx = tn_tx;
    cfg.event = tn_event;
    cfg.user = n;
    cfg.aead = &tn_aead[role == MB_ROLE_DEVICE];
    /* Short limits so that inputs reach rotation, grace and resync. */
    cfg.rekey_after_msgs = 4u;
    cfg.rekey_after_ms = 4000u;
    cfg.grace_ms = 300u;
    if (ephemeral) {
        mb_kex_p256_init(&n->kex);
        cfg.kex = &n->kex;
    }
    FZ_CHECK(fz_pair_keys(role == MB_ROLE_DEVICE, &k) == 0);
    FZ_CHECK(mb_session_init(&n->s, &cfg, &k) == MB_OK);
    mb_pair_keys_wipe(&k);
}

/* cfg.user and cfg.kex point into the node itself; re-aim them after
 * copying a world. */
static void tn_fix_pointers(tn_world *w)
{
    unsigned i;
    for (i = 0; i < 2u; i++) {
        w->n[i].s.cfg.user = &w->n[i];
        w->n[i].s.cfg.aead = &tn_aead[i];
        if (w->n[i].s.cfg.kex != NULL) {
            w->n[i].s.cfg.kex = &w->n[i].kex;
        }
    }
}

/* ephemeral: both nodes add the ephemeral key exchange (PROTOCOL.md 6.6). */
static void tn_world_init(tn_world *w, mb_profile profile, int ephemeral)
{
    memset(w, 0, sizeof(*w));
    if (!tn_aead_ready) {
        mb_aead_init(&tn_aead[0]);
        mb_aead_init(&tn_aead[1]);
        tn_aead_ready = 1;
    }
    tn_node_init(&w->n[0], MB_ROLE_CONTROLLER, profile, ephemeral);
    tn_node_init(&w->n[1], MB_ROLE_DEVICE, profile, ephemeral);
    w->now = 100000u;
}

static int tn_rx_code_ok(int ret)
{
    switch (ret) {
    case MB_OK: case MB_ERR_CANID_RANGE: case MB_ERR_CHUNK_RANGE: case MB_ERR_MALFORMED:
    case MB_ERR_NO_SLOT: case MB_ERR_AUTH: case MB_ERR_REPLAY: case MB_ERR_EPOCH:
    case MB_ERR_POLICY: case MB_ERR_STATE: case MB_ERR_HANDSHAKE: case MB_ERR_VERSION:
    case MB_ERR_RATE_LIMITED: case MB_ERR_STALE:
        return 1;
    default:
        return 0;
    }
}

/* A delivered message must be one the sender sealed, delivered once; a
 * command only after every older command of the sender. */
static void tn_check_delivery(tn_node *from, const mb_session_msg *m)
{
    uint16_t serial;
    tn_sealed *e;
    FZ_CHECK(m->encrypted == 1u);
    FZ_CHECK(m->len >= 2u && m->len <= MB_MSG_WIRE_MAX);
    serial = (uint16_t)((m->data[0] << 8) | m->data[1]);
    FZ_CHECK(serial < from->nlog);
    e = &from->log[serial];
    FZ_CHECK(e->type == m->type && e->len == m->len && memcmp(e->data, m->data, m->len) == 0);
    FZ_CHECK(!e->delivered);
    e->delivered = 1u;
    /* Commands arrive in the order they were sealed, across handshakes too
     * (protocol v2, 7.5): an older one never follows a newer one. */
    if ((from->s.cfg.fresh_types >> m->type) & 1u) {
        FZ_CHECK(serial >= from->cmd_next);
        from->cmd_next = (uint16_t)(serial + 1u);
    }
}

/* Feed one frame to node `to` (index) and check everything it did. */
static int tn_feed(tn_world *w, unsigned to, const mb_frame *f)
{
    tn_node *y = &w->n[to], *x = &w->n[to ^ 1u];
    mb_session_msg out;
    uint8_t pre_state = y->s.hs.state;
    uint32_t pre_done = y->hs_done;
    int ret = mb_session_rx(&y->s, f, w->now, &out);

    if (!tn_rx_code_ok(ret)) {
        fprintf(stderr, "rx returned %d (%s) node %u frame id %08x len %u hs %u est %u\n", ret, mb_strerror(ret), to, (unsigned)f->id, f->len, pre_state, y->s.established);
    }
    FZ_CHECK(tn_rx_code_ok(ret));
    FZ_CHECK(mb_reasm_in_use(&y->s.reasm) <= MB_REASM_SLOTS);
    if (out.ready) {
        FZ_CHECK(ret == MB_OK);
        tn_check_delivery(x, &out);
    }
    if (y->hs_done != pre_done) {
        FZ_CHECK(y->hs_done == pre_done + 1u && y->s.established);
        if (pre_state == MBS_HS_WAIT_FINISH) {
            /* Responder done: the initiator confirmed these very keys. */
            FZ_CHECK(x->has_done);
            FZ_CHECK(memcmp(x->done_tx, y->done_rx, 32) == 0);
            FZ_CHECK(memcmp(x->done_rx, y->done_tx, 32) == 0);
        } else {
            FZ_CHECK(pre_state == MBS_HS_WAIT_REPLY);
        }
    }
    return ret;
}

/* Seal a numbered plaintext on node `from`. */
static int tn_send(tn_world *w, unsigned from, unsigned type, const uint8_t *body, size_t len)
{
    tn_node *x = &w->n[from];
    size_t max = MB_SESSION_PT_MAX(x->s.cfg.profile) -
                 ((x->s.cfg.fresh_types >> type) & 1u ? MB_SESSION_FV_LEN : 0u);   /* commands: FV ahead */
    tn_sealed *e;
    int ret;
    if (x->nlog >= TN_LOGMAX) {
        return MB_ERR_STATE;
    }
    len = len < 2u ? 2u : (len > max ? max : len);
    e = &x->log[x->nlog];
    memset(e, 0, sizeof(*e));
    e->data[0] = (uint8_t)(x->nlog >> 8);
    e->data[1] = (uint8_t)x->nlog;
    memcpy(e->data + 2, body, len - 2u);
    e->type = (uint8_t)type;
    e->len = (uint16_t)len;
    ret = mb_session_send(&x->s, type, e->data, len, w->now);
    if (ret == MB_OK) {
        x->nlog++;
    } else {
        FZ_CHECK(ret == MB_ERR_STATE || ret == MB_ERR_NONCE_EXHAUSTED);
    }
    return ret;
}

static mb_frame tn_pop(tn_node *x, size_t at)
{
    mb_frame f = x->q[at];
    memmove(&x->q[at], &x->q[at + 1u], (x->nq - at - 1u) * sizeof(mb_frame));
    x->nq--;
    return f;
}

static void tn_poll(tn_world *w)
{
    unsigned i;
    for (i = 0; i < 2u; i++) {
        int ret = mb_session_poll(&w->n[i].s, w->now);
        FZ_CHECK(ret == MB_OK || ret == MB_ERR_TIMEOUT);
        FZ_CHECK(mb_reasm_in_use(&w->n[i].s.reasm) <= MB_REASM_SLOTS);
    }
}

/* An id the sessions take, with the chunk fields and flags from the input. */
static uint32_t tn_plausible_id(fz_in *in)
{
    uint8_t sel = fz_u8(in);
    uint16_t msg_id = (uint16_t)(MB_MSGID_BASE | (sel & 0x1Fu));
    uint32_t low = fz_u16(in);    /* flags and chunk fields, bits 17..8 */
    return ((uint32_t)msg_id << 18) | ((low & 0x3FFu) << 8) | 0x05u;
}

/* One attacker/bus step. */
static void tn_step(tn_world *w, fz_in *in)
{
    uint8_t op = fz_u8(in);
    unsigned a = op & 1u;                /* the node acting or sending */
    tn_node *x = &w->n[a];
    uint8_t body[MB_MSG_WIRE_MAX];
    mb_frame f;
    size_t i, k;

    switch ((op >> 1) % 10u) {
    case 0: /* the node sends a message */
        k = fz_u8(in);
        (void)fz_bytes(in, body, k % 40u);
        (void)tn_send(w, a, 4u + fz_u8(in) % 12u, body, k);
        break;
    case 1: /* deliver the next frames, in order */
        for (k = 1u + fz_u8(in) % 8u; k > 0u && x->nq > 0u; k--) {
            f = tn_pop(x, 0);
            (void)tn_feed(w, a ^ 1u, &f);
        }
        break;
    case 2: /* deliver one frame with bits flipped (id, length or data) */
        if (x->nq > 0u) {
            uint8_t pos = fz_u8(in), mask = fz_u8(in);
            f = tn_pop(x, 0);
            if (pos < 4u) {
                f.id ^= (uint32_t)mask << (8u * pos);
            } else if (pos == 4u) {
                f.len = (uint8_t)(f.len ^ (mask & 0x7Fu));
                f.len = f.len > MB_FRAME_DATA_MAX ? MB_FRAME_DATA_MAX : f.len;
            } else {
                f.data[(pos - 5u) % MB_FRAME_DATA_MAX] ^= mask;
            }
            (void)tn_feed(w, a ^ 1u, &f);
        }
        break;
    case 3: /* drop one frame */
        if (x->nq > 0u) {
            (void)tn_pop(x, fz_u8(in) % x->nq);
        }
        break;
    case 4: /* replay a frame sent earlier */
        if (x->nhist > 0u) {
            size_t n = x->nhist < TN_HISTMAX ? x->nhist : TN_HISTMAX;
            f = x->hist[fz_u8(in) % n];
            (void)tn_feed(w, a ^ 1u, &f);
        }
        break;
    case 5: /* forge a frame */
        memset(&f, 0, sizeof(f));
        f.id = (fz_u8(in) & 1u) ? tn_plausible_id(in) : fz_u32(in);
        f.len = (uint8_t)(fz_u8(in) % (MB_FRAME_DATA_MAX + 1u));
        (void)fz_bytes(in, f.data, f.len);
        (void)tn_feed(w, a, &f);
        break;
    case 6: /* time passes */
        w->now += fz_u16(in) % 2500u;
        tn_poll(w);
        break;
    case 7: /* rotate now */
        i = (size_t)mb_session_rekey(&x->s, w->now);
        FZ_CHECK((int)i == MB_OK || (int)i == MB_ERR_STATE || (int)i == MB_ERR_NONCE_EXHAUSTED);
        break;
    case 8: /* (re)start a handshake */
        (void)mb_session_start(&x->s, w->now);
        break;
    default: /* reorder: deliver a later frame first */
        if (x->nq > 0u) {
            f = tn_pop(x, fz_u8(in) % x->nq);
            (void)tn_feed(w, a ^ 1u, &f);
        }
        break;
    }
}

/* Deliver everything queued, both ways, until the bus is quiet. */
static void tn_flush(tn_world *w)
{
    unsigned guard;
    for (guard = 0; guard < 64u && (w->n[0].nq > 0u || w->n[1].nq > 0u); guard++) {
        unsigned a;
        for (a = 0; a < 2u; a++) {
            while (w->n[a].nq > 0u) {
                mb_frame f = tn_pop(&w->n[a], 0);
                (void)tn_feed(w, a ^ 1u, &f);
            }
        }
    }
    FZ_CHECK(w->n[0].nq == 0u && w->n[1].nq == 0u);
}

/* The attacker is gone: the pair must recover and carry fresh messages. */
static void tn_check_recovery(tn_world *w)
{
    static const uint8_t probe[8] = { 'r', 'e', 'c', 'o', 'v', 'e', 'r', '!' };
    unsigned round, a;
    w->n[0].nq = 0;
    w->n[1].nq = 0;
    for (round = 0; round < 24u; round++) {
        uint16_t first[2];
        w->now += 400u;
        tn_poll(w);
        for (a = 0; a < 2u; a++) {
            first[a] = w->n[a].nlog;
            if (w->n[a].nlog >= TN_LOGMAX) {
                w->n[a].nlog = 0;   /* reuse the log: serials restart, delivered flags reset */
                memset(w->n[a].log, 0, sizeof(w->n[a].log));
                first[a] = 0;
            }
            if (!w->n[a].s.established) {
                (void)mb_session_start(&w->n[a].s, w->now);
            } else {
                (void)tn_send(w, a, MB_MSG_APP_FIRST, probe, sizeof(probe) + 2u);
            }
        }
        tn_flush(w);
        if (w->n[0].s.established && w->n[1].s.established &&
            first[0] < w->n[0].nlog && w->n[0].log[first[0]].delivered &&
            first[1] < w->n[1].nlog && w->n[1].log[first[1]].delivered) {
            return;
        }
    }
    FZ_CHECK(0 && "the pair recovers after the attack stopped");
}

/* A genuine handshake, controller first, all frames delivered. */
static inline void tn_handshake(tn_world *w)
{
    FZ_CHECK(mb_session_start(&w->n[0].s, w->now) == MB_OK);
    tn_flush(w);
    FZ_CHECK(w->n[0].s.established && w->n[1].s.established);
}

static void tn_run(tn_world *w, fz_in *in)
{
    unsigned steps;
    for (steps = 0; steps < TN_STEPS && in->n > 0u; steps++) {
        tn_step(w, in);
    }
    tn_check_recovery(w);
}

#endif /* FUZZ_TWONODE_H */
