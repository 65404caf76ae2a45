/* test_pbkdf2.c - PBKDF2-HMAC-SHA256: the RFC 7914 (section 11) vectors, a
 * salt and passphrase with NUL bytes and a partial last block (cross-checked
 * with Python's hashlib.pbkdf2_hmac), and every error path. */
#include "mbt.h"

#include "modbatt/modbatt.h"

static void check(const char *pw, size_t pw_len, const char *salt, size_t salt_len, uint32_t c,
                  const char *expected_hex)
{
    uint8_t out[MB_PBKDF2_MAX_OUT], expected[MB_PBKDF2_MAX_OUT];
    int n = mbt_unhex(expected_hex, expected, sizeof(expected));
    MBT_CHECK(n > 0);
    MBT_EQ_INT(mb_pbkdf2_sha256((const uint8_t *)pw, pw_len, (const uint8_t *)salt, salt_len, c,
                                out, (size_t)n), MB_OK);
    MBT_EQ_MEM(out, expected, (size_t)n);
}

static void rfc7914_vectors(void)
{
    check("passwd", 6, "salt", 4, 1,
          "55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
          "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783");
    check("Password", 8, "NaCl", 4, 80000,
          "4ddcd8f60b98be21830cee5ef22701f9641a4418d04c0414aeff08876b34ab56"
          "a1d425a1225833549adb841b51c9b3176a272bdebba1d078478f62b397f33c8d");
}

static void nul_bytes_and_partial_block(void)
{
    check("pass\0word", 9, "sa\0lt", 5, 4096, "89b69d0516f829893c696226650a8687");
}

static void errors(void)
{
    uint8_t out[40];
    size_t i;
    int wiped = 1;
    memset(out, 0xAA, sizeof(out));
    MBT_EQ_INT(mb_pbkdf2_sha256((const uint8_t *)"p", 1, (const uint8_t *)"s", 1, 0, out, sizeof(out)),
               MB_ERR_LENGTH);
    for (i = 0; i < sizeof(out); i++) wiped &= out[i] == 0;
    MBT_CHECK(wiped);
    MBT_EQ_INT(mb_pbkdf2_sha256((const uint8_t *)"p", 1, (const uint8_t *)"s", 1, 1, out, 0), MB_ERR_LENGTH);
    {
        static uint8_t big[MB_PBKDF2_MAX_OUT + 1];
        memset(big, 0xAA, sizeof(big));
        MBT_EQ_INT(mb_pbkdf2_sha256((const uint8_t *)"p", 1, (const uint8_t *)"s", 1, 1, big, sizeof(big)),
                   MB_ERR_LENGTH);
        MBT_CHECK(big[0] == 0 && big[MB_PBKDF2_MAX_OUT] == 0);   /* zeroed, as documented */
    }
    MBT_EQ_INT(mb_pbkdf2_sha256((const uint8_t *)"p", 1, (const uint8_t *)"s", 1, 1, NULL, 8), MB_ERR_NULL);
    MBT_EQ_INT(mb_pbkdf2_sha256(NULL, 1, (const uint8_t *)"s", 1, 1, out, 8), MB_ERR_NULL);
    MBT_EQ_INT(mb_pbkdf2_sha256((const uint8_t *)"p", 1, NULL, 1, 1, out, 8), MB_ERR_NULL);
    MBT_EQ_INT(mb_pbkdf2_sha256(NULL, 0, NULL, 0, 1, out, 8), MB_OK);     /* empty is allowed */
}

int main(void)
{
    MBT_RUN(rfc7914_vectors);
    MBT_RUN(nul_bytes_and_partial_block);
    MBT_RUN(errors);
    return mbt_finish("test_pbkdf2");
}
