/* mb_canid.c - the ModBatt extended-id layout (mb_canid.h). */
#include "modbatt/mb_canid.h"

#include <stddef.h>

#include "modbatt/mb_errors.h"

#define MSG_SHIFT     18u
#define ENC_SHIFT     17u
#define SPARE_SHIFT   16u
#define INDEX_SHIFT   12u
#define TOTAL_SHIFT    8u
#define CHUNK_MASK   0xFu
#define CHUNK_FIELDS ((uint32_t)0xFFu << TOTAL_SHIFT)   /* 32-bit also where int is 16 */

static bool chunk_ok(uint8_t v)
{
    return v >= 1u && v <= MB_CANID_CHUNKS_MAX;
}

uint32_t mb_canid_encode(const mb_canid *f)
{
    if (f == NULL || f->msg_id > MB_CANID_MSG_MAX ||
        !chunk_ok(f->chunk_index) || !chunk_ok(f->chunk_total) ||
        f->chunk_index > f->chunk_total) {
        return MB_CANID_INVALID;
    }
    return ((uint32_t)f->msg_id << MSG_SHIFT) |
           ((uint32_t)(f->encrypted ? 1u : 0u) << ENC_SHIFT) |
           ((uint32_t)(f->spare ? 1u : 0u) << SPARE_SHIFT) |
           ((uint32_t)(f->chunk_index - 1u) << INDEX_SHIFT) |
           ((uint32_t)(f->chunk_total - 1u) << TOTAL_SHIFT) |
           (uint32_t)f->device_id;
}

int mb_canid_decode(uint32_t id, mb_canid *f)
{
    uint8_t index;
    uint8_t total;

    if (f == NULL) {
        return MB_ERR_NULL;
    }
    if (id > MB_CANID_MAX) {
        return MB_ERR_CANID_RANGE;
    }
    index = (uint8_t)(((id >> INDEX_SHIFT) & CHUNK_MASK) + 1u);
    total = (uint8_t)(((id >> TOTAL_SHIFT) & CHUNK_MASK) + 1u);
    if (index > total) {
        return MB_ERR_CHUNK_RANGE;
    }
    f->msg_id = (uint16_t)(id >> MSG_SHIFT);
    f->encrypted = ((id >> ENC_SHIFT) & 1u) != 0u;
    f->spare = ((id >> SPARE_SHIFT) & 1u) != 0u;
    f->chunk_index = index;
    f->chunk_total = total;
    f->device_id = (uint8_t)(id & 0xFFu);
    return MB_OK;
}

uint32_t mb_canid_message_key(uint32_t id)
{
    return id & ~CHUNK_FIELDS;
}
