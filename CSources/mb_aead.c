/* mb_aead.c - AES-256-GCM over mbedtls_gcm with argument checking (or over
 * the platform's AES-GCM engine: build option MB_AEAD_HW, mb_aead.h). */
#include "modbatt/mb_aead.h"

#include <string.h>

#include "modbatt/mb_errors.h"
#include "modbatt/mb_util.h"

/* The slot seal/open use: the one installed (or selected) last. */
#if MB_AEAD_SLOTS > 1u
#define CUR(ctx) (&(ctx)->slot[(ctx)->cur])
#else
#define CUR(ctx) (&(ctx)->slot[0])
#endif

static void select_slot(mb_aead *ctx, unsigned i)
{
#if MB_AEAD_SLOTS > 1u
    ctx->cur = (uint8_t)i;
    ctx->victim = (uint8_t)((i + 1u) % MB_AEAD_SLOTS);
#else
    (void)ctx;
    (void)i;
#endif
}

static int tag_len_ok(size_t tag_len)
{
    /* SP 800-38D 5.2.1.2: 128, 120, 112, 104, 96 bits; 64 and 32 for
     * special applications. */
    return tag_len == 4u || tag_len == 8u || (tag_len >= 12u && tag_len <= 16u);
}

static int check_args(const mb_aead *ctx, const uint8_t *nonce,
                      const uint8_t *aad, size_t aad_len,
                      const uint8_t *in, const uint8_t *out, size_t len,
                      const uint8_t *tag, size_t tag_len)
{
    if (ctx == NULL || nonce == NULL || tag == NULL ||
        (aad == NULL && aad_len != 0) ||
        ((in == NULL || out == NULL) && len != 0)) {
        return MB_ERR_NULL;
    }
    if (!tag_len_ok(tag_len)) {
        return MB_ERR_TAG_LENGTH;
    }
    if (!CUR(ctx)->key_set) {
        return MB_ERR_KEY_NOT_SET;
    }
    return MB_OK;
}

void mb_aead_init(mb_aead *ctx)
{
    unsigned i;
    if (ctx == NULL) {
        return;
    }
    for (i = 0; i < MB_AEAD_SLOTS; i++) {
#if !defined(MB_AEAD_HW)
        mbedtls_gcm_init(&ctx->slot[i].gcm);
#endif
        mb_wipe(ctx->slot[i].key, sizeof(ctx->slot[i].key));
        ctx->slot[i].key_set = 0;
    }
    select_slot(ctx, 0);
}

int mb_aead_setkey(mb_aead *ctx, const uint8_t key[32])
{
    mb_aead_slot *s;
    unsigned i;
    if (ctx == NULL || key == NULL) {
        return MB_ERR_NULL;
    }
    for (i = 0; i < MB_AEAD_SLOTS; i++) {
        if (ctx->slot[i].key_set && mb_ct_compare(ctx->slot[i].key, key, MB_AEAD_KEY_LEN) == 0) {
            select_slot(ctx, i);           /* already installed */
            return MB_OK;
        }
    }
#if MB_AEAD_SLOTS > 1u
    i = ctx->victim;
#else
    i = 0;
#endif
    select_slot(ctx, i);
    s = &ctx->slot[i];
    s->key_set = 0;
    mb_wipe(s->key, sizeof(s->key));
#if !defined(MB_AEAD_HW)
    if (mbedtls_gcm_setkey(&s->gcm, MBEDTLS_CIPHER_ID_AES, key, 256) != 0) {
        return MB_ERR_CRYPTO;
    }
#endif
    memcpy(s->key, key, MB_AEAD_KEY_LEN);
    s->key_set = 1;
    return MB_OK;
}

int mb_aead_seal(mb_aead *ctx, const uint8_t nonce[12],
                 const uint8_t *aad, size_t aad_len,
                 const uint8_t *pt, size_t len, uint8_t *ct,
                 uint8_t *tag, size_t tag_len)
{
    int ret = check_args(ctx, nonce, aad, aad_len, pt, ct, len, tag, tag_len);
    if (ret != MB_OK) {
        return ret;
    }
#if defined(MB_AEAD_HW)
    if (mb_aead_hw_seal(CUR(ctx)->key, nonce, aad, aad_len, pt, len, ct, tag, tag_len) != MB_OK) {
#else
    if (mbedtls_gcm_crypt_and_tag(&CUR(ctx)->gcm, MBEDTLS_GCM_ENCRYPT, len,
                                  nonce, MB_AEAD_NONCE_LEN, aad, aad_len,
                                  pt, ct, tag_len, tag) != 0) {
#endif
        mb_wipe(ct, len);
        mb_wipe(tag, tag_len);
        return MB_ERR_CRYPTO;
    }
    return MB_OK;
}

int mb_aead_open(mb_aead *ctx, const uint8_t nonce[12],
                 const uint8_t *aad, size_t aad_len,
                 const uint8_t *ct, size_t len,
                 const uint8_t *tag, size_t tag_len,
                 uint8_t *pt)
{
    int ret = check_args(ctx, nonce, aad, aad_len, ct, pt, len, tag, tag_len);
    if (ret != MB_OK) {
        if (pt != NULL && ret != MB_ERR_NULL) {
            mb_wipe(pt, len);
        }
        return ret;
    }
#if defined(MB_AEAD_HW)
    ret = mb_aead_hw_open(CUR(ctx)->key, nonce, aad, aad_len, ct, len, tag, tag_len, pt);
    if (ret == MB_OK) {
        return MB_OK;
    }
    mb_wipe(pt, len);
    return ret == MB_ERR_AUTH ? MB_ERR_AUTH : MB_ERR_CRYPTO;
#else
    /* mbedtls_gcm_auth_decrypt compares the tag in constant time and wipes
     * the output on mismatch. */
    ret = mbedtls_gcm_auth_decrypt(&CUR(ctx)->gcm, len, nonce, MB_AEAD_NONCE_LEN,
                                   aad, aad_len, tag, tag_len, ct, pt);
    if (ret == 0) {
        return MB_OK;
    }
    mb_wipe(pt, len);
    return ret == MBEDTLS_ERR_GCM_AUTH_FAILED ? MB_ERR_AUTH : MB_ERR_CRYPTO;
#endif
}

void mb_aead_free(mb_aead *ctx)
{
    unsigned i;
    if (ctx == NULL) {
        return;
    }
#if !defined(MB_AEAD_HW)
    for (i = 0; i < MB_AEAD_SLOTS; i++) {
        mbedtls_gcm_free(&ctx->slot[i].gcm);   /* frees the cipher context, zeroizes */
    }
#else
    (void)i;
#endif
    mb_wipe(ctx, sizeof(*ctx));
}
