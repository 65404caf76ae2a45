/* test_aead.c - AES-256-GCM: NIST CAVP vectors (96-bit IVs, every tag
 * length, every FAIL case) and every error path. */
#include "mbt.h"
#include "mbt_rsp.h"

#include "modbatt/modbatt.h"

typedef struct gcm_case {
    uint8_t key[32], iv[12], pt[128], ct[128], aad[128], tag[16];
    int pt_len, ct_len, aad_len, tag_len;
} gcm_case;

/* Decode one record; returns 0 for records this suite skips (non-96-bit IVs). */
static int load_case(const mbt_rsp_record *r, gcm_case *c)
{
    const char *ivlen = mbt_rsp_section(r, "IVlen");
    const char *pt = mbt_rsp_get(r, "PT");
    if (ivlen == NULL || strcmp(ivlen, "96") != 0) return 0;
    MBT_EQ_INT(mbt_unhex(mbt_rsp_get(r, "Key"), c->key, 32), 32);
    MBT_EQ_INT(mbt_unhex(mbt_rsp_get(r, "IV"), c->iv, 12), 12);
    c->ct_len = mbt_unhex(mbt_rsp_get(r, "CT"), c->ct, sizeof(c->ct));
    c->aad_len = mbt_unhex(mbt_rsp_get(r, "AAD"), c->aad, sizeof(c->aad));
    c->tag_len = mbt_unhex(mbt_rsp_get(r, "Tag"), c->tag, sizeof(c->tag));
    c->pt_len = pt != NULL ? mbt_unhex(pt, c->pt, sizeof(c->pt)) : -1;
    MBT_CHECK(c->ct_len >= 0 && c->aad_len >= 0 && c->tag_len > 0);
    return 1;
}

static void nist_encrypt(void)
{
    FILE *f = mbt_open_vectors("ciphers/AES/GCM/gcmEncryptExtIV256.rsp");
    static mbt_rsp_record r;
    int cases = 0, tag_lengths_seen = 0;
    mb_aead ctx;

    MBT_CHECK(f != NULL);
    if (f == NULL) return;
    mbt_rsp_init(&r);
    mb_aead_init(&ctx);
    while (mbt_rsp_next(f, &r, "Count")) {
        static gcm_case c;
        uint8_t ct[128], tag[16];
        if (!load_case(&r, &c)) continue;
        MBT_EQ_INT(mb_aead_setkey(&ctx, c.key), MB_OK);
        MBT_EQ_INT(mb_aead_seal(&ctx, c.iv, c.aad, (size_t)c.aad_len, c.pt, (size_t)c.pt_len,
                                ct, tag, (size_t)c.tag_len), MB_OK);
        MBT_EQ_MEM(ct, c.ct, (size_t)c.ct_len);
        MBT_EQ_MEM(tag, c.tag, (size_t)c.tag_len);
        tag_lengths_seen |= 1 << c.tag_len;
        cases++;
    }
    fclose(f);
    mb_aead_free(&ctx);
    MBT_EQ_INT(cases, 2625);  /* 96-bit IVs: 7 tag lengths x 25 length mixes x 15 */
    MBT_EQ_INT(tag_lengths_seen, (1 << 4) | (1 << 8) | (1 << 12) | (1 << 13) | (1 << 14) | (1 << 15) | (1 << 16));
}

static void nist_decrypt(void)
{
    FILE *f = mbt_open_vectors("ciphers/AES/GCM/gcmDecrypt256.rsp");
    static mbt_rsp_record r;
    int cases = 0, fails = 0;
    mb_aead ctx;

    MBT_CHECK(f != NULL);
    if (f == NULL) return;
    mbt_rsp_init(&r);
    mb_aead_init(&ctx);
    while (mbt_rsp_next(f, &r, "Count")) {
        static gcm_case c;
        uint8_t pt[128];
        static const uint8_t zero[128];
        if (!load_case(&r, &c)) continue;
        memset(pt, 0xA5, sizeof(pt));
        MBT_EQ_INT(mb_aead_setkey(&ctx, c.key), MB_OK);
        if (r.fail) {
            MBT_EQ_INT(mb_aead_open(&ctx, c.iv, c.aad, (size_t)c.aad_len, c.ct, (size_t)c.ct_len,
                                    c.tag, (size_t)c.tag_len, pt), MB_ERR_AUTH);
            MBT_EQ_MEM(pt, zero, (size_t)c.ct_len);   /* nothing unauthenticated escapes */
            fails++;
        } else {
            MBT_EQ_INT(mb_aead_open(&ctx, c.iv, c.aad, (size_t)c.aad_len, c.ct, (size_t)c.ct_len,
                                    c.tag, (size_t)c.tag_len, pt), MB_OK);
            MBT_EQ_INT(c.pt_len, c.ct_len);
            MBT_EQ_MEM(pt, c.pt, (size_t)c.pt_len);
        }
        cases++;
    }
    fclose(f);
    mb_aead_free(&ctx);
    MBT_EQ_INT(cases, 2625);
    MBT_CHECK(fails > 100);   /* the file has FAIL cases at every tag length */
}

static void aead_errors(void)
{
    uint8_t key[32] = { 7 }, nonce[12] = { 1 }, pt[16] = { 2 }, ct[16], tag[16], out[16];
    static const uint8_t zero[16];
    static const size_t bad_tags[] = { 0, 1, 2, 3, 5, 6, 7, 9, 10, 11, 17, 32 };
    size_t i;
    mb_aead ctx;

    mb_aead_init(NULL);
    mb_aead_free(NULL);
    mb_aead_init(&ctx);
    /* Used before a key: refused. */
    MBT_EQ_INT(mb_aead_seal(&ctx, nonce, NULL, 0, pt, 16, ct, tag, 16), MB_ERR_KEY_NOT_SET);
    memset(out, 0x11, sizeof(out));
    MBT_EQ_INT(mb_aead_open(&ctx, nonce, NULL, 0, ct, 16, tag, 16, out), MB_ERR_KEY_NOT_SET);
    MBT_EQ_MEM(out, zero, 16);
    MBT_EQ_INT(mb_aead_setkey(NULL, key), MB_ERR_NULL);
    MBT_EQ_INT(mb_aead_setkey(&ctx, NULL), MB_ERR_NULL);
    MBT_EQ_INT(mb_aead_setkey(&ctx, key), MB_OK);

    MBT_EQ_INT(mb_aead_seal(NULL, nonce, NULL, 0, pt, 16, ct, tag, 16), MB_ERR_NULL);
    MBT_EQ_INT(mb_aead_seal(&ctx, NULL, NULL, 0, pt, 16, ct, tag, 16), MB_ERR_NULL);
    MBT_EQ_INT(mb_aead_seal(&ctx, nonce, NULL, 3, pt, 16, ct, tag, 16), MB_ERR_NULL);
    MBT_EQ_INT(mb_aead_seal(&ctx, nonce, NULL, 0, NULL, 16, ct, tag, 16), MB_ERR_NULL);
    MBT_EQ_INT(mb_aead_seal(&ctx, nonce, NULL, 0, pt, 16, NULL, tag, 16), MB_ERR_NULL);
    MBT_EQ_INT(mb_aead_seal(&ctx, nonce, NULL, 0, pt, 16, ct, NULL, 16), MB_ERR_NULL);
    MBT_EQ_INT(mb_aead_open(&ctx, nonce, NULL, 0, ct, 16, NULL, 16, out), MB_ERR_NULL);
    MBT_EQ_INT(mb_aead_open(&ctx, nonce, NULL, 0, ct, 16, tag, 16, NULL), MB_ERR_NULL);
    for (i = 0; i < sizeof(bad_tags) / sizeof(bad_tags[0]); i++) {
        MBT_EQ_INT(mb_aead_seal(&ctx, nonce, NULL, 0, pt, 16, ct, tag, bad_tags[i]), MB_ERR_TAG_LENGTH);
        MBT_EQ_INT(mb_aead_open(&ctx, nonce, NULL, 0, ct, 16, tag, bad_tags[i], out), MB_ERR_TAG_LENGTH);
    }
    /* Empty message (tag only) and in-place encryption both round-trip. */
    MBT_EQ_INT(mb_aead_seal(&ctx, nonce, pt, 16, NULL, 0, NULL, tag, 16), MB_OK);
    MBT_EQ_INT(mb_aead_open(&ctx, nonce, pt, 16, NULL, 0, tag, 16, NULL), MB_OK);
    memcpy(ct, pt, 16);
    MBT_EQ_INT(mb_aead_seal(&ctx, nonce, NULL, 0, ct, 16, ct, tag, 16), MB_OK);
    MBT_EQ_INT(mb_aead_open(&ctx, nonce, NULL, 0, ct, 16, tag, 16, out), MB_OK);
    MBT_EQ_MEM(out, pt, 16);
    /* A wrong tag, nonce or AAD fails and zeroes the output. */
    tag[15] ^= 1;
    memset(out, 0x11, sizeof(out));
    MBT_EQ_INT(mb_aead_open(&ctx, nonce, NULL, 0, ct, 16, tag, 16, out), MB_ERR_AUTH);
    MBT_EQ_MEM(out, zero, 16);
    tag[15] ^= 1;
    MBT_EQ_INT(mb_aead_open(&ctx, nonce, key, 1, ct, 16, tag, 16, out), MB_ERR_AUTH);
    nonce[11] ^= 1;
    MBT_EQ_INT(mb_aead_open(&ctx, nonce, NULL, 0, ct, 16, tag, 16, out), MB_ERR_AUTH);

    /* free wipes the whole context. */
    mb_aead_free(&ctx);
    {
        static const uint8_t zctx[sizeof(mb_aead)];
        MBT_EQ_MEM(&ctx, zctx, sizeof(ctx));
    }
}

/* Re-installing the installed key is skipped; switching keys still switches. */
static void setkey_switches_and_reuses(void)
{
    uint8_t ka[32], kb[32], nonce[12] = { 3 }, pt[8] = { 1, 2, 3, 4, 5, 6, 7, 8 };
    uint8_t ct_a[8], tag_a[16], ct_b[8], tag_b[16], ct[8], tag[16];
    mb_aead a, b, shared;

    memset(ka, 0xA1, sizeof(ka));
    memset(kb, 0xB2, sizeof(kb));
    mb_aead_init(&a); mb_aead_init(&b); mb_aead_init(&shared);
    MBT_EQ_INT(mb_aead_setkey(&a, ka), MB_OK);
    MBT_EQ_INT(mb_aead_setkey(&b, kb), MB_OK);
    MBT_EQ_INT(mb_aead_seal(&a, nonce, NULL, 0, pt, 8, ct_a, tag_a, 16), MB_OK);
    MBT_EQ_INT(mb_aead_seal(&b, nonce, NULL, 0, pt, 8, ct_b, tag_b, 16), MB_OK);
    /* A, A again (skipped), B, A: each seal matches its own key's output. */
    MBT_EQ_INT(mb_aead_setkey(&shared, ka), MB_OK);
    MBT_EQ_INT(mb_aead_setkey(&shared, ka), MB_OK);
    MBT_EQ_INT(mb_aead_seal(&shared, nonce, NULL, 0, pt, 8, ct, tag, 16), MB_OK);
    MBT_EQ_MEM(tag, tag_a, 16);
    MBT_EQ_INT(mb_aead_setkey(&shared, kb), MB_OK);
    MBT_EQ_INT(mb_aead_seal(&shared, nonce, NULL, 0, pt, 8, ct, tag, 16), MB_OK);
    MBT_EQ_MEM(ct, ct_b, 8);
    MBT_EQ_MEM(tag, tag_b, 16);
    MBT_EQ_INT(mb_aead_setkey(&shared, ka), MB_OK);
    MBT_EQ_INT(mb_aead_open(&shared, nonce, NULL, 0, ct_a, 8, tag_a, 16, ct), MB_OK);
    MBT_EQ_MEM(ct, pt, 8);
    mb_aead_free(&a); mb_aead_free(&b); mb_aead_free(&shared);
}

static void ct_compare(void)
{
    uint8_t a[32] = { 0 }, b[32] = { 0 };
    size_t i;
    MBT_EQ_INT(mb_ct_compare(a, b, 32), 0);
    MBT_EQ_INT(mb_ct_compare(a, b, 0), 0);
    for (i = 0; i < 32; i++) {
        b[i] = 0x80;
        MBT_EQ_INT(mb_ct_compare(a, b, 32), 1);
        b[i] = 0x01;
        MBT_EQ_INT(mb_ct_compare(a, b, 32), 1);
        b[i] = 0;
    }
    mb_wipe(NULL, 5);
    memset(a, 0xff, sizeof(a));
    mb_wipe(a, sizeof(a));
    MBT_EQ_MEM(a, b, 32);
}

int main(void)
{
    MBT_RUN(nist_encrypt);
    MBT_RUN(nist_decrypt);
    MBT_RUN(aead_errors);
    MBT_RUN(setkey_switches_and_reuses);
    MBT_RUN(ct_compare);
    return mbt_finish("test_aead");
}
