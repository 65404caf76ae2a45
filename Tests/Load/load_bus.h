/*
 * load_bus.h - the simulated CAN bus of the pack load test: one transmit
 * FIFO per node (FIFO mode, as docs/PROTOCOL.md 5.1 asks of senders),
 * arbitration among the FIFO heads (lowest 29-bit id wins), the time each
 * frame occupies the bus, and the seeded fault injector.
 */
#ifndef LOAD_BUS_H
#define LOAD_BUS_H

#include <stddef.h>
#include <stdint.h>

#include "modbatt/modbatt.h"

#define BUS_NODES_MAX   33u     /* the pack controller + 32 modules */
#define BUS_FIFO_CAP    1024u   /* frames one node can have queued */
#define BUS_TAG_NONE    UINT32_MAX

/* A queued frame and what the simulator knows about it (never on the wire). */
typedef struct bus_frame {
    mb_frame frame;
    uint32_t tag;       /* ledger slot of its message, or BUS_TAG_NONE (handshake) */
    uint8_t  index;     /* chunk index (1-based) of the frame in its message */
    uint8_t  total;     /* chunks of its message */
} bus_frame;

typedef struct bus_fifo {
    bus_frame q[BUS_FIFO_CAP];
    size_t head;
    size_t count;
    size_t max_count;   /* deepest the queue has been */
    int overflowed;
} bus_fifo;

/* Bit rates of a profile: classic 500 kbit/s; FD 500 kbit/s / 2 Mbit/s. */
typedef struct bus_rates {
    uint32_t nominal;
    uint32_t data;      /* CAN FD data phase (bit-rate switch); = nominal on classic */
} bus_rates;

/* Fault rates and their random stream. */
typedef struct bus_faults {
    double   drop;      /* probability that no receiver gets a frame */
    double   corrupt;   /* probability of an error the CAN CRC missed */
    int      data_only; /* corrupt only the data field, never the id */
    uint64_t state;     /* xorshift64* state */
} bus_faults;

typedef enum bus_fault { BUS_INTACT = 0, BUS_DROPPED = 1, BUS_CORRUPTED = 2 } bus_fault;

/* Nanoseconds frame \p f occupies the bus (worst-case bit stuffing, 3-bit
 * interframe space included), as Sources/ModbattCAN/FrameTiming.swift. */
uint64_t bus_frame_ns(mb_profile profile, const bus_rates *rates, const mb_frame *f);

void bus_fifo_clear(bus_fifo *q);
int bus_fifo_push(bus_fifo *q, const bus_frame *f);
const bus_frame *bus_fifo_head(const bus_fifo *q);
void bus_fifo_pop(bus_fifo *q);

/* The node whose head frame wins arbitration, or -1 when every FIFO is empty. */
int bus_arbitrate(const bus_fifo *fifos, unsigned nodes);

/* Random numbers shared by the simulation (xorshift64*). */
uint64_t bus_rand(uint64_t *state);
double bus_rand_unit(uint64_t *state);

/* Decide the fate of one frame and, for a corruption, flip 1..3 distinct
 * bits of its 29-bit id and data field (only the data field with
 * faults->data_only) in place. */
bus_fault bus_apply_fault(bus_faults *faults, mb_frame *f);

#endif /* LOAD_BUS_H */
