/*
 * load_pack.h - a 32-module pack on one simulated CAN bus: the pack
 * controller (one node, one session per module, one shared AES-GCM work
 * context) and 32 module nodes (one session each), all built on the real
 * C core: pair keys from random halves and salt through mb_pair_derive(),
 * sessions through mb_session_init(), handshakes, sealing, reassembly,
 * rotation and resync exactly as firmware runs them. The bus carries every
 * frame with the timing of load_bus.h and the faults of bus_apply_fault().
 */
#ifndef LOAD_PACK_H
#define LOAD_PACK_H

#include <stdint.h>

#include "load_bus.h"
#include "load_ledger.h"

#define PACK_MODULES 32u

typedef struct pack_opts {
    mb_profile profile;
    bus_rates  rates;
    double     drop;          /* per-frame drop probability */
    double     corrupt;       /* per-frame undetected-corruption probability */
    int        corrupt_data_only; /* never corrupt the id */
    uint64_t   seed;
    uint64_t   rekey_after;   /* messages per sending epoch (cfg.rekey_after_msgs) */
    unsigned   rekey_every;   /* ticks between two controller rekey requests; 0 = none */
} pack_opts;

struct pack;

/* One CAN node: the pack controller (id 0) or module id (1..32). */
typedef struct pack_node {
    struct pack *pack;
    unsigned id;
    uint32_t tag;             /* ledger tag of the frames its sessions queue now */
    uint64_t rng;
} pack_node;

typedef struct pack_counts {
    uint64_t frames;
    uint64_t frames_dropped;
    uint64_t frames_corrupted;
    uint64_t hs_frames;           /* handshake frames (HELLO, REPLY, FINISH) */
    uint64_t hs_frames_damaged;
    uint64_t hs_started;
    uint64_t hs_done;
    uint64_t hs_failed;
    uint64_t resyncs;
    uint64_t rekey_tx;
    uint64_t rekey_rx;
    uint64_t rejects;
    uint64_t payload_bytes;       /* plaintext bytes of delivered application messages */
    uint64_t ticks;
    uint32_t max_reasm_in_use;
} pack_counts;

typedef struct pack {
    pack_opts   o;
    bus_faults  faults;
    bus_fifo    fifo[BUS_NODES_MAX];
    pack_node   node[BUS_NODES_MAX];
    mb_aead     aead[BUS_NODES_MAX];     /* one work context per node */
    mb_session  ctl[PACK_MODULES];       /* the controller's session with module i + 1 */
    mb_session  mod[PACK_MODULES];       /* module i + 1's session */
    uint64_t    taint_ctl[PACK_MODULES]; /* 1 + bus seq of the last corrupted frame taken */
    uint64_t    taint_mod[PACK_MODULES];
    uint32_t    rot_tx[2][PACK_MODULES]; /* [0] controller side, [1] module side */
    uint32_t    rot_rx[2][PACK_MODULES];
    ledger      led;
    pack_counts c;
    uint64_t    bus_ns;                  /* simulated time */
    uint64_t    busy_ns;                 /* time a frame was on the bus */
    uint64_t    seq;                     /* frames put on the bus */
    uint64_t    app_rng;
    int         rekey_honoured;          /* set by the event callback */
    int         setup_error;
} pack;

/* Derive 32 pairs' keys and set up all 64 sessions (no handshake yet). */
int pack_init(pack *p, const pack_opts *o);

/* One round: run the timers, start missing handshakes, queue this round's
 * messages when \p queue_data, then let the bus carry every queued frame
 * (and every frame the receivers answer with) until all FIFOs are empty. */
void pack_round(pack *p, int queue_data);

/* Wipe every session and work context. */
void pack_free(pack *p);

uint32_t pack_now_ms(const pack *p);

#endif /* LOAD_PACK_H */
