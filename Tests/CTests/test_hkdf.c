/* test_hkdf.c - HMAC/HKDF-SHA256: RFC 5869 vectors and every error path. */
#include "mbt.h"
#include "mbt_rsp.h"

#include "modbatt/modbatt.h"

static void rfc5869_sha256_vectors(void)
{
    FILE *f = mbt_open_vectors("KDF/rfc-5869-HKDF-SHA256.txt");
    static mbt_rsp_record r;
    int cases = 0;

    MBT_CHECK(f != NULL);
    if (f == NULL) return;
    mbt_rsp_init(&r);
    while (mbt_rsp_next(f, &r, "COUNT")) {
        static uint8_t ikm[256], salt[256], info[256], okm[512], expected[512];
        const char *hash = mbt_rsp_get(&r, "Hash");
        int ikm_len = mbt_unhex(mbt_rsp_get(&r, "IKM"), ikm, sizeof(ikm));
        int salt_len = mbt_unhex(mbt_rsp_get(&r, "salt"), salt, sizeof(salt));
        int info_len = mbt_unhex(mbt_rsp_get(&r, "info"), info, sizeof(info));
        int okm_len = mbt_unhex(mbt_rsp_get(&r, "OKM"), expected, sizeof(expected));
        if (hash == NULL || strcmp(hash, "SHA-256") != 0) continue;
        MBT_CHECK(ikm_len >= 0 && salt_len >= 0 && info_len >= 0 && okm_len > 0);
        MBT_EQ_INT(mb_hkdf_sha256(salt, (size_t)salt_len, ikm, (size_t)ikm_len,
                                  info, (size_t)info_len, okm, (size_t)okm_len), MB_OK);
        MBT_EQ_MEM(okm, expected, (size_t)okm_len);
        cases++;
    }
    fclose(f);
    MBT_EQ_INT(cases, 3);   /* RFC 5869 A.1-A.3 */
}

/* RFC 4231 test case 2 ("Jefe") and case 6 (key longer than the block). */
static void hmac_rfc4231(void)
{
    uint8_t mac[32], expected[32], key[131];
    const char *msg6 = "Test Using Larger Than Block-Size Key - Hash Key First";
    mb_hmac ctx;

    mbt_unhex("5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843", expected, 32);
    MBT_EQ_INT(mb_hmac_sha256((const uint8_t *)"Jefe", 4,
                              (const uint8_t *)"what do ya want for nothing?", 28, mac), MB_OK);
    MBT_EQ_MEM(mac, expected, 32);

    memset(key, 0xaa, sizeof(key));
    mbt_unhex("60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54", expected, 32);
    MBT_EQ_INT(mb_hmac_sha256(key, sizeof(key), (const uint8_t *)msg6, strlen(msg6), mac), MB_OK);
    MBT_EQ_MEM(mac, expected, 32);

    /* Multi-part in uneven pieces gives the same MAC. */
    MBT_EQ_INT(mb_hmac_starts(&ctx, key, sizeof(key)), MB_OK);
    MBT_EQ_INT(mb_hmac_update(&ctx, (const uint8_t *)msg6, 5), MB_OK);
    MBT_EQ_INT(mb_hmac_update(&ctx, NULL, 0), MB_OK);
    MBT_EQ_INT(mb_hmac_update(&ctx, (const uint8_t *)msg6 + 5, strlen(msg6) - 5), MB_OK);
    MBT_EQ_INT(mb_hmac_finish(&ctx, mac), MB_OK);
    MBT_EQ_MEM(mac, expected, 32);
    mb_hmac_free(&ctx);
    {
        static const uint8_t zero[sizeof(mb_hmac)];
        MBT_EQ_MEM(&ctx, zero, sizeof(ctx));   /* free wipes the context */
    }
}

/* FIPS 180-2 "abc" and the empty message. */
static void sha256_known_answers(void)
{
    uint8_t d[32], expected[32];
    mbt_unhex("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad", expected, 32);
    MBT_EQ_INT(mb_sha256((const uint8_t *)"abc", 3, d), MB_OK);
    MBT_EQ_MEM(d, expected, 32);
    mbt_unhex("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855", expected, 32);
    MBT_EQ_INT(mb_sha256(NULL, 0, d), MB_OK);
    MBT_EQ_MEM(d, expected, 32);
    MBT_EQ_INT(mb_sha256(NULL, 1, d), MB_ERR_NULL);
    MBT_EQ_INT(mb_sha256(d, 1, NULL), MB_ERR_NULL);
}

static void hkdf_errors(void)
{
    uint8_t okm[40], ikm[8] = { 1 };
    static const uint8_t zero[40];
    static uint8_t big[MB_HKDF_MAX_OKM + 1];

    MBT_EQ_INT(mb_hkdf_sha256(NULL, 0, ikm, 8, NULL, 0, NULL, 32), MB_ERR_NULL);
    MBT_EQ_INT(mb_hkdf_sha256(NULL, 4, ikm, 8, NULL, 0, okm, 32), MB_ERR_NULL);
    MBT_EQ_INT(mb_hkdf_sha256(NULL, 0, NULL, 8, NULL, 0, okm, 32), MB_ERR_NULL);
    MBT_EQ_INT(mb_hkdf_sha256(NULL, 0, ikm, 8, NULL, 3, okm, 32), MB_ERR_NULL);
    MBT_EQ_INT(mb_hkdf_sha256(NULL, 0, ikm, 8, NULL, 0, okm, 0), MB_ERR_LENGTH);
    MBT_EQ_INT(mb_hkdf_sha256(NULL, 0, ikm, 8, NULL, 0, big, sizeof(big)), MB_ERR_LENGTH);
    /* The largest legal output works, and NULL inputs with zero length are fine. */
    MBT_EQ_INT(mb_hkdf_sha256(NULL, 0, NULL, 0, NULL, 0, big, MB_HKDF_MAX_OKM), MB_OK);
    memset(okm, 0x55, sizeof(okm));
    MBT_EQ_INT(mb_hkdf_sha256(NULL, 0, ikm, 8, NULL, 0, okm, sizeof(okm)), MB_OK);
    MBT_CHECK(memcmp(okm, zero, sizeof(okm)) != 0);

    MBT_EQ_INT(mb_hmac_starts(NULL, ikm, 8), MB_ERR_NULL);
    MBT_EQ_INT(mb_hmac_sha256(NULL, 3, ikm, 8, okm), MB_ERR_NULL);
    MBT_EQ_INT(mb_hmac_sha256(ikm, 8, ikm, 8, NULL), MB_ERR_NULL);
    MBT_EQ_INT(mb_hmac_update(NULL, ikm, 8), MB_ERR_NULL);
    MBT_EQ_INT(mb_hmac_finish(NULL, okm), MB_ERR_NULL);
    mb_hmac_free(NULL);
}

int main(void)
{
    MBT_RUN(rfc5869_sha256_vectors);
    MBT_RUN(hmac_rfc4231);
    MBT_RUN(sha256_known_answers);
    MBT_RUN(hkdf_errors);
    return mbt_finish("test_hkdf");
}
