/*
 * fuzz_handshake.c - the handshake messages (mb_session_hs: HELLO, REPLY,
 * FINISH; resynchronisation) between a controller and a device that start
 * without keys, with an attacker on the bus. See fuzz_twonode.h for the
 * operations and the invariants; the one this harness aims at: a responder
 * completes only a handshake that the initiator completed with the same
 * keys, and forged or replayed handshake frames never establish anything.
 *
 * Input: start u8 (bits 0-1: 0 nobody started, 1 the controller, 2 the
 * device, 3 both; bit 2: CAN FD; bit 3: both ends add the ephemeral key
 * exchange, PROTOCOL.md 6.6), then bus operations.
 */
#include "fuzz_twonode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tn_world base[4], w;
    static int ready;
    fz_in in = { data, size };
    uint8_t start;
    unsigned p;

    if (!ready) {
        for (p = 0; p < 4u; p++) {
            tn_world_init(&base[p], (p & 1u) ? MB_PROFILE_FD : MB_PROFILE_CLASSIC, (int)(p >> 1));
        }
        ready = 1;
    }
    start = fz_u8(&in);
    p = (start >> 2) & 3u;
    memcpy(&w, &base[p], sizeof(w));
    tn_fix_pointers(&w);
    if (start & 1u) {
        FZ_CHECK(mb_session_start(&w.n[0].s, w.now) == MB_OK);
    }
    if (start & 2u) {
        FZ_CHECK(mb_session_start(&w.n[1].s, w.now) == MB_OK);
    }
    tn_run(&w, &in);
    FZ_CHECK(w.n[0].s.established && w.n[1].s.established);
    return 0;
}
