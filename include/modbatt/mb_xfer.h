/**
 * \file mb_xfer.h
 * \brief Acknowledged, retried, resumable chunked transfer of a blob (a key
 *        package, a report) over classic CAN (docs/PROVISIONING.md, 6).
 *
 * Modelled on the ModBatt reference app's key distribution: every frame is
 * acknowledged on its message id + 0xA0 with
 * `[status 1=ACK 0=NACK, chunk, checksum_hi, checksum_lo, ...]`, a frame
 * unanswered for 1 s is retried after 100 ms, up to 3 retries, and the
 * transfer is aborted with a clear reason after that. A key package is far
 * larger than 16 x 8 bytes, so chunks carry their own 16-bit number in the
 * payload:
 *
 *     START  [0x0000][xfer id][kind][length u16][CRC-16 of the blob]
 *     DATA k [k u16, 1..N][up to 6 bytes of the blob]       N = ceil(length / 6)
 *     END    [0xFFFF][CRC-32 of the blob][0x0000]
 *     ABORT  [0xFFFE][reason][0...]                          sender gives up
 *     ACK    [status][frame u16][CRC-16 of the frame as received][xfer id][next u16]
 *            status 1 ACK, 0 NACK, 2 ABORT (receiver refuses), 3 BAD_CRC (END)
 *
 * Stop-and-wait: the sender moves on only after an ACK whose checksum equals
 * its own, so a frame corrupted either way is sent again. The receiver NACKs
 * what does not fit (wrong chunk, wrong length, unknown transfer) and says in
 * `next` which chunk it wants. **Resume**: sending START again for the same
 * blob (same id, kind, length and CRC-16) makes the receiver answer with the
 * chunk it needs next, so an interrupted transfer continues where it stopped.
 *
 * Both sides are state machines driven by received frames and a caller
 * clock in milliseconds (wrap-safe); no threads, no timers, no allocation.
 */
#ifndef MODBATT_MB_XFER_H
#define MODBATT_MB_XFER_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define MB_XFER_MSGID_DOWN     0x410u  /**< controller -> device (packages) */
#define MB_XFER_MSGID_UP       0x411u  /**< device -> controller (reports) */
#define MB_XFER_ACK_OFFSET     0x0A0u  /**< ack id = data id + 0xA0 (reference app) */
#define MB_XFER_CHUNK          6u      /**< blob bytes per DATA frame */
#define MB_XFER_MAX_CHUNKS     65533u  /**< DATA frames 1..65533 */
#define MB_XFER_MAX_LEN        65535u  /**< length is a u16 */
#define MB_XFER_IDX_START      0x0000u
#define MB_XFER_IDX_ABORT      0xFFFEu
#define MB_XFER_IDX_END        0xFFFFu

/** ACK status byte. */
#define MB_XFER_NACK     0u
#define MB_XFER_ACK      1u
#define MB_XFER_REFUSE   2u   /**< receiver aborts; `next` carries the reason */
#define MB_XFER_BAD_CRC  3u   /**< END: the whole blob failed its CRC-32 */

/** What a blob is (START byte 3). */
#define MB_XFER_KIND_KEYPKG   1u  /**< a key package for the receiving device */
#define MB_XFER_KIND_FORWARD  2u  /**< a module's key package, for the pack to forward */
#define MB_XFER_KIND_REPORT   3u  /**< a sealed report (device -> app) */

/** State of either side. */
typedef enum mb_xfer_state {
    MB_XFER_IDLE    = 0,
    MB_XFER_BUSY    = 1,   /**< in progress (or interrupted, resumable) */
    MB_XFER_DONE    = 2,   /**< complete and CRC-checked */
    MB_XFER_ABORTED = 3    /**< see abort_reason */
} mb_xfer_state;

/** Why a transfer was aborted. */
typedef enum mb_xfer_abort {
    MB_XFER_ABORT_NONE    = 0,
    MB_XFER_ABORT_RETRIES = 1,  /**< a frame went unacknowledged after max_retries retries */
    MB_XFER_ABORT_REFUSED = 2,  /**< the receiver refused (too large, unknown kind, busy) */
    MB_XFER_ABORT_CRC     = 3,  /**< the whole blob kept failing its CRC-32 */
    MB_XFER_ABORT_LOCAL   = 4,  /**< mb_xfer_tx_abort() */
    MB_XFER_ABORT_SENDER  = 5   /**< receiver side: the sender sent ABORT */
} mb_xfer_abort;

/** Send one classic CAN frame (29-bit id, 0..8 bytes). MB_OK or negative. */
typedef int (*mb_xfer_send_fn)(void *user, uint32_t can_id, const uint8_t *data, uint8_t len);

/** Link settings, the same on both ends; start from mb_xfer_cfg_defaults(). */
typedef struct mb_xfer_cfg {
    uint16_t        data_msg_id;    /**< 11-bit id of START/DATA/END (default 0x410) */
    uint16_t        ack_offset;     /**< ack id = data id + this (default 0xA0) */
    uint8_t         device_id;      /**< CAN id bits 7..0: the device addressed */
    uint8_t         max_retries;    /**< retries per frame (default 3) */
    uint32_t        timeout_ms;     /**< wait for an ACK (default 1000) */
    uint32_t        retry_gap_ms;   /**< pause before a retry (default 100) */
    mb_xfer_send_fn send;           /**< required */
    void           *user;           /**< passed to send */
} mb_xfer_cfg;

/** Sender. Caller-allocated; the blob is borrowed until the transfer ends. */
typedef struct mb_xfer_tx {
    mb_xfer_cfg    cfg;
    const uint8_t *blob;
    uint16_t       len;
    uint16_t       chunks;        /**< N */
    uint16_t       cur;           /**< frame awaiting its ACK: 0 START, 1..N, 0xFFFF END */
    uint16_t       expect_chk;    /**< CRC-16 of the frame in flight */
    uint16_t       blob_crc16;
    uint32_t       blob_crc32;
    uint8_t        xfer_id;
    uint8_t        kind;
    uint8_t        state;         /**< mb_xfer_state */
    uint8_t        waiting_gap;   /**< 1: a retry is due at retry_at_ms */
    uint8_t        retries;       /**< retries used on the current frame */
    uint8_t        abort_reason;  /**< mb_xfer_abort */
    uint8_t        crc_failures;  /**< END answered BAD_CRC this many times */
    uint32_t       sent_ms;
    uint32_t       retry_at_ms;
    uint32_t       frames_sent;   /**< statistics */
    uint32_t       retries_total;
} mb_xfer_tx;

/** Receiver. Caller-allocated; writes the blob into the caller's buffer. */
typedef struct mb_xfer_rx {
    mb_xfer_cfg cfg;
    uint8_t    *buf;
    size_t      cap;
    uint16_t    len;
    uint16_t    chunks;
    uint16_t    have;           /**< DATA frames stored; the last is unconfirmed */
    uint16_t    blob_crc16;
    uint8_t     xfer_id;
    uint8_t     kind;
    uint8_t     state;          /**< mb_xfer_state */
    uint8_t     abort_reason;
    uint32_t    accept_kinds;   /**< bit k set: kind k accepted (default: 1, 2, 3) */
    uint32_t    last_ms;        /**< time of the last frame taken */
    uint32_t    nacks;          /**< statistics */
} mb_xfer_rx;

/** \brief Defaults: id 0x410, ack offset 0xA0, 3 retries, 1000 ms, 100 ms. NULL-safe. */
void mb_xfer_cfg_defaults(mb_xfer_cfg *cfg);

/** \brief CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF; "123456789" -> 0x29B1). */
uint16_t mb_crc16(const uint8_t *data, size_t len);

/**
 * \brief  Start sending \p blob: sends START.
 * \param xfer_id  Names this blob; reuse it (with the same blob) to resume.
 * \return MB_OK; MB_ERR_NULL (tx, cfg, cfg->send, blob); MB_ERR_LENGTH for
 *         len 0 or above 65535; MB_ERR_INVALID_ARG for a message id above
 *         2047 (with the ack offset), max_retries 0 or a zero timeout;
 *         the send callback's code.
 */
int mb_xfer_tx_start(mb_xfer_tx *tx, const mb_xfer_cfg *cfg, uint8_t xfer_id, uint8_t kind,
                     const uint8_t *blob, size_t len, uint32_t now_ms);

/**
 * \brief  Resume after an interruption (an abort, a link or power loss on
 *         either side): sends START again with fresh retries; the receiver
 *         answers with the chunk it needs next.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_STATE when never started or already
 *         done; the send callback's code.
 */
int mb_xfer_tx_resume(mb_xfer_tx *tx, uint32_t now_ms);

/**
 * \brief  Take a received frame (only ACK frames on data id + ack offset for
 *         this device are this sender's).
 * A NACK counts against the frame in flight even when it names another
 * frame number (the receiver saw that number corrupted); its `next` says
 * where to continue.
 * \return MB_OK (taken or harmlessly ignored: a stale or duplicate ACK);
 *         MB_ERR_CANID_RANGE for a frame that is not this sender's ACK;
 *         MB_ERR_MALFORMED for an ACK that is not 8 bytes;
 *         MB_ERR_ABORTED when the transfer is (now) aborted; MB_ERR_NULL;
 *         the send callback's code.
 */
int mb_xfer_tx_on_frame(mb_xfer_tx *tx, uint32_t can_id, const uint8_t *data, uint8_t len,
                        uint32_t now_ms);

/**
 * \brief  Advance the clock: retry a frame whose ACK is overdue, after the
 *         retry gap; abort after max_retries retries (sending ABORT).
 * \return MB_OK; MB_ERR_ABORTED when the transfer is (now) aborted;
 *         MB_ERR_NULL; the send callback's code.
 */
int mb_xfer_tx_poll(mb_xfer_tx *tx, uint32_t now_ms);

/** \brief Give up now: sends ABORT (reason LOCAL). MB_OK, MB_ERR_NULL, send's code. */
int mb_xfer_tx_abort(mb_xfer_tx *tx);

/** \brief Current state (MB_XFER_IDLE for NULL). */
mb_xfer_state mb_xfer_tx_state(const mb_xfer_tx *tx);

/**
 * \brief  Set up a receiver writing into \p buf.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_INVALID_ARG as for mb_xfer_tx_start().
 */
int mb_xfer_rx_init(mb_xfer_rx *rx, const mb_xfer_cfg *cfg, uint8_t *buf, size_t cap);

/**
 * \brief  Take a received frame and answer it.
 * \return MB_OK (taken and answered with ACK, NACK or a refusal: see the
 *         state); MB_ERR_CANID_RANGE for a frame not on this receiver's data
 *         id and device; MB_ERR_NULL; the send callback's code.
 */
int mb_xfer_rx_on_frame(mb_xfer_rx *rx, uint32_t can_id, const uint8_t *data, uint8_t len,
                        uint32_t now_ms);

/** \brief Current state (MB_XFER_IDLE for NULL). */
mb_xfer_state mb_xfer_rx_state(const mb_xfer_rx *rx);

/** \brief Forget the current transfer (after the blob was consumed) and
 *         wipe the buffer. NULL-safe. */
void mb_xfer_rx_reset(mb_xfer_rx *rx);

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_XFER_H */
