/*
 * load_ledger.c - message accounting of the pack load test (load_ledger.h).
 */
#include "load_ledger.h"

#include <stdio.h>
#include <string.h>

#define REPORT_MAX 10u   /* details printed for the first few failures of a kind */

void ledger_init(ledger *l)
{
    memset(l, 0, sizeof(*l));
}

uint32_t ledger_open(ledger *l, const ledger_msg *msg)
{
    uint32_t i;

    for (i = 0; i < LEDGER_CAP; i++) {
        uint32_t tag = (l->next + i) % LEDGER_CAP;
        if (!l->m[tag].in_use) {
            l->m[tag] = *msg;
            l->m[tag].in_use = 1u;
            l->next = (tag + 1u) % LEDGER_CAP;
            l->in_flight++;
            if (l->in_flight > l->st.max_in_flight) {
                l->st.max_in_flight = l->in_flight;
            }
            if (msg->type == MB_MSG_SECURITY) {
                l->st.security_sent++;
            } else {
                l->st.app_sent++;
            }
            return tag;
        }
    }
    return BUS_TAG_NONE;
}

const ledger_msg *ledger_get(const ledger *l, uint32_t tag)
{
    return tag < LEDGER_CAP && l->m[tag].in_use ? &l->m[tag] : NULL;
}

static ledger_msg *live(ledger *l, uint32_t tag)
{
    return (ledger_msg *)ledger_get(l, tag);
}

void ledger_cancel(ledger *l, uint32_t tag)
{
    ledger_msg *m = live(l, tag);

    if (m == NULL) {
        return;
    }
    if (m->type == MB_MSG_SECURITY) {
        l->st.security_sent--;
    } else {
        l->st.app_sent--;
    }
    m->in_use = 0u;
    l->in_flight--;
}

void ledger_sealed(ledger *l, uint32_t tag, uint32_t epoch, uint64_t counter,
                   const uint8_t fixed[MB_NONCE_FIXED_LEN], unsigned frames)
{
    ledger_msg *m = live(l, tag);

    if (m != NULL) {
        m->epoch = epoch;
        m->counter = counter;
        memcpy(m->fixed, fixed, MB_NONCE_FIXED_LEN);
        m->frames = (uint8_t)frames;
    }
}

void ledger_note_frame(ledger *l, uint32_t tag, const bus_frame *bf, bus_fault fault,
                       uint64_t seq)
{
    ledger_msg *m = live(l, tag);

    if (m == NULL) {
        return;
    }
    if (bf->index == 1u) {
        m->first_seq = seq;
    }
    m->dropped = (uint8_t)(m->dropped | (fault == BUS_DROPPED));
    m->corrupted = (uint8_t)(m->corrupted | (fault == BUS_CORRUPTED));
}

void ledger_note_error(ledger *l, uint32_t tag, int code)
{
    ledger_msg *m = live(l, tag);

    if (m != NULL && m->first_error == MB_OK) {
        m->first_error = code;
    }
}

void ledger_note_keys(ledger *l, uint32_t tag, ledger_keys keys)
{
    ledger_msg *m = live(l, tag);

    if (m != NULL) {
        m->keys = (uint8_t)keys;
    }
}

static int false_accept(ledger *l, const char *why, unsigned pair, const bus_frame *bf)
{
    l->st.false_accepts++;
    if (!l->quiet && l->st.false_accepts <= REPORT_MAX) {
        fprintf(stderr, "FALSE ACCEPT: %s (pair %u, frame id %08x, chunk %u/%u)\n",
                why, pair + 1u, (unsigned)bf->frame.id, bf->index, bf->total);
    }
    return 0;
}

static int same_content(const ledger_msg *e, const mb_session_msg *m)
{
    return m->encrypted && m->type == e->type && m->len == e->len &&
           memcmp(m->data, e->pt, e->len) == 0 && m->epoch == e->epoch &&
           m->counter == e->counter;
}

int ledger_check_accept(ledger *l, const bus_frame *bf, bus_fault fault, unsigned pair,
                        int receiver_is_device, const mb_session_msg *m)
{
    ledger_msg *e = live(l, bf->tag);

    if (fault != BUS_INTACT) {
        return false_accept(l, "accepted on a corrupted frame", pair, bf);
    }
    if (e == NULL) {
        return false_accept(l, "accepted on a frame of no application message", pair, bf);
    }
    if (e->pair != pair || e->from_device == (uint8_t)(receiver_is_device != 0)) {
        return false_accept(l, "accepted by another pair or direction", pair, bf);
    }
    if (bf->index != e->frames || e->dropped || e->corrupted) {
        return false_accept(l, "accepted without all of its frames intact", pair, bf);
    }
    if (e->delivered) {
        return false_accept(l, "accepted twice", pair, bf);
    }
    if (m == NULL ? e->type != MB_MSG_SECURITY : !same_content(e, m)) {
        return false_accept(l, "accepted content differs from what was sent", pair, bf);
    }
    e->delivered = 1u;
    if (m == NULL) {
        l->st.security_honoured++;
    } else {
        l->st.app_delivered++;
    }
    return 1;
}

static ledger_cause cause_of(const ledger_msg *m, int crosstalk)
{
    int no_key = m->first_error == MB_ERR_EPOCH || m->first_error == MB_ERR_STATE;

    if (crosstalk) {
        return CAUSE_CROSSTALK;
    }
    if (no_key && m->keys == KEYS_AHEAD) {
        return CAUSE_EPOCH_SKIPPED;
    }
    if (no_key && m->keys == KEYS_OTHER) {
        return CAUSE_OTHER_KEYS;
    }
    if (m->first_error == MB_ERR_NO_SLOT) {
        return CAUSE_SLOTS;
    }
    return CAUSE_UNEXPLAINED;
}

static void settle_clean(ledger *l, const ledger_msg *m, int crosstalk)
{
    ledger_cause c;

    l->st.clean++;
    l->st.clean_crosstalk += crosstalk != 0;
    if (m->delivered) {
        return;
    }
    c = cause_of(m, crosstalk);
    l->st.not_delivered[c]++;
    if (c == CAUSE_UNEXPLAINED && !l->quiet && l->st.not_delivered[c] <= REPORT_MAX) {
        fprintf(stderr, "FALSE REJECT: pair %u %s type %u epoch %u counter %llu: "
                "first error %d, keys %u\n", m->pair + 1u,
                m->from_device ? "module->controller" : "controller->module",
                m->type, (unsigned)m->epoch, (unsigned long long)m->counter,
                m->first_error, m->keys);
    }
}

void ledger_close(ledger *l, uint32_t tag, int crosstalk)
{
    ledger_msg *m = live(l, tag);

    if (m == NULL) {
        return;
    }
    if (m->dropped || m->corrupted) {
        l->st.damaged++;
        l->st.with_drop += m->dropped;
        l->st.with_corruption += m->corrupted;
    } else {
        settle_clean(l, m, crosstalk);
    }
    m->in_use = 0u;
    l->in_flight--;
}

const char *ledger_cause_name(ledger_cause c)
{
    static const char *const names[CAUSE_COUNT] = {
        "re-addressed corrupted frame reset its reassembly",
        "an epoch skipped: all its messages lost before the next rotation",
        "keys of another handshake: a handshake message was lost",
        "both reassembly slots held partial messages",
        "UNEXPLAINED (false reject)",
    };
    return (unsigned)c < CAUSE_COUNT ? names[c] : "?";
}
