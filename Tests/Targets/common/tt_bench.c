/*
 * tt_bench.c - the operations measured on the emulated devices
 * (scripts/target-test.sh --measure; Tests/Targets/README.md).
 *
 * Each measured operation runs between tt_mark_begin() and tt_mark_end();
 * the emulator's counter (the QEMU plugin tt_insn_plugin.c on Cortex-M4,
 * simavr's cycle count through tt_avr_run.c on AVR) watches the program
 * counter reach those two functions and records the region. After the
 * region the program prints "op NAME": the k-th "op" line names the k-th
 * region. Regions printed under one name are added up (a handshake side is
 * several calls). Every operation is also checked: a wrong result prints
 * "FAIL ..." and the program ends with a non-zero status, so a figure is
 * only reported for an operation that did its job.
 *
 * The target harness provides tt_print(). TT_CLASSIC_ONLY leaves out the
 * CAN FD cases (a module build, MB_MSG_WIRE_MAX=128); TT_NO_KEYPKG the key
 * package and key store; TT_Q and TT_FLASH_PAGE size the frame queues and
 * the simulated flash (smaller on AVR).
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "modbatt/modbatt.h"
#include "modbatt/mb_keystore.h"
#ifndef TT_NO_KEYPKG
#include "modbatt/mb_keypkg.h"
#endif

void tt_print(const char *line);
void tt_mark_begin(void);
void tt_mark_end(void);
void tt_heap_report(char *buf, size_t cap);
int tt_bench_main(void);

/* Out of line and not foldable: the emulators stop on their addresses. */
__attribute__((noinline)) void tt_mark_begin(void) { __asm__ volatile("" ::: "memory"); }
__attribute__((noinline)) void tt_mark_end(void) { __asm__ volatile("" ::: "memory"); }

static unsigned tt_failures;
static char tt_line[96];

static void op_done(const char *name)
{
    snprintf(tt_line, sizeof(tt_line), "op %s", name);
    tt_print(tt_line);
}

static void check(int ok, const char *what)
{
    if (!ok) {
        tt_failures++;
        snprintf(tt_line, sizeof(tt_line), "FAIL %s", what);
        tt_print(tt_line);
    }
}

/* ---- a node: one session, its work context, the frames it sent ---------- */
#ifndef TT_Q
#define TT_Q 16u          /* frames one node may send before they are delivered */
#endif
typedef struct tt_node {
    mb_session s;
    mb_aead    aead;
    mb_frame   q[TT_Q];
    uint8_t    nq;
    uint32_t   rng;
} tt_node;

static tt_node tt_ctl, tt_dev;
static mb_session_msg tt_msg;

static int tt_rng(void *user, uint8_t *out, size_t len)
{
    uint32_t *x = user != NULL ? &((tt_node *)user)->rng : NULL;
    static uint32_t shared = 0x2545F491u;
    size_t i;
    if (x == NULL) {
        x = &shared;
    }
    for (i = 0; i < len; i++) {
        *x ^= *x << 13;
        *x ^= *x >> 17;
        *x ^= *x << 5;
        out[i] = (uint8_t)(*x >> 11);
    }
    return 0;
}

static int tt_tx(void *user, const mb_frame *f)
{
    tt_node *n = (tt_node *)user;
    if (n->nq >= TT_Q) {
        return MB_ERR_BUFFER_TOO_SMALL;
    }
    n->q[n->nq++] = *f;
    return MB_OK;
}

static const char tt_pack[] = "comp_pack_0001";
static const char tt_module[] = "comp_module_07";
static const char tt_lct[] = "lct_pack_0001_module_07";
static uint8_t tt_h1[64], tt_h2[64], tt_salt[32];

static int tt_derive(int device_side, mb_pair_keys *k)
{
    mb_pair_params p;
    const char *self = device_side ? tt_module : tt_pack;
    const char *peer = device_side ? tt_pack : tt_module;
    p.half_1 = tt_h1;
    p.half_2 = tt_h2;
    p.salt = tt_salt;
    p.self_id = (const uint8_t *)self;
    p.self_id_len = strlen(self);
    p.peer_id = (const uint8_t *)peer;
    p.peer_id_len = strlen(peer);
    p.lct_id = (const uint8_t *)tt_lct;
    p.lct_id_len = strlen(tt_lct);
    return mb_pair_derive(&p, k);
}

/* kex: the ephemeral key exchange (PROTOCOL.md 6.6) or NULL. */
static int node_init(tt_node *n, mb_role role, mb_profile profile, mb_kex *kex)
{
    mb_session_cfg cfg;
    mb_pair_keys k;
    int ret;
    memset(n, 0, sizeof(*n));
    n->rng = role == MB_ROLE_CONTROLLER ? 0x12345678u : 0x9ABCDEF1u;
    mb_aead_init(&n->aead);
    mb_session_cfg_defaults(&cfg);
    cfg.role = role;
    cfg.profile = profile;
    cfg.device_id = 0x07;
    cfg.rng = tt_rng;
    cfg.tx = tt_tx;
    cfg.user = n;
    cfg.aead = &n->aead;
    cfg.kex = kex;
    ret = tt_derive(role == MB_ROLE_DEVICE, &k);
    if (ret == MB_OK) {
        ret = mb_session_init(&n->s, &cfg, &k);
    }
    mb_pair_keys_wipe(&k);
    return ret;
}

/* Hand every frame `from` sent to `to`, inside a region named `name` when
 * it is not NULL; returns how many messages `to` delivered. */
static unsigned deliver(tt_node *from, tt_node *to, uint32_t now, const char *name)
{
    unsigned i, got = 0;
    uint8_t n = from->nq;
    from->nq = 0;
    for (i = 0; i < n; i++) {
        int ret;
        if (name != NULL) {
            tt_mark_begin();
        }
        ret = mb_session_rx(&to->s, &from->q[i], now, &tt_msg);
        if (name != NULL) {
            tt_mark_end();
            op_done(name);
        }
        if (ret != MB_OK) {
            snprintf(tt_line, sizeof(tt_line), "FAIL mb_session_rx: %d (%s)", ret, mb_strerror(ret));
            tt_print(tt_line);
            tt_failures++;
        }
        if (ret == MB_OK && tt_msg.ready) {
            got++;
        }
    }
    return got;
}

static int established(const tt_node *n)
{
    mb_session_info info;
    return mb_session_get_info(&n->s, &info) == MB_OK && info.established;
}

/* One handshake, each side's calls measured apart as c and d (NULL: not
 * measured); kex: both sides add the ephemeral exchange. */
static void handshake_as(mb_profile profile, const char *c, const char *d, mb_kex kex[2])
{
    int ret;
    check(node_init(&tt_ctl, MB_ROLE_CONTROLLER, profile, kex ? &kex[0] : NULL) == MB_OK, "controller init");
    check(node_init(&tt_dev, MB_ROLE_DEVICE, profile, kex ? &kex[1] : NULL) == MB_OK, "device init");
    if (c != NULL) {
        tt_mark_begin();
    }
    ret = mb_session_start(&tt_ctl.s, 1000);
    if (c != NULL) {
        tt_mark_end();
        op_done(c);
    }
    if (ret != MB_OK) {
        snprintf(tt_line, sizeof(tt_line), "mb_session_start: %d (%s)", ret, mb_strerror(ret));
        tt_print(tt_line);
    }
    check(ret == MB_OK, "mb_session_start");
    deliver(&tt_ctl, &tt_dev, 1001, d);    /* HELLO -> REPLY */
    deliver(&tt_dev, &tt_ctl, 1002, c);    /* REPLY -> FINISH */
    deliver(&tt_ctl, &tt_dev, 1003, d);    /* FINISH */
    check(established(&tt_ctl) && established(&tt_dev), "handshake established");
}

/* The handshake of a session benchmark. */
static void handshake(mb_profile profile, int measure)
{
    const char *c = measure ? (profile == MB_PROFILE_CLASSIC ? "hs_controller.classic" : "hs_controller.fd") : NULL;
    const char *d = measure ? (profile == MB_PROFILE_CLASSIC ? "hs_device.classic" : "hs_device.fd") : NULL;
    handshake_as(profile, c, d, NULL);
}

/* One message from the controller to the device, sealed and opened in
 * measured regions. cold: the work contexts last held another key, as on a
 * pack controller that serves 33 pairs in turn (the per-message key
 * schedule of PROTOCOL.md 13.1); warm: they still hold this pair's key;
 * warmup (cold < 0): not reported. */
static void message(mb_profile profile, size_t len, int cold, uint32_t now)
{
    static const uint8_t other[32] = { 0xA5 };
    uint8_t pt[100];
    char name[48];
    const char *prof = profile == MB_PROFILE_CLASSIC ? "classic" : "fd";
    const char *temp;
    unsigned got;
    int ret;
    memset(pt, 0x3C, sizeof(pt));
    if (cold > 0) {
        check(mb_aead_setkey(&tt_ctl.aead, other) == MB_OK, "setkey other");
        check(mb_aead_setkey(&tt_dev.aead, other) == MB_OK, "setkey other");
    }
    temp = cold > 0 ? "cold" : cold == 0 ? "warm" : "warmup";
    snprintf(name, sizeof(name), "seal.%s.%u.%s", prof, (unsigned)len, temp);
    tt_mark_begin();
    ret = mb_session_send(&tt_ctl.s, MB_MSG_APP_FIRST, pt, len, now);
    tt_mark_end();
    op_done(name);
    check(ret == MB_OK, "mb_session_send");
    snprintf(name, sizeof(name), "open.%s.%u.%s", prof, (unsigned)len, temp);
    got = deliver(&tt_ctl, &tt_dev, now, name);
    check(got == 1 && tt_msg.len == len && memcmp(tt_msg.data, pt, len) == 0, "message delivered intact");
}

/* A session that sends and receives in turn: the controller's context
 * alternates between its sending and its receiving key, and with the
 * default MB_AEAD_SLOTS=1 each switch runs the key schedule; a build with
 * MB_AEAD_SLOTS=2 keeps both expanded. The first round is not reported. */
static void alternating(mb_profile profile, uint32_t now)
{
    uint8_t pt[8];
    char seal[32], open[32];
    const char *prof = profile == MB_PROFILE_CLASSIC ? "classic" : "fd";
    unsigned round;
    int ret;
    memset(pt, 0x42, sizeof(pt));
    for (round = 0; round < 2u; round++) {
        snprintf(seal, sizeof(seal), "%s.%s.8", round ? "alt_seal" : "warmup_alt_seal", prof);
        snprintf(open, sizeof(open), "%s.%s.8", round ? "alt_open" : "warmup_alt_open", prof);
        tt_mark_begin();
        ret = mb_session_send(&tt_ctl.s, MB_MSG_APP_FIRST, pt, sizeof(pt), now);
        tt_mark_end();
        op_done(seal);
        check(ret == MB_OK && deliver(&tt_ctl, &tt_dev, now, NULL) == 1, "controller to device");
        check(mb_session_send(&tt_dev.s, MB_MSG_APP_FIRST, pt, sizeof(pt), now) == MB_OK, "device sends");
        check(deliver(&tt_dev, &tt_ctl, now, open) == 1 && tt_msg.len == sizeof(pt) &&
              memcmp(tt_msg.data, pt, sizeof(pt)) == 0, "device to controller");
        now++;
    }
}

static void sessions(mb_profile profile)
{
    static const size_t lens[2] = { 8, 36 };
    unsigned i;
    uint32_t now = 2000;
    handshake(profile, 1);
    /* Warm-up: the first message of a session takes paths the next do not. */
    message(profile, 8, -1, now++);
    for (i = 0; i < 2; i++) {
        message(profile, lens[i], 1, now++);
        message(profile, lens[i], 0, now++);
    }
    alternating(profile, now);
    mb_session_free(&tt_ctl.s);
    mb_session_free(&tt_dev.s);
    mb_aead_free(&tt_ctl.aead);
    mb_aead_free(&tt_dev.aead);
}

/* A known answer first: round trips alone would not notice a wrong AES.
 * AES-256-GCM, key and IV all zero, 16 zero bytes (McGrew & Viega, the
 * GCM specification's test case 14). */
static void aead_known_answer(void)
{
    static const uint8_t key[32] = { 0 }, iv[12] = { 0 }, pt[16] = { 0 };
    static const uint8_t ct_exp[16] = { 0xce, 0xa7, 0x40, 0x3d, 0x4d, 0x60, 0x6b, 0x6e,
                                        0x07, 0x4e, 0xc5, 0xd3, 0xba, 0xf3, 0x9d, 0x18 };
    static const uint8_t tag_exp[16] = { 0xd0, 0xd1, 0xc8, 0xa7, 0x99, 0x99, 0x6b, 0xf0,
                                         0x26, 0x5b, 0x98, 0xb5, 0xd4, 0x8a, 0xb9, 0x19 };
    uint8_t ct[16], tag[16], back[16];
    mb_aead_init(&tt_ctl.aead);
    check(mb_aead_setkey(&tt_ctl.aead, key) == MB_OK &&
          mb_aead_seal(&tt_ctl.aead, iv, NULL, 0, pt, 16, ct, tag, 16) == MB_OK &&
          memcmp(ct, ct_exp, 16) == 0 && memcmp(tag, tag_exp, 16) == 0, "AES-256-GCM test case 14");
    check(mb_aead_open(&tt_ctl.aead, iv, NULL, 0, ct_exp, 16, tag_exp, 16, back) == MB_OK &&
          memcmp(back, pt, 16) == 0, "AES-256-GCM test case 14, open");
    mb_aead_free(&tt_ctl.aead);
}

/* mb_aead alone: the key schedule, and one-call seal/open with and without it. */
static void aead(void)
{
    static const uint8_t k1[32] = { 1 }, k2[32] = { 2 }, iv[12] = { 3 }, aad[7] = { 4 };
    uint8_t pt[36], ct[36], out[36], tag[16];
    static const size_t lens[2] = { 8, 36 };
    char name[40];
    unsigned i;
    int ret;
    memset(pt, 0x5A, sizeof(pt));
    mb_aead_init(&tt_ctl.aead);
    check(mb_aead_setkey(&tt_ctl.aead, k1) == MB_OK, "setkey k1");
    tt_mark_begin();
    ret = mb_aead_setkey(&tt_ctl.aead, k2);
    tt_mark_end();
    op_done("aead_setkey");
    check(ret == MB_OK, "mb_aead_setkey");
    for (i = 0; i < 2; i++) {
        snprintf(name, sizeof(name), "aead_seal.%u", (unsigned)lens[i]);
        tt_mark_begin();
        ret = mb_aead_seal(&tt_ctl.aead, iv, aad, sizeof(aad), pt, lens[i], ct, tag, sizeof(tag));
        tt_mark_end();
        op_done(name);
        check(ret == MB_OK, "mb_aead_seal");
        snprintf(name, sizeof(name), "aead_open.%u", (unsigned)lens[i]);
        tt_mark_begin();
        ret = mb_aead_open(&tt_ctl.aead, iv, aad, sizeof(aad), ct, lens[i], tag, sizeof(tag), out);
        tt_mark_end();
        op_done(name);
        check(ret == MB_OK && memcmp(out, pt, lens[i]) == 0, "mb_aead_open");
    }
    mb_aead_free(&tt_ctl.aead);
}

static void pair_derive(void)
{
    mb_pair_keys a, b;
    int ret;
    tt_mark_begin();
    ret = tt_derive(0, &a);
    tt_mark_end();
    op_done("pair_derive");
    check(ret == MB_OK && tt_derive(1, &b) == MB_OK, "mb_pair_derive");
    check(memcmp(a.tx_key, b.rx_key, 32) == 0 && memcmp(a.key_id, b.key_id, 4) == 0,
          "both ends derive the same pair keys");
    mb_pair_keys_wipe(&a);
    mb_pair_keys_wipe(&b);
}

#ifndef TT_NO_KEYPKG
/* ---- key package (module side: ECDSA verify + ECDH + AES-GCM) and store -- */
static uint8_t tt_pkg[700], tt_body[700];
#ifndef TT_FLASH_PAGE
#define TT_FLASH_PAGE 1024u  /* erase unit of the simulated flash; two slots of up to 2 pages */
#endif
static uint8_t tt_flash[4u * TT_FLASH_PAGE];

static int fl_read(void *u, uint32_t off, uint8_t *buf, size_t len)
{ (void)u; if (off + len > sizeof(tt_flash)) return MB_ERR_INVALID_ARG; memcpy(buf, tt_flash + off, len); return MB_OK; }
static int fl_erase(void *u, uint32_t off, size_t len)
{ (void)u; if (off + len > sizeof(tt_flash)) return MB_ERR_INVALID_ARG; memset(tt_flash + off, 0xFF, len); return MB_OK; }
static int fl_write(void *u, uint32_t off, const uint8_t *buf, size_t len)
{ (void)u; if (off + len > sizeof(tt_flash)) return MB_ERR_INVALID_ARG; memcpy(tt_flash + off, buf, len); return MB_OK; }

#ifndef TT_CLASSIC_ONLY
/* The app <-> pack handshake with the ephemeral P-256 exchange: the
 * pack controller's side of it is what firmware pays for forward secrecy. */
static void ephemeral_handshake(void)
{
    static mb_kex kex[2];
    mb_kex_p256_init(&kex[0]);
    mb_kex_p256_init(&kex[1]);
    handshake_as(MB_PROFILE_CLASSIC, "hs_controller.ephemeral", "hs_device.ephemeral", kex);
    mb_session_free(&tt_ctl.s);
    mb_session_free(&tt_dev.s);
    mb_aead_free(&tt_ctl.aead);
    mb_aead_free(&tt_dev.aead);
}
#endif

static void keypkg_and_store(void)
{
    static uint8_t dev_priv[32], dev_pub[65], app_priv[32], app_pub[65];
    static mb_keypkg_pair e;
    static mb_keypkg_contents c, got;
    static mb_keypkg_expect x;
    static mb_keystore ks;
    static mb_ks_record rec;
    static const mb_ks_platform plat = { fl_read, fl_erase, fl_write, NULL, NULL, NULL, TT_FLASH_PAGE, 4, 0xFF };
    static const uint8_t storage_key[32] = { 9 }, uid[16] = { 8 };
    mb_pair_keys k;
    size_t len = 0;
    int ret;
    check(mb_binding_generate(tt_rng, NULL, dev_priv, dev_pub) == MB_OK, "binding key");
    check(mb_binding_generate(tt_rng, NULL, app_priv, app_pub) == MB_OK, "app key");
    check(tt_derive(1, &k) == MB_OK, "derive");
    memset(&e, 0, sizeof(e));
    e.peer_id = 0x00;
    e.peer_comp = (const uint8_t *)tt_pack; e.peer_comp_len = strlen(tt_pack);
    e.lct_id = (const uint8_t *)tt_lct; e.lct_id_len = strlen(tt_lct);
    e.half_1 = tt_h1; e.half_2 = tt_h2; e.salt = tt_salt;
    memcpy(e.key_id, k.key_id, 4);
    mb_pair_keys_wipe(&k);
    memset(&c, 0, sizeof(c));
    c.package_version = 1;
    c.device_id = 0x07;
    c.role = 1;
    c.comp_id = (const uint8_t *)tt_module; c.comp_id_len = strlen(tt_module);
    c.params.rekey_after_ms = 3600000u;
    c.params.rekey_after_msgs = (uint32_t)1u << 20;
    c.has_app_pub = 1;
    c.app_pub = app_pub;
    c.pair_count = 1;
    c.pairs = &e;
    check(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, dev_pub, app_priv, tt_rng, NULL,
                         tt_pkg, sizeof(tt_pkg), &len) == MB_OK, "mb_keypkg_seal");
    memset(&x, 0, sizeof(x));
    x.binding_priv = dev_priv;
    x.binding_pub = dev_pub;
    x.app_pub = app_pub;                           /* pinned: the signature is checked */
    x.comp_id = (const uint8_t *)tt_module; x.comp_id_len = strlen(tt_module);
    x.device_id = 0x07;
    tt_mark_begin();
    ret = mb_keypkg_open(tt_pkg, len, &x, tt_rng, NULL, tt_body, sizeof(tt_body), &got);
    tt_mark_end();
    op_done("keypkg_open");
    check(ret == MB_OK && got.pair_count == 1 && got.device_id == 0x07, "mb_keypkg_open");
    memset(tt_flash, 0xFF, sizeof(tt_flash));
    check(mb_keystore_init(&ks, &plat, storage_key, uid) == MB_OK, "mb_keystore_init");
    check(mb_keystore_boot(&ks, &rec, NULL) == MB_ERR_NOT_FOUND, "boot on blank flash");
    check(mb_keypkg_to_record(&got, dev_priv, &rec) == MB_OK, "mb_keypkg_to_record");
    tt_mark_begin();
    ret = mb_keystore_write(&ks, &rec, tt_rng, NULL);
    tt_mark_end();
    op_done("keystore_write");
    check(ret == MB_OK && rec.generation >= 1u, "mb_keystore_write");
    check(mb_keystore_boot(&ks, &rec, NULL) == MB_OK && rec.pair_count == 1, "boot reads the record back");
    mb_keystore_free(&ks);
    mb_ks_record_wipe(&rec);
}
#endif

/* mbedTLS's heap at its peak since the last report (AVR; empty elsewhere). */
static void heap_report(const char *phase)
{
    char h[64];
    tt_heap_report(h, sizeof(h));
    if (h[0] != '\0') {
        snprintf(tt_line, sizeof(tt_line), "heap %s %s", phase, h);
        tt_print(tt_line);
    }
}

int tt_bench_main(void)
{
    unsigned i;
    for (i = 0; i < 64u; i++) { tt_h1[i] = (uint8_t)(0x10 + i); tt_h2[i] = (uint8_t)(0xA0 + i); }
    for (i = 0; i < 32u; i++) { tt_salt[i] = (uint8_t)(0x55 ^ i); }
    snprintf(tt_line, sizeof(tt_line), "size mb_aead=%u mb_session=%u aead_slots=%u",
             (unsigned)sizeof(mb_aead), (unsigned)sizeof(mb_session), (unsigned)MB_AEAD_SLOTS);
    tt_print(tt_line);
    tt_mark_begin();                  /* the cost of the marks themselves */
    tt_mark_end();
    op_done("overhead");
    aead_known_answer();
    aead();
    pair_derive();
    sessions(MB_PROFILE_CLASSIC);
#ifndef TT_CLASSIC_ONLY
    sessions(MB_PROFILE_FD);
#endif
    heap_report("sessions");
#ifndef TT_NO_KEYPKG
    keypkg_and_store();
    heap_report("keypkg");
#ifndef TT_CLASSIC_ONLY
    /* The pack controller's cost; modules never use the exchange (and the
     * module build's frame queue, TT_Q = 10, is shorter than its HELLO). */
    ephemeral_handshake();
    heap_report("ephemeral");
#endif
#endif
    /* One test for the totals: every measured operation did its job. */
    snprintf(tt_line, sizeof(tt_line), "tt_bench: %u passed, %u failed (%u checks failed)",
             tt_failures == 0u ? 1u : 0u, tt_failures == 0u ? 0u : 1u, tt_failures);
    tt_print(tt_line);
    return tt_failures == 0 ? 0 : 1;
}
