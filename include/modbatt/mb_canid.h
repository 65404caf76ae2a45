/**
 * \file mb_canid.h
 * \brief The ModBatt 29-bit extended CAN id layout.
 *
 * | bits   | field                                     |
 * |--------|-------------------------------------------|
 * | 28..18 | message id (11-bit, kept for compatibility)|
 * | 17     | encrypted payload flag                    |
 * | 16     | spare                                     |
 * | 15..12 | chunk index - 1                           |
 * | 11..8  | chunk total - 1                           |
 * | 7..0   | device id                                 |
 */
#ifndef MODBATT_MB_CANID_H
#define MODBATT_MB_CANID_H

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MB_CANID_MAX          0x1FFFFFFFu  /**< largest 29-bit id */
#define MB_CANID_INVALID      0xFFFFFFFFu  /**< mb_canid_encode() result for bad fields */
#define MB_CANID_MSG_MAX      2047u
#define MB_CANID_CHUNKS_MAX   16u
#define MB_CANID_ENCRYPTED_BIT ((uint32_t)1u << 17)  /* 1u << 17 is 0 where int is 16 bits */

/* Device ids (bits 7..0): the address plan of docs/PROTOCOL.md 2.1. An id is
 * an address the bus hands out, not an identity: a pair is bound to its pair
 * secret and key id, and follows its device to another id (PROTOCOL.md 6.7). */
#define MB_DEVICE_BROADCAST     0x00u  /**< every device (a discovery query); never a session's */
#define MB_DEVICE_MODULE_FIRST  0x01u  /**< battery modules on the module bus: 0x01..0x20, */
#define MB_DEVICE_MODULE_LAST   0x20u  /**< as the ModBatt pack registers them (slot + 1) */
#define MB_DEVICE_PACK          0x40u  /**< the pack controller, on the vehicle bus */
#define MB_DEVICE_UNASSIGNED    0xFFu  /**< a module the pack has not registered yet; never a session's */

typedef struct mb_canid {
    uint16_t msg_id;       /**< bits 28..18, 0..2047 */
    bool     encrypted;    /**< bit 17 */
    bool     spare;        /**< bit 16 */
    uint8_t  chunk_index;  /**< 1..16, bits 15..12 carry index-1 */
    uint8_t  chunk_total;  /**< 1..16, bits 11..8 carry total-1 */
    uint8_t  device_id;    /**< bits 7..0 */
} mb_canid;

/**
 * \brief  Pack the fields into a 29-bit extended id.
 * \return The id, or #MB_CANID_INVALID (which no 29-bit id equals, so
 *         mb_canid_decode() rejects it) when \p fields is NULL, msg_id > 2047,
 *         a chunk field is outside 1..16, or chunk_index > chunk_total.
 */
uint32_t mb_canid_encode(const mb_canid *fields);

/**
 * \brief  Split a 29-bit extended id into its fields.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_CANID_RANGE for ids above 29 bits;
 *         MB_ERR_CHUNK_RANGE when index > total. \p fields is untouched on error.
 */
int mb_canid_decode(uint32_t id, mb_canid *fields);

/**
 * \brief  The message-level id: the id with both chunk fields cleared, as
 *         bound into the AAD (message id, flags and device id only).
 */
uint32_t mb_canid_message_key(uint32_t id);

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_CANID_H */
