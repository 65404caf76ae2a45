/* provisioning_heap.c - peak mbedTLS heap of the provisioning operations,
 * built against mbedTLS compiled under CSources/config/mbedtls_config_fw.h
 * (run by provisioning_fwconfig.sh). Counts what mbedTLS asks its platform
 * allocator for; docs/PROVISIONING.md section 9 turns it into a pool size. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mbedtls/platform.h"
#include "modbatt/modbatt.h"

static size_t heap_cur, heap_peak, blocks_cur, blocks_peak;

static void *count_calloc(size_t n, size_t s)
{
    size_t *p = calloc(1, n * s + 16);
    if (p == NULL) return NULL;
    p[0] = n * s;
    heap_cur += n * s;
    blocks_cur++;
    if (heap_cur > heap_peak) heap_peak = heap_cur;
    if (blocks_cur > blocks_peak) blocks_peak = blocks_cur;
    return (char *)p + 16;
}

static void count_free(void *q)
{
    size_t *p;
    if (q == NULL) return;
    p = (size_t *)((char *)q - 16);
    heap_cur -= p[0];
    blocks_cur--;
    free(p);
}

/* The firmware configuration routes mbedTLS's fatal errors here. */
void mb_platform_fatal(int status)
{
    fprintf(stderr, "mbedTLS fatal %d\n", status);
    abort();
}

static int rng(void *u, uint8_t *o, size_t n)
{
    static uint32_t s = 7;
    size_t i;
    (void)u;
    for (i = 0; i < n; i++) { s ^= s << 13; s ^= s >> 17; s ^= s << 5; o[i] = (uint8_t)s; }
    return 0;
}

static int failures;

#define MEASURE(label, call) do { \
        int r_; heap_peak = heap_cur; blocks_peak = blocks_cur; r_ = (call); \
        if (r_ != MB_OK) failures++; \
        printf("%-36s %s peak %5zu B in %2zu blocks (+%4zu B of 32-byte block headers on a 32-bit MCU)\n", \
               label, r_ == MB_OK ? "ok  " : "FAIL", heap_peak, blocks_peak, blocks_peak * 32u); \
    } while (0)

int main(void)
{
    static uint8_t h1[64], h2[64], salt[32], pkg[1024], body[1024], rep[512];
    uint8_t dpriv[32], dpub[65], apriv[32], apub[65];
    const char *self = "comp_module_07", *peer = "comp_pack_0001", *lct = "lct_pack_0001_module_07";
    mb_pair_params pp;
    mb_pair_keys k;
    mb_keypkg_pair e;
    mb_keypkg_contents c, o;
    mb_keypkg_expect x;
    mb_report_info ri;
    size_t len = 0, n = 0;
    int i;

    mbedtls_platform_set_calloc_free(count_calloc, count_free);
    for (i = 0; i < 64; i++) { h1[i] = (uint8_t)i; h2[i] = (uint8_t)(i + 64); }
    MEASURE("mb_binding_generate (device)", mb_binding_generate(rng, NULL, dpriv, dpub));
    MEASURE("mb_binding_public (device, boot)", mb_binding_public(dpriv, rng, NULL, dpub));
    (void)mb_binding_generate(rng, NULL, apriv, apub);

    memset(&e, 0, sizeof(e));
    e.peer_comp = (const uint8_t *)peer; e.peer_comp_len = strlen(peer);
    e.lct_id = (const uint8_t *)lct; e.lct_id_len = strlen(lct);
    e.half_1 = h1; e.half_2 = h2; e.salt = salt;
    pp.half_1 = h1; pp.half_2 = h2; pp.salt = salt;
    pp.self_id = (const uint8_t *)self; pp.self_id_len = strlen(self);
    pp.peer_id = (const uint8_t *)peer; pp.peer_id_len = strlen(peer);
    pp.lct_id = (const uint8_t *)lct; pp.lct_id_len = strlen(lct);
    (void)mb_pair_derive(&pp, &k);
    memcpy(e.key_id, k.key_id, 4);
    memset(&c, 0, sizeof(c));
    c.package_version = 1;
    c.comp_id = (const uint8_t *)self; c.comp_id_len = strlen(self);
    c.pair_count = 1; c.pairs = &e;
    c.has_app_pub = 1; c.app_pub = apub;
    MEASURE("mb_keypkg_seal (app)", mb_keypkg_seal(&c, MB_KEYPKG_MODE_SEALED, dpub, apriv, rng,
                                                   NULL, pkg, sizeof(pkg), &len));
    memset(&x, 0, sizeof(x));
    x.binding_priv = dpriv; x.binding_pub = dpub; x.device_id = 0xFFFF; x.app_pub = apub;
    MEASURE("mb_keypkg_open (device, pinned key)", mb_keypkg_open(pkg, len, &x, rng, NULL, body,
                                                                  sizeof(body), &o));
    x.app_pub = NULL;
    MEASURE("mb_keypkg_open (device, first time)", mb_keypkg_open(pkg, len, &x, rng, NULL, body,
                                                                  sizeof(body), &o));
    memset(&ri, 0, sizeof(ri));
    ri.type = MB_REPORT_KEYSTORE; ri.device_id = 7; ri.sequence = 1;
    MEASURE("mb_report_seal (device)", mb_report_seal(&ri, (const uint8_t *)"status", 6, apub, dpriv,
                                                      dpub, rng, NULL, rep, sizeof(rep), &len));
    MEASURE("mb_report_open (app)", mb_report_open(rep, len, dpub, apriv, apub, 0, rng, NULL, &ri,
                                                   body, sizeof(body), &n));
    printf("heap in use after all: %zu B\n", heap_cur);
    return failures == 0 && heap_cur == 0 ? 0 : 1;
}
