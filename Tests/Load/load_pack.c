/*
 * load_pack.c - the simulated pack: key set-up, the nodes' callbacks, the
 * application traffic of one round, and the bus carrying it (load_pack.h).
 */
#include "load_pack.h"

#include "mb_session_priv.h"   /* epoch derivation, to classify what a receiver lacks */

#include <stdio.h>
#include <string.h>

#define CTL_NODE 0u
#define CTL_COMPONENT "comp_pack_controller"

uint32_t pack_now_ms(const pack *p)
{
    return (uint32_t)(p->bus_ns / 1000000u);
}

/* ---- the nodes' callbacks --------------------------------------------- */

static int node_rng(void *user, uint8_t *out, size_t len)
{
    pack_node *n = (pack_node *)user;
    size_t i;

    for (i = 0; i < len; i++) {
        out[i] = (uint8_t)(bus_rand(&n->rng) >> 56);
    }
    return MB_OK;
}

static int node_tx(void *user, const mb_frame *f)
{
    pack_node *n = (pack_node *)user;
    bus_frame bf;
    mb_canid id;

    if (mb_canid_decode(f->id, &id) != MB_OK) {
        n->pack->setup_error = 1;
        return MB_ERR_CANID_RANGE;
    }
    bf.frame = *f;
    bf.tag = n->tag;
    bf.index = id.chunk_index;
    bf.total = id.chunk_total;
    return bus_fifo_push(&n->pack->fifo[n->id], &bf);
}

static void count_rotation(pack *p, unsigned side, unsigned pair, int tx)
{
    if (tx) {
        p->rot_tx[side][pair]++;
        p->c.rekey_tx++;
    } else {
        p->rot_rx[side][pair]++;
        p->c.rekey_rx++;
    }
}

static void node_event(void *user, const mb_event *ev)
{
    pack_node *n = (pack_node *)user;
    pack *p = n->pack;
    unsigned side = n->id == CTL_NODE ? 0u : 1u;
    unsigned pair = (unsigned)ev->device_id - 1u;

    if (pair >= PACK_MODULES) {
        p->setup_error = 1;
        return;
    }
    switch (ev->type) {
    case MB_EV_REKEY_TX:        count_rotation(p, side, pair, 1); break;
    case MB_EV_REKEY_RX:        count_rotation(p, side, pair, 0); break;
    case MB_EV_REKEY_REQUESTED: p->rekey_honoured = 1; break;
    case MB_EV_HS_STARTED:      p->c.hs_started++; break;
    case MB_EV_HS_DONE:         p->c.hs_done++; break;
    case MB_EV_HS_FAILED:       p->c.hs_failed++; break;
    case MB_EV_RESYNC:          p->c.resyncs++; break;
    case MB_EV_REJECT:          p->c.rejects++; break;
    default:                    break;
    }
}

/* ---- set-up ------------------------------------------------------------ */

static void random_bytes(uint64_t *state, uint8_t *out, size_t len)
{
    size_t i;

    for (i = 0; i < len; i++) {
        out[i] = (uint8_t)(bus_rand(state) >> 56);
    }
}

/* Both ends of pair \p i derive their keys from the same halves and salt,
 * each naming itself as "self" (docs/KEY_DERIVATION.md). */
static int derive_pair(unsigned i, uint64_t *rng, mb_pair_keys *ctl, mb_pair_keys *mod)
{
    uint8_t h1[MB_KEY_HALF_LEN], h2[MB_KEY_HALF_LEN], salt[MB_SALT_LEN];
    char mod_id[32], lct_id[32];
    mb_pair_params pp;
    int ret;

    random_bytes(rng, h1, sizeof(h1));
    random_bytes(rng, h2, sizeof(h2));
    random_bytes(rng, salt, sizeof(salt));
    snprintf(mod_id, sizeof(mod_id), "comp_module_%02u", i + 1u);
    snprintf(lct_id, sizeof(lct_id), "lct_module_%02u", i + 1u);
    pp.half_1 = h1;
    pp.half_2 = h2;
    pp.salt = salt;
    pp.lct_id = (const uint8_t *)lct_id;
    pp.lct_id_len = strlen(lct_id);
    pp.self_id = (const uint8_t *)CTL_COMPONENT;
    pp.self_id_len = strlen(CTL_COMPONENT);
    pp.peer_id = (const uint8_t *)mod_id;
    pp.peer_id_len = strlen(mod_id);
    ret = mb_pair_derive(&pp, ctl);
    pp.self_id = pp.peer_id;
    pp.self_id_len = pp.peer_id_len;
    pp.peer_id = (const uint8_t *)CTL_COMPONENT;
    pp.peer_id_len = strlen(CTL_COMPONENT);
    if (ret == MB_OK) {
        ret = mb_pair_derive(&pp, mod);
    }
    mb_wipe(h1, sizeof(h1));
    mb_wipe(h2, sizeof(h2));
    mb_wipe(salt, sizeof(salt));
    return ret;
}

static int session_up(pack *p, mb_session *s, unsigned node, mb_role role, unsigned pair,
                      const mb_pair_keys *keys)
{
    mb_session_cfg cfg;

    mb_session_cfg_defaults(&cfg);
    cfg.role = role;
    cfg.profile = p->o.profile;
    cfg.device_id = (uint8_t)(pair + 1u);
    cfg.rng = node_rng;
    cfg.tx = node_tx;
    cfg.event = node_event;
    cfg.user = &p->node[node];
    cfg.aead = &p->aead[node];
    cfg.rekey_after_msgs = p->o.rekey_after;
    return mb_session_init(s, &cfg, keys);
}

int pack_init(pack *p, const pack_opts *o)
{
    uint64_t key_rng = o->seed ^ UINT64_C(0x6b65792d72616e64);
    unsigned i;
    int ret = MB_OK;

    memset(p, 0, sizeof(*p));
    p->o = *o;
    p->faults.drop = o->drop;
    p->faults.corrupt = o->corrupt;
    p->faults.data_only = o->corrupt_data_only;
    p->faults.state = o->seed ^ UINT64_C(0x6661756c74732121);
    p->app_rng = o->seed ^ UINT64_C(0x6170706c69636174);
    ledger_init(&p->led);
    for (i = 0; i < BUS_NODES_MAX; i++) {
        p->node[i].pack = p;
        p->node[i].id = i;
        p->node[i].tag = BUS_TAG_NONE;
        p->node[i].rng = o->seed * 0x9E3779B97F4A7C15u + i + 1u;
        mb_aead_init(&p->aead[i]);
    }
    for (i = 0; i < PACK_MODULES && ret == MB_OK; i++) {
        mb_pair_keys kc, km;
        ret = derive_pair(i, &key_rng, &kc, &km);
        if (ret == MB_OK) {
            ret = session_up(p, &p->ctl[i], CTL_NODE, MB_ROLE_CONTROLLER, i, &kc);
        }
        if (ret == MB_OK) {
            ret = session_up(p, &p->mod[i], i + 1u, MB_ROLE_DEVICE, i, &km);
        }
        mb_pair_keys_wipe(&kc);
        mb_pair_keys_wipe(&km);
    }
    return ret;
}

void pack_free(pack *p)
{
    unsigned i;

    for (i = 0; i < PACK_MODULES; i++) {
        mb_session_free(&p->ctl[i]);
        mb_session_free(&p->mod[i]);
    }
    for (i = 0; i < BUS_NODES_MAX; i++) {
        mb_aead_free(&p->aead[i]);
    }
}

/* ---- receiving ----------------------------------------------------------- */

/* Does \p s hold the epoch whose fixed field is \p fixed (current, previous
 * within its grace period, or the peer's next)? Mirrors 7.3 step 2. */
static int holds_epoch(const mb_session *s, const uint8_t fixed[MB_NONCE_FIXED_LEN], uint32_t now)
{
    const mb_rx_epoch *cur = &s->rx_cur, *prev = &s->rx_prev;

    return (cur->valid && memcmp(fixed, cur->fixed, MB_NONCE_FIXED_LEN) == 0) ||
           (prev->valid && (int32_t)(now - prev->expires_ms) < 0 &&
            memcmp(fixed, prev->fixed, MB_NONCE_FIXED_LEN) == 0) ||
           (cur->valid && memcmp(fixed, s->rx_next_fixed, MB_NONCE_FIXED_LEN) == 0);
}

/* Is \p fixed that of an epoch 2..LOOKAHEAD ahead on the receiver's chain? */
#define LOOKAHEAD 8u
static int epoch_ahead(const mb_session *s, const uint8_t fixed[MB_NONCE_FIXED_LEN])
{
    uint8_t chain[MB_SESSION_KEY_LEN], next[MB_SESSION_KEY_LEN], f[MB_NONCE_FIXED_LEN];
    uint32_t e = s->rx_cur.epoch + 1u;
    int found = 0;
    unsigned k;

    memcpy(chain, s->rx_chain, sizeof(chain));     /* chain[cur + 1] */
    for (k = 2u; k <= LOOKAHEAD && s->rx_cur.valid && !found; k++, e++) {
        if (mbs_chain_next(chain, e, next) != MB_OK ||
            mbs_epoch_fixed(next, e + 1u, f) != MB_OK) {
            break;
        }
        memcpy(chain, next, sizeof(chain));
        found = memcmp(f, fixed, MB_NONCE_FIXED_LEN) == 0;
    }
    mb_wipe(chain, sizeof(chain));
    mb_wipe(next, sizeof(next));
    return found;
}

static void note_keys_before_last(pack *p, const mb_session *s, const bus_frame *bf,
                                  uint32_t now)
{
    const ledger_msg *m = ledger_get(&p->led, bf->tag);
    ledger_keys k;

    if (m == NULL || bf->index != bf->total) {
        return;
    }
    k = holds_epoch(s, m->fixed, now) ? KEYS_HELD
        : (epoch_ahead(s, m->fixed) ? KEYS_AHEAD : KEYS_OTHER);
    ledger_note_keys(&p->led, bf->tag, k);
}

static void check_outcome(pack *p, const bus_frame *bf, bus_fault fault, unsigned pair,
                          int is_dev, const mb_session_msg *m)
{
    if (m->ready && ledger_check_accept(&p->led, bf, fault, pair, is_dev, m)) {
        p->c.payload_bytes += m->len;
    }
    if (p->rekey_honoured) {
        (void)ledger_check_accept(&p->led, bf, fault, pair, is_dev, NULL);
    }
}

static void rx_session(pack *p, mb_session *s, unsigned pair, int is_dev,
                       const bus_frame *bf, bus_fault fault, uint64_t seq)
{
    mb_session_msg m;
    uint32_t now = pack_now_ms(p);
    unsigned in_use;
    int ret;

    if (!mb_session_accepts(s, bf->frame.id)) {
        return;                         /* the node's acceptance filter */
    }
    if (fault == BUS_INTACT) {
        note_keys_before_last(p, s, bf, now);
    }
    p->rekey_honoured = 0;
    ret = mb_session_rx(s, &bf->frame, now, &m);
    if (fault == BUS_CORRUPTED) {
        (is_dev ? p->taint_mod : p->taint_ctl)[pair] = seq + 1u;
    } else if (ret != MB_OK) {
        ledger_note_error(&p->led, bf->tag, ret);
    }
    check_outcome(p, bf, fault, pair, is_dev, &m);
    in_use = mb_reasm_in_use(&s->reasm);
    if (in_use > p->c.max_reasm_in_use) {
        p->c.max_reasm_in_use = in_use;
    }
}

/* Every node but the sender sees the frame; the pack controller hands it to
 * the session of its device id, a module only takes its own device id. */
static void receive(pack *p, unsigned sender, const bus_frame *bf, bus_fault fault, uint64_t seq)
{
    unsigned dev = bf->frame.id & 0xFFu;

    if (dev < 1u || dev > PACK_MODULES) {
        return;
    }
    if (sender != CTL_NODE) {
        rx_session(p, &p->ctl[dev - 1u], dev - 1u, 0, bf, fault, seq);
    }
    if (sender != dev) {
        rx_session(p, &p->mod[dev - 1u], dev - 1u, 1, bf, fault, seq);
    }
}

static void close_message(pack *p, uint32_t tag)
{
    const ledger_msg *m = ledger_get(&p->led, tag);
    uint64_t taint;

    if (m == NULL) {
        return;
    }
    taint = m->from_device ? p->taint_ctl[m->pair] : p->taint_mod[m->pair];
    ledger_close(&p->led, tag, taint > m->first_seq);
}

static void count_frame(pack *p, const bus_frame *bf, bus_fault fault)
{
    p->c.frames++;
    p->c.frames_dropped += fault == BUS_DROPPED;
    p->c.frames_corrupted += fault == BUS_CORRUPTED;
    if (bf->tag == BUS_TAG_NONE) {
        p->c.hs_frames++;
        p->c.hs_frames_damaged += fault != BUS_INTACT;
    }
}

/* The winning frame occupies the bus, then every receiver processes it. */
static void carry(pack *p, unsigned sender, bus_frame *bf)
{
    uint64_t ns = bus_frame_ns(p->o.profile, &p->o.rates, &bf->frame);
    uint64_t seq = p->seq++;
    bus_fault fault;

    p->bus_ns += ns;
    p->busy_ns += ns;
    fault = bus_apply_fault(&p->faults, &bf->frame);
    count_frame(p, bf, fault);
    ledger_note_frame(&p->led, bf->tag, bf, fault, seq);
    if (fault != BUS_DROPPED) {
        receive(p, sender, bf, fault, seq);
    }
    if (bf->tag != BUS_TAG_NONE && bf->index == bf->total) {
        close_message(p, bf->tag);
    }
}

static void drain(pack *p)
{
    int w;

    while ((w = bus_arbitrate(p->fifo, BUS_NODES_MAX)) >= 0) {
        bus_frame bf = *bus_fifo_head(&p->fifo[w]);
        bus_fifo_pop(&p->fifo[w]);
        carry(p, (unsigned)w, &bf);
    }
}

/* ---- sending ------------------------------------------------------------- */

static void send_tracked(pack *p, pack_node *n, mb_session *s, unsigned pair,
                         unsigned type, const uint8_t *pt, size_t len)
{
    ledger_msg rec;
    uint32_t tag;
    int ret;

    memset(&rec, 0, sizeof(rec));
    rec.pair = (uint8_t)pair;
    rec.from_device = (uint8_t)(n->id != CTL_NODE);
    rec.type = (uint8_t)type;
    rec.len = (uint8_t)len;
    memcpy(rec.pt, pt, len);
    if ((tag = ledger_open(&p->led, &rec)) == BUS_TAG_NONE) {
        p->setup_error = 1;
        return;
    }
    n->tag = tag;
    ret = type == MB_MSG_SECURITY ? mb_session_rekey(s, pack_now_ms(p))
                                  : mb_session_send(s, type, pt, len, pack_now_ms(p));
    n->tag = BUS_TAG_NONE;
    if (ret != MB_OK) {
        ledger_cancel(&p->led, tag);
        return;
    }
    /* A command is sealed with its freshness value ahead (protocol v2). */
    if (type == MB_MSG_COMMAND || type == MB_MSG_LIMITS) {
        len += MB_SESSION_FV_LEN;
    }
    ledger_sealed(&p->led, tag, s->tx_epoch, s->tx_nonce.next - 1u, s->tx_nonce.fixed,
                  mb_seg_frame_count(p->o.profile, len + MB_SESSION_OVERHEAD));
}

static uint16_t rand_range(pack *p, unsigned lo, unsigned span)
{
    return (uint16_t)(lo + bus_rand(&p->app_rng) % span);
}

static size_t make_status(pack *p, uint8_t *out)
{
    mb_status st;
    size_t len = 0;

    st.voltage_cv = rand_range(p, 4000u, 1800u);                 /* 40.00 .. 57.99 V */
    st.current_da = (int16_t)((int)rand_range(p, 0u, 4001u) - 2000);  /* +-200.0 A */
    st.temperature_dc = (int16_t)rand_range(p, 150u, 300u);      /* 15.0 .. 44.9 C */
    st.soc_cpct = rand_range(p, 0u, 10001u);
    st.state = MB_STATE_ON;
    st.flags = (uint8_t)(4u | (bus_rand(&p->app_rng) & 2u));     /* contactor, balancing */
    (void)mb_msg_encode_status(&st, out, LEDGER_PT_MAX, &len);
    return len;
}

static size_t make_command_or_limits(pack *p, unsigned type, uint8_t *out)
{
    size_t len = 0;

    if (type == MB_MSG_COMMAND) {
        mb_command c;
        c.state = (uint8_t)(bus_rand(&p->app_rng) % 4u);
        (void)mb_msg_encode_command(&c, out, LEDGER_PT_MAX, &len);
    } else {
        mb_limits l;
        l.charge_current_da = rand_range(p, 0u, 1500u);
        l.discharge_current_da = rand_range(p, 0u, 3000u);
        l.charge_voltage_cv = rand_range(p, 5600u, 200u);
        l.discharge_voltage_cv = rand_range(p, 4000u, 200u);
        (void)mb_msg_encode_limits(&l, out, LEDGER_PT_MAX, &len);
    }
    return len;
}

static void queue_controller(pack *p)
{
    static const uint8_t request[MB_SECURITY_LEN] = { MB_SECURITY_REKEY_REQUEST, 0u };
    uint64_t t = p->c.ticks;
    unsigned i;

    for (i = 0; i < PACK_MODULES; i++) {
        uint8_t pt[LEDGER_PT_MAX];
        unsigned type = ((t + i) & 1u) ? MB_MSG_LIMITS : MB_MSG_COMMAND;
        size_t len;
        if (!p->ctl[i].established) {
            continue;
        }
        if (p->o.rekey_every != 0u && t % p->o.rekey_every == 0u &&
            i == (t / p->o.rekey_every) % PACK_MODULES) {
            send_tracked(p, &p->node[CTL_NODE], &p->ctl[i], i, MB_MSG_SECURITY,
                         request, sizeof(request));
        }
        len = make_command_or_limits(p, type, pt);
        send_tracked(p, &p->node[CTL_NODE], &p->ctl[i], i, type, pt, len);
    }
}

static void queue_modules(pack *p)
{
    unsigned i;

    for (i = 0; i < PACK_MODULES; i++) {
        uint8_t pt[LEDGER_PT_MAX];
        size_t len;
        if (!p->mod[i].established) {
            continue;
        }
        len = make_status(p, pt);
        send_tracked(p, &p->node[i + 1u], &p->mod[i], i, MB_MSG_STATUS, pt, len);
    }
}

/* The application of the pack controller (re)starts a pair's handshake
 * whenever that pair has no session and none is under way. */
static void start_missing_handshakes(pack *p)
{
    unsigned i;

    for (i = 0; i < PACK_MODULES; i++) {
        if (!p->ctl[i].established && p->ctl[i].hs.state == 0u) {
            (void)mb_session_start(&p->ctl[i], pack_now_ms(p));
        }
    }
}

void pack_round(pack *p, int queue_data)
{
    uint64_t seq_before = p->seq;
    unsigned i;

    for (i = 0; i < PACK_MODULES; i++) {
        (void)mb_session_poll(&p->ctl[i], pack_now_ms(p));
        (void)mb_session_poll(&p->mod[i], pack_now_ms(p));
    }
    start_missing_handshakes(p);
    if (queue_data) {
        queue_controller(p);
        queue_modules(p);
    }
    drain(p);
    if (p->seq == seq_before) {
        p->bus_ns += 1000000u;          /* nothing to send: the bus idles 1 ms */
    }
    p->c.ticks++;
}
