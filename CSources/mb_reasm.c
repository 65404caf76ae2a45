/*
 * mb_reasm.c - bounded reassembly of chunked messages; the slot policy is
 * described in mb_reasm.h and docs/PROTOCOL.md, section 5.
 */
#include "modbatt/mb_reasm.h"

#include <string.h>

#include "modbatt/mb_canid.h"
#include "modbatt/mb_errors.h"
#include "modbatt/mb_util.h"

/* Wrap-safe "a is at or after b" for millisecond clocks. */
static int time_after_eq(uint32_t a, uint32_t b)
{
    return (int32_t)(a - b) >= 0;
}

static void slot_free(mb_reasm_slot *s)
{
    mb_wipe(s, sizeof(*s));
}

int mb_reasm_init(mb_reasm *r, mb_profile profile, uint32_t timeout_ms)
{
    if (r == NULL) {
        return MB_ERR_NULL;
    }
    memset(r, 0, sizeof(*r));
    if (mb_seg_wire_max(profile) == 0u || mb_seg_wire_max(profile) > MB_MSG_WIRE_MAX ||
        timeout_ms == 0u) {
        return MB_ERR_INVALID_ARG;
    }
    r->profile = (uint8_t)profile;
    r->timeout_ms = timeout_ms;
    return MB_OK;
}

static mb_reasm_slot *find(mb_reasm *r, uint32_t key)
{
    unsigned i;

    for (i = 0; i < MB_REASM_SLOTS; i++) {
        if (r->slot[i].total != 0u && r->slot[i].key == key) {
            return &r->slot[i];
        }
    }
    return NULL;
}

/* A free slot, else the oldest slot that holds only a first chunk. */
static mb_reasm_slot *allocate(mb_reasm *r)
{
    mb_reasm_slot *victim = NULL;
    unsigned i;

    for (i = 0; i < MB_REASM_SLOTS; i++) {
        mb_reasm_slot *s = &r->slot[i];
        if (s->total == 0u) {
            return s;
        }
        if (s->next == 2u && (victim == NULL || (int32_t)(s->seq - victim->seq) < 0)) {
            victim = s;
        }
    }
    if (victim != NULL) {
        slot_free(victim);
    }
    return victim;
}

unsigned mb_reasm_expire(mb_reasm *r, uint32_t now_ms)
{
    unsigned dropped = 0;
    unsigned i;

    if (r == NULL) {
        return 0u;
    }
    for (i = 0; i < MB_REASM_SLOTS; i++) {
        mb_reasm_slot *s = &r->slot[i];
        if (s->total != 0u && time_after_eq(now_ms, s->last_ms + r->timeout_ms + 1u)) {
            slot_free(s);
            dropped++;
        }
    }
    return dropped;
}

static void deliver(const uint8_t *src, size_t len, uint32_t key,
                    uint8_t *msg, mb_reasm_done *done)
{
    if (len != 0u) {
        memcpy(msg, src, len);
    }
    done->key = key;
    done->len = len;
    done->complete = 1u;
}

/* Chunk 1 of a message: single-frame messages complete at once. */
static int push_first(mb_reasm *r, const mb_frame *frame, const mb_canid *f,
                      uint32_t key, size_t body, uint32_t now_ms,
                      uint8_t *msg, mb_reasm_done *done)
{
    mb_reasm_slot *s = find(r, key);

    if (s != NULL) {
        slot_free(s);              /* the sender restarted this message */
    }
    if (f->chunk_total == 1u) {
        deliver(frame->data, body, key, msg, done);
        return MB_OK;
    }
    s = allocate(r);
    if (s == NULL) {
        return MB_ERR_NO_SLOT;
    }
    s->key = key;
    s->total = f->chunk_total;
    s->next = 2u;
    s->seq = r->seq++;
    s->last_ms = now_ms;
    s->len = (uint16_t)body;
    memcpy(s->buf, frame->data, body);
    return MB_OK;
}

static int push_next(mb_reasm_slot *s, const mb_frame *frame, const mb_canid *f,
                     size_t body, uint32_t now_ms, uint8_t *msg, mb_reasm_done *done)
{
    if (s->total != f->chunk_total || s->next != f->chunk_index ||
        (size_t)s->len + body > sizeof(s->buf)) {
        slot_free(s);               /* inconsistent or out of order: drop all */
        return MB_ERR_MALFORMED;
    }
    memcpy(s->buf + s->len, frame->data, body);
    s->len = (uint16_t)(s->len + body);
    s->last_ms = now_ms;
    s->next++;
    if (f->chunk_index == f->chunk_total) {
        deliver(s->buf, s->len, s->key, msg, done);
        slot_free(s);
    }
    return MB_OK;
}

int mb_reasm_push(mb_reasm *r, const mb_frame *frame, uint32_t now_ms,
                  uint8_t *msg, size_t cap, mb_reasm_done *done)
{
    mb_canid f;
    mb_reasm_slot *s;
    uint32_t key;
    size_t body;
    int ret;

    if (r == NULL || frame == NULL || msg == NULL || done == NULL) {
        return MB_ERR_NULL;
    }
    memset(done, 0, sizeof(*done));
    if (cap < mb_seg_wire_max((mb_profile)r->profile)) {
        return MB_ERR_BUFFER_TOO_SMALL;
    }
    if ((ret = mb_canid_decode(frame->id, &f)) != MB_OK) {
        return ret;
    }
    key = mb_canid_message_key(frame->id);
    done->expired = (uint8_t)mb_reasm_expire(r, now_ms);
    ret = mb_seg_unframe((mb_profile)r->profile, frame, f.chunk_total,
                         f.chunk_index, f.spare, &body);
    if (ret != MB_OK) {
        s = find(r, key);
        if (s != NULL) {
            slot_free(s);
        }
        return ret;
    }
    if (f.chunk_index == 1u) {
        return push_first(r, frame, &f, key, body, now_ms, msg, done);
    }
    s = find(r, key);
    if (s == NULL) {
        return MB_ERR_MALFORMED;    /* orphan chunk: its start was never seen */
    }
    return push_next(s, frame, &f, body, now_ms, msg, done);
}

unsigned mb_reasm_in_use(const mb_reasm *r)
{
    unsigned n = 0;
    unsigned i;

    if (r == NULL) {
        return 0u;
    }
    for (i = 0; i < MB_REASM_SLOTS; i++) {
        n += r->slot[i].total != 0u ? 1u : 0u;
    }
    return n;
}

void mb_reasm_clear(mb_reasm *r)
{
    if (r != NULL) {
        mb_wipe(r->slot, sizeof(r->slot));
    }
}
