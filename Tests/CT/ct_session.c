/*
 * ct_session.c - constant-time cases for whole sessions: a handshake and
 * sealed messages between two sessions whose pair secret PS is secret.
 *
 * What is public by design is declassified where it becomes public: every
 * frame a session sends (it is on the bus), and the verdicts the harness
 * reads. Received ciphertext and tags are re-marked secret before they are
 * fed to the receiver, as in ct_aead_open.
 */
#include <stdlib.h>   /* test_session_util.h needs exit() */

#include "ct_cases.h"
#include "ct_secret.h"
#include "test_session_util.h"

static tnode ctl, dev;

/* A frame leaves the device: from here on it is public. */
static int ct_tx(void *user, const mb_frame *frame)
{
    mb_frame on_bus = *frame;
    CT_PUBLIC(&on_bus, sizeof(on_bus));
    return t_tx(user, &on_bus);
}

static int secret_pair(mb_profile profile)
{
    if (t_node_init(&ctl, MB_ROLE_CONTROLLER, profile, 0, NULL) != MB_OK ||
        t_node_init(&dev, MB_ROLE_DEVICE, profile, 0, NULL) != MB_OK) {
        return 1;
    }
    ctl.s.cfg.tx = ct_tx;
    dev.s.cfg.tx = ct_tx;
    CT_SECRET(ctl.s.pair_secret, sizeof(ctl.s.pair_secret));
    CT_SECRET(dev.s.pair_secret, sizeof(dev.s.pair_secret));
    return 0;
}

static void free_pair(void)
{
    t_node_free(&ctl);
    t_node_free(&dev);
}

int ct_session_handshake(void)
{
    int ok = secret_pair(MB_PROFILE_CLASSIC) == 0 && t_connect(&ctl, &dev, 0) == 0;
    free_pair();
    return ok ? 0 : 1;
}

/* Mark the ciphertext and tag bytes of a message's frames secret (the IV,
 * bytes 0..11 of the wire message, carries the public counter). */
static void mark_received(mb_frame *frames, size_t n, size_t chunk, size_t wire_len)
{
    size_t k, j;
    for (k = 0; k < n; k++) {
        for (j = 0; j < frames[k].len; j++) {
            size_t at = k * chunk + j;
            if (at >= MB_NONCE_LEN && at < wire_len) {
                CT_SECRET(&frames[k].data[j], 1);
            }
        }
    }
}

/* Send one secret plaintext; deliver it genuine and with a flipped tag bit. */
static int exchange(mb_profile profile, size_t len)
{
    static mb_frame frames[16], forged[16];
    uint8_t pt[MB_SEG_FD_MAX];
    size_t chunk = profile == MB_PROFILE_FD ? 64u : 8u, n, k;
    unsigned delivered = 0, forged_delivered = 0;

    memset(pt, 0x3C, sizeof(pt));
    CT_SECRET(pt, len);
    if (mb_session_send(&ctl.s, MB_MSG_APP_FIRST, pt, len, 1) != MB_OK) {   /* data: no freshness prefix */
        return 1;
    }
    n = ctl.out.n;
    memcpy(frames, ctl.out.f, n * sizeof(mb_frame));
    memcpy(forged, frames, n * sizeof(mb_frame));
    ctl.out.n = 0;
    forged[n - 1].data[(len + MB_SESSION_OVERHEAD - 1u) % chunk] ^= 0x01u;  /* last tag byte */
    mark_received(forged, n, chunk, len + MB_SESSION_OVERHEAD);
    mark_received(frames, n, chunk, len + MB_SESSION_OVERHEAD);
    for (k = 0; k < n; k++) {
        mb_session_msg m;
        (void)mb_session_rx(&dev.s, &forged[k], 1, &m);
        forged_delivered += (unsigned)ct_declassify_int(m.ready);
    }
    for (k = 0; k < n; k++) {
        mb_session_msg m;
        (void)mb_session_rx(&dev.s, &frames[k], 1, &m);
        delivered += (unsigned)ct_declassify_int(m.ready);
    }
    return (delivered == 1u && forged_delivered == 0u) ? 0 : 1;
}

int ct_session_messages(void)
{
    int failed = 0;
    mb_profile profile;

    for (profile = MB_PROFILE_CLASSIC; profile <= MB_PROFILE_FD; profile++) {
        if (secret_pair(profile) != 0 || t_connect(&ctl, &dev, 0) != 0) {
            failed = 1;
        } else {
            failed |= exchange(profile, 5);
            failed |= exchange(profile, 100);
        }
        free_pair();
    }
    return failed;
}
