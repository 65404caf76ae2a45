/*
 * test_session_tamper.c - any single bit flipped in any frame (id or data)
 * of a sealed message gets it rejected; so do moving it to another device id
 * or message id, truncating, extending, reordering chunks and mixing chunks
 * of two messages. After each attempt the genuine message still goes through
 * exactly once (a forgery never moves the replay window).
 */
#include "mbt.h"
#include "test_session_util.h"

static tnode ctl, dev;

static void setup(mb_profile p)
{
    mb_session_cfg cfg;
    mb_session_cfg_defaults(&cfg);
    cfg.resync_after = 0;            /* count failures, never resync here */
    MBT_EQ_INT(t_node_init(&ctl, MB_ROLE_CONTROLLER, p, 0, &cfg), MB_OK);
    MBT_EQ_INT(t_node_init(&dev, MB_ROLE_DEVICE, p, 0, &cfg), MB_OK);
    MBT_EQ_INT(t_connect(&ctl, &dev, 0), 0);
}

static void teardown(void)
{
    t_node_free(&ctl);
    t_node_free(&dev);
}

/* Seal one message from ctl and take its frames. */
static size_t seal(size_t len, uint8_t seed, mb_frame *frames)
{
    uint8_t pt[MB_SEG_FD_MAX];
    size_t i;
    for (i = 0; i < len; i++) {
        pt[i] = (uint8_t)(seed + i * 3u);
    }
    return t_seal(&ctl, pt, len, 10, frames);
}

/* Feed frames to dev (optionally through a copy of it); count deliveries. */
static size_t feed(mb_session *rx, const mb_frame *frames, size_t n, mb_session_msg *last)
{
    size_t i, delivered = 0;
    for (i = 0; i < n; i++) {
        mb_session_msg m;
        (void)mb_session_rx(rx, &frames[i], 10, &m);
        if (m.ready) {
            delivered++;
            if (last) *last = m;
        }
    }
    return delivered;
}

static void bitflips(mb_profile p, size_t len)
{
    mb_frame genuine[16], bad[16];
    size_t n, k, bit;
    unsigned accepted_forgeries = 0, genuine_lost = 0, attempts = 0;

    setup(p);
    for (k = 0; k < 16; k++) {
        size_t nbits;
        n = seal(len, (uint8_t)k, genuine);
        if (k >= n) {
            break;
        }
        nbits = 29u + 8u * genuine[k].len;
        for (bit = 0; bit < nbits; bit++) {
            if (bit > 0) {
                n = seal(len, (uint8_t)(k + bit), genuine);
            }
            memcpy(bad, genuine, n * sizeof(mb_frame));
            if (bit < 29u) {
                bad[k].id ^= 1u << bit;
            } else {
                size_t b = bit - 29u;
                bad[k].data[b / 8u] ^= (uint8_t)(1u << (b % 8u));
            }
            attempts++;
            accepted_forgeries += (unsigned)feed(&dev.s, bad, n, NULL);
            genuine_lost += feed(&dev.s, genuine, n, NULL) == 1 ? 0u : 1u;
        }
    }
    MBT_CHECK(attempts > 29u);
    if (getenv("MBT_VERBOSE")) printf("  profile %d len %zu: %u forgeries tried\n", (int)p, len, attempts);
    MBT_EQ_INT(accepted_forgeries, 0);
    MBT_EQ_INT(genuine_lost, 0);
    teardown();
}

static void test_bitflips_classic(void)
{
    bitflips(MB_PROFILE_CLASSIC, 0);
    bitflips(MB_PROFILE_CLASSIC, 5);
    bitflips(MB_PROFILE_CLASSIC, 100);
}

static void test_bitflips_fd(void)
{
    bitflips(MB_PROFILE_FD, 0);      /* 28 bytes, padded to 32 */
    bitflips(MB_PROFILE_FD, 36);     /* exactly 64 */
    bitflips(MB_PROFILE_FD, 37);     /* 64 + 1 */
    bitflips(MB_PROFILE_FD, 228);    /* 4 full frames */
}

static void set_device(mb_frame *f, size_t n, uint8_t device)
{
    size_t i;
    for (i = 0; i < n; i++) f[i].id = (f[i].id & ~0xFFu) | device;
}

static void set_msg_id(mb_frame *f, size_t n, uint16_t msg)
{
    size_t i;
    for (i = 0; i < n; i++) f[i].id = (f[i].id & 0x3FFFFu) | ((uint32_t)msg << 18);
}

static void set_total(mb_frame *f, size_t n, unsigned total)
{
    size_t i;
    for (i = 0; i < n; i++) f[i].id = (f[i].id & ~0xF00u) | ((uint32_t)(total - 1u) << 8);
}

static void test_moves(void)
{
    static mb_session other;
    mb_frame g[16], b[16];
    size_t n;
    mb_session_msg m;

    setup(MB_PROFILE_CLASSIC);
    /* Another device id: a receiver with the same keys but device id 6. */
    other = dev.s;
    other.cfg.device_id = 6;
    n = seal(20, 1, g);
    memcpy(b, g, sizeof(g));
    set_device(b, n, 6);
    MBT_EQ_INT(feed(&other, b, n, NULL), 0);
    MBT_EQ_INT(t_count_ev(&dev, MB_EV_REJECT, MB_ERR_AUTH), 1);
    MBT_EQ_INT(feed(&dev.s, b, n, NULL), 0);        /* not for this session */
    /* Another message id of the same direction. */
    memcpy(b, g, sizeof(g));
    set_msg_id(b, n, 0x305);
    MBT_EQ_INT(feed(&dev.s, b, n, NULL), 0);
    MBT_EQ_INT(t_count_ev(&dev, MB_EV_REJECT, MB_ERR_AUTH), 2);
    /* Another application type. */
    memcpy(b, g, sizeof(g));
    set_msg_id(b, n, 0x30A);
    MBT_EQ_INT(feed(&dev.s, b, n, NULL), 0);
    /* Encryption flag cleared: clear data is refused by policy. */
    memcpy(b, g, sizeof(g));
    {
        size_t i;
        for (i = 0; i < n; i++) b[i].id &= ~MB_CANID_ENCRYPTED_BIT;
    }
    MBT_EQ_INT(feed(&dev.s, b, n, NULL), 0);
    MBT_EQ_INT(feed(&dev.s, g, n, &m), 1);
    MBT_EQ_INT(m.len, 20);
    teardown();
}

static void test_truncate_extend(void)
{
    mb_frame g[16], b[17];
    size_t n, i;

    setup(MB_PROFILE_CLASSIC);
    n = seal(21, 2, g);                              /* 49 bytes: 7 frames, last 1 */
    MBT_EQ_INT(n, 7);
    /* Last frame dropped: never completes, expires, nothing delivered. */
    MBT_EQ_INT(feed(&dev.s, g, n - 1, NULL), 0);
    MBT_EQ_INT(dev.s.reasm.slot[0].total != 0 || dev.s.reasm.slot[1].total != 0, 1);
    MBT_EQ_INT(mb_session_poll(&dev.s, 10 + 101), MB_OK);
    MBT_EQ_INT(mb_reasm_in_use(&dev.s.reasm), 0);
    MBT_CHECK(t_count_ev(&dev, MB_EV_REJECT, MB_ERR_TIMEOUT) >= 1);
    /* Last frame one byte shorter / longer. */
    memcpy(b, g, sizeof(g));
    b[n - 1].len = 0;
    MBT_EQ_INT(feed(&dev.s, b, n, NULL), 0);
    memcpy(b, g, sizeof(g));
    b[n - 1].len = 2;
    MBT_EQ_INT(feed(&dev.s, b, n, NULL), 0);
    /* A middle frame missing. */
    memcpy(b, g, sizeof(g));
    memmove(&b[3], &b[4], (n - 4) * sizeof(mb_frame));
    MBT_EQ_INT(feed(&dev.s, b, n - 1, NULL), 0);
    /* Truncated to fewer chunks (total rewritten). */
    memcpy(b, g, sizeof(g));
    set_total(b, n - 1, (unsigned)n - 1u);
    MBT_EQ_INT(feed(&dev.s, b, n - 1, NULL), 0);
    /* Extended by a chunk (total rewritten, extra data). */
    memcpy(b, g, sizeof(g));
    b[n - 1].len = 8;
    b[n] = b[n - 1];
    b[n].id = (b[n].id & ~0xF000u) | ((uint32_t)n << 12);
    set_total(b, n + 1, (unsigned)n + 1u);
    MBT_EQ_INT(feed(&dev.s, b, n + 1, NULL), 0);
    /* A short non-last frame. */
    memcpy(b, g, sizeof(g));
    b[2].len = 7;
    MBT_EQ_INT(feed(&dev.s, b, n, NULL), 0);
    MBT_EQ_INT(feed(&dev.s, g, n, NULL), 1);
    for (i = 0; i < 3; i++) {
        MBT_EQ_INT(feed(&dev.s, g, n, NULL), 0);    /* and only once */
    }
    teardown();
}

static void test_reorder_and_mix(void)
{
    mb_frame g[16], h[16], b[16], t;
    size_t n;

    setup(MB_PROFILE_CLASSIC);
    n = seal(40, 3, g);                              /* 68 bytes: 9 frames */
    (void)seal(40, 4, h);                            /* same length, other counter */
    /* Two frames arrive swapped. */
    memcpy(b, g, sizeof(g));
    t = b[2]; b[2] = b[3]; b[3] = t;
    MBT_EQ_INT(feed(&dev.s, b, n, NULL), 0);
    /* Payloads swapped between chunk ids. */
    memcpy(b, g, sizeof(g));
    memcpy(b[2].data, g[3].data, 8);
    memcpy(b[3].data, g[2].data, 8);
    MBT_EQ_INT(feed(&dev.s, b, n, NULL), 0);
    /* Chunk 4 of message h spliced into message g. */
    memcpy(b, g, sizeof(g));
    b[4] = h[4];
    MBT_EQ_INT(feed(&dev.s, b, n, NULL), 0);
    /* First half of g, second half of h. */
    memcpy(b, g, sizeof(g));
    memcpy(&b[5], &h[5], (n - 5) * sizeof(mb_frame));
    MBT_EQ_INT(feed(&dev.s, b, n, NULL), 0);
    /* The genuine ones, each once, in either order. */
    MBT_EQ_INT(feed(&dev.s, h, n, NULL), 1);
    MBT_EQ_INT(feed(&dev.s, g, n, NULL), 1);
    MBT_EQ_INT(feed(&dev.s, g, n, NULL), 0);
    MBT_EQ_INT(feed(&dev.s, h, n, NULL), 0);
    teardown();
}

int main(void)
{
    MBT_RUN(test_bitflips_classic);
    MBT_RUN(test_bitflips_fd);
    MBT_RUN(test_moves);
    MBT_RUN(test_truncate_extend);
    MBT_RUN(test_reorder_and_mix);
    return mbt_finish("test_session_tamper");
}
