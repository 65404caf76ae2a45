/*
 * test_fuzz_regressions.c - bugs the fuzz harnesses of Tests/Fuzz found,
 * kept fixed (docs/security/FUZZING.md, "Findings").
 */
#include "mbt.h"

#include "modbatt/modbatt.h"

static int all_zero(const uint8_t *p, size_t n)
{
    size_t i;
    for (i = 0; i < n; i++) {
        if (p[i] != 0u) {
            return 0;
        }
    }
    return 1;
}

static int no_rng(void *user, uint8_t *out, size_t len)
{
    (void)user;
    memset(out, 0x11, len);
    return 0;
}

/* fuzz_keypkg: mb_keypkg_open() promises a zeroed body buffer on error, but
 * its early exits (truncated, bad magic, ...) left the caller's buffer as it
 * was, e.g. the key halves of a package opened into it before. */
static void keypkg_open_zeroes_body_on_early_errors(void)
{
    static uint8_t pkg[256], body[256];
    uint8_t priv[32], pub[65];
    mb_keypkg_expect x;
    mb_keypkg_contents c;

    memset(priv, 0x21, sizeof(priv));
    memset(pub, 0x04, sizeof(pub));
    memset(&x, 0, sizeof(x));
    x.binding_priv = priv;
    x.binding_pub = pub;
    x.device_id = 0xFFFFu;

    memset(body, 0xAB, sizeof(body));        /* an earlier package's secrets */
    MBT_EQ_INT(mb_keypkg_open(pkg, 10, &x, no_rng, NULL, body, sizeof(body), &c),
               MB_ERR_TRUNCATED);
    MBT_CHECK(all_zero(body, sizeof(body)));

    memset(pkg, 0, sizeof(pkg));             /* long enough, magic wrong */
    memset(body, 0xAB, sizeof(body));
    MBT_EQ_INT(mb_keypkg_open(pkg, sizeof(pkg), &x, no_rng, NULL, body, sizeof(body), &c),
               MB_ERR_MALFORMED);
    MBT_CHECK(all_zero(body, sizeof(body)));
}

/* fuzz_report: the same for mb_report_open()'s plaintext buffer. */
static void report_open_zeroes_plaintext_on_early_errors(void)
{
    static uint8_t in[MB_REPORT_MAX], pt[MB_REPORT_PT_MAX];
    uint8_t priv[32], pub[65];
    mb_report_info info;
    size_t pt_len = 7;

    memset(priv, 0x21, sizeof(priv));
    memset(pub, 0x04, sizeof(pub));
    memset(in, 0, sizeof(in));
    memset(pt, 0xAB, sizeof(pt));
    MBT_EQ_INT(mb_report_open(in, 5, pub, priv, pub, 0, no_rng, NULL, &info, pt, sizeof(pt),
                              &pt_len), MB_ERR_TRUNCATED);
    MBT_CHECK(all_zero(pt, sizeof(pt)));
    MBT_EQ_INT(pt_len, 0);

    memset(pt, 0xAB, sizeof(pt));
    MBT_EQ_INT(mb_report_open(in, MB_REPORT_OVERHEAD, pub, priv, pub, 0, no_rng, NULL, &info,
                              pt, sizeof(pt), &pt_len), MB_ERR_MALFORMED);
    MBT_CHECK(all_zero(pt, sizeof(pt)));
}

int main(void)
{
    MBT_RUN(keypkg_open_zeroes_body_on_early_errors);
    MBT_RUN(report_open_zeroes_plaintext_on_early_errors);
    return mbt_finish("test_fuzz_regressions");
}
