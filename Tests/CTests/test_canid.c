/* test_canid.c - the 29-bit id layout: bit positions, round trips, range errors. */
#include "mbt.h"

#include "modbatt/modbatt.h"

static void bit_positions(void)
{
    mb_canid f = { 0x7FF, true, false, 1, 1, 0 };
    MBT_EQ_INT(mb_canid_encode(&f), UINT32_C(0x7FF) << 18 | UINT32_C(1) << 17);   /* UINT32_C: int is 16 bits on AVR */
    f = (mb_canid){ 0, false, true, 1, 1, 0 };
    MBT_EQ_INT(mb_canid_encode(&f), UINT32_C(1) << 16);
    f = (mb_canid){ 0, false, false, 16, 16, 0 };
    MBT_EQ_INT(mb_canid_encode(&f), 0xFu << 12 | 0xFu << 8);
    f = (mb_canid){ 0, false, false, 3, 5, 0xAB };
    MBT_EQ_INT(mb_canid_encode(&f), 2u << 12 | 4u << 8 | 0xABu);
    /* The facts file's example: message 0x407, encrypted, chunk 2 of 8, device 0x12. */
    f = (mb_canid){ 0x407, true, false, 2, 8, 0x12 };
    MBT_EQ_INT(mb_canid_encode(&f), 0x101E1712u);
}

/* Field by field: the struct has padding, which memcmp would compare. */
static int canid_equal(const mb_canid *a, const mb_canid *b)
{
    return a->msg_id == b->msg_id && a->encrypted == b->encrypted && a->spare == b->spare &&
           a->chunk_index == b->chunk_index && a->chunk_total == b->chunk_total &&
           a->device_id == b->device_id;
}

static void round_trips(void)
{
    unsigned msg, idx, tot;
    int bad = 0;
    for (msg = 0; msg <= MB_CANID_MSG_MAX; msg += 89) {
        for (tot = 1; tot <= 16; tot++) {
            for (idx = 1; idx <= tot; idx++) {
                mb_canid in = { (uint16_t)msg, (msg & 1u) != 0, (idx & 1u) != 0,
                                (uint8_t)idx, (uint8_t)tot, (uint8_t)(msg ^ idx) }, out;
                uint32_t id = mb_canid_encode(&in);
                if (id > MB_CANID_MAX || mb_canid_decode(id, &out) != MB_OK ||
                    !canid_equal(&in, &out) || mb_canid_message_key(id) !=
                    (id & ~UINT32_C(0xFF00))) {
                    bad++;
                }
            }
        }
    }
    MBT_EQ_INT(bad, 0);
}

static void range_errors(void)
{
    mb_canid f = { 0, false, false, 1, 1, 0 }, out = { 9, true, true, 9, 9, 9 };
    const mb_canid before = out;

    MBT_EQ_INT(mb_canid_encode(NULL), MB_CANID_INVALID);
    f.msg_id = 2048;                       MBT_EQ_INT(mb_canid_encode(&f), MB_CANID_INVALID);
    f.msg_id = 1; f.chunk_index = 0;       MBT_EQ_INT(mb_canid_encode(&f), MB_CANID_INVALID);
    f.chunk_index = 17; f.chunk_total = 17; MBT_EQ_INT(mb_canid_encode(&f), MB_CANID_INVALID);
    f.chunk_index = 1; f.chunk_total = 0;  MBT_EQ_INT(mb_canid_encode(&f), MB_CANID_INVALID);
    f.chunk_index = 3; f.chunk_total = 2;  MBT_EQ_INT(mb_canid_encode(&f), MB_CANID_INVALID);

    MBT_EQ_INT(mb_canid_decode(0x20000000u, &out), MB_ERR_CANID_RANGE);
    MBT_EQ_INT(mb_canid_decode(MB_CANID_INVALID, &out), MB_ERR_CANID_RANGE);
    MBT_EQ_INT(mb_canid_decode(1u << 12, &out), MB_ERR_CHUNK_RANGE);  /* index 2 of 1 */
    MBT_EQ_INT(mb_canid_decode(0xFu << 12 | 0xEu << 8, &out), MB_ERR_CHUNK_RANGE);
    MBT_CHECK(canid_equal(&out, &before));   /* untouched on error */
    MBT_EQ_INT(mb_canid_decode(0, NULL), MB_ERR_NULL);
    MBT_EQ_INT(mb_canid_decode(MB_CANID_MAX, &out), MB_OK);
    MBT_EQ_INT(out.msg_id, 2047);
    MBT_EQ_INT(out.chunk_index, 16);
}

int main(void)
{
    MBT_RUN(bit_positions);
    MBT_RUN(round_trips);
    MBT_RUN(range_errors);
    return mbt_finish("test_canid");
}
