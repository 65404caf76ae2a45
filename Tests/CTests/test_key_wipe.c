/*
 * test_key_wipe.c - key extraction attempts on memory the caller can read
 * after the core is done with a secret:
 *
 *   - every context after its free/wipe function (session, observer, AES-GCM,
 *     HMAC, key store, key-store record, pair keys): the whole struct is
 *     scanned for any 4-byte window of any key it held;
 *   - the heap blocks mbedTLS frees in mb_aead_free() (its AES key
 *     schedule), scanned as they are freed (glibc builds without ASan);
 *   - the stack the core used and left behind (HKDF's PRK, the pair
 *     derivation's output block, the session's handshake and epoch keys).
 *
 * Each scan first finds the secrets in live memory (or in a deliberately
 * leaky function), so a clean result cannot come from a blind scan.
 */
#include <stdlib.h>

#include "mbt.h"
#include "test_ram_flash.h"
#include "test_session_util.h"
#include "mbedtls/aes.h"

#define NOINLINE __attribute__((noinline))
#define WINDOW   4u
#define MAX_SECRETS 48
#define STACK_PROBE 49152u

/* AddressSanitizer owns free() and rearranges stack frames: the heap and
 * stack scans run in the plain builds (SANITIZE=1 keeps the struct scans). */
#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif

#if defined(__GLIBC__) && !defined(UNDER_ASAN)
#include <elf.h>
#include <link.h>                                    /* the binary's dynamic section */
#endif

/* ---- secrets and the scan ------------------------------------------------ */

typedef struct secrets {
    uint8_t copy[MAX_SECRETS][96];
    size_t len[MAX_SECRETS];
    size_t n;
} secrets;

static void remember(secrets *s, const void *secret, size_t len)
{
    if (s->n < MAX_SECRETS && len <= sizeof(s->copy[0])) {
        memcpy(s->copy[s->n], secret, len);
        s->len[s->n++] = len;
    }
}

/* A window of one repeated byte (e.g. 00 00 00 00) would match wiped memory
 * by chance; such windows are not evidence of a key and are skipped. */
static int distinctive(const uint8_t *w)
{
    return !(w[0] == w[1] && w[1] == w[2] && w[2] == w[3]);
}

/* Positions in mem[0..len) where 4 bytes equal a window of any secret. */
static size_t hits(uint8_t *mem, size_t len, const secrets *s)
{
    size_t k, i, at, found = 0;
    for (at = 0; at + WINDOW <= len; at++) {
        int hit = 0;
        for (k = 0; k < s->n && !hit; k++) {
            for (i = 0; i + WINDOW <= s->len[k] && !hit; i++) {
                hit = distinctive(&s->copy[k][i]) && memcmp(mem + at, &s->copy[k][i], WINDOW) == 0;
            }
        }
        found += (size_t)hit;
    }
    return found;
}

static void fill(uint8_t *buf, size_t len, uint32_t seed)
{
    size_t i;
    for (i = 0; i < len; i++) {
        seed = seed * 1103515245u + 12345u;
        buf[i] = (uint8_t)(seed >> 16);
    }
}

/* ---- the stack left behind ----------------------------------------------- */

/* Zero the stack below the caller, so residue found later is new. */
static NOINLINE void scrub_stack(void)
{
    volatile uint8_t area[STACK_PROBE];
    size_t i;
    for (i = 0; i < sizeof(area); i++) {
        area[i] = 0;
    }
}

/* Scan the stack below the caller: the frames the core's functions had. */
static NOINLINE size_t stack_hits(const secrets *s)
{
#ifdef UNDER_ASAN
    (void)s;
    return 0;
#else
    uint8_t area[STACK_PROBE];
    __asm__ volatile("" : : "r"(area) : "memory");   /* "area holds data": read what is there */
    return hits(area, sizeof(area), s);
#endif
}

/* Positive control: a function that leaves a key on its stack. */
static NOINLINE void leaky(const uint8_t key[32])
{
    uint8_t copy[32];
    memcpy(copy, key, sizeof(copy));
    __asm__ volatile("" : : "r"(copy) : "memory");   /* keep the copy */
}

/* The same, with the copy deep in the probed area (where the dynamic
 * linker's register spill was found, see test_symbols_bound_at_load). */
static NOINLINE void leaky_deep(const uint8_t key[32])
{
    uint8_t pad[STACK_PROBE / 2u];
    memcpy(pad, key, 32);
    __asm__ volatile("" : : "r"(pad) : "memory");
}

static void test_stack_scan_sees_a_leak(void)
{
    static secrets s;
    uint8_t key[32];
    fill(key, sizeof(key), 1);
    remember(&s, key, sizeof(key));
    scrub_stack();
    MBT_EQ_INT(stack_hits(&s), 0);
    leaky(key);
#ifndef UNDER_ASAN
    MBT_EQ_INT(stack_hits(&s), 29);                  /* one 32-byte copy: 29 windows */
#endif
    scrub_stack();
    leaky_deep(key);
#ifndef UNDER_ASAN
    MBT_EQ_INT(stack_hits(&s), 29);
#endif
}

/* The stack scans measure what the core's frames leave behind, so nothing
 * else may write key bytes below the caller. glibc's lazy binding does: the
 * first call through an unresolved PLT entry (e.g. the first mbedtls_gcm_*
 * call of the process) runs _dl_runtime_resolve_xsavec, which saves the
 * vector registers on the stack - and after a memcpy of a key they hold key
 * bytes. Found with a gdb watchpoint on the residue of test_session_free
 * (58 windows on an AVX-512 machine, 0 on others, 0 with LD_BIND_NOW=1);
 * docs/security/CRYPTO_CHECKS.md. The Makefile links with -z now, and this
 * test keeps it so: a lazily bound build would make the scans depend on the
 * CPU and on the stack layout. */
#if defined(__GLIBC__) && !defined(UNDER_ASAN)
extern ElfW(Dyn) _DYNAMIC[];

static int bound_at_load(void)
{
    const ElfW(Dyn) *d;
    for (d = _DYNAMIC; d->d_tag != DT_NULL; d++) {
        if ((d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_BIND_NOW) != 0u) ||
            (d->d_tag == DT_FLAGS_1 && (d->d_un.d_val & DF_1_NOW) != 0u) ||
            d->d_tag == DT_BIND_NOW) {
            return 1;
        }
    }
    return 0;
}
#endif

static void test_symbols_bound_at_load(void)
{
#if defined(__GLIBC__) && !defined(UNDER_ASAN)
    MBT_CHECK(bound_at_load());
#endif
}

static NOINLINE int run_hkdf(const uint8_t *ikm, uint8_t *okm)
{
    static const uint8_t salt[32] = { 7 }, info[] = "modbatt/test";
    return mb_hkdf_sha256(salt, sizeof(salt), ikm, 64, info, sizeof(info) - 1u, okm, 96);
}

/* HKDF's PRK = HMAC(salt, IKM) and the input must not outlive the call. */
static void test_hkdf_leaves_no_prk(void)
{
    static secrets s;
    static const uint8_t salt[32] = { 7 };
    uint8_t ikm[64], prk[32], okm[96];
    fill(ikm, sizeof(ikm), 2);
    MBT_EQ_INT(mb_hmac_sha256(salt, sizeof(salt), ikm, sizeof(ikm), prk), MB_OK);
    remember(&s, prk, sizeof(prk));
    scrub_stack();
    MBT_EQ_INT(run_hkdf(ikm, okm), MB_OK);
    remember(&s, okm, sizeof(okm));      /* the output lives only in okm, above */
    MBT_EQ_INT(stack_hits(&s), 0);
    mb_wipe(prk, sizeof(prk));
    mb_wipe(okm, sizeof(okm));
}

static void pair_params(mb_pair_params *p, uint8_t h1[64], uint8_t h2[64], uint8_t salt[32])
{
    static const char self[] = "comp_pack_0001", peer[] = "comp_module_07", lct[] = "lct_0001_07";
    fill(h1, 64, 3);
    fill(h2, 64, 4);
    fill(salt, 32, 5);
    p->half_1 = h1;
    p->half_2 = h2;
    p->salt = salt;
    p->self_id = (const uint8_t *)self;
    p->self_id_len = sizeof(self) - 1u;
    p->peer_id = (const uint8_t *)peer;
    p->peer_id_len = sizeof(peer) - 1u;
    p->lct_id = (const uint8_t *)lct;
    p->lct_id_len = sizeof(lct) - 1u;
}

static NOINLINE int run_pair_derive(const mb_pair_params *p, mb_pair_keys *keys, uint8_t ps[32])
{
    int ret = mb_pair_derive(p, keys);
    return ret == MB_OK ? mb_session_pair_secret(keys, ps) : ret;
}

static void remember_pair_keys(secrets *s, const mb_pair_keys *k)
{
    remember(s, k->tx_key, sizeof(k->tx_key));
    remember(s, k->rx_key, sizeof(k->rx_key));
    remember(s, k->confirm_key, sizeof(k->confirm_key));
}

/* Pair keys and PS: wiped from the struct by mb_pair_keys_wipe(), and their
 * derivation leaves no copy on the stack. */
static void test_pair_keys(void)
{
    static secrets s;
    uint8_t h1[64], h2[64], salt[32], ps[32];
    mb_pair_params p;
    mb_pair_keys keys;

    pair_params(&p, h1, h2, salt);
    scrub_stack();
    MBT_EQ_INT(run_pair_derive(&p, &keys, ps), MB_OK);
    remember_pair_keys(&s, &keys);
    remember(&s, ps, sizeof(ps));
    MBT_EQ_INT(stack_hits(&s), 0);
    MBT_CHECK(hits((uint8_t *)&keys, sizeof(keys), &s) >= 3u * 29u);
    mb_pair_keys_wipe(&keys);
    MBT_EQ_INT(hits((uint8_t *)&keys, sizeof(keys), &s), 0);
    mb_wipe(ps, sizeof(ps));
}

/* ---- sessions and the observer -------------------------------------------- */

static tnode ctl, dev;

static void remember_session(secrets *s, const mb_session *x)
{
    remember(s, x->pair_secret, sizeof(x->pair_secret));
    remember(s, x->tx_key, sizeof(x->tx_key));
    remember(s, x->tx_chain, sizeof(x->tx_chain));
    remember(s, x->rx_cur.key, sizeof(x->rx_cur.key));
    remember(s, x->rx_chain, sizeof(x->rx_chain));
    if (x->rx_prev.valid) {
        remember(s, x->rx_prev.key, sizeof(x->rx_prev.key));
    }
}

/* Connect, exchange, rotate once each way (so a previous epoch is kept). */
static NOINLINE void run_sessions(void)
{
    static const uint8_t pt[20] = { 1, 2, 3 };
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, sizeof(pt), 1), MB_OK);
    MBT_EQ_INT(mb_session_send(&dev.s, MB_MSG_STATUS, pt, sizeof(pt), 1), MB_OK);
    t_pump(&ctl, &dev, 1, NULL, NULL);
    MBT_EQ_INT(mb_session_rekey(&ctl.s, 2), MB_OK);
    t_pump(&ctl, &dev, 2, NULL, NULL);
    MBT_EQ_INT(mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, sizeof(pt), 3), MB_OK);
    MBT_EQ_INT(mb_session_send(&dev.s, MB_MSG_STATUS, pt, sizeof(pt), 3), MB_OK);
    t_pump(&ctl, &dev, 3, NULL, NULL);
}

static void test_session_free(void)
{
    static secrets s;
    mb_pair_keys k;

    scrub_stack();
    run_sessions();
    MBT_CHECK(t_count_ev(&dev, MB_EV_REKEY_RX, 1) == 1u);
    MBT_CHECK(dev.s.rx_prev.valid);
    remember_session(&s, &ctl.s);
    remember_session(&s, &dev.s);
    t_pair_keys(0, 0, &k);
    remember_pair_keys(&s, &k);
    mb_pair_keys_wipe(&k);
    MBT_EQ_INT(stack_hits(&s), 0);                  /* handshake, epochs, messages */
    MBT_CHECK(hits((uint8_t *)&ctl.s, sizeof(ctl.s), &s) > 4u * 29u);
    MBT_CHECK(hits((uint8_t *)&dev.s, sizeof(dev.s), &s) > 5u * 29u);
    mb_session_free(&ctl.s);
    mb_session_free(&dev.s);
    MBT_EQ_INT(hits((uint8_t *)&ctl.s, sizeof(ctl.s), &s), 0);
    MBT_EQ_INT(hits((uint8_t *)&dev.s, sizeof(dev.s), &s), 0);
    mb_aead_free(&ctl.aead);
    mb_aead_free(&dev.aead);
    MBT_EQ_INT(hits((uint8_t *)&ctl.aead, sizeof(ctl.aead), &s), 0);
}

/* A passive observer holds both directions' keys: all gone after free. */
static void test_observer_free(void)
{
    static secrets s;
    static mb_observer o;
    static mb_aead work;
    mb_pair_keys k;
    uint8_t ps[32];
    size_t i;

    t_pair_keys(0, 0, &k);
    MBT_EQ_INT(mb_session_pair_secret(&k, ps), MB_OK);
    mb_aead_init(&work);
    MBT_EQ_INT(mb_observer_init(&o, MB_PROFILE_CLASSIC, 0x05, ps, k.key_id, &work), MB_OK);
    mb_pair_keys_wipe(&k);
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    MBT_EQ_INT(mb_session_start(&ctl.s, 0), MB_OK);
    for (i = 0; i < 3; i++) {                        /* HELLO, REPLY, FINISH */
        tnode *from = i == 1 ? &dev : &ctl, *to = i == 1 ? &ctl : &dev;
        size_t f;
        for (f = 0; f < from->out.n; f++) {
            mb_observed seen;
            (void)mb_observer_rx(&o, &from->out.f[f], 0, &seen);
        }
        t_deliver(from, to, 0, NULL);
    }
    MBT_CHECK(o.established);
    remember(&s, ps, sizeof(ps));
    remember_session(&s, &ctl.s);
    remember_session(&s, &dev.s);
    MBT_CHECK(hits((uint8_t *)&o, sizeof(o), &s) > 0u);
    mb_observer_free(&o);
    MBT_EQ_INT(hits((uint8_t *)&o, sizeof(o), &s), 0);
    mb_aead_free(&work);
    MBT_EQ_INT(hits((uint8_t *)&work, sizeof(work), &s), 0);
    t_node_free(&ctl);
    t_node_free(&dev);
    mb_wipe(ps, sizeof(ps));
}

/* ---- AES-GCM and HMAC contexts ------------------------------------------- */

#if defined(__GLIBC__) && !defined(UNDER_ASAN)
#define HEAP_SCAN 1
#endif

#ifdef HEAP_SCAN
/* free() is wrapped so each block can be scanned as it is returned: the AES
 * key schedule mbedTLS allocates must be wiped before it is freed. */
#include <malloc.h>
extern void __libc_free(void *ptr);
static const secrets *free_watch;
static size_t freed_hits;

void free(void *ptr)
{
    if (ptr != NULL && free_watch != NULL) {
        freed_hits += hits((uint8_t *)ptr, malloc_usable_size(ptr), free_watch);
    }
    __libc_free(ptr);
}
#endif

static size_t aead_stack_hits;

static NOINLINE int run_aead(mb_aead *gcm, const uint8_t key[32], const uint8_t *pt, size_t len,
                             uint8_t *ct, uint8_t tag[16])
{
    static const uint8_t nonce[12] = { 9 };
    int ret = mb_aead_setkey(gcm, key);
    return ret == MB_OK ? mb_aead_seal(gcm, nonce, NULL, 0, pt, len, ct, tag, 16) : ret;
}

static void test_aead_free(void)
{
    static secrets s;
    static const uint8_t zero[16];
    uint8_t key[32], h[16], pt[40] = { 0 }, ct[40], tag[16];
    mbedtls_aes_context aes;
    mb_aead gcm;

    fill(key, sizeof(key), 6);
    mbedtls_aes_init(&aes);                          /* H = AES_K(0^128), GHASH's key */
    MBT_EQ_INT(mbedtls_aes_setkey_enc(&aes, key, 256), 0);
    MBT_EQ_INT(mbedtls_aes_crypt_ecb(&aes, MBEDTLS_AES_ENCRYPT, zero, h), 0);
    mbedtls_aes_free(&aes);
    remember(&s, key, sizeof(key));                  /* first: see key_only below */
    remember(&s, h, sizeof(h));
    mb_aead_init(&gcm);
    scrub_stack();
    MBT_EQ_INT(run_aead(&gcm, key, pt, sizeof(pt), ct, tag), MB_OK);
    {
        secrets key_only = s;
        key_only.n = 1;                              /* the AES key, not H */
        aead_stack_hits = stack_hits(&key_only);
        /* Known finding (docs/security/CRYPTO_CHECKS.md): mbedTLS 2.28's
         * gcm_gen_table() leaves H = AES_K(0^128) in its dead stack frame. */
        if (getenv("MBT_VERBOSE")) printf("  GHASH key H left on the stack: %zu windows\n", stack_hits(&s));
    }
    MBT_CHECK(hits((uint8_t *)&gcm, sizeof(gcm), &s) >= 29u);
#ifdef HEAP_SCAN
    {
        uint8_t *leak = malloc(64);                  /* the wrapper sees a leak */
        MBT_CHECK(leak != NULL);
        if (leak != NULL) {
            memcpy(leak, key, 32);
            __asm__ volatile("" : : "r"(leak) : "memory");   /* the copy is made */
            free_watch = &s;
            free(leak);
            MBT_CHECK(freed_hits > 0u);
        }
        freed_hits = 0;
        free_watch = &s;
        mb_aead_free(&gcm);
        free_watch = NULL;
        MBT_EQ_INT(freed_hits, 0);
    }
#else
    mb_aead_free(&gcm);
#endif
    MBT_EQ_INT(hits((uint8_t *)&gcm, sizeof(gcm), &s), 0);
    MBT_EQ_INT(aead_stack_hits, 0);
    mb_wipe(key, sizeof(key));
}

static void test_hmac_free(void)
{
    static secrets s;
    static const uint8_t msg[] = "message";
    uint8_t key[32], mac[32];
    mb_hmac ctx;

    fill(key, sizeof(key), 7);
    remember(&s, key, sizeof(key));
    MBT_EQ_INT(mb_hmac_starts(&ctx, key, sizeof(key)), MB_OK);
    MBT_EQ_INT(mb_hmac_update(&ctx, msg, sizeof(msg)), MB_OK);
    /* The keyed inner and outer states stand in for the key. */
    remember(&s, ctx.inner.state, sizeof(ctx.inner.state));
    remember(&s, ctx.outer.state, sizeof(ctx.outer.state));
    MBT_CHECK(hits((uint8_t *)&ctx, sizeof(ctx), &s) >= 2u * 29u);
    mb_hmac_free(&ctx);
    MBT_EQ_INT(hits((uint8_t *)&ctx, sizeof(ctx), &s), 0);
    /* finish, then free */
    MBT_EQ_INT(mb_hmac_starts(&ctx, key, sizeof(key)), MB_OK);
    MBT_EQ_INT(mb_hmac_finish(&ctx, mac), MB_OK);
    mb_hmac_free(&ctx);
    MBT_EQ_INT(hits((uint8_t *)&ctx, sizeof(ctx), &s), 0);
}

/* ---- key store ----------------------------------------------------------- */

static int ks_rng(void *u, uint8_t *out, size_t len)
{
    (void)u;
    fill(out, len, 8);
    return MB_OK;
}

static void test_keystore_free(void)
{
    static secrets s;
    static mb_keystore ks;
    static mb_ks_record rec, out;
    const mb_ks_platform *plat = ram_flash_blank();
    uint8_t storage_key[32], uid[16] = { 1, 2, 3, 4 };
    unsigned i;

    fill(storage_key, sizeof(storage_key), 9);
    memset(&rec, 0, sizeof(rec));
    rec.device_id = 5;
    rec.pair_count = 3;
    rec.params.rekey_after_msgs = 1024;
    fill(rec.binding_priv, sizeof(rec.binding_priv), 10);
    for (i = 0; i < rec.pair_count; i++) {
        rec.pairs[i].peer_id = (uint8_t)(i + 1u);
        fill(rec.pairs[i].secret, sizeof(rec.pairs[i].secret), 11u + i);
        remember(&s, rec.pairs[i].secret, sizeof(rec.pairs[i].secret));
    }
    remember(&s, storage_key, sizeof(storage_key));
    remember(&s, rec.binding_priv, sizeof(rec.binding_priv));
    MBT_EQ_INT(mb_keystore_init(&ks, plat, storage_key, uid), MB_OK);
    remember(&s, ks.mac_key, sizeof(ks.mac_key));
    remember(&s, ks.enc_key, sizeof(ks.enc_key));
    MBT_EQ_INT(mb_keystore_boot(&ks, &out, NULL), MB_ERR_NOT_FOUND);
    MBT_EQ_INT(mb_keystore_write(&ks, &rec, ks_rng, NULL), MB_OK);
    MBT_EQ_INT(mb_keystore_boot(&ks, &out, NULL), MB_OK);
    MBT_EQ_INT(hits(ram_flash_mem, sizeof(ram_flash_mem), &s), 0);   /* nothing in clear in flash */
    MBT_CHECK(hits((uint8_t *)&ks, sizeof(ks), &s) >= 2u * 29u);
    MBT_CHECK(hits((uint8_t *)&out, sizeof(out), &s) >= 4u * 29u);
    mb_keystore_free(&ks);
    MBT_EQ_INT(hits((uint8_t *)&ks, sizeof(ks), &s), 0);
    mb_ks_record_wipe(&out);
    mb_ks_record_wipe(&rec);
    MBT_EQ_INT(hits((uint8_t *)&out, sizeof(out), &s), 0);
    MBT_EQ_INT(hits((uint8_t *)&rec, sizeof(rec), &s), 0);
}

/* ---- key packages ------------------------------------------------------- */

static uint64_t kp_state = 0x853C49E6748FEA9Bull;

static int kp_rng(void *u, uint8_t *out, size_t len)
{
    size_t i;
    (void)u;
    for (i = 0; i < len; i++) {
        kp_state ^= kp_state << 13; kp_state ^= kp_state >> 7; kp_state ^= kp_state << 17;
        out[i] = (uint8_t)(kp_state >> 24);
    }
    return MB_OK;
}

static const char KP_MODULE[] = "comp_module_07", KP_PACK[] = "comp_pack_0001",
                  KP_LCT[] = "lct_pack_0001_module_07";

/* The module's pair keys and PS for the package's one entry. */
static void kp_pair_keys(const uint8_t *h1, const uint8_t *h2, const uint8_t *salt,
                         mb_pair_keys *k, uint8_t ps[32])
{
    mb_pair_params p;
    p.half_1 = h1; p.half_2 = h2; p.salt = salt;
    p.self_id = (const uint8_t *)KP_MODULE; p.self_id_len = sizeof(KP_MODULE) - 1u;
    p.peer_id = (const uint8_t *)KP_PACK; p.peer_id_len = sizeof(KP_PACK) - 1u;
    p.lct_id = (const uint8_t *)KP_LCT; p.lct_id_len = sizeof(KP_LCT) - 1u;
    MBT_EQ_INT(mb_pair_derive(&p, k), MB_OK);
    MBT_EQ_INT(mb_session_pair_secret(k, ps), MB_OK);
}

/* The device opens its package and turns it into a key-store record. */
static NOINLINE int run_open_to_record(const uint8_t *pkg, size_t len, const mb_keypkg_expect *x,
                                       uint8_t *body, size_t cap, const uint8_t dev_priv[32],
                                       mb_ks_record *rec)
{
    mb_keypkg_contents o;
    int ret = mb_keypkg_open(pkg, len, x, kp_rng, NULL, body, cap, &o);
    return ret == MB_OK ? mb_keypkg_to_record(&o, dev_priv, rec) : ret;
}

/* Opening a package and deriving its record leave no half, salt, pair key,
 * PS or binding key on the stack; the record's copies go with its wipe. */
static void test_keypkg_open_to_record(void)
{
    static secrets s;
    static uint8_t pkg[MB_KEYPKG_MAX], body[MB_KEYPKG_MAX];
    static mb_ks_record rec;
    uint8_t app_priv[32], app_pub[65], dev_priv[32], dev_pub[65];
    uint8_t h1[64], h2[64], salt[32], ps[32];
    mb_keypkg_pair e;
    mb_keypkg_contents c;
    mb_keypkg_expect x;
    mb_pair_keys k;
    size_t len = 0;

    fill(h1, sizeof(h1), 21); fill(h2, sizeof(h2), 22); fill(salt, sizeof(salt), 23);
    memset(app_priv, 0x33, sizeof(app_priv));
    MBT_EQ_INT(mb_binding_public(app_priv, kp_rng, NULL, app_pub), MB_OK);
    MBT_EQ_INT(mb_binding_generate(kp_rng, NULL, dev_priv, dev_pub), MB_OK);
    kp_pair_keys(h1, h2, salt, &k, ps);
    memset(&e, 0, sizeof(e));
    e.peer_id = 0x01;
    e.peer_comp = (const uint8_t *)KP_PACK; e.peer_comp_len = sizeof(KP_PACK) - 1u;
    e.lct_id = (const uint8_t *)KP_LCT; e.lct_id_len = sizeof(KP_LCT) - 1u;
    e.half_1 = h1; e.half_2 = h2; e.salt = salt;
    memcpy(e.key_id, k.key_id, sizeof(e.key_id));
    memset(&c, 0, sizeof(c));
    c.package_version = 1; c.device_id = 0x07; c.role = 1;
    c.comp_id = (const uint8_t *)KP_MODULE; c.comp_id_len = sizeof(KP_MODULE) - 1u;
    c.params.rekey_after_ms = 3600000u; c.params.rekey_after_msgs = 1u << 20;
    c.has_app_pub = 1; c.app_pub = app_pub;
    c.pair_count = 1; c.pairs = &e;
    MBT_EQ_INT(mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, dev_pub, app_priv, kp_rng, NULL,
                              pkg, sizeof(pkg), &len), MB_OK);
    memset(&x, 0, sizeof(x));
    x.binding_priv = dev_priv; x.binding_pub = dev_pub;
    x.comp_id = (const uint8_t *)KP_MODULE; x.comp_id_len = sizeof(KP_MODULE) - 1u;
    x.device_id = 0x07;
    remember(&s, h1, sizeof(h1)); remember(&s, h2, sizeof(h2)); remember(&s, salt, sizeof(salt));
    remember_pair_keys(&s, &k);
    remember(&s, ps, sizeof(ps));
    remember(&s, dev_priv, sizeof(dev_priv));
    mb_pair_keys_wipe(&k);

    scrub_stack();
    MBT_EQ_INT(run_open_to_record(pkg, len, &x, body, sizeof(body), dev_priv, &rec), MB_OK);
    MBT_EQ_INT(stack_hits(&s), 0);
    MBT_CHECK(hits(body, sizeof(body), &s) >= 2u * 61u);     /* the halves, in the caller's buffer */
    MBT_CHECK(hits((uint8_t *)&rec, sizeof(rec), &s) >= 2u * 29u);   /* PS and binding key */
    mb_wipe(body, sizeof(body));                                     /* the caller's duty */
    mb_ks_record_wipe(&rec);
    MBT_EQ_INT(hits((uint8_t *)&rec, sizeof(rec), &s), 0);
    mb_wipe(ps, sizeof(ps));
}

int main(void)
{
    MBT_RUN(test_stack_scan_sees_a_leak);
    MBT_RUN(test_symbols_bound_at_load);
    MBT_RUN(test_hkdf_leaves_no_prk);
    MBT_RUN(test_pair_keys);
    MBT_RUN(test_session_free);
    MBT_RUN(test_observer_free);
    MBT_RUN(test_aead_free);
    MBT_RUN(test_hmac_free);
    MBT_RUN(test_keystore_free);
    MBT_RUN(test_keypkg_open_to_record);
    return mbt_finish("test_key_wipe");
}
