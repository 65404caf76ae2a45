/*
 * fuzz_report.c - sealed report open on the app side (mb_report_open:
 * layout, sender key id, ECDSA signature, ECDH + HKDF + AES-GCM, sequence)
 * on arbitrary reports.
 *
 * Input: min_sequence u8, then the report.
 * Invariants:
 *  - only a report the device signed opens: on MB_OK the signed part
 *    equals one of the genuine reports the harness built, the plaintext
 *    is that report's, the header fields are its, and its sequence is
 *    above min_sequence;
 *  - on any error the whole plaintext buffer is zeroed and the length is 0;
 *  - a plaintext buffer of MB_REPORT_PT_MAX always suffices; errors are
 *    documented codes.
 */
#include "fuzz_common.h"
#include "fuzz_fixtures.h"

static uint8_t genuine[FZ_REPORT_VARIANTS][MB_REPORT_MAX];
static size_t genuine_len[FZ_REPORT_VARIANTS];
static uint8_t genuine_pt[FZ_REPORT_VARIANTS][MB_REPORT_PT_MAX];
static size_t genuine_pt_len[FZ_REPORT_VARIANTS];

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static int ready;
    static uint64_t rng = 0x2545F4914F6CDD1Dull;
    const fz_ec_keys *k = fz_ec();
    mb_report_info info;
    uint8_t *in, *pt;
    size_t len, pt_len = 99;
    uint32_t min_seq;
    unsigned v;
    int ret, match = -1;

    FZ_CHECK(k != NULL);
    if (!ready) {
        for (v = 0; v < FZ_REPORT_VARIANTS; v++) {
            FZ_CHECK(fz_report_build(v, genuine[v], sizeof(genuine[v]), &genuine_len[v],
                                     genuine_pt[v], sizeof(genuine_pt[v]),
                                     &genuine_pt_len[v]) == 0);
        }
        ready = 1;
    }
    if (size < 1u) {
        return 0;
    }
    min_seq = data[0] & 3u;
    len = size - 1u;
    in = (uint8_t *)malloc(len ? len : 1u);
    pt = (uint8_t *)malloc(MB_REPORT_PT_MAX);
    FZ_CHECK(in != NULL && pt != NULL);
    memcpy(in, data + 1, len);
    memset(pt, 0xEE, MB_REPORT_PT_MAX);
    ret = mb_report_open(in, len, k->dev_pub, k->app_priv, k->app_pub, min_seq, fz_rng, &rng,
                         &info, pt, MB_REPORT_PT_MAX, &pt_len);
    for (v = 0; v < FZ_REPORT_VARIANTS; v++) {
        if (len == genuine_len[v] && memcmp(in, genuine[v], len - MB_P256_SIG_LEN) == 0) {
            match = (int)v;
        }
    }
    if (ret == MB_OK) {
        FZ_CHECK(match >= 0);
        FZ_CHECK(pt_len == genuine_pt_len[match] && memcmp(pt, genuine_pt[match], pt_len) == 0);
        FZ_CHECK(info.type == MB_REPORT_DELIVERY + (unsigned)match &&
                 info.device_id == FZ_DEVICE_ID && info.sequence == (uint32_t)match + 1u &&
                 info.sequence > min_seq);
    } else {
        FZ_CHECK(ret == MB_ERR_TRUNCATED || ret == MB_ERR_MALFORMED || ret == MB_ERR_VERSION ||
                 ret == MB_ERR_WRONG_DEVICE || ret == MB_ERR_AUTH || ret == MB_ERR_REPLAY);
        FZ_CHECK(pt_len == 0u);
        FZ_CHECK(fz_all_zero(pt, MB_REPORT_PT_MAX));
    }
    free(in);
    free(pt);
    return 0;
}
