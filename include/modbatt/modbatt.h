/**
 * \file modbatt.h
 * \brief Umbrella header of the Modbatt C core. Include this one.
 *
 * | header        | what                                            |
 * |---------------|-------------------------------------------------|
 * | mb_errors.h   | MB_OK / MB_ERR_* codes, mb_strerror()           |
 * | mb_util.h     | constant-time compare, wiping                   |
 * | mb_hkdf.h     | HMAC-SHA256, HKDF-SHA256 (RFC 5869)             |
 * | mb_aead.h     | AES-256-GCM with a kept key schedule            |
 * | mb_nonce.h    | fixed-field || counter nonces that never repeat |
 * | mb_replay.h   | anti-replay sliding window                      |
 * | mb_canid.h    | the ModBatt 29-bit CAN id layout                |
 * | mb_pair.h     | pair key derivation from two key halves + salt  |
 * | mb_seg.h      | CAN frames, profiles, message -> frames split   |
 * | mb_reasm.h    | bounded reassembly of chunked messages          |
 * | mb_msg.h      | v1 message ids, types, payload layouts          |
 * | mb_session.h  | secure sessions: handshake, seal/open, rotation |
 * | mb_observe.h  | passive observer of a pair (logs, bench tools)  |
 * | mb_keystore.h | two-slot key store in flash, power-cut safe     |
 * | mb_keypkg.h   | binding keys, sealed key packages and reports   |
 * | mb_xfer.h     | acknowledged, resumable chunked transfer        |
 */
#ifndef MODBATT_MODBATT_H
#define MODBATT_MODBATT_H

#include "modbatt/mb_errors.h"
#include "modbatt/mb_util.h"
#include "modbatt/mb_hkdf.h"
#include "modbatt/mb_aead.h"
#include "modbatt/mb_nonce.h"
#include "modbatt/mb_replay.h"
#include "modbatt/mb_canid.h"
#include "modbatt/mb_pair.h"
#include "modbatt/mb_seg.h"
#include "modbatt/mb_reasm.h"
#include "modbatt/mb_msg.h"
#include "modbatt/mb_session.h"
#include "modbatt/mb_kex.h"
#include "modbatt/mb_observe.h"
#include "modbatt/mb_keystore.h"
#include "modbatt/mb_keypkg.h"
#include "modbatt/mb_xfer.h"

#endif /* MODBATT_MODBATT_H */
