/*
 * tt_module.c - the battery module's use of the core, linked for the
 * ATmega64M1 to state what it costs in flash and static RAM (it is sized,
 * never run: Tests/Targets/README.md). The CAN controller, the clock and
 * the flash driver are stand-ins of a few bytes; the rest is what a module
 * firmware calls:
 *
 *   boot: key store (two slots in the MCU's flash) -> pair secret;
 *   one device session to the pack controller (classic CAN, one
 *   reassembly slot, replay window): receive, send status, poll;
 *   TT_MODULE_KEYPKG: opening a key package (P-256 ECDH + ECDSA, AES-GCM)
 *   and writing it to the key store.
 */
#include <avr/io.h>
#include <stdint.h>
#include <string.h>

#include "modbatt/modbatt.h"
#include "modbatt/mb_keystore.h"
#ifdef TT_MODULE_KEYPKG
#include "modbatt/mb_keypkg.h"
#endif

void mb_platform_fatal(int status);
int main(void);

/* ---- stand-ins for the MCU's peripherals ------------------------------ */
static volatile uint8_t can_reg[16];     /* CAN mailbox */
static volatile uint8_t nvm[8];          /* flash controller */

void mb_platform_fatal(int status)
{
    (void)status;
    for (;;) {
    }
}

static uint32_t now_ms(void) { return ((uint32_t)can_reg[0] << 8) | can_reg[1]; }

static int rng(void *u, uint8_t *out, size_t len)
{
    (void)u;
    while (len-- > 0u) {
        *out++ = can_reg[2];              /* the module's entropy source */
    }
    return 0;
}

static int can_tx(void *u, const mb_frame *f)
{
    uint8_t i;
    (void)u;
    can_reg[3] = (uint8_t)f->id;
    for (i = 0; i < f->len; i++) {
        can_reg[4] = f->data[i];
    }
    return MB_OK;
}

static int can_rx(mb_frame *f)
{
    uint8_t i;
    if (can_reg[5] == 0u) {
        return 0;
    }
    f->id = ((uint32_t)can_reg[6] << 24) | ((uint32_t)can_reg[7] << 16) | ((uint32_t)can_reg[8] << 8) | can_reg[9];
    f->len = can_reg[10] & 15u;
    for (i = 0; i < f->len && i < 8u; i++) {
        f->data[i] = can_reg[11];
    }
    return 1;
}

static int fl_read(void *u, uint32_t off, uint8_t *buf, size_t len)
{ (void)u; (void)off; while (len-- > 0u) { *buf++ = nvm[0]; } return MB_OK; }
static int fl_erase(void *u, uint32_t off, size_t len)
{ (void)u; nvm[1] = (uint8_t)off; nvm[2] = (uint8_t)len; return MB_OK; }
static int fl_write(void *u, uint32_t off, const uint8_t *buf, size_t len)
{ (void)u; nvm[1] = (uint8_t)off; while (len-- > 0u) { nvm[3] = *buf++; } return MB_OK; }

/* ---- the module -------------------------------------------------------- */
static const mb_ks_platform flash = { fl_read, fl_erase, fl_write, NULL, NULL, NULL, 256, 2, 0xFF };
static mb_keystore ks;
static mb_ks_record rec;
static mb_session sess;
static mb_aead aead;
static mb_session_msg msg;
static mb_frame frame;
#ifdef TT_MODULE_KEYPKG
static uint8_t pkg[512], body[512];
static uint8_t binding_pub[65];
#endif

static int session_up(void)
{
    mb_session_cfg cfg;
    mb_session_cfg_defaults(&cfg);
    cfg.role = MB_ROLE_DEVICE;
    cfg.profile = MB_PROFILE_CLASSIC;
    cfg.device_id = rec.device_id;
    cfg.rng = rng;
    cfg.tx = can_tx;
    cfg.aead = &aead;
    return mb_session_init_secret(&sess, &cfg, rec.pairs[0].secret, rec.pairs[0].key_id);
}

int main(void)
{
    static const uint8_t storage_key[32] = { 1 };   /* from the MCU's fuses/lock bits */
    static const uint8_t uid[16] = { 2 };           /* the MCU's signature row */
    int ret;
    mb_aead_init(&aead);
    ret = mb_keystore_init(&ks, &flash, storage_key, uid);
    if (ret == MB_OK) {
        ret = mb_keystore_boot(&ks, &rec, NULL);
    }
#ifdef TT_MODULE_KEYPKG
    if (ret != MB_OK) {
        /* Unprovisioned: a key package arrives (assembled by the transfer
         * layer into pkg); open it with the binding key, store the record. */
        mb_keypkg_contents c;
        mb_keypkg_expect x;
        memset(&x, 0, sizeof(x));
        x.binding_priv = rec.binding_priv;
        x.binding_pub = binding_pub;
        x.device_id = 0xFFFFu;
        ret = mb_keypkg_open(pkg, can_reg[12], &x, rng, NULL, body, sizeof(body), &c);
        if (ret == MB_OK) {
            ret = mb_keypkg_to_record(&c, rec.binding_priv, &rec);
        }
        if (ret == MB_OK) {
            ret = mb_keystore_write(&ks, &rec, rng, NULL);
        }
    }
#endif
    if (ret == MB_OK) {
        ret = session_up();
    }
    for (;;) {
        uint8_t status[8];
        if (can_rx(&frame) && mb_session_accepts(&sess, frame.id)) {
            if (mb_session_rx(&sess, &frame, now_ms(), &msg) == MB_OK && msg.ready) {
                can_reg[13] = msg.type;       /* hand the command to the application */
            }
        }
        memset(status, can_reg[14], sizeof(status));
        if (can_reg[15] != 0u) {
            (void)mb_session_send(&sess, MB_MSG_STATUS, status, sizeof(status), now_ms());
        }
        (void)mb_session_poll(&sess, now_ms());
    }
}
