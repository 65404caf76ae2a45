/*
 * bench.c - per-message latency of the Modbatt C core against the AES-GCM
 * it stands on (raw mbedTLS) and the fastest AES-GCM on the machine
 * (OpenSSL 3 EVP), plus key derivation, handshake and setkey figures.
 * docs/BENCHMARKS.md explains every figure; Benchmarks/run.sh drives it.
 *
 *   bench [--quick] --out DIR            timing run: DIR/c.json + DIR/samples/NAME.OP.u32
 *   bench --callgrind CASE OP N          N operations of one case for
 *                                        valgrind --toggle-collect=cg_op
 *   bench --list                         case names
 *
 * Method (the Swift program, Benchmarks/Swift, does exactly the same):
 *  - clock: clock_gettime(CLOCK_MONOTONIC), read around each operation;
 *  - a "seal" turns a plaintext into what goes on the wire (session: every
 *    CAN frame of the message, handed to the tx callback, which copies it);
 *    an "open" takes the same bytes back to the plaintext (session: every
 *    frame through mb_session_rx until the message is delivered);
 *  - throughput: R repetitions of (seal B messages into B slots, then open
 *    those B), each half timed as a whole; ns/op is the median over the R
 *    repetitions of (time / B). Repetitions are short (B = 128 messages,
 *    well under a scheduler time slice) so that the median rejects the ones
 *    another process interrupted;
 *  - latency: N (seal, open) pairs, each operation timed individually; the
 *    raw nanosecond samples go to DIR/samples/ for the percentiles and
 *    histograms (exact, computed by Benchmarks/report.py).
 */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include <mbedtls/gcm.h>
#include <mbedtls/version.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "modbatt/modbatt.h"

#define SLOTS      128u     /* messages sealed per throughput batch */
#define AAD_LEN    MB_SESSION_AAD_LEN
#define TAG_LEN    16u
#define NOW_MS     1000u    /* the session clock stands still: no timer fires */
#define NOINLINE   __attribute__((noinline))

/* ------------------------------------------------------------------ */
/* clock and sample storage                                            */

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static void die(const char *what, int code)
{
    fprintf(stderr, "bench: %s failed (%d)\n", what, code);
    exit(2);
}

#define CHECK(call) do { int rc_ = (call); if (rc_ != 0) die(#call, rc_); } while (0)

/* ------------------------------------------------------------------ */
/* message slots: what one sealed message leaves behind                 */

typedef struct slot {
    mb_frame frames[16];
    unsigned nframes;
    uint8_t  wire[MB_MSG_WIRE_MAX + 16];   /* IV || ct || tag for the AEAD cases */
} slot;

static slot g_slots[SLOTS];
static uint8_t g_pt[256];
static uint8_t g_out[256];

/* ------------------------------------------------------------------ */
/* the C core session pair                                              */

typedef struct node {
    mb_session s;
    mb_aead    aead;
    uint64_t   rng;
    slot      *sink;       /* seal writes frames here */
    mb_frame   q[16];      /* handshake frames */
    unsigned   nq;
} node;

static int node_rng(void *user, uint8_t *out, size_t len)
{
    node *n = user;
    for (size_t i = 0; i < len; i++) {
        n->rng ^= n->rng << 13;
        n->rng ^= n->rng >> 7;
        n->rng ^= n->rng << 17;
        out[i] = (uint8_t)(n->rng >> 24);
    }
    return 0;
}

static int node_tx(void *user, const mb_frame *f)
{
    node *n = user;
    if (n->sink != NULL) {
        if (n->sink->nframes >= 16u) {
            return MB_ERR_LENGTH;
        }
        n->sink->frames[n->sink->nframes++] = *f;
    } else {
        if (n->nq >= 16u) {
            return MB_ERR_LENGTH;
        }
        n->q[n->nq++] = *f;
    }
    return MB_OK;
}

static const uint8_t HALF_A[64] = { 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 1 };
static const uint8_t HALF_B[64] = { 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xF0, 0x01, 2 };
static const uint8_t SALT[32] = { 0x5A, 0x17, 0x00, 0x42 };
static const char ID_CTL[] = "comp_pack_0001";
static const char ID_DEV[] = "comp_module_07";
static const char ID_LCT[] = "lct_pack_0001_module_07";

static void pair_params(mb_pair_params *p, int controller)
{
    memset(p, 0, sizeof(*p));
    p->half_1 = HALF_A;
    p->half_2 = HALF_B;
    p->salt = SALT;
    p->self_id = (const uint8_t *)(controller ? ID_CTL : ID_DEV);
    p->self_id_len = strlen(controller ? ID_CTL : ID_DEV);
    p->peer_id = (const uint8_t *)(controller ? ID_DEV : ID_CTL);
    p->peer_id_len = strlen(controller ? ID_DEV : ID_CTL);
    p->lct_id = (const uint8_t *)ID_LCT;
    p->lct_id_len = strlen(ID_LCT);
}

static void node_init(node *n, mb_role role, mb_profile profile, uint64_t seed)
{
    mb_pair_params p;
    mb_pair_keys k;
    mb_session_cfg cfg;

    memset(n, 0, sizeof(*n));
    n->rng = seed;
    mb_aead_init(&n->aead);
    pair_params(&p, role == MB_ROLE_CONTROLLER);
    CHECK(mb_pair_derive(&p, &k));
    mb_session_cfg_defaults(&cfg);
    cfg.role = role;
    cfg.profile = profile;
    cfg.device_id = 0x07;
    cfg.rng = node_rng;
    cfg.tx = node_tx;
    cfg.user = n;
    cfg.aead = &n->aead;
    cfg.rekey_after_ms = 0u;                          /* never by time */
    cfg.rekey_after_msgs = MB_SESSION_COUNTER_LIMIT;  /* never within a run */
    CHECK(mb_session_init(&n->s, &cfg, &k));
    mb_pair_keys_wipe(&k);
}

/* Deliver queued handshake frames back and forth until both are quiet. */
static void pump(node *a, node *b, uint32_t now)
{
    mb_session_msg msg;
    for (int round = 0; round < 8 && (a->nq || b->nq); round++) {
        node *from = a->nq ? a : b;
        node *to = from == a ? b : a;
        mb_frame q[16];
        unsigned nq = from->nq;
        memcpy(q, from->q, sizeof(q));
        from->nq = 0;
        for (unsigned i = 0; i < nq; i++) {
            CHECK(mb_session_rx(&to->s, &q[i], now, &msg));
        }
    }
}

static void handshake(node *ctl, node *dev, uint32_t now)
{
    CHECK(mb_session_start(&ctl->s, now));
    pump(ctl, dev, now);
}

typedef struct session_case {
    node ctl, dev;
    mb_session_msg msg;
    size_t len;
} session_case;

static session_case g_sess;

static void session_setup(mb_profile profile, size_t len)
{
    node_init(&g_sess.ctl, MB_ROLE_CONTROLLER, profile, 0x1234567u);
    node_init(&g_sess.dev, MB_ROLE_DEVICE, profile, 0x7654321u);
    handshake(&g_sess.ctl, &g_sess.dev, NOW_MS);
    mb_session_info a, b;
    mb_session_get_info(&g_sess.ctl.s, &a);
    mb_session_get_info(&g_sess.dev.s, &b);
    if (!a.established || !b.established) {
        die("handshake", -1);
    }
    g_sess.len = len;
}

static void session_seal(slot *sl)
{
    sl->nframes = 0;
    g_sess.ctl.sink = sl;
    int rc = mb_session_send(&g_sess.ctl.s, MB_MSG_APP_FIRST, g_pt, g_sess.len, NOW_MS);
    if (rc != MB_OK) {
        die("mb_session_send", rc);
    }
}

static void session_open(slot *sl)
{
    for (unsigned i = 0; i < sl->nframes; i++) {
        int rc = mb_session_rx(&g_sess.dev.s, &sl->frames[i], NOW_MS, &g_sess.msg);
        if (rc != MB_OK) {
            die("mb_session_rx", rc);
        }
    }
    if (!g_sess.msg.ready || g_sess.msg.len != g_sess.len) {
        die("session message delivery", -1);
    }
}

/* ------------------------------------------------------------------ */
/* AEAD on the same bytes: 12-byte IV, 7-byte AAD, plaintext, 16-byte tag */

static const uint8_t KEY[32] = { 0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe,
                                 0x2b, 0x73, 0xae, 0xf0, 0x85, 0x7d, 0x77, 0x81 };
static uint8_t g_aad[AAD_LEN] = { 1, 0x0c, 0x02, 0x00, 0x07, 0x00, 0x24 };
static size_t g_len;
static uint64_t g_counter;

static void next_iv(uint8_t iv[12])
{
    uint64_t c = g_counter++;
    iv[0] = 0xA5; iv[1] = 0x5A; iv[2] = 0x01; iv[3] = 0x02;
    for (int i = 0; i < 8; i++) {
        iv[4 + i] = (uint8_t)(c >> (56 - 8 * i));
    }
}

static mbedtls_gcm_context g_gcm;

static void mbedtls_seal(slot *sl)
{
    uint8_t *w = sl->wire;
    next_iv(w);
    int rc = mbedtls_gcm_crypt_and_tag(&g_gcm, MBEDTLS_GCM_ENCRYPT, g_len, w, 12,
                                       g_aad, AAD_LEN, g_pt, w + 12, TAG_LEN, w + 12 + g_len);
    if (rc != 0) die("mbedtls_gcm_crypt_and_tag", rc);
}

static void mbedtls_open(slot *sl)
{
    const uint8_t *w = sl->wire;
    int rc = mbedtls_gcm_auth_decrypt(&g_gcm, g_len, w, 12, g_aad, AAD_LEN,
                                      w + 12 + g_len, TAG_LEN, w + 12, g_out);
    if (rc != 0) die("mbedtls_gcm_auth_decrypt", rc);
}

/* The same, but with mbedtls_gcm_setkey before every message: what the
 * session does (it keeps raw keys and shares one work context). */
static void mbedtls_setkey_seal(slot *sl)
{
    CHECK(mbedtls_gcm_setkey(&g_gcm, MBEDTLS_CIPHER_ID_AES, KEY, 256));
    mbedtls_seal(sl);
}

static void mbedtls_setkey_open(slot *sl)
{
    CHECK(mbedtls_gcm_setkey(&g_gcm, MBEDTLS_CIPHER_ID_AES, KEY, 256));
    mbedtls_open(sl);
}

static mb_aead g_aead;

static void aead_seal(slot *sl)
{
    uint8_t *w = sl->wire;
    next_iv(w);
    int rc = mb_aead_seal(&g_aead, w, g_aad, AAD_LEN, g_pt, g_len, w + 12,
                          w + 12 + g_len, TAG_LEN);
    if (rc != MB_OK) die("mb_aead_seal", rc);
}

static void aead_open(slot *sl)
{
    const uint8_t *w = sl->wire;
    int rc = mb_aead_open(&g_aead, w, g_aad, AAD_LEN, w + 12, g_len,
                          w + 12 + g_len, TAG_LEN, g_out);
    if (rc != MB_OK) die("mb_aead_open", rc);
}

static EVP_CIPHER_CTX *g_enc, *g_dec;

static void ossl_seal(slot *sl)
{
    uint8_t *w = sl->wire;
    int n = 0, ok;
    next_iv(w);
    ok = EVP_EncryptInit_ex(g_enc, NULL, NULL, NULL, w) == 1 &&
         EVP_EncryptUpdate(g_enc, NULL, &n, g_aad, AAD_LEN) == 1 &&
         (g_len == 0 || EVP_EncryptUpdate(g_enc, w + 12, &n, g_pt, (int)g_len) == 1) &&
         EVP_EncryptFinal_ex(g_enc, w + 12 + g_len, &n) == 1 &&
         EVP_CIPHER_CTX_ctrl(g_enc, EVP_CTRL_GCM_GET_TAG, TAG_LEN, w + 12 + g_len) == 1;
    if (!ok) die("OpenSSL seal", -1);
}

static void ossl_open(slot *sl)
{
    uint8_t *w = sl->wire;
    int n = 0, ok;
    ok = EVP_DecryptInit_ex(g_dec, NULL, NULL, NULL, w) == 1 &&
         EVP_DecryptUpdate(g_dec, NULL, &n, g_aad, AAD_LEN) == 1 &&
         (g_len == 0 || EVP_DecryptUpdate(g_dec, g_out, &n, w + 12, (int)g_len) == 1) &&
         EVP_CIPHER_CTX_ctrl(g_dec, EVP_CTRL_GCM_SET_TAG, TAG_LEN, w + 12 + g_len) == 1 &&
         EVP_DecryptFinal_ex(g_dec, g_out + g_len, &n) == 1;
    if (!ok) die("OpenSSL open", -1);
}

static void aead_setup(size_t len)
{
    g_len = len;
    mbedtls_gcm_free(&g_gcm);
    mbedtls_gcm_init(&g_gcm);
    CHECK(mbedtls_gcm_setkey(&g_gcm, MBEDTLS_CIPHER_ID_AES, KEY, 256));
    mb_aead_free(&g_aead);
    mb_aead_init(&g_aead);
    CHECK(mb_aead_setkey(&g_aead, KEY));
    if (g_enc == NULL) {
        g_enc = EVP_CIPHER_CTX_new();
        g_dec = EVP_CIPHER_CTX_new();
        if (g_enc == NULL || g_dec == NULL ||
            EVP_EncryptInit_ex(g_enc, EVP_aes_256_gcm(), NULL, KEY, NULL) != 1 ||
            EVP_DecryptInit_ex(g_dec, EVP_aes_256_gcm(), NULL, KEY, NULL) != 1) {
            die("OpenSSL context", -1);
        }
    }
}

/* ------------------------------------------------------------------ */
/* key material and setup operations (one "op" each, no open)            */

static void op_pair_derive(slot *sl)
{
    mb_pair_params p;
    mb_pair_keys k;
    (void)sl;
    pair_params(&p, 1);
    CHECK(mb_pair_derive(&p, &k));
    mb_pair_keys_wipe(&k);
}

static mb_pair_keys g_keys;
static node g_hs_ctl, g_hs_dev;

static void op_session_init(slot *sl)
{
    mb_session_cfg cfg;
    (void)sl;
    mb_session_cfg_defaults(&cfg);
    cfg.rng = node_rng;
    cfg.tx = node_tx;
    cfg.user = &g_hs_ctl;
    cfg.aead = &g_hs_ctl.aead;
    CHECK(mb_session_init(&g_hs_ctl.s, &cfg, &g_keys));
}

/* A full handshake between two fresh sessions: HELLO, REPLY, FINISH, both
 * sides derive and confirm the session keys. The fresh sessions are set up
 * in prep_handshake (not timed). */
static void prep_handshake(slot *sl)
{
    (void)sl;
    mb_session_free(&g_hs_ctl.s);
    mb_session_free(&g_hs_dev.s);
    mb_aead_free(&g_hs_ctl.aead);
    mb_aead_free(&g_hs_dev.aead);
    node_init(&g_hs_ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0xABCDEFu + g_counter);
    node_init(&g_hs_dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, 0xFEDCBAu + g_counter);
    g_counter++;
}

static void op_handshake(slot *sl)
{
    (void)sl;
    handshake(&g_hs_ctl, &g_hs_dev, NOW_MS);
}

static void check_handshake(slot *sl)
{
    mb_session_info a;
    (void)sl;
    mb_session_get_info(&g_hs_dev.s, &a);
    if (!a.established) die("handshake", -1);
}

static void op_rekey(slot *sl)
{
    sl->nframes = 0;
    g_sess.ctl.sink = sl;
    CHECK(mb_session_rekey(&g_sess.ctl.s, NOW_MS));
}

static void op_gcm_setkey(slot *sl)
{
    (void)sl;
    CHECK(mbedtls_gcm_setkey(&g_gcm, MBEDTLS_CIPHER_ID_AES, KEY, 256));
}

static void op_aead_setkey(slot *sl)
{
    (void)sl;
    CHECK(mb_aead_setkey(&g_aead, KEY));
}

static void op_ossl_setkey(slot *sl)
{
    (void)sl;
    if (EVP_EncryptInit_ex(g_enc, NULL, NULL, KEY, NULL) != 1) die("EVP_EncryptInit_ex", -1);
}

/* ------------------------------------------------------------------ */
/* the cases                                                            */

typedef void (*op_fn)(slot *);

typedef struct bcase {
    const char *name;      /* unique, used for sample files */
    const char *impl;      /* c_session, c_aead, mbedtls, mbedtls_setkey, openssl, keys */
    const char *profile;   /* classic, fd, none */
    size_t len;            /* plaintext bytes */
    op_fn seal, open;      /* open NULL: a single operation */
    op_fn prep;            /* untimed, before every timed op (single ops only) */
    op_fn check;           /* untimed, after every timed op */
    unsigned scale;        /* divide the sample counts (slow operations) */
    int kind;              /* 0 message, 1 key/setup operation */
} bcase;

static const size_t CLASSIC_LENS[] = { 0, 8, 36, 100 };
static const size_t FD_LENS[] = { 8, 36, 228 };
static const size_t AEAD_LENS[] = { 0, 8, 36, 100, 228 };

#define MAXCASES 64
static bcase g_cases[MAXCASES];
static int g_ncases;

static void add(bcase c)
{
    g_cases[g_ncases++] = c;
}

static char g_names[MAXCASES][48];

static void build_cases(void)
{
    for (size_t i = 0; i < sizeof(CLASSIC_LENS) / sizeof(CLASSIC_LENS[0]); i++) {
        snprintf(g_names[g_ncases], 48, "c_session.classic.%zu", CLASSIC_LENS[i]);
        add((bcase){ g_names[g_ncases], "c_session", "classic", CLASSIC_LENS[i], session_seal, session_open, NULL, NULL, 1, 0 });
    }
    for (size_t i = 0; i < sizeof(FD_LENS) / sizeof(FD_LENS[0]); i++) {
        snprintf(g_names[g_ncases], 48, "c_session.fd.%zu", FD_LENS[i]);
        add((bcase){ g_names[g_ncases], "c_session", "fd", FD_LENS[i], session_seal, session_open, NULL, NULL, 1, 0 });
    }
    static const struct { const char *impl; op_fn s, o; } A[] = {
        { "c_aead", aead_seal, aead_open },
        { "mbedtls", mbedtls_seal, mbedtls_open },
        { "mbedtls_setkey", mbedtls_setkey_seal, mbedtls_setkey_open },
        { "openssl", ossl_seal, ossl_open },
    };
    for (size_t a = 0; a < sizeof(A) / sizeof(A[0]); a++) {
        for (size_t i = 0; i < sizeof(AEAD_LENS) / sizeof(AEAD_LENS[0]); i++) {
            snprintf(g_names[g_ncases], 48, "%s.%zu", A[a].impl, AEAD_LENS[i]);
            add((bcase){ g_names[g_ncases], A[a].impl, "none", AEAD_LENS[i], A[a].s, A[a].o, NULL, NULL, 1, 0 });
        }
    }
    add((bcase){ "keys.pair_derive", "keys", "none", 0, op_pair_derive, NULL, NULL, NULL, 20, 1 });
    add((bcase){ "keys.session_init", "keys", "none", 0, op_session_init, NULL, NULL, NULL, 20, 1 });
    add((bcase){ "keys.handshake", "keys", "none", 0, op_handshake, NULL, prep_handshake, check_handshake, 50, 1 });
    add((bcase){ "keys.rekey", "keys", "none", 0, op_rekey, NULL, NULL, NULL, 20, 1 });
    add((bcase){ "setkey.mbedtls_gcm_setkey", "setkey", "none", 0, op_gcm_setkey, NULL, NULL, NULL, 4, 1 });
    add((bcase){ "setkey.mb_aead_setkey", "setkey", "none", 0, op_aead_setkey, NULL, NULL, NULL, 4, 1 });
    add((bcase){ "setkey.openssl_init_key", "setkey", "none", 0, op_ossl_setkey, NULL, NULL, NULL, 4, 1 });
}

static void setup_case(const bcase *c)
{
    g_counter = 0;
    memset(g_slots, 0, sizeof(g_slots));
    for (size_t i = 0; i < sizeof(g_pt); i++) {
        g_pt[i] = (uint8_t)(i * 7u + 3u);
    }
    if (strcmp(c->impl, "c_session") == 0) {
        session_setup(strcmp(c->profile, "fd") == 0 ? MB_PROFILE_FD : MB_PROFILE_CLASSIC, c->len);
    } else {
        aead_setup(c->len);
        if (c->kind == 1) {
            mb_pair_params p;
            pair_params(&p, 1);
            CHECK(mb_pair_derive(&p, &g_keys));
            session_setup(MB_PROFILE_CLASSIC, 8);
            memset(&g_hs_ctl, 0, sizeof(g_hs_ctl));
            mb_aead_init(&g_hs_ctl.aead);
        }
    }
}

/* ------------------------------------------------------------------ */
/* measurement                                                          */

typedef struct params {
    unsigned warmup;      /* (seal, open) pairs before measuring */
    unsigned reps;        /* throughput repetitions */
    unsigned batches;     /* batches of SLOTS per repetition */
    unsigned samples;     /* individually timed pairs */
} params;

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double median(double *v, unsigned n)
{
    qsort(v, n, sizeof(double), cmp_double);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2.0;
}

static void write_samples(const char *dir, const char *name, const char *op,
                          const uint32_t *s, unsigned n)
{
    char path[512];
    snprintf(path, sizeof(path), "%s/samples/%s.%s.u32", dir, name, op);
    FILE *f = fopen(path, "wb");
    if (f == NULL || fwrite(s, sizeof(uint32_t), n, f) != n) die(path, errno);
    fclose(f);
}

static void json_doubles(FILE *j, const double *v, unsigned n)
{
    fputc('[', j);
    for (unsigned i = 0; i < n; i++) {
        fprintf(j, "%s%.2f", i ? ", " : "", v[i]);
    }
    fputc(']', j);
}

static uint32_t clamp32(uint64_t v)
{
    return v > UINT32_MAX ? UINT32_MAX : (uint32_t)v;
}

static void run_case(const bcase *c, const params *P, const char *dir, FILE *j, int first)
{
    unsigned reps = P->reps, batches = P->batches, n = P->samples / c->scale;
    unsigned warm = P->warmup / c->scale;
    double *seal_rep = calloc(reps, sizeof(double));
    double *open_rep = calloc(reps, sizeof(double));
    uint32_t *seal_s = calloc(n, sizeof(uint32_t));
    uint32_t *open_s = calloc(n, sizeof(uint32_t));
    if (!seal_rep || !open_rep || !seal_s || !open_s) die("calloc", errno);
    if (n < 1) n = 1;

    setup_case(c);
    for (unsigned i = 0; i < warm; i++) {
        slot *sl = &g_slots[i % SLOTS];
        if (c->prep) c->prep(sl);
        c->seal(sl);
        if (c->open) c->open(sl);
    }
    /* throughput */
    for (unsigned r = 0; r < reps; r++) {
        uint64_t ts = 0, to = 0;
        for (unsigned b = 0; b < batches; b++) {
            uint64_t t0, t1;
            if (c->prep) {
                /* operations that need an untimed preparation each: sum of
                 * individually timed calls instead of one batch */
                for (unsigned i = 0; i < SLOTS / c->scale; i++) {
                    c->prep(&g_slots[i]);
                    t0 = now_ns();
                    c->seal(&g_slots[i]);
                    ts += now_ns() - t0;
                    if (c->check) c->check(&g_slots[i]);
                }
                continue;
            }
            unsigned m = c->kind == 1 ? SLOTS / c->scale : SLOTS;
            if (m == 0) m = 1;
            t0 = now_ns();
            for (unsigned i = 0; i < m; i++) c->seal(&g_slots[i]);
            t1 = now_ns();
            ts += t1 - t0;
            if (c->open) {
                t0 = now_ns();
                for (unsigned i = 0; i < m; i++) c->open(&g_slots[i]);
                t1 = now_ns();
                to += t1 - t0;
            }
        }
        unsigned per = c->kind == 1 ? (SLOTS / c->scale ? SLOTS / c->scale : 1) : SLOTS;
        seal_rep[r] = (double)ts / (double)(batches * per);
        open_rep[r] = (double)to / (double)(batches * per);
    }
    /* latency */
    for (unsigned i = 0; i < n; i++) {
        slot *sl = &g_slots[i % SLOTS];
        uint64_t t0, t1;
        if (c->prep) c->prep(sl);
        t0 = now_ns();
        c->seal(sl);
        t1 = now_ns();
        seal_s[i] = clamp32(t1 - t0);
        if (c->check) c->check(sl);
        if (c->open) {
            t0 = now_ns();
            c->open(sl);
            t1 = now_ns();
            open_s[i] = clamp32(t1 - t0);
        }
    }
    /* facts about the message */
    unsigned frames = 0;
    if (strcmp(c->impl, "c_session") == 0) {
        slot tmp;
        memset(&tmp, 0, sizeof(tmp));
        session_seal(&tmp);
        session_open(&tmp);
        frames = tmp.nframes;
        if (memcmp(g_sess.msg.data, g_pt, c->len) != 0) die("session round trip", -1);
    } else if (c->kind == 0) {
        slot tmp;
        c->seal(&tmp);
        c->open(&tmp);
        if (memcmp(g_out, g_pt, c->len) != 0) die("AEAD round trip", -1);
    }

    write_samples(dir, c->name, c->open ? "seal" : "op", seal_s, n);
    if (c->open) write_samples(dir, c->name, "open", open_s, n);

    double ms = median(seal_rep, reps), mo = c->open ? median(open_rep, reps) : 0;
    fprintf(j, "%s\n    {\"name\": \"%s\", \"impl\": \"%s\", \"profile\": \"%s\", \"payload\": %zu, "
               "\"aad\": %u, \"kind\": \"%s\", \"frames\": %u, \"samples\": %u, \"batch\": %u,\n",
            first ? "" : ",", c->name, c->impl, c->profile, c->len, c->kind ? 0u : AAD_LEN,
            c->kind ? "op" : "message", frames, n,
            c->kind ? (SLOTS / c->scale ? SLOTS / c->scale : 1) * batches : SLOTS * batches);
    fprintf(j, "     \"%s\": {\"ns_op_median\": %.2f, \"ns_op_reps\": ", c->open ? "seal" : "op", ms);
    json_doubles(j, seal_rep, reps);
    fprintf(j, ", \"samples_file\": \"samples/%s.%s.u32\"}", c->name, c->open ? "seal" : "op");
    if (c->open) {
        fprintf(j, ",\n     \"open\": {\"ns_op_median\": %.2f, \"ns_op_reps\": ", mo);
        json_doubles(j, open_rep, reps);
        fprintf(j, ", \"samples_file\": \"samples/%s.open.u32\"}", c->name);
    }
    fprintf(j, "}");
    fprintf(stderr, "  %-32s %s %9.1f ns%s", c->name, c->open ? "seal" : "op  ", ms,
            c->open ? "" : "\n");
    if (c->open) fprintf(stderr, "   open %9.1f ns\n", mo);
    free(seal_rep); free(open_rep); free(seal_s); free(open_s);
}

static double timer_overhead(void)
{
    double v[101];
    for (int r = 0; r < 101; r++) {
        uint64_t best = UINT64_MAX;
        for (int i = 0; i < 1000; i++) {
            uint64_t t0 = now_ns(), t1 = now_ns();
            if (t1 - t0 < best) best = t1 - t0;
        }
        uint64_t t0 = now_ns();
        for (int i = 0; i < 1000; i++) (void)now_ns();
        v[r] = (double)(now_ns() - t0) / 1000.0;
        (void)best;
    }
    return median(v, 101);
}

/* ------------------------------------------------------------------ */
/* callgrind mode: cg_seal / cg_open are the functions callgrind collects */

static const bcase *g_cg;

NOINLINE void cg_seal(slot *sl) { g_cg->seal(sl); }
NOINLINE void cg_open(slot *sl) { g_cg->open(sl); }

static int callgrind(const char *name, const char *op, unsigned n)
{
    for (int i = 0; i < g_ncases; i++) {
        if (strcmp(g_cases[i].name, name) != 0) continue;
        g_cg = &g_cases[i];
        setup_case(g_cg);
        int do_open = strcmp(op, "open") == 0;
        for (unsigned k = 0; k < 16; k++) {            /* warm-up, not collected */
            slot *sl = &g_slots[k % SLOTS];
            if (g_cg->prep) g_cg->prep(sl);
            g_cg->seal(sl);
            if (g_cg->open) g_cg->open(sl);
        }
        for (unsigned k = 0; k < n; k++) {
            slot *sl = &g_slots[k % SLOTS];
            if (g_cg->prep) g_cg->prep(sl);
            if (do_open) {
                g_cg->seal(sl);
                cg_open(sl);
            } else {
                cg_seal(sl);
                if (g_cg->open) g_cg->open(sl);
            }
        }
        return 0;
    }
    fprintf(stderr, "bench: unknown case %s\n", name);
    return 2;
}

int main(int argc, char **argv)
{
    const char *out = "Benchmarks/results";
    int quick = 0;
    build_cases();
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--quick") == 0) {
            quick = 1;
        } else if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
            out = argv[++i];
        } else if (strcmp(argv[i], "--list") == 0) {
            for (int k = 0; k < g_ncases; k++) printf("%s\n", g_cases[k].name);
            return 0;
        } else if (strcmp(argv[i], "--callgrind") == 0 && i + 3 < argc) {
            return callgrind(argv[i + 1], argv[i + 2], (unsigned)strtoul(argv[i + 3], NULL, 10));
        } else {
            fprintf(stderr, "usage: bench [--quick] [--out DIR] | --list | --callgrind CASE seal|open N\n");
            return 2;
        }
    }
    params P = quick ? (params){ 200, 11, 1, 2000 } : (params){ 2000, 201, 1, 100000 };
    char path[512];
    snprintf(path, sizeof(path), "%s/samples", out);
    mkdir(out, 0755);
    mkdir(path, 0755);
    snprintf(path, sizeof(path), "%s/c.json", out);
    FILE *j = fopen(path, "w");
    if (j == NULL) die(path, errno);

    double tov = timer_overhead();
    fprintf(stderr, "C bench (%s): clock_gettime(CLOCK_MONOTONIC) costs %.1f ns\n",
            quick ? "quick" : "full", tov);
    fprintf(j, "{\"program\": \"c\", \"mode\": \"%s\", \"clock\": \"clock_gettime(CLOCK_MONOTONIC)\", "
               "\"timer_ns\": %.2f, \"slots\": %u, \"reps\": %u, \"batches\": %u, \"samples\": %u, "
               "\"warmup\": %u, \"mbedtls\": \"%s\", \"openssl\": \"%s\",\n  \"sizeof\": {"
               "\"mb_session\": %zu, \"mb_aead\": %zu, \"mb_replay\": %zu, \"mb_reasm\": %zu, "
               "\"mb_session_msg\": %zu},\n  \"cases\": [",
            quick ? "quick" : "full", tov, SLOTS, P.reps, P.batches, P.samples, P.warmup,
            MBEDTLS_VERSION_STRING, OpenSSL_version(OPENSSL_VERSION),
            sizeof(mb_session), sizeof(mb_aead), sizeof(mb_replay), sizeof(mb_reasm),
            sizeof(mb_session_msg));
    for (int i = 0; i < g_ncases; i++) {
        run_case(&g_cases[i], &P, out, j, i == 0);
    }
    fprintf(j, "\n  ]\n}\n");
    fclose(j);
    return 0;
}
