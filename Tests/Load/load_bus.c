/*
 * load_bus.c - bus timing, transmit FIFOs, arbitration and faults of the
 * pack load test (load_bus.h).
 */
#include "load_bus.h"

#include <string.h>

#define EXT_ID_BITS      29u
#define CLASSIC_G        54u   /* Davis et al.: bits before the data, 29-bit id */
#define CLASSIC_TAIL     13u
#define FD_HEADER        36u   /* SOF through BRS, 29-bit id */
#define FD_TAIL          13u   /* CRC delimiter, ACK, EOF, interframe space */

static uint64_t bits_to_ns(uint64_t bits, uint32_t rate)
{
    return (bits * 1000000000u + rate / 2u) / rate;
}

/* Classic CAN, s data bytes: g + 8s + 13 + floor((g + 8s - 1) / 4). */
static uint64_t classic_ns(uint32_t rate, unsigned s)
{
    uint64_t bits = CLASSIC_G + 8u * s + CLASSIC_TAIL + (CLASSIC_G + 8u * s - 1u) / 4u;
    return bits_to_ns(bits, rate);
}

/* CAN FD with bit-rate switch, n data bytes (a legal FD length). */
static uint64_t fd_ns(const bus_rates *r, unsigned n)
{
    unsigned crc = n <= 16u ? 17u : 21u;
    unsigned crc_field = 4u + crc + (4u + crc + 3u) / 4u;
    unsigned stuff_all = (FD_HEADER + 5u + 8u * n - 1u) / 4u;
    unsigned stuff_nominal = (FD_HEADER - 1u) / 4u;
    uint64_t nominal = FD_HEADER + FD_TAIL + stuff_nominal;
    uint64_t data = 5u + 8u * n + crc_field + (stuff_all - stuff_nominal);
    return bits_to_ns(nominal, r->nominal) + bits_to_ns(data, r->data);
}

uint64_t bus_frame_ns(mb_profile profile, const bus_rates *rates, const mb_frame *f)
{
    return profile == MB_PROFILE_FD ? fd_ns(rates, f->len) : classic_ns(rates->nominal, f->len);
}

void bus_fifo_clear(bus_fifo *q)
{
    q->head = 0u;
    q->count = 0u;
}

int bus_fifo_push(bus_fifo *q, const bus_frame *f)
{
    if (q->count == BUS_FIFO_CAP) {
        q->overflowed = 1;
        return MB_ERR_NO_SLOT;
    }
    q->q[(q->head + q->count) % BUS_FIFO_CAP] = *f;
    q->count++;
    if (q->count > q->max_count) {
        q->max_count = q->count;
    }
    return MB_OK;
}

const bus_frame *bus_fifo_head(const bus_fifo *q)
{
    return q->count == 0u ? NULL : &q->q[q->head];
}

void bus_fifo_pop(bus_fifo *q)
{
    if (q->count != 0u) {
        q->head = (q->head + 1u) % BUS_FIFO_CAP;
        q->count--;
    }
}

int bus_arbitrate(const bus_fifo *fifos, unsigned nodes)
{
    int winner = -1;
    uint32_t best = UINT32_MAX;
    unsigned i;

    for (i = 0; i < nodes; i++) {
        const bus_frame *h = bus_fifo_head(&fifos[i]);
        if (h != NULL && h->frame.id < best) {
            best = h->frame.id;
            winner = (int)i;
        }
    }
    return winner;
}

uint64_t bus_rand(uint64_t *state)
{
    uint64_t x = *state;
    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return x * UINT64_C(2685821657736338717);
}

double bus_rand_unit(uint64_t *state)
{
    return (double)(bus_rand(state) >> 11) * (1.0 / 9007199254740992.0);
}

/* Flip bit \p bit of the frame: 0..28 in the id, then the data bytes. */
static void flip_bit(mb_frame *f, unsigned bit)
{
    if (bit < EXT_ID_BITS) {
        f->id ^= UINT32_C(1) << bit;
    } else {
        unsigned d = bit - EXT_ID_BITS;
        f->data[d / 8u] = (uint8_t)(f->data[d / 8u] ^ (1u << (d % 8u)));
    }
}

/* Flip \p n (1..3) distinct bits among bits first..first+span-1 of the
 * frame, so that two flips never cancel out. */
static void flip_distinct(bus_faults *faults, mb_frame *f, unsigned first, unsigned span,
                          unsigned n)
{
    unsigned chosen[3];
    unsigned i, j, bit;

    for (i = 0; i < n; i++) {
        do {
            bit = first + (unsigned)(bus_rand(&faults->state) % span);
            for (j = 0; j < i && chosen[j] != bit; j++) {
            }
        } while (j < i);
        chosen[i] = bit;
        flip_bit(f, bit);
    }
}

bus_fault bus_apply_fault(bus_faults *faults, mb_frame *f)
{
    double u = bus_rand_unit(&faults->state);
    unsigned flips;

    if (u < faults->drop) {
        return BUS_DROPPED;
    }
    if (u >= faults->drop + faults->corrupt) {
        return BUS_INTACT;
    }
    flips = 1u + (unsigned)(bus_rand(&faults->state) % 3u);
    if (faults->data_only && f->len > 0u) {
        flip_distinct(faults, f, EXT_ID_BITS, 8u * f->len, flips);
    } else {
        flip_distinct(faults, f, 0u, EXT_ID_BITS + 8u * f->len, flips);
    }
    return BUS_CORRUPTED;
}
