/*
 * test_session_move.c - a pair at another address (docs/PROTOCOL.md 6.7):
 * mb_session_readdress(), mb_session_check_hello(), mb_session_take_counters().
 *
 * A device that comes back under another device id keeps its pair: both
 * sides move their session, a handshake at the new id gives new keys, and
 * nothing of the old keys (no key, no nonce under a key) is used again. A
 * HELLO from before the move is not answered after it, and a HELLO that is
 * forged, or bound to another id, is refused without a change of state.
 */
#include "mbt.h"
#include "test_session_util.h"

#define OLD_ID 0x05u
#define NEW_ID 0x07u

static tnode ctl, dev;

/* The node's queued frames as one whole message (its first message only);
 * returns its length; the queue is emptied. */
static size_t take_message(tnode *n, uint8_t *msg, mb_frame *frames, size_t *nframes)
{
    size_t i, len = 0;
    for (i = 0; i < n->out.n; i++) {
        memcpy(msg + len, n->out.f[i].data, n->out.f[i].len);
        len += n->out.f[i].len;
        frames[i] = n->out.f[i];
    }
    *nframes = n->out.n;
    n->out.n = 0;
    return len;
}

/* Deliver frames to a node; the number refused. */
static size_t feed(tnode *to, const mb_frame *f, size_t n, uint32_t now)
{
    size_t i, refused = 0;
    for (i = 0; i < n; i++) {
        mb_session_msg m;
        if (mb_session_rx(&to->s, &f[i], now, &m) != MB_OK) {
            refused++;
        }
    }
    return refused;
}

static uint32_t id_of(const mb_frame *f)
{
    return f->id & 0xFFu;
}

static void connect_at_old(void)
{
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    MBT_EQ_INT(t_connect(&ctl, &dev, 10), 0);
}

/* The device moves, says so with a HELLO at its new id; the controller
 * checks it, moves too, and the pair talks again under new keys. */
static void test_move_and_rehandshake(void)
{
    static uint8_t hello[MB_SESSION_HELLO_LEN + 8], old_key[32];
    static mb_frame hello_frames[8], before[32];
    size_t nhello = 0, n, len;
    uint64_t old_counter;
    const uint8_t pt[4] = { 1, 2, 3, 4 };
    tinbox box;

    connect_at_old();
    old_counter = dev.s.hs.tx_counter;
    memcpy(old_key, dev.s.tx_key, sizeof(old_key));
    n = t_seal(&dev, pt, sizeof(pt), 20, before);   /* a message under the old keys */
    MBT_CHECK(n > 0);
    MBT_CHECK(feed(&ctl, before, n, 20) == 0);

    MBT_EQ_INT(mb_session_readdress(&dev.s, NEW_ID), MB_OK);
    MBT_CHECK(!dev.s.established);
    MBT_EQ_INT(dev.s.cfg.device_id, NEW_ID);
    /* No key of the old address is left to seal with. */
    MBT_EQ_INT(mb_session_send(&dev.s, MB_MSG_APP_FIRST, pt, sizeof(pt), 30), MB_ERR_STATE);
    MBT_EQ_INT(dev.out.n, 0);
    {
        static const uint8_t zero[32];
        MBT_EQ_MEM(dev.s.tx_key, zero, sizeof(zero));
        MBT_EQ_MEM(dev.s.rx_cur.key, zero, sizeof(zero));
    }
    MBT_CHECK(!mb_session_accepts(&dev.s, before[0].id));

    MBT_EQ_INT(mb_session_start(&dev.s, 200), MB_OK);
    len = take_message(&dev, hello, hello_frames, &nhello);
    MBT_EQ_INT(len, MB_SESSION_HELLO_LEN);
    MBT_EQ_INT(id_of(&hello_frames[0]), NEW_ID);
    MBT_CHECK(dev.s.hs.tx_counter == old_counter + 1u);   /* the counter went on */

    /* The controller, still at the old id, does not take it ... */
    MBT_CHECK(!mb_session_accepts(&ctl.s, hello_frames[0].id));
    /* ... but recognises its pair at the new id, and only there. */
    MBT_EQ_INT(mb_session_check_hello(&ctl.s, NEW_ID, hello, len), MB_OK);
    MBT_EQ_INT(mb_session_check_hello(&ctl.s, OLD_ID, hello, len), MB_ERR_AUTH);
    MBT_EQ_INT(mb_session_check_hello(&ctl.s, 0x08, hello, len), MB_ERR_AUTH);
    MBT_CHECK(ctl.s.established);   /* checking changed nothing */

    MBT_EQ_INT(mb_session_readdress(&ctl.s, NEW_ID), MB_OK);
    MBT_CHECK(feed(&ctl, hello_frames, nhello, 200) == 0);
    t_pump(&ctl, &dev, 200, NULL, NULL);
    MBT_CHECK(ctl.s.established && dev.s.established);

    /* New keys: the first message after the move is sealed with another key
     * (epoch 0, counter 0 again: the nonce repeats only under a new key). */
    MBT_CHECK(memcmp(old_key, dev.s.tx_key, sizeof(old_key)) != 0);
    memset(&box, 0, sizeof(box));
    n = t_seal(&dev, pt, sizeof(pt), 210, before + 16);
    MBT_CHECK(n > 0 && id_of(&before[16]) == NEW_ID);
    {
        size_t i;
        for (i = 0; i < n; i++) {
            dev.out.f[dev.out.n++] = before[16 + i];
        }
    }
    t_deliver(&dev, &ctl, 210, &box);
    MBT_EQ_INT(box.n, 1);
    MBT_EQ_MEM(box.m[0].data, pt, sizeof(pt));

    /* The message of the old address, moved to the new id: refused. */
    {
        mb_frame moved[8];
        size_t i;
        for (i = 0; i < 8 && before[i].len; i++) {
            moved[i] = before[i];
            moved[i].id = (moved[i].id & ~0xFFu) | NEW_ID;
        }
        MBT_CHECK(feed(&ctl, moved, i, 220) > 0);
    }
    t_node_free(&ctl);
    t_node_free(&dev);
}

/* A forged HELLO at the new id, and a genuine one for the old id shifted
 * to the new id, are refused by the check; a HELLO answered before the move
 * is refused after it (the counters moved with the session). */
static void test_check_refuses_forged_and_replayed(void)
{
    static uint8_t hello[MB_SESSION_HELLO_LEN + 8], forged[MB_SESSION_HELLO_LEN];
    static mb_frame frames[8];
    size_t nf, len;
    mb_session snapshot;

    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, MB_PROFILE_CLASSIC, 0, NULL), MB_OK);
    /* The device starts at the old id: the controller answers that HELLO. */
    MBT_EQ_INT(mb_session_start(&dev.s, 10), MB_OK);
    len = take_message(&dev, hello, frames, &nf);
    MBT_CHECK(feed(&ctl, frames, nf, 10) == 0);
    t_pump(&ctl, &dev, 10, NULL, NULL);
    MBT_CHECK(ctl.s.established && dev.s.established);
    snapshot = ctl.s;

    /* Answered before: refused as a replay at the old id. */
    MBT_EQ_INT(mb_session_check_hello(&ctl.s, OLD_ID, hello, len), MB_ERR_REPLAY);
    /* Forged: right key id, made-up MAC. */
    memcpy(forged, hello, sizeof(forged));
    forged[MB_SESSION_HELLO_LEN - 1] ^= 0x01u;
    MBT_EQ_INT(mb_session_check_hello(&ctl.s, NEW_ID, forged, sizeof(forged)), MB_ERR_AUTH);
    /* A higher counter without the key: the MAC no longer fits. */
    memcpy(forged, hello, sizeof(forged));
    forged[22] = 0x7Fu;
    MBT_EQ_INT(mb_session_check_hello(&ctl.s, NEW_ID, forged, sizeof(forged)), MB_ERR_AUTH);
    /* Another pair's key id, a short message, another version, a bad id. */
    memcpy(forged, hello, sizeof(forged));
    forged[2] ^= 0xFFu;
    MBT_EQ_INT(mb_session_check_hello(&ctl.s, NEW_ID, forged, sizeof(forged)), MB_ERR_HANDSHAKE);
    MBT_EQ_INT(mb_session_check_hello(&ctl.s, NEW_ID, hello, len - 1u), MB_ERR_MALFORMED);
    memcpy(forged, hello, sizeof(forged));
    forged[0] = 1u;
    MBT_EQ_INT(mb_session_check_hello(&ctl.s, NEW_ID, forged, sizeof(forged)), MB_ERR_VERSION);
    MBT_EQ_INT(mb_session_check_hello(&ctl.s, MB_DEVICE_BROADCAST, hello, len), MB_ERR_INVALID_ARG);
    MBT_EQ_INT(mb_session_check_hello(&ctl.s, MB_DEVICE_UNASSIGNED, hello, len), MB_ERR_INVALID_ARG);
    MBT_EQ_INT(mb_session_check_hello(NULL, NEW_ID, hello, len), MB_ERR_NULL);
    MBT_EQ_INT(mb_session_check_hello(&ctl.s, NEW_ID, NULL, len), MB_ERR_NULL);
    MBT_CHECK(memcmp(&snapshot, &ctl.s, sizeof(snapshot)) == 0);   /* nothing moved */

    /* Both move away and back: the old HELLO is still refused, the
     * device's next one is answered. */
    MBT_EQ_INT(mb_session_readdress(&ctl.s, NEW_ID), MB_OK);
    MBT_EQ_INT(mb_session_readdress(&ctl.s, OLD_ID), MB_OK);
    MBT_EQ_INT(mb_session_readdress(&dev.s, OLD_ID), MB_OK);
    MBT_EQ_INT(feed(&ctl, frames, nf, 500), 1);   /* the last chunk completes it: refused */
    MBT_EQ_INT(ctl.out.n, 0);                    /* no REPLY */
    MBT_CHECK(t_count_ev(&ctl, MB_EV_REJECT, MB_ERR_REPLAY) >= 1);
    MBT_EQ_INT(mb_session_start(&dev.s, 600), MB_OK);
    t_pump(&ctl, &dev, 600, NULL, NULL);
    MBT_CHECK(ctl.s.established && dev.s.established);
    t_node_free(&ctl);
    t_node_free(&dev);
}

/* Bad addresses leave the session as it was. */
static void test_readdress_refuses_non_addresses(void)
{
    mb_session snapshot;
    connect_at_old();
    snapshot = ctl.s;
    MBT_EQ_INT(mb_session_readdress(&ctl.s, MB_DEVICE_BROADCAST), MB_ERR_INVALID_ARG);
    MBT_EQ_INT(mb_session_readdress(&ctl.s, MB_DEVICE_UNASSIGNED), MB_ERR_INVALID_ARG);
    MBT_EQ_INT(mb_session_readdress(NULL, NEW_ID), MB_ERR_NULL);
    MBT_CHECK(memcmp(&snapshot, &ctl.s, sizeof(snapshot)) == 0);
    MBT_CHECK(ctl.s.established);
    t_node_free(&ctl);
    t_node_free(&dev);
}

/* The session that replaces another at a new address takes its counters. */
static void test_take_counters(void)
{
    static tnode fresh, other;
    mb_session_cfg cfg;

    connect_at_old();
    (void)mb_session_start(&dev.s, 400);   /* the controller answers a device HELLO */
    t_pump(&ctl, &dev, 400, NULL, NULL);
    (void)mb_session_start(&ctl.s, 800);   /* and sends one more of its own */
    t_pump(&ctl, &dev, 800, NULL, NULL);
    MBT_CHECK(ctl.s.hs.answered_any && ctl.s.hs.tx_counter >= 2u);

    t_cfg(&fresh, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, &cfg);
    MBT_EQ_INT(t_node_init(&fresh, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 0, &cfg), MB_OK);
    MBT_CHECK(fresh.s.hs.tx_counter < ctl.s.hs.tx_counter && !fresh.s.hs.answered_any);
    MBT_EQ_INT(mb_session_take_counters(&fresh.s, &ctl.s), MB_OK);
    MBT_CHECK(fresh.s.hs.tx_counter == ctl.s.hs.tx_counter);
    MBT_CHECK(fresh.s.hs.answered_any && fresh.s.hs.rx_counter == ctl.s.hs.rx_counter);
    MBT_EQ_MEM(fresh.s.hs.rx_mac, ctl.s.hs.rx_mac, sizeof(ctl.s.hs.rx_mac));
    /* Never lowered. */
    fresh.s.hs.tx_counter += 10u;
    MBT_EQ_INT(mb_session_take_counters(&fresh.s, &ctl.s), MB_OK);
    MBT_CHECK(fresh.s.hs.tx_counter == ctl.s.hs.tx_counter + 10u);

    /* Another pair, or the other side of this one: refused, unchanged. */
    MBT_EQ_INT(t_node_init(&other, MB_ROLE_CONTROLLER, MB_PROFILE_CLASSIC, 1, NULL), MB_OK);
    MBT_EQ_INT(mb_session_take_counters(&other.s, &ctl.s), MB_ERR_INVALID_ARG);
    MBT_CHECK(other.s.hs.tx_counter == 0u && !other.s.hs.answered_any);
    MBT_EQ_INT(mb_session_take_counters(&dev.s, &ctl.s), MB_ERR_INVALID_ARG);
    MBT_EQ_INT(mb_session_take_counters(NULL, &ctl.s), MB_ERR_NULL);
    MBT_EQ_INT(mb_session_take_counters(&fresh.s, NULL), MB_ERR_NULL);
    t_node_free(&other);
    t_node_free(&fresh);
    t_node_free(&ctl);
    t_node_free(&dev);
}

int main(void)
{
    MBT_RUN(test_move_and_rehandshake);
    MBT_RUN(test_check_refuses_forged_and_replayed);
    MBT_RUN(test_readdress_refuses_non_addresses);
    MBT_RUN(test_take_counters);
    return mbt_finish("test_session_move");
}
