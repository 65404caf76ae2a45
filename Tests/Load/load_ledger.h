/*
 * load_ledger.h - what the pack load test knows about every message it sent:
 * its stream, plaintext, epoch and counter, and the fate of each of its
 * frames on the bus. Deliveries are checked against it (false accepts);
 * a message whose frames all arrived intact but that was not delivered is a
 * false reject unless a protocol rule explains it (ledger_cause).
 *
 * Bounded: a ring of LEDGER_CAP records; a record is freed when the last
 * frame of its message has crossed the bus.
 */
#ifndef LOAD_LEDGER_H
#define LOAD_LEDGER_H

#include <stdint.h>

#include "load_bus.h"

#define LEDGER_CAP     4096u
#define LEDGER_PT_MAX  16u    /* the largest plaintext the test sends (STATUS, 10) */

/* Why a clean message was not delivered. */
typedef enum ledger_cause {
    CAUSE_CROSSTALK = 0, /* a corrupted frame re-addressed into this pair while the
                            message was in reassembly reset its slot (PROTOCOL.md 5.2 rule 2) */
    CAUSE_EPOCH_SKIPPED, /* sealed two or more epochs ahead of the receiver: every
                            message of the epoch between was lost before the sender
                            rotated again (8.2); resync recovers (9) */
    CAUSE_OTHER_KEYS,    /* sealed under another handshake's keys than the receiver
                            held: a handshake message was lost (6.4); resync recovers */
    CAUSE_SLOTS,         /* both reassembly slots held partial messages (5.2 rule 4) */
    CAUSE_UNEXPLAINED,   /* none of the above: a real false reject */
    CAUSE_COUNT
} ledger_cause;

/* Could the receiver open it, as far as keys go? */
typedef enum ledger_keys {
    KEYS_HELD = 0,       /* current, previous (in grace) or next epoch */
    KEYS_AHEAD,          /* an epoch further ahead on the receiver's own chain */
    KEYS_OTHER           /* no epoch of the receiver's chain (other session keys) */
} ledger_keys;

typedef struct ledger_msg {
    uint8_t  in_use;
    uint8_t  pair;         /* 0..31: module id - 1 */
    uint8_t  from_device;  /* 1: module -> controller */
    uint8_t  type;         /* mb_msg_type */
    uint8_t  len;
    uint8_t  pt[LEDGER_PT_MAX];
    uint8_t  fixed[MB_NONCE_FIXED_LEN];
    uint32_t epoch;
    uint64_t counter;
    uint8_t  frames;
    uint8_t  dropped;      /* a frame of it reached no receiver */
    uint8_t  corrupted;    /* a frame of it was corrupted */
    uint8_t  delivered;    /* delivered (or, for SECURITY, honoured) once */
    uint8_t  keys;         /* ledger_keys: the receiver's keys when its last frame arrived */
    int      first_error;  /* first rejection the receiver gave one of its frames */
    uint64_t first_seq;    /* bus sequence number of its first frame */
} ledger_msg;

typedef struct ledger_stats {
    uint64_t app_sent;          /* STATUS, COMMAND, LIMITS */
    uint64_t app_delivered;
    uint64_t security_sent;     /* rekey requests */
    uint64_t security_honoured;
    uint64_t damaged;           /* messages with a dropped or corrupted frame */
    uint64_t with_drop;
    uint64_t with_corruption;
    uint64_t clean;             /* every frame arrived intact */
    uint64_t clean_crosstalk;   /* ... and a corrupted frame reached their receiver's
                                   session while they were in reassembly */
    uint64_t false_accepts;
    uint64_t not_delivered[CAUSE_COUNT];
    uint32_t max_in_flight;
} ledger_stats;

typedef struct ledger {
    ledger_msg   m[LEDGER_CAP];
    uint32_t     next;
    uint32_t     in_flight;
    int          quiet;        /* no details on stderr (the self-test) */
    ledger_stats st;
} ledger;

void ledger_init(ledger *l);

/* Record a message about to be sealed; returns its tag, BUS_TAG_NONE when full. */
uint32_t ledger_open(ledger *l, const ledger_msg *msg);

/* The session refused to send it after all: forget it. */
void ledger_cancel(ledger *l, uint32_t tag);

/* What the sender sealed it under (known only after the send). */
void ledger_sealed(ledger *l, uint32_t tag, uint32_t epoch, uint64_t counter,
                   const uint8_t fixed[MB_NONCE_FIXED_LEN], unsigned frames);

/* The message record of \p tag, NULL when none is live. */
const ledger_msg *ledger_get(const ledger *l, uint32_t tag);

/* One frame of message \p tag crossed the bus (\p seq: its bus sequence number). */
void ledger_note_frame(ledger *l, uint32_t tag, const bus_frame *bf, bus_fault fault,
                       uint64_t seq);

/* The receiver rejected a frame of message \p tag with \p code. */
void ledger_note_error(ledger *l, uint32_t tag, int code);

/* The receiver's keys for the message when its last frame arrived. */
void ledger_note_keys(ledger *l, uint32_t tag, ledger_keys keys);

/* Session (pair, role) delivered \p m (or, when \p m is NULL, honoured a rekey
 * request) while processing frame \p bf. Returns 1 when that is the intact
 * last frame of an undelivered message of that stream with exactly this
 * content; otherwise counts and prints a false accept and returns 0. */
int ledger_check_accept(ledger *l, const bus_frame *bf, bus_fault fault, unsigned pair,
                        int receiver_is_device, const mb_session_msg *m);

/* The last frame of message \p tag has crossed the bus: settle its fate.
 * \p crosstalk: a corrupted frame reached its receiver since its first frame. */
void ledger_close(ledger *l, uint32_t tag, int crosstalk);

const char *ledger_cause_name(ledger_cause c);

#endif /* LOAD_LEDGER_H */
