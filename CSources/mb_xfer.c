/*
 * mb_xfer.c - acknowledged, retried, resumable chunked transfer
 * (mb_xfer.h, docs/PROVISIONING.md section 6).
 *
 * Sender: one frame in flight (stop-and-wait). It advances on an ACK for the
 * frame in flight whose CRC-16 equals the frame's own; anything else (NACK,
 * checksum mismatch, timeout) costs one retry, sent after retry_gap_ms.
 * After max_retries retries of one frame it sends ABORT and stops.
 *
 * Receiver: stores DATA k when k is the next chunk, or the last stored one
 * again (its ACK may have been lost or corrupted: the sender resends it).
 * The last stored chunk is therefore unconfirmed, and a resumed transfer
 * restarts at it. END is accepted only when the whole blob matches its
 * CRC-32.
 */
#include <string.h>

#include "modbatt/mb_xfer.h"

#include "modbatt/mb_canid.h"
#include "modbatt/mb_errors.h"
#include "modbatt/mb_keystore.h"   /* mb_crc32 */
#include "modbatt/mb_util.h"
#include "mb_bytes_priv.h"

#define FRAME_LEN 8u
#define REFUSE_KIND  1u
#define REFUSE_SIZE  2u

/* ---- helpers ----------------------------------------------------------- */

uint16_t mb_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xFFFFu;
    size_t i;
    unsigned b;

    if (data == NULL) {
        len = 0;
    }
    for (i = 0; i < len; i++) {
        crc = (uint16_t)(crc ^ (uint16_t)((uint16_t)data[i] << 8));
        for (b = 0; b < 8u; b++) {
            crc = (uint16_t)((crc & 0x8000u) ? (uint16_t)(((unsigned)crc << 1) ^ 0x1021u)
                                             : (uint16_t)((unsigned)crc << 1));
        }
    }
    return crc;
}

/* now has reached t (wrap-safe for intervals below 2^31 ms). */
static int reached(uint32_t now, uint32_t t)
{
    return (uint32_t)(now - t) < 0x80000000u;
}

static uint32_t can_id(const mb_xfer_cfg *cfg, uint16_t msg_id)
{
    mb_canid f;
    f.msg_id = msg_id;
    f.encrypted = false;   /* end-to-end sealed blobs, not session frames */
    f.spare = false;
    f.chunk_index = 1;     /* chunk numbering lives in the payload */
    f.chunk_total = 1;
    f.device_id = cfg->device_id;
    return mb_canid_encode(&f);
}

static uint32_t data_id(const mb_xfer_cfg *cfg)
{
    return can_id(cfg, cfg->data_msg_id);
}

static uint32_t ack_id(const mb_xfer_cfg *cfg)
{
    return can_id(cfg, (uint16_t)(cfg->data_msg_id + cfg->ack_offset));
}

static int check_cfg(const mb_xfer_cfg *cfg)
{
    if (cfg->send == NULL) {
        return MB_ERR_NULL;
    }
    if ((uint32_t)cfg->data_msg_id + cfg->ack_offset > MB_CANID_MSG_MAX ||
        cfg->ack_offset == 0u || cfg->max_retries == 0u || cfg->timeout_ms == 0u ||
        cfg->timeout_ms >= 0x80000000u || cfg->retry_gap_ms >= 0x80000000u) {
        return MB_ERR_INVALID_ARG;
    }
    return MB_OK;
}

void mb_xfer_cfg_defaults(mb_xfer_cfg *cfg)
{
    if (cfg == NULL) {
        return;
    }
    memset(cfg, 0, sizeof(*cfg));
    cfg->data_msg_id = MB_XFER_MSGID_DOWN;
    cfg->ack_offset = MB_XFER_ACK_OFFSET;
    cfg->max_retries = 3;
    cfg->timeout_ms = 1000;
    cfg->retry_gap_ms = 100;
}

/* ---- sender ------------------------------------------------------------ */

/* Build the frame for tx->cur into f; returns its length. */
static uint8_t build_frame(const mb_xfer_tx *tx, uint8_t f[FRAME_LEN])
{
    size_t off, n;

    memset(f, 0, FRAME_LEN);
    mb_put_be16(f, tx->cur);
    if (tx->cur == MB_XFER_IDX_START) {
        f[2] = tx->xfer_id;
        f[3] = tx->kind;
        mb_put_be16(f + 4, tx->len);
        mb_put_be16(f + 6, tx->blob_crc16);
        return FRAME_LEN;
    }
    if (tx->cur == MB_XFER_IDX_END) {
        mb_put_be32(f + 2, tx->blob_crc32);
        return FRAME_LEN;
    }
    off = (size_t)(tx->cur - 1u) * MB_XFER_CHUNK;
    n = tx->len - off < MB_XFER_CHUNK ? tx->len - off : MB_XFER_CHUNK;
    memcpy(f + 2, tx->blob + off, n);
    return (uint8_t)(2u + n);
}

static int send_current(mb_xfer_tx *tx, uint32_t now)
{
    uint8_t f[FRAME_LEN];
    uint8_t n = build_frame(tx, f);

    tx->expect_chk = mb_crc16(f, n);
    tx->sent_ms = now;
    tx->waiting_gap = 0;
    tx->frames_sent++;
    return tx->cfg.send(tx->cfg.user, data_id(&tx->cfg), f, n);
}

static int abort_tx(mb_xfer_tx *tx, uint8_t reason)
{
    uint8_t f[FRAME_LEN];

    tx->state = MB_XFER_ABORTED;
    tx->abort_reason = reason;
    tx->waiting_gap = 0;
    if (reason != MB_XFER_ABORT_REFUSED) {
        /* Tell the receiver, so it stops waiting; it keeps what it has. */
        memset(f, 0, sizeof(f));
        mb_put_be16(f, MB_XFER_IDX_ABORT);
        f[2] = reason;
        f[3] = tx->xfer_id;
        (void)tx->cfg.send(tx->cfg.user, data_id(&tx->cfg), f, FRAME_LEN);
    }
    return MB_ERR_ABORTED;
}

/* The frame in flight failed (NACK, bad checksum, timeout): retry or abort. */
static int schedule_retry(mb_xfer_tx *tx, uint32_t now)
{
    if (tx->retries >= tx->cfg.max_retries) {
        return abort_tx(tx, MB_XFER_ABORT_RETRIES);
    }
    tx->retries++;
    tx->retries_total++;
    tx->waiting_gap = 1;
    tx->retry_at_ms = now + tx->cfg.retry_gap_ms;
    return MB_OK;
}

int mb_xfer_tx_start(mb_xfer_tx *tx, const mb_xfer_cfg *cfg, uint8_t xfer_id, uint8_t kind,
                     const uint8_t *blob, size_t len, uint32_t now_ms)
{
    int ret;

    if (tx == NULL || cfg == NULL || blob == NULL) {
        return MB_ERR_NULL;
    }
    memset(tx, 0, sizeof(*tx));
    ret = check_cfg(cfg);
    if (ret != MB_OK) {
        return ret;
    }
    if (len == 0u || len > MB_XFER_MAX_LEN) {
        return MB_ERR_LENGTH;
    }
    tx->cfg = *cfg;
    tx->blob = blob;
    tx->len = (uint16_t)len;
    tx->chunks = (uint16_t)((len + MB_XFER_CHUNK - 1u) / MB_XFER_CHUNK);
    tx->blob_crc16 = mb_crc16(blob, len);
    tx->blob_crc32 = mb_crc32(blob, len);
    tx->xfer_id = xfer_id;
    tx->kind = kind;
    tx->cur = MB_XFER_IDX_START;
    tx->state = MB_XFER_BUSY;
    return send_current(tx, now_ms);
}

int mb_xfer_tx_resume(mb_xfer_tx *tx, uint32_t now_ms)
{
    if (tx == NULL) {
        return MB_ERR_NULL;
    }
    if (tx->blob == NULL || tx->state == MB_XFER_DONE || tx->state == MB_XFER_IDLE) {
        return MB_ERR_STATE;
    }
    tx->state = MB_XFER_BUSY;
    tx->abort_reason = MB_XFER_ABORT_NONE;
    tx->cur = MB_XFER_IDX_START;
    tx->retries = 0;
    tx->crc_failures = 0;
    return send_current(tx, now_ms);
}

int mb_xfer_tx_abort(mb_xfer_tx *tx)
{
    if (tx == NULL) {
        return MB_ERR_NULL;
    }
    if (tx->state == MB_XFER_BUSY) {
        (void)abort_tx(tx, MB_XFER_ABORT_LOCAL);
    }
    return MB_OK;
}

mb_xfer_state mb_xfer_tx_state(const mb_xfer_tx *tx)
{
    return tx == NULL ? MB_XFER_IDLE : (mb_xfer_state)tx->state;
}

/* An ACK for the frame in flight with a matching checksum: move on. */
static int advance(mb_xfer_tx *tx, uint16_t next, uint32_t now)
{
    if (tx->cur == MB_XFER_IDX_END) {
        tx->state = MB_XFER_DONE;
        return MB_OK;
    }
    if (tx->cur == MB_XFER_IDX_START) {
        /* Resume point: the receiver names the chunk it needs. */
        if (next < 1u || next > (uint32_t)tx->chunks + 1u) {
            return schedule_retry(tx, now);
        }
        tx->cur = next > tx->chunks ? MB_XFER_IDX_END : next;
    } else {
        tx->cur = tx->cur == tx->chunks ? MB_XFER_IDX_END : (uint16_t)(tx->cur + 1u);
    }
    tx->retries = 0;
    return send_current(tx, now);
}

int mb_xfer_tx_on_frame(mb_xfer_tx *tx, uint32_t can_id_in, const uint8_t *data, uint8_t len,
                        uint32_t now_ms)
{
    uint16_t idx, chk, next;
    uint8_t status;

    if (tx == NULL || (data == NULL && len != 0u)) {
        return MB_ERR_NULL;
    }
    if (tx->state == MB_XFER_IDLE || can_id_in != ack_id(&tx->cfg)) {
        return MB_ERR_CANID_RANGE;
    }
    if (len != FRAME_LEN) {
        return MB_ERR_MALFORMED;
    }
    if (tx->state == MB_XFER_ABORTED) {
        return MB_ERR_ABORTED;
    }
    status = data[0];
    idx = mb_get_be16(data + 1);
    chk = mb_get_be16(data + 3);
    next = mb_get_be16(data + 6);
    /* A NACK answers the frame in flight even when it names another chunk:
     * the receiver saw a corrupted chunk number. A receiver without a
     * transfer (it rebooted) cannot know our id: its "NACK, next 0" (send
     * START) is taken whatever id it carries. */
    if (tx->state != MB_XFER_BUSY ||
        (idx != tx->cur && status != MB_XFER_NACK) ||
        (data[5] != tx->xfer_id && !(status == MB_XFER_NACK && next == 0u))) {
        return MB_OK;   /* done already, another transfer, or a stale answer */
    }
    switch (status) {
    case MB_XFER_ACK:
        if (chk != tx->expect_chk) {
            return schedule_retry(tx, now_ms);   /* corrupted on the way */
        }
        return advance(tx, next, now_ms);
    case MB_XFER_NACK:
        if (next == 0u) {
            tx->cur = MB_XFER_IDX_START;         /* the receiver lost the transfer */
        } else if (tx->cur != MB_XFER_IDX_START && next <= tx->chunks &&
                   (tx->cur == MB_XFER_IDX_END || next <= tx->cur)) {
            tx->cur = next;                      /* rewind to what it needs */
        }
        return schedule_retry(tx, now_ms);
    case MB_XFER_REFUSE:
        return abort_tx(tx, MB_XFER_ABORT_REFUSED);
    case MB_XFER_BAD_CRC:
        if (tx->cur != MB_XFER_IDX_END) {
            return MB_OK;
        }
        if (++tx->crc_failures > tx->cfg.max_retries) {
            return abort_tx(tx, MB_XFER_ABORT_CRC);
        }
        tx->cur = 1;                             /* the receiver starts over */
        tx->retries = 0;
        tx->waiting_gap = 1;
        tx->retry_at_ms = now_ms + tx->cfg.retry_gap_ms;
        return MB_OK;
    default:
        return schedule_retry(tx, now_ms);
    }
}

int mb_xfer_tx_poll(mb_xfer_tx *tx, uint32_t now_ms)
{
    if (tx == NULL) {
        return MB_ERR_NULL;
    }
    if (tx->state == MB_XFER_ABORTED) {
        return MB_ERR_ABORTED;
    }
    if (tx->state != MB_XFER_BUSY) {
        return MB_OK;
    }
    if (tx->waiting_gap) {
        return reached(now_ms, tx->retry_at_ms) ? send_current(tx, now_ms) : MB_OK;
    }
    if (reached(now_ms, tx->sent_ms + tx->cfg.timeout_ms)) {
        return schedule_retry(tx, now_ms);
    }
    return MB_OK;
}

/* ---- receiver ---------------------------------------------------------- */

int mb_xfer_rx_init(mb_xfer_rx *rx, const mb_xfer_cfg *cfg, uint8_t *buf, size_t cap)
{
    int ret;

    if (rx == NULL || cfg == NULL || buf == NULL) {
        return MB_ERR_NULL;
    }
    memset(rx, 0, sizeof(*rx));
    ret = check_cfg(cfg);
    if (ret != MB_OK) {
        return ret;
    }
    rx->cfg = *cfg;
    rx->buf = buf;
    rx->cap = cap;
    rx->accept_kinds = ((uint32_t)1u << MB_XFER_KIND_KEYPKG) | ((uint32_t)1u << MB_XFER_KIND_FORWARD) |
                       ((uint32_t)1u << MB_XFER_KIND_REPORT);
    return MB_OK;
}

mb_xfer_state mb_xfer_rx_state(const mb_xfer_rx *rx)
{
    return rx == NULL ? MB_XFER_IDLE : (mb_xfer_state)rx->state;
}

void mb_xfer_rx_reset(mb_xfer_rx *rx)
{
    if (rx == NULL) {
        return;
    }
    mb_wipe(rx->buf, rx->cap);
    rx->state = MB_XFER_IDLE;
    rx->len = 0;
    rx->chunks = 0;
    rx->have = 0;
    rx->abort_reason = MB_XFER_ABORT_NONE;
}

static int answer(mb_xfer_rx *rx, uint8_t status, uint16_t idx, const uint8_t *frame,
                  uint8_t len, uint16_t next)
{
    uint8_t a[FRAME_LEN];

    a[0] = status;
    mb_put_be16(a + 1, idx);
    mb_put_be16(a + 3, mb_crc16(frame, len));
    a[5] = rx->xfer_id;
    mb_put_be16(a + 6, next);
    if (status != MB_XFER_ACK) {
        rx->nacks++;
    }
    return rx->cfg.send(rx->cfg.user, ack_id(&rx->cfg), a, FRAME_LEN);
}

static int rx_start(mb_xfer_rx *rx, const uint8_t *d, uint8_t len)
{
    uint8_t xid, kind;
    uint16_t blen, crc;
    uint8_t saved;

    if (len != FRAME_LEN) {
        return answer(rx, MB_XFER_NACK, MB_XFER_IDX_START, d, len, 0);
    }
    xid = d[2];
    kind = d[3];
    blen = mb_get_be16(d + 4);
    crc = mb_get_be16(d + 6);
    if (kind >= 32u || (rx->accept_kinds & ((uint32_t)1u << kind)) == 0u) {
        saved = rx->xfer_id;
        rx->xfer_id = xid;
        (void)answer(rx, MB_XFER_REFUSE, MB_XFER_IDX_START, d, len, REFUSE_KIND);
        rx->xfer_id = saved;
        return MB_OK;
    }
    if (blen == 0u || blen > rx->cap) {
        saved = rx->xfer_id;
        rx->xfer_id = xid;
        (void)answer(rx, MB_XFER_REFUSE, MB_XFER_IDX_START, d, len, REFUSE_SIZE);
        rx->xfer_id = saved;
        return MB_OK;
    }
    if (rx->state != MB_XFER_IDLE && rx->xfer_id == xid && rx->kind == kind &&
        rx->len == blen && rx->blob_crc16 == crc) {
        /* Resume: the last stored chunk is unconfirmed, ask for it again. */
        if (rx->state == MB_XFER_DONE) {
            return answer(rx, MB_XFER_ACK, MB_XFER_IDX_START, d, len,
                          (uint16_t)(rx->chunks + 1u));
        }
        rx->state = MB_XFER_BUSY;
        rx->abort_reason = MB_XFER_ABORT_NONE;
        return answer(rx, MB_XFER_ACK, MB_XFER_IDX_START, d, len,
                      rx->have == 0u ? 1u : rx->have);
    }
    /* A new blob replaces whatever was there. */
    mb_wipe(rx->buf, rx->cap);
    rx->xfer_id = xid;
    rx->kind = kind;
    rx->len = blen;
    rx->blob_crc16 = crc;
    rx->chunks = (uint16_t)((blen + MB_XFER_CHUNK - 1u) / MB_XFER_CHUNK);
    rx->have = 0;
    rx->state = MB_XFER_BUSY;
    rx->abort_reason = MB_XFER_ABORT_NONE;
    return answer(rx, MB_XFER_ACK, MB_XFER_IDX_START, d, len, 1);
}

static int rx_data(mb_xfer_rx *rx, uint16_t k, const uint8_t *d, uint8_t len)
{
    size_t off, n;

    if (rx->state != MB_XFER_BUSY) {
        return answer(rx, MB_XFER_NACK, k, d, len,
                      rx->state == MB_XFER_DONE ? (uint16_t)(rx->chunks + 1u) : 0u);
    }
    if (k > rx->chunks || !(k == rx->have + 1u || (k == rx->have && k != 0u))) {
        return answer(rx, MB_XFER_NACK, k, d, len, (uint16_t)(rx->have + 1u));
    }
    off = (size_t)(k - 1u) * MB_XFER_CHUNK;
    n = rx->len - off < MB_XFER_CHUNK ? rx->len - off : MB_XFER_CHUNK;
    if (len != 2u + n) {
        return answer(rx, MB_XFER_NACK, k, d, len, k);
    }
    memcpy(rx->buf + off, d + 2, n);
    rx->have = k;
    return answer(rx, MB_XFER_ACK, k, d, len, (uint16_t)(k + 1u));
}

static int rx_end(mb_xfer_rx *rx, const uint8_t *d, uint8_t len)
{
    uint32_t crc;

    if (len != FRAME_LEN) {
        return answer(rx, MB_XFER_NACK, MB_XFER_IDX_END, d, len, rx->have);
    }
    if (rx->state == MB_XFER_DONE) {
        return answer(rx, MB_XFER_ACK, MB_XFER_IDX_END, d, len, (uint16_t)(rx->chunks + 1u));
    }
    if (rx->state != MB_XFER_BUSY) {
        return answer(rx, MB_XFER_NACK, MB_XFER_IDX_END, d, len, 0);
    }
    if (rx->have != rx->chunks) {
        return answer(rx, MB_XFER_NACK, MB_XFER_IDX_END, d, len, (uint16_t)(rx->have + 1u));
    }
    crc = mb_get_be32(d + 2);
    if (crc != mb_crc32(rx->buf, rx->len)) {
        rx->have = 0;   /* start over */
        return answer(rx, MB_XFER_BAD_CRC, MB_XFER_IDX_END, d, len, 1);
    }
    rx->state = MB_XFER_DONE;
    return answer(rx, MB_XFER_ACK, MB_XFER_IDX_END, d, len, (uint16_t)(rx->chunks + 1u));
}

int mb_xfer_rx_on_frame(mb_xfer_rx *rx, uint32_t can_id_in, const uint8_t *data, uint8_t len,
                        uint32_t now_ms)
{
    uint16_t idx;

    if (rx == NULL || (data == NULL && len != 0u)) {
        return MB_ERR_NULL;
    }
    if (can_id_in != data_id(&rx->cfg)) {
        return MB_ERR_CANID_RANGE;
    }
    if (len < 2u || len > FRAME_LEN) {
        return MB_ERR_MALFORMED;   /* no index to answer; the sender times out */
    }
    rx->last_ms = now_ms;
    idx = mb_get_be16(data);
    if (idx == MB_XFER_IDX_START) {
        return rx_start(rx, data, len);
    }
    if (idx == MB_XFER_IDX_END) {
        return rx_end(rx, data, len);
    }
    if (idx == MB_XFER_IDX_ABORT) {
        if (rx->state == MB_XFER_BUSY && len >= 4u && data[3] == rx->xfer_id) {
            rx->state = MB_XFER_ABORTED;   /* progress kept: START resumes */
            rx->abort_reason = MB_XFER_ABORT_SENDER;
        }
        return MB_OK;
    }
    return rx_data(rx, idx, data, len);
}
