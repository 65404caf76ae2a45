/*
 * fuzz_payload.c - the decoders of message payloads that arrive after
 * authentication (mb_msg: command, limits, status, diagnostics) and of the
 * report payloads inside a sealed report (delivery, key-store status).
 *
 * Input: selector u8 | payload (rest).
 * Invariant: every decoder is canonical: whatever it accepts, the matching
 * encoder writes back byte for byte (same length), so no two byte strings
 * mean the same message and nothing is read past the given length (ASan).
 * The payload is copied to a buffer of exactly its length so that ASan sees
 * any over-read.
 */
#include "fuzz_common.h"

#define ROUNDTRIP(decode, encode, type) do { \
        type m_; \
        uint8_t out_[64]; \
        size_t n_ = 0; \
        if (decode(buf, len, &m_) == MB_OK) { \
            FZ_CHECK(encode(&m_, out_, sizeof(out_), &n_) == MB_OK); \
            FZ_CHECK(n_ == len && memcmp(out_, buf, len) == 0); \
        } \
    } while (0)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    uint8_t *buf;
    size_t len;
    if (size < 1u) {
        return 0;
    }
    len = size - 1u;
    buf = (uint8_t *)malloc(len ? len : 1u);   /* exact size: ASan catches over-reads */
    FZ_CHECK(buf != NULL);
    if (len) {
        memcpy(buf, data + 1, len);
    }
    switch (data[0] % 7u) {
    case 0: ROUNDTRIP(mb_msg_decode_command, mb_msg_encode_command, mb_command); break;
    case 1: ROUNDTRIP(mb_msg_decode_limits, mb_msg_encode_limits, mb_limits); break;
    case 2: ROUNDTRIP(mb_msg_decode_status, mb_msg_encode_status, mb_status); break;
    case 3: ROUNDTRIP(mb_msg_decode_diag_errors, mb_msg_encode_diag_errors, mb_diag_errors); break;
    case 4: ROUNDTRIP(mb_msg_decode_diag_health, mb_msg_encode_diag_health, mb_diag_health); break;
    case 5: ROUNDTRIP(mb_report_decode_delivery, mb_report_encode_delivery, mb_report_delivery); break;
    default: ROUNDTRIP(mb_report_decode_keystore, mb_report_encode_keystore, mb_report_keystore); break;
    }
    free(buf);
    return 0;
}
