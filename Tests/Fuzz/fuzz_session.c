/*
 * fuzz_session.c - frame -> reassembly -> open on an established pair
 * (mb_seg, mb_reasm, mb_session rx, epochs, replay window, rotation), with
 * an attacker on the bus. See fuzz_twonode.h for the operations and the
 * invariants (authenticity, at-most-once delivery, recovery).
 *
 * Input: profile u8, then bus operations. Each input starts from a copy of
 * a pair that completed a genuine handshake at start-up.
 */
#include "fuzz_twonode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static tn_world base[2], w;
    static int ready;
    fz_in in = { data, size };
    unsigned p;

    if (!ready) {
        for (p = 0; p < 2u; p++) {
            tn_world_init(&base[p], p ? MB_PROFILE_FD : MB_PROFILE_CLASSIC, 0);
            tn_handshake(&base[p]);
            base[p].n[0].nhist = base[p].n[1].nhist = 0;
        }
        ready = 1;
    }
    p = fz_u8(&in) & 1u;
    memcpy(&w, &base[p], sizeof(w));
    tn_fix_pointers(&w);
    tn_run(&w, &in);
    return 0;
}
