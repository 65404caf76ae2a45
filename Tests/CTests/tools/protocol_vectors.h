/*
 * protocol_vectors.h - builds Tests/Vectors/protocol-v2.json: two real
 * sessions (classic and CAN FD) run with fixed pair inputs and fixed
 * handshake nonces; every frame on the bus is recorded with the values a
 * port needs to check each step (docs/PROTOCOL.md, section 11).
 *
 * Used by tools/gen_protocol_vectors.c (writes the file) and by
 * test_vectors_protocol.c (rebuilds it and compares byte for byte). The
 * key schedule is recomputed here from the spec's formulas with the bare
 * HKDF/HMAC primitives and checked against the session's own keys, so the
 * spec and the code cannot drift apart silently.
 */
#ifndef PROTOCOL_VECTORS_H
#define PROTOCOL_VECTORS_H

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modbatt/modbatt.h"

#define PV_CAP (1u << 20)

typedef struct pv_buf {
    char s[PV_CAP];
    size_t n;
    int err;                       /* set on any inconsistency */
    char why[256];
} pv_buf;

static void pv_put(pv_buf *b, const char *fmt, ...)
{
    va_list ap;
    int w;
    va_start(ap, fmt);
    w = vsnprintf(b->s + b->n, PV_CAP - b->n, fmt, ap);
    va_end(ap);
    if (w < 0 || (size_t)w >= PV_CAP - b->n) {
        b->err = 1;
        return;
    }
    b->n += (size_t)w;
}

static void pv_fail(pv_buf *b, const char *why)
{
    if (!b->err) {
        snprintf(b->why, sizeof(b->why), "%s", why);
    }
    b->err = 1;
}

static void pv_hex(pv_buf *b, const uint8_t *p, size_t n)
{
    size_t i;
    pv_put(b, "\"");
    for (i = 0; i < n; i++) {
        pv_put(b, "%02x", p[i]);
    }
    pv_put(b, "\"");
}

/* One node: a session, its scripted nonce, its frames. */
typedef struct pv_node {
    mb_session s;
    mb_aead aead;
    uint8_t nonce[16];
    mb_frame out[32];
    size_t nout;
} pv_node;

static int pv_rng(void *user, uint8_t *out, size_t len)
{
    pv_node *n = (pv_node *)user;
    if (len != sizeof(n->nonce)) {
        return -1;
    }
    memcpy(out, n->nonce, len);
    return 0;
}

static int pv_tx(void *user, const mb_frame *f)
{
    pv_node *n = (pv_node *)user;
    if (n->nout >= 32) {
        return MB_ERR_BUFFER_TOO_SMALL;
    }
    n->out[n->nout++] = *f;
    return MB_OK;
}

/* The fixed pair of the vectors. */
#define PV_CTL_ID "comp_1751725111"
#define PV_DEV_ID "comp_1751725222"
#define PV_LCT_ID "lct_comp_1751725111"
/* HELLO counter base: boot 3 of a persisted boot count, << 32. */
#define PV_HELLO_BASE (UINT64_C(3) << 32)

static void pv_inputs(uint8_t h1[64], uint8_t h2[64], uint8_t salt[32])
{
    size_t i;
    for (i = 0; i < 64; i++) {
        h1[i] = (uint8_t)(0x40 + i);          /* "device key half" */
        h2[i] = (uint8_t)(0xC0 ^ (i * 7u));   /* "LCT key half" */
    }
    for (i = 0; i < 32; i++) {
        salt[i] = (uint8_t)(0xA0 + i);
    }
}

static int pv_keys(int device_side, mb_pair_keys *k)
{
    uint8_t h1[64], h2[64], salt[32];
    mb_pair_params p;
    pv_inputs(h1, h2, salt);
    p.half_1 = h1;
    p.half_2 = h2;
    p.salt = salt;
    p.self_id = (const uint8_t *)(device_side ? PV_DEV_ID : PV_CTL_ID);
    p.self_id_len = strlen(PV_CTL_ID);
    p.peer_id = (const uint8_t *)(device_side ? PV_CTL_ID : PV_DEV_ID);
    p.peer_id_len = strlen(PV_DEV_ID);
    p.lct_id = (const uint8_t *)PV_LCT_ID;
    p.lct_id_len = strlen(PV_LCT_ID);
    return mb_pair_derive(&p, k);
}

static void pv_frames(pv_buf *b, const char *sender, const mb_frame *f, size_t n,
                      const char *indent)
{
    size_t i;
    for (i = 0; i < n; i++) {
        pv_put(b, "%s{\"sender\": \"%s\", \"id\": \"%08x\", \"data\": ", indent, sender,
               (unsigned)f[i].id);
        pv_hex(b, f[i].data, f[i].len);
        pv_put(b, "}%s\n", i + 1 < n ? "," : "");
    }
}

/* Spec formulas, recomputed from the primitives (PROTOCOL.md, 6 and 7). */
static int pv_prf(const uint8_t chain[32], const char *label, uint32_t e, uint8_t out[32])
{
    uint8_t msg[16];
    size_t l = strlen(label);
    memcpy(msg, label, l);
    msg[l] = (uint8_t)(e >> 24);
    msg[l + 1] = (uint8_t)(e >> 16);
    msg[l + 2] = (uint8_t)(e >> 8);
    msg[l + 3] = (uint8_t)e;
    return mb_hmac_sha256(chain, 32, msg, l + 4, out);
}

typedef struct pv_sched {
    uint8_t ps[32];
    uint8_t sk[96];                 /* mac key | chain c2d[0] | chain d2c[0] */
} pv_sched;

static int pv_schedule(const mb_pair_keys *ctl_keys, const uint8_t n_i[16],
                       const uint8_t n_r[16], uint8_t device_id, mb_role initiator,
                       pv_sched *out)
{
    uint8_t ikm[96], salt[32], info[64];
    const char *ps_info = "modbatt/session/v1/pair";
    const char *hs_info = "modbatt/session/v1/hs";
    size_t n = strlen(hs_info);
    const uint8_t *lo_hi = ctl_keys->self_is_low ? ctl_keys->tx_key : ctl_keys->rx_key;
    const uint8_t *hi_lo = ctl_keys->self_is_low ? ctl_keys->rx_key : ctl_keys->tx_key;
    memcpy(ikm, lo_hi, 32);
    memcpy(ikm + 32, hi_lo, 32);
    memcpy(ikm + 64, ctl_keys->confirm_key, 32);
    if (mb_hkdf_sha256(NULL, 0, ikm, 96, (const uint8_t *)ps_info, strlen(ps_info),
                       out->ps, 32) != MB_OK) {
        return -1;
    }
    memcpy(salt, n_i, 16);
    memcpy(salt + 16, n_r, 16);
    memcpy(info, hs_info, n);
    memcpy(info + n, ctl_keys->key_id, 4);
    info[n + 4] = device_id;
    info[n + 5] = (uint8_t)initiator;
    return mb_hkdf_sha256(salt, 32, out->ps, 32, info, n + 6, out->sk, 96) == MB_OK ? 0 : -1;
}

/* MAC_H of the HELLO in n's queue, from the spec formula:
 * HMAC(PS, "mb2 hello" || role || device_id || HELLO[0..30))[0..16). */
static int pv_hello_mac_ok(const pv_sched *sch, const pv_node *n, uint8_t dev_id)
{
    uint8_t hello[MB_MSG_WIRE_MAX], msg[9 + 2 + 30], full[32];
    mb_reasm r;
    mb_reasm_done d;
    size_t i;

    memset(&d, 0, sizeof(d));
    if (mb_reasm_init(&r, n->s.cfg.profile, 1000) != MB_OK) {
        return -1;
    }
    for (i = 0; i < n->nout; i++) {
        if (mb_reasm_push(&r, &n->out[i], 1000, hello, sizeof(hello), &d) != MB_OK) {
            return -1;
        }
    }
    if (!d.complete || d.len != MB_SESSION_HELLO_LEN) {
        return -1;
    }
    memcpy(msg, "mb2 hello", 9);
    msg[9] = (uint8_t)n->s.cfg.role;
    msg[10] = dev_id;
    memcpy(msg + 11, hello, 30);
    if (mb_hmac_sha256(sch->ps, 32, msg, sizeof(msg), full) != MB_OK) {
        return -1;
    }
    return memcmp(full, hello + 30, 16) == 0 ? 0 : -1;
}

typedef struct pv_ctx {
    pv_buf *b;
    pv_node *ctl;
    pv_node *dev;
    mb_profile profile;
    int first_msg;
} pv_ctx;

/* Hand every queued frame of `from` to `to`; return messages delivered. */
static int pv_deliver(pv_node *from, pv_node *to, uint32_t now, mb_session_msg *last)
{
    size_t i;
    int got = 0;
    for (i = 0; i < from->nout; i++) {
        mb_session_msg m;
        int ret = mb_session_rx(&to->s, &from->out[i], now, &m);
        if (ret != MB_OK) {
            return -1;
        }
        if (m.ready) {
            got++;
            if (last) *last = m;
        }
    }
    return got;
}

/* Record the message `from` just sent (its frames are in from->out). */
static void pv_message(pv_ctx *c, pv_node *from, pv_node *to, unsigned type,
                       const uint8_t *pt, size_t len, uint32_t now)
{
    pv_buf *b = c->b;
    const char *sender = from == c->ctl ? "controller" : "device";
    uint8_t wire[MB_MSG_WIRE_MAX], aad[7], check[MB_MSG_WIRE_MAX];
    mb_reasm r;
    mb_reasm_done d;
    mb_session_msg m;
    mb_aead a;
    size_t i;
    uint32_t epoch = from->s.tx_epoch;
    uint64_t counter = from->s.tx_nonce.next - 1u;
    uint8_t sealed[MB_MSG_WIRE_MAX];
    size_t sealed_len = len;
    int command = type == MB_MSG_COMMAND || type == MB_MSG_LIMITS;
    uint32_t fv = now - from->s.anchor_ms;
    int got;

    /* A command is sealed as FV (BE32, ms since the sender's anchor) || payload. */
    if (command) {
        sealed[0] = (uint8_t)(fv >> 24);
        sealed[1] = (uint8_t)(fv >> 16);
        sealed[2] = (uint8_t)(fv >> 8);
        sealed[3] = (uint8_t)fv;
        sealed_len += 4u;
    }
    if (len) {
        memcpy(sealed + (command ? 4u : 0u), pt, len);
    }

    memset(&d, 0, sizeof(d));
    if (mb_reasm_init(&r, c->profile, 1000) != MB_OK) {
        pv_fail(b, "reasm init");
        return;
    }
    for (i = 0; i < from->nout; i++) {
        if (mb_reasm_push(&r, &from->out[i], now, wire, sizeof(wire), &d) != MB_OK) {
            pv_fail(b, "reassembly of own frames");
        }
    }
    if (!d.complete || d.len != sealed_len + 28u) {
        pv_fail(b, "frames do not form the message");
        return;
    }
    aad[0] = MB_PROTO_VERSION;
    aad[1] = (uint8_t)(d.key >> 24);
    aad[2] = (uint8_t)(d.key >> 16);
    aad[3] = (uint8_t)(d.key >> 8);
    aad[4] = (uint8_t)d.key;
    aad[5] = (uint8_t)(d.len >> 8);
    aad[6] = (uint8_t)d.len;
    /* Independent check: the recorded key, IV and AAD open the wire bytes. */
    mb_aead_init(&a);
    if (mb_aead_setkey(&a, from->s.tx_key) != MB_OK ||
        mb_aead_open(&a, wire, aad, 7, wire + 12, sealed_len, wire + 12 + sealed_len, 16,
                     check) != MB_OK ||
        (sealed_len && memcmp(check, sealed, sealed_len) != 0) ||
        memcmp(wire, from->s.tx_nonce.fixed, 4) != 0 || mb_nonce_counter(wire) != counter) {
        pv_fail(b, "recorded key/iv/aad do not open the message");
    }
    mb_aead_free(&a);
    got = pv_deliver(from, to, now, &m);
    if (type == MB_MSG_SECURITY ? got != 0 : (got != 1 || m.len != len ||
                                             (len && memcmp(m.data, pt, len) != 0))) {
        pv_fail(b, "peer did not accept the message");
    }
    pv_put(b, "%s        {\"sender\": \"%s\", \"type\": %u, \"epoch\": %u, \"counter\": %llu, \"at_ms\": %u,\n",
           c->first_msg ? "" : ",\n", sender, type, (unsigned)epoch, (unsigned long long)counter,
           (unsigned)now);
    c->first_msg = 0;
    pv_put(b, "         \"key\": ");
    pv_hex(b, from->s.tx_key, 32);
    pv_put(b, ", \"fixed\": ");
    pv_hex(b, from->s.tx_nonce.fixed, 4);
    pv_put(b, ",\n         \"plaintext\": ");
    pv_hex(b, pt, len);
    if (command) {
        pv_put(b, ", \"freshness\": ");
        pv_hex(b, sealed, 4);
    }
    pv_put(b, ", \"aad\": ");
    pv_hex(b, aad, 7);
    pv_put(b, ",\n         \"wire\": ");
    pv_hex(b, wire, d.len);
    pv_put(b, ",\n         \"frames\": [\n");
    pv_frames(b, sender, from->out, from->nout, "           ");
    pv_put(b, "         ]}");
    from->nout = 0;
}

static void pv_send(pv_ctx *c, pv_node *from, pv_node *to, unsigned type,
                    const uint8_t *pt, size_t len, uint32_t now)
{
    if (mb_session_send(&from->s, type, pt, len, now) != MB_OK) {
        pv_fail(c->b, "send failed");
        return;
    }
    pv_message(c, from, to, type, pt, len, now);
}

static int pv_node_init(pv_node *n, mb_role role, mb_profile profile, uint8_t dev_id,
                        const uint8_t nonce[16])
{
    mb_session_cfg cfg;
    mb_pair_keys k;
    int ret;
    memset(n, 0, sizeof(*n));
    memcpy(n->nonce, nonce, 16);
    mb_aead_init(&n->aead);
    mb_session_cfg_defaults(&cfg);
    cfg.role = role;
    cfg.profile = profile;
    cfg.device_id = dev_id;
    cfg.rng = pv_rng;
    cfg.tx = pv_tx;
    cfg.user = n;
    cfg.aead = &n->aead;
    cfg.hello_counter_base = PV_HELLO_BASE;
    ret = pv_keys(role == MB_ROLE_DEVICE, &k);
    if (ret == MB_OK) {
        ret = mb_session_init(&n->s, &cfg, &k);
    }
    mb_pair_keys_wipe(&k);
    return ret;
}

static void pv_handshake(pv_ctx *c, uint8_t dev_id)
{
    pv_buf *b = c->b;
    mb_pair_keys ck;
    pv_sched sch;
    const char *who[3] = { "controller", "device", "controller" };
    pv_node *steps[3];
    int i;

    steps[0] = c->ctl;
    steps[1] = c->dev;
    steps[2] = c->ctl;
    if (pv_keys(0, &ck) != MB_OK ||
        pv_schedule(&ck, c->ctl->nonce, c->dev->nonce, dev_id, MB_ROLE_CONTROLLER, &sch) != 0) {
        pv_fail(b, "schedule");
        return;
    }
    if (memcmp(sch.ps, c->ctl->s.pair_secret, 32) != 0 ||
        memcmp(sch.ps, c->dev->s.pair_secret, 32) != 0) {
        pv_fail(b, "pair secret differs from the spec formula");
    }
    pv_put(b, "      \"controller_nonce\": ");
    pv_hex(b, c->ctl->nonce, 16);
    pv_put(b, ", \"device_nonce\": ");
    pv_hex(b, c->dev->nonce, 16);
    pv_put(b, ",\n      \"pair_secret\": ");
    pv_hex(b, sch.ps, 32);
    pv_put(b, ",\n      \"mac_key\": ");
    pv_hex(b, sch.sk, 32);
    pv_put(b, ",\n      \"chain_c2d_0\": ");
    pv_hex(b, sch.sk + 32, 32);
    pv_put(b, ",\n      \"chain_d2c_0\": ");
    pv_hex(b, sch.sk + 64, 32);
    pv_put(b, ",\n      \"hello_counter\": %llu", (unsigned long long)(PV_HELLO_BASE + 1u));
    pv_put(b, ",\n      \"handshake\": [\n");
    if (mb_session_start(&c->ctl->s, 1000) != MB_OK) {
        pv_fail(b, "start");
    }
    if (pv_hello_mac_ok(&sch, c->ctl, dev_id) != 0) {
        pv_fail(b, "HELLO MAC_H differs from the spec formula");
    }
    for (i = 0; i < 3; i++) {
        pv_node *from = steps[i];
        pv_node *to = from == c->ctl ? c->dev : c->ctl;
        pv_frames(b, who[i], from->out, from->nout, "        ");
        if (i < 2) {
            b->n -= 1;                          /* keep the list going */
            pv_put(b, ",\n");
        }
        if (pv_deliver(from, to, 1001u + (uint32_t)i, NULL) != 0) {
            pv_fail(b, "handshake step rejected");
        }
        from->nout = 0;
    }
    pv_put(b, "      ],\n");
    if (!c->ctl->s.established || !c->dev->s.established) {
        pv_fail(b, "handshake did not complete");
    }
    /* Epoch 0 keys from the spec formula equal the session's. */
    {
        uint8_t k0[32], f0[32];
        if (pv_prf(sch.sk + 32, "mb1 key", 0, k0) != MB_OK ||
            pv_prf(sch.sk + 32, "mb1 fix", 0, f0) != MB_OK ||
            memcmp(k0, c->ctl->s.tx_key, 32) != 0 || memcmp(f0, c->ctl->s.tx_nonce.fixed, 3) != 0 ||
            c->ctl->s.tx_nonce.fixed[3] != 0 ||
            pv_prf(sch.sk + 64, "mb1 key", 0, k0) != MB_OK ||
            memcmp(k0, c->dev->s.tx_key, 32) != 0) {
            pv_fail(b, "epoch 0 keys differ from the spec formula");
        }
    }
    mb_pair_keys_wipe(&ck);
}

static void pv_session(pv_buf *b, const char *name, mb_profile profile, uint8_t dev_id,
                       uint8_t nonce_seed, int last)
{
    static pv_node ctl, dev;
    static const size_t fd_lens[] = { 0, 36, 37, 100, 228 };
    uint8_t n_i[16], n_r[16], pt[228];
    mb_status st = { 40120, -1234, 255, 8750, MB_STATE_ON, 0x04 };
    mb_command cmd = { MB_STATE_PRECHARGE };
    mb_limits lim = { 1500, 3000, 40320, 30000 };
    pv_ctx c;
    size_t i, len;

    for (i = 0; i < 16; i++) {
        n_i[i] = (uint8_t)(nonce_seed + i);
        n_r[i] = (uint8_t)(0xF0 - nonce_seed - i);
    }
    for (i = 0; i < sizeof(pt); i++) {
        pt[i] = (uint8_t)i;
    }
    if (pv_node_init(&ctl, MB_ROLE_CONTROLLER, profile, dev_id, n_i) != MB_OK ||
        pv_node_init(&dev, MB_ROLE_DEVICE, profile, dev_id, n_r) != MB_OK) {
        pv_fail(b, "session init");
        return;
    }
    c.b = b;
    c.ctl = &ctl;
    c.dev = &dev;
    c.profile = profile;
    c.first_msg = 1;
    pv_put(b, "    {\"name\": \"%s\", \"profile\": \"%s\", \"device_id\": %u,\n", name,
           profile == MB_PROFILE_FD ? "fd" : "classic", (unsigned)dev_id);
    pv_handshake(&c, dev_id);
    pv_put(b, "      \"messages\": [\n");
    {
        uint8_t p[16];
        size_t plen;
        (void)mb_msg_encode_command(&cmd, p, sizeof(p), &plen);
        pv_send(&c, &ctl, &dev, MB_MSG_COMMAND, p, plen, 2000);
        (void)mb_msg_encode_status(&st, p, sizeof(p), &plen);
        pv_send(&c, &dev, &ctl, MB_MSG_STATUS, p, plen, 2001);
        (void)mb_msg_encode_limits(&lim, p, sizeof(p), &plen);
        pv_send(&c, &ctl, &dev, MB_MSG_LIMITS, p, plen, 2002);
    }
    if (profile == MB_PROFILE_CLASSIC) {
        pv_send(&c, &dev, &ctl, MB_MSG_APP_FIRST, pt, 100, 2003);   /* 16 frames */
    } else {
        for (i = 0; i < sizeof(fd_lens) / sizeof(fd_lens[0]); i++) {
            len = fd_lens[i];
            pv_send(&c, &dev, &ctl, MB_MSG_APP_FIRST, pt, len, 2003);
        }
    }
    /* Rotation: the controller rekeys (its request travels in epoch 1),
     * the device follows the request; both then send in epoch 1. */
    if (mb_session_rekey(&ctl.s, 3000) != MB_OK) {
        pv_fail(b, "rekey");
    } else {
        static const uint8_t req[2] = { MB_SECURITY_REKEY_REQUEST, 0 };
        pv_message(&c, &ctl, &dev, MB_MSG_SECURITY, req, 2, 3000);
    }
    pv_send(&c, &ctl, &dev, MB_MSG_COMMAND, pt, 2, 3001);
    pv_send(&c, &dev, &ctl, MB_MSG_DIAG, pt, 15, 3002);
    if (ctl.s.tx_epoch != 1 || dev.s.tx_epoch != 1 || dev.s.rx_cur.epoch != 1) {
        pv_fail(b, "rotation did not happen");
    }
    pv_put(b, "\n      ]\n    }%s\n", last ? "" : ",");
    mb_session_free(&ctl.s);
    mb_session_free(&dev.s);
    mb_aead_free(&ctl.aead);
    mb_aead_free(&dev.aead);
}

/* Build the whole file into b. Returns 0, or -1 with b->why set. */
static int pv_build(pv_buf *b)
{
    uint8_t h1[64], h2[64], salt[32];
    mb_pair_keys k;

    memset(b, 0, sizeof(*b));
    pv_inputs(h1, h2, salt);
    if (pv_keys(0, &k) != MB_OK) {
        pv_fail(b, "pair derive");
        return -1;
    }
    pv_put(b, "{\n  \"protocol\": \"modbatt-secure-can\",\n  \"version\": 2,\n");
    pv_put(b, "  \"generator\": \"Tests/CTests/tools/gen_protocol_vectors.c\",\n");
    pv_put(b, "  \"spec\": \"docs/PROTOCOL.md\",\n");
    pv_put(b, "  \"pair\": {\n    \"half_1\": ");
    pv_hex(b, h1, 64);
    pv_put(b, ",\n    \"half_2\": ");
    pv_hex(b, h2, 64);
    pv_put(b, ",\n    \"salt\": ");
    pv_hex(b, salt, 32);
    pv_put(b, ",\n    \"controller_component_id\": \"%s\", \"device_component_id\": \"%s\","
              " \"lct_id\": \"%s\",\n    \"key_id\": ", PV_CTL_ID, PV_DEV_ID, PV_LCT_ID);
    pv_hex(b, k.key_id, 4);
    pv_put(b, "\n  },\n  \"sessions\": [\n");
    mb_pair_keys_wipe(&k);
    pv_session(b, "classic", MB_PROFILE_CLASSIC, 0x05, 0x10, 0);
    pv_session(b, "fd", MB_PROFILE_FD, 0x1F, 0x30, 1);
    pv_put(b, "  ]\n}\n");
    return b->err ? -1 : 0;
}

#endif /* PROTOCOL_VECTORS_H */
