/*
 * mb_crosscheck_tool.c - line-oriented front end to the C core, driven by
 * crosscheck.py to compare it with Python's `cryptography` on random inputs.
 * One request per line, hex fields separated by spaces ("-" = empty):
 *   hkdf SALT IKM INFO L(2 bytes BE) -> OKM
 *   seal KEY NONCE AAD PT TAGLEN(1)  -> CT TAG
 *   open KEY NONCE AAD CT TAG       -> PT | AUTH
 *   pair H1 H2 SALT SELF PEER LCT   -> TXKEY RXKEY TXFIX RXFIX CONFIRM KEYID LOW
 * Errors print "ERR <code>".
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "modbatt/modbatt.h"

#define MAXB 4096

static uint8_t buf[8][MAXB];
static size_t len[8];

static int field(char *tok, int i)
{
    size_t n, k;
    if (tok == NULL) return 0;
    if (strcmp(tok, "-") == 0) { len[i] = 0; return 1; }
    n = strlen(tok);
    if (n % 2 || n / 2 > MAXB) return 0;
    for (k = 0; k < n / 2; k++) {
        unsigned v;
        if (sscanf(tok + 2 * k, "%2x", &v) != 1) return 0;
        buf[i][k] = (uint8_t)v;
    }
    len[i] = n / 2;
    return 1;
}

static void put(const uint8_t *p, size_t n, const char *end)
{
    size_t i;
    if (n == 0) fputs("-", stdout);
    for (i = 0; i < n; i++) printf("%02x", p[i]);
    fputs(end, stdout);
}

static int parse(int count)
{
    int i;
    for (i = 0; i < count; i++) {
        if (!field(strtok(NULL, " \n"), i)) return 0;
    }
    return 1;
}

static void do_hkdf(void)
{
    static uint8_t okm[MB_HKDF_MAX_OKM];
    size_t l = (size_t)(buf[3][0] << 8 | buf[3][1]);   /* L: 2 bytes, big-endian */
    int ret;
    ret = mb_hkdf_sha256(buf[0], len[0], buf[1], len[1], buf[2], len[2], okm, l);
    if (ret) { printf("ERR %d\n", ret); return; }
    put(okm, l, "\n");
}

static void do_seal(void)
{
    static uint8_t ct[MAXB];
    uint8_t tag[16];
    mb_aead ctx;
    int ret;
    mb_aead_init(&ctx);
    ret = mb_aead_setkey(&ctx, buf[0]);
    if (ret == MB_OK && len[1] != 12) ret = MB_ERR_LENGTH;
    if (ret == MB_OK) ret = mb_aead_seal(&ctx, buf[1], buf[2], len[2], buf[3], len[3], ct, tag, buf[4][0]);
    mb_aead_free(&ctx);
    if (ret) { printf("ERR %d\n", ret); return; }
    put(ct, len[3], " ");
    put(tag, buf[4][0], "\n");
}

static void do_open(void)
{
    static uint8_t pt[MAXB];
    mb_aead ctx;
    int ret;
    mb_aead_init(&ctx);
    ret = mb_aead_setkey(&ctx, buf[0]);
    if (ret == MB_OK && len[1] != 12) ret = MB_ERR_LENGTH;
    if (ret == MB_OK) ret = mb_aead_open(&ctx, buf[1], buf[2], len[2], buf[3], len[3], buf[4], len[4], pt);
    mb_aead_free(&ctx);
    if (ret == MB_ERR_AUTH) { puts("AUTH"); return; }
    if (ret) { printf("ERR %d\n", ret); return; }
    put(pt, len[3], "\n");
}

static void do_pair(void)
{
    mb_pair_params p;
    mb_pair_keys k;
    int ret;
    p.half_1 = buf[0]; p.half_2 = buf[1]; p.salt = buf[2];
    p.self_id = buf[3]; p.self_id_len = len[3];
    p.peer_id = buf[4]; p.peer_id_len = len[4];
    p.lct_id = buf[5]; p.lct_id_len = len[5];
    ret = (len[0] == 64 && len[1] == 64 && len[2] == 32) ? mb_pair_derive(&p, &k) : MB_ERR_LENGTH;
    if (ret) { printf("ERR %d\n", ret); return; }
    put(k.tx_key, 32, " "); put(k.rx_key, 32, " ");
    put(k.tx_fixed, 4, " "); put(k.rx_fixed, 4, " ");
    put(k.confirm_key, 32, " "); put(k.key_id, 4, " ");
    printf("%d\n", k.self_is_low);
    mb_pair_keys_wipe(&k);
}

int main(void)
{
    static char line[8 * 2 * MAXB + 64];
    while (fgets(line, sizeof(line), stdin) != NULL) {
        char *op = strtok(line, " \n");
        if (op == NULL) continue;
        if (strcmp(op, "hkdf") == 0 && parse(4)) do_hkdf();
        else if (strcmp(op, "seal") == 0 && parse(5)) do_seal();
        else if (strcmp(op, "open") == 0 && parse(5)) do_open();
        else if (strcmp(op, "pair") == 0 && parse(6)) do_pair();
        else puts("BAD REQUEST");
        fflush(stdout);
    }
    return 0;
}
