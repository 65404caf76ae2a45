/**
 * \file mb_msg.h
 * \brief Protocol v1 message ids, message types and the payload layouts of
 *        the operational and diagnostic messages (docs/PROTOCOL.md, 3 and 8).
 *
 * Every secure-CAN message id is MB_MSGID_BASE | direction | type: the
 * controller (app/VCU towards a pack, pack controller towards a module)
 * sends on 0x300..0x30F, the device (pack, module) on 0x310..0x31F. The
 * 8-bit device-id field always names the device of the pair (the pack on the
 * vehicle bus, the module on the module bus), whichever side sends.
 * All multi-byte fields are big-endian.
 */
#ifndef MODBATT_MB_MSG_H
#define MODBATT_MB_MSG_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MB_PROTO_VERSION     2u       /**< carried in handshakes, bound in every AAD (v2: authenticated HELLO, fresh commands) */
#define MB_MSGID_BASE        0x300u   /**< first secure-CAN message id */
#define MB_MSGID_UP          0x010u   /**< added for device -> controller */
#define MB_MSG_TYPE_MASK     0x00Fu

/** The two ends of a pair. */
typedef enum mb_role {
    MB_ROLE_CONTROLLER = 0,  /**< app/VCU (vehicle bus) or pack controller (module bus) */
    MB_ROLE_DEVICE     = 1   /**< pack (vehicle bus) or battery module (module bus) */
} mb_role;

/** Message types (the low 4 bits of the message id). */
typedef enum mb_msg_type {
    MB_MSG_HELLO     = 0x0,  /**< handshake 1: challenge (clear) */
    MB_MSG_REPLY     = 0x1,  /**< handshake 2: response + confirmation (clear) */
    MB_MSG_FINISH    = 0x2,  /**< handshake 3: confirmation (clear) */
    MB_MSG_SECURITY  = 0x3,  /**< rekey request (encrypted) */
    MB_MSG_COMMAND   = 0x4,  /**< pack state command, controller -> device */
    MB_MSG_LIMITS    = 0x5,  /**< charge/discharge limits, controller -> device */
    MB_MSG_STATUS    = 0x6,  /**< telemetry, device -> controller */
    MB_MSG_DIAG      = 0x7,  /**< error codes, health (either way) */
    MB_MSG_APP_FIRST = 0x8,  /**< 0x8..0xF: application-defined, opaque */
    MB_MSG_APP_LAST  = 0xF
} mb_msg_type;

/** \brief The 11-bit message id \p sender uses for \p type (0..15). */
uint16_t mb_msg_id(mb_role sender, unsigned type);

/**
 * \brief  Classify an 11-bit message id.
 * \param sender  Out: the role that sends on this id.
 * \param type    Out: the message type.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_CANID_RANGE for an id outside 0x300..0x31F.
 */
int mb_msg_parse_id(uint16_t msg_id, mb_role *sender, unsigned *type);

/** Pack / module states for MB_MSG_COMMAND and MB_MSG_STATUS. */
typedef enum mb_pack_state {
    MB_STATE_OFF       = 0,
    MB_STATE_STANDBY   = 1,
    MB_STATE_PRECHARGE = 2,
    MB_STATE_ON        = 3
} mb_pack_state;

#define MB_COMMAND_LEN 2u
/** MB_MSG_COMMAND: [state u8][reserved u8 = 0]. */
typedef struct mb_command {
    uint8_t state;   /**< mb_pack_state */
} mb_command;

#define MB_LIMITS_LEN 8u
/** MB_MSG_LIMITS: four u16, in this order. */
typedef struct mb_limits {
    uint16_t charge_current_da;     /**< max charge current, 0.1 A */
    uint16_t discharge_current_da;  /**< max discharge current, 0.1 A */
    uint16_t charge_voltage_cv;     /**< max charge voltage, 0.01 V */
    uint16_t discharge_voltage_cv;  /**< min discharge voltage, 0.01 V */
} mb_limits;

#define MB_STATUS_LEN 10u
/** MB_MSG_STATUS: [voltage u16][current i16][temperature i16][soc u16][state u8][flags u8]. */
typedef struct mb_status {
    uint16_t voltage_cv;      /**< 0.01 V */
    int16_t  current_da;      /**< 0.1 A, positive = discharging */
    int16_t  temperature_dc;  /**< 0.1 degC */
    uint16_t soc_cpct;        /**< state of charge, 0.01 % (0..10000) */
    uint8_t  state;           /**< mb_pack_state */
    uint8_t  flags;           /**< bit 0 fault, bit 1 balancing, bit 2 contactor closed */
} mb_status;

#define MB_DIAG_ERRORS   1u   /**< diag kind: list of error codes */
#define MB_DIAG_HEALTH   2u   /**< diag kind: health counters */
#define MB_DIAG_MAX_CODES 16u
#define MB_DIAG_HEALTH_LEN 15u
/** MB_MSG_DIAG kind 1: [1][count u8][count x code u16]. */
typedef struct mb_diag_errors {
    uint8_t  count;                       /**< 0..16 */
    uint16_t codes[MB_DIAG_MAX_CODES];
} mb_diag_errors;
/** MB_MSG_DIAG kind 2: [2][uptime u32][rejects u16][resyncs u16][tx epoch u32][reasm drops u16]. */
typedef struct mb_diag_health {
    uint32_t uptime_s;
    uint16_t rejects;       /**< frames/messages rejected since boot (saturating) */
    uint16_t resyncs;       /**< handshakes started by resynchronisation */
    uint32_t tx_epoch;      /**< current sending key epoch */
    uint16_t reasm_drops;   /**< partial messages dropped */
} mb_diag_health;

#define MB_SECURITY_REKEY_REQUEST 1u   /**< "rotate your sending keys" */
#define MB_SECURITY_LEN 2u             /**< [op u8][reserved u8 = 0] */

/**
 * \brief  Encoders: write the payload, set \p *len.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_BUFFER_TOO_SMALL; MB_ERR_INVALID_ARG for
 *         a field out of range (state > 3, soc > 10000, count > 16).
 */
int mb_msg_encode_command(const mb_command *m, uint8_t *out, size_t cap, size_t *len);
/** \copydoc mb_msg_encode_command */
int mb_msg_encode_limits(const mb_limits *m, uint8_t *out, size_t cap, size_t *len);
/** \copydoc mb_msg_encode_command */
int mb_msg_encode_status(const mb_status *m, uint8_t *out, size_t cap, size_t *len);
/** \copydoc mb_msg_encode_command */
int mb_msg_encode_diag_errors(const mb_diag_errors *m, uint8_t *out, size_t cap, size_t *len);
/** \copydoc mb_msg_encode_command */
int mb_msg_encode_diag_health(const mb_diag_health *m, uint8_t *out, size_t cap, size_t *len);

/**
 * \brief  Decoders: parse exactly \p len bytes.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_MALFORMED for a wrong length, kind,
 *         reserved byte or a field out of range.
 */
int mb_msg_decode_command(const uint8_t *in, size_t len, mb_command *m);
/** \copydoc mb_msg_decode_command */
int mb_msg_decode_limits(const uint8_t *in, size_t len, mb_limits *m);
/** \copydoc mb_msg_decode_command */
int mb_msg_decode_status(const uint8_t *in, size_t len, mb_status *m);
/** \copydoc mb_msg_decode_command */
int mb_msg_decode_diag_errors(const uint8_t *in, size_t len, mb_diag_errors *m);
/** \copydoc mb_msg_decode_command */
int mb_msg_decode_diag_health(const uint8_t *in, size_t len, mb_diag_health *m);

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_MSG_H */
