/*
 * mb_session_move.c - a pair at another address (docs/PROTOCOL.md 6.7).
 *
 * The device id in the CAN id is an address: the bus hands it out (the
 * ModBatt pack registers modules as they announce themselves, so a module can
 * come back under another id after a reboot). A pair is bound to the pair
 * secret and its key id, not to the address; a session is bound to both,
 * since the id is in MAC_H, in the session key schedule and in every AAD.
 * Changing the address therefore ends the session keys and keeps only what
 * must outlive them: the pair secret, the key id and the HELLO counters.
 */
#include <string.h>

#include "mb_session_priv.h"
#include "modbatt/mb_canid.h"
#include "modbatt/mb_errors.h"
#include "modbatt/mb_util.h"
#include "mb_bytes_priv.h"

static bool is_address(uint8_t device_id)
{
    return device_id != MB_DEVICE_BROADCAST && device_id != MB_DEVICE_UNASSIGNED;
}

int mb_session_readdress(mb_session *s, uint8_t device_id)
{
    mb_session_cfg cfg;
    mb_hs hs;
    uint8_t ps[MB_SESSION_KEY_LEN];
    uint8_t key_id[MB_KEY_ID_LEN];
    uint32_t last_resync_ms;
    uint8_t resynced_any;
    int ret;

    if (s == NULL) {
        return MB_ERR_NULL;
    }
    if (!is_address(device_id)) {
        return MB_ERR_INVALID_ARG;
    }
    /* Keep what outlives the keys, then start from a clean session. */
    cfg = s->cfg;
    cfg.device_id = device_id;
    hs = s->hs;
    last_resync_ms = s->last_resync_ms;
    resynced_any = s->resynced_any;
    memcpy(ps, s->pair_secret, sizeof(ps));
    memcpy(key_id, s->key_id, sizeof(key_id));
    mb_session_free(s);   /* wipes every key, epoch, reassembly slot and the handshake */
    ret = mb_session_init_secret(s, &cfg, ps, key_id);
    mb_wipe(ps, sizeof(ps));
    if (ret == MB_OK) {
        /* The counters only: no nonce, expected MAC or state of the
         * handshake that was under way. */
        s->hs.tx_counter = hs.tx_counter;
        s->hs.sent_any = hs.sent_any;
        s->hs.last_hello_tx_ms = hs.last_hello_tx_ms;
        s->hs.rx_counter = hs.rx_counter;
        s->hs.answered_any = hs.answered_any;
        s->hs.last_hello_rx_ms = hs.last_hello_rx_ms;
        memcpy(s->hs.rx_mac, hs.rx_mac, sizeof(s->hs.rx_mac));
        s->last_resync_ms = last_resync_ms;
        s->resynced_any = resynced_any;
    }
    mb_wipe(&hs, sizeof(hs));
    return ret;
}

int mb_session_check_hello(const mb_session *s, uint8_t device_id, const uint8_t *hello,
                           size_t len)
{
    mb_role sender;
    uint64_t counter;
    int ret;

    if (s == NULL || hello == NULL) {
        return MB_ERR_NULL;
    }
    if (!is_address(device_id)) {
        return MB_ERR_INVALID_ARG;
    }
    sender = s->cfg.role == MB_ROLE_CONTROLLER ? MB_ROLE_DEVICE : MB_ROLE_CONTROLLER;
    ret = mbs_hs_check_hello(s->pair_secret, s->key_id, device_id, sender, hello, len);
    if (ret != MB_OK) {
        return ret;
    }
    if (((hello[1] & MB_SESSION_FLAG_EPHEMERAL) != 0u) != (s->cfg.kex != NULL)) {
        return MB_ERR_POLICY;   /* the two ends disagree */
    }
    counter = mb_get_be64(hello + MBS_HELLO_CTR_OFF);
    if (s->hs.answered_any && counter <= s->hs.rx_counter) {
        return MB_ERR_REPLAY;
    }
    return MB_OK;
}

int mb_session_take_counters(mb_session *to, const mb_session *from)
{
    if (to == NULL || from == NULL) {
        return MB_ERR_NULL;
    }
    if (to == from) {
        return MB_OK;
    }
    if (to->cfg.role != from->cfg.role ||
        mb_ct_compare(to->key_id, from->key_id, MB_KEY_ID_LEN) != 0 ||
        mb_ct_compare(to->pair_secret, from->pair_secret, MB_SESSION_KEY_LEN) != 0) {
        return MB_ERR_INVALID_ARG;   /* not one side of one pair */
    }
    if (from->hs.tx_counter > to->hs.tx_counter) {
        to->hs.tx_counter = from->hs.tx_counter;   /* the next HELLO is above both */
    }
    if (from->hs.answered_any && (!to->hs.answered_any || from->hs.rx_counter > to->hs.rx_counter)) {
        to->hs.rx_counter = from->hs.rx_counter;
        memcpy(to->hs.rx_mac, from->hs.rx_mac, sizeof(to->hs.rx_mac));
        to->hs.answered_any = 1u;
    }
    return MB_OK;
}
