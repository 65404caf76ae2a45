/**
 * \file mb_keystore.h
 * \brief Key storage in flash: one versioned, encrypted and authenticated
 *        record, written alternately to two slots (docs/PROVISIONING.md, 5).
 *
 * The record holds what a device needs after a reboot: its binding private
 * key, one 32-byte pair secret per peer, the app's public key, the crypto
 * parameters and the package version. Key halves and salts are never stored:
 * they are consumed at provisioning (mb_pair_derive()) and wiped.
 *
 * Protection:
 *   - secrets (binding key, pair entries) are encrypted with an HMAC-SHA256
 *     keystream under a key derived from the device-unique storage key and a
 *     fresh random record nonce (encrypt-then-MAC);
 *   - HMAC-SHA256 over the whole record under a MAC key derived from the
 *     storage key and the device uid, so another device's record (same
 *     format, other key) never verifies;
 *   - CRC-32 over the whole record, to tell an interrupted write or flash
 *     corruption from tampering;
 *   - a 32-bit generation, higher on every write, checked against an
 *     optional platform monotonic counter to refuse rolled-back records.
 *
 * One generation at rest: a write programs the slot that does not hold the
 * newest valid record, reads it back, raises the monotonic counter, and
 * only then erases the other slot, so the record it replaced (and with it
 * a rotated or revoked pair secret) no longer decrypts from flash. A boot
 * that selects a record erases whatever the other slot still holds (a write
 * cut before its last step, a cut write, damage); a boot that selects
 * nothing erases nothing. An erased slot reads back blank before the call
 * returns. What the flash chip keeps physically after a page erase is
 * outside this code.
 *
 * Power-cut safety: the previous record is untouched until the new one is
 * verified in flash; boot selects the newest slot that passes every check.
 * A cut at any byte operation of a write, or of the erase a boot finishes,
 * therefore leaves the old or the new record selectable, never neither and
 * never a mix, and the new one from its last programmed byte on (tested at
 * every byte offset in Tests/CTests/test_keystore.c).
 *
 * Flash is reached only through the mb_ks_platform callbacks. The context is
 * caller-allocated and holds one slot-sized work buffer; nothing allocates.
 */
#ifndef MODBATT_MB_KEYSTORE_H
#define MODBATT_MB_KEYSTORE_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Pair entries a record can hold. The pack controller needs 33 (the app
 *  and 32 modules); a module's firmware may define 1 to shrink RAM. */
#ifndef MB_KS_MAX_PAIRS
#define MB_KS_MAX_PAIRS 33u
#endif

#define MB_KS_MAGIC          0x4D424B53u  /**< "MBKS" */
#define MB_KS_VERSION        1u           /**< record format version */
#define MB_KS_UID_LEN        16u          /**< device uid (MCU UID, zero-padded) */
#define MB_KS_STORAGE_KEY_LEN 32u
#define MB_KS_NONCE_LEN      16u
#define MB_KS_SECRET_LEN     32u          /**< per-pair secret */
#define MB_KS_PRIV_LEN       32u          /**< P-256 private scalar */
#define MB_KS_PUB_LEN        65u          /**< P-256 uncompressed point */
#define MB_KS_HEADER_LEN     48u
#define MB_KS_PUBLIC_LEN     80u          /**< device id .. app key, clear */
#define MB_KS_PAIR_LEN       38u          /**< peer(1) flags(1) key_id(4) secret(32) */
#define MB_KS_MAC_LEN        32u
#define MB_KS_CRC_LEN        4u
/** Record bytes for \p n pair entries. */
#define MB_KS_RECORD_LEN(n)  (MB_KS_HEADER_LEN + MB_KS_PUBLIC_LEN + MB_KS_PRIV_LEN + \
                              (n) * MB_KS_PAIR_LEN + MB_KS_MAC_LEN + MB_KS_CRC_LEN)
/** Largest record this build writes or reads (1450 bytes for 33 pairs). */
#define MB_KS_RECORD_MAX     MB_KS_RECORD_LEN(MB_KS_MAX_PAIRS)
/** Largest flash program unit the work buffer is padded for. */
#define MB_KS_WRITE_UNIT_MAX 16u
#define MB_KS_BUF_LEN        (((MB_KS_RECORD_MAX + MB_KS_WRITE_UNIT_MAX - 1u) / \
                               MB_KS_WRITE_UNIT_MAX) * MB_KS_WRITE_UNIT_MAX)

/** Record flags. */
#define MB_KS_FLAG_HAS_APP_KEY   0x01u  /**< app_pub is set (pack controller) */
#define MB_KS_FLAG_BOOTSTRAPPED  0x02u  /**< provisioned by a clear factory-bootstrap package */

/**
 * \brief Flash and counter hooks, supplied by the platform.
 *
 * Offsets are relative to the start of the key-store area, which spans
 * 2 x mb_keystore_slot_size() bytes: slot 0, then slot 1.
 */
typedef struct mb_ks_platform {
    /** Read \p len bytes at \p off. MB_OK or a negative code. */
    int (*read)(void *user, uint32_t off, uint8_t *buf, size_t len);
    /** Erase \p len bytes at \p off (both multiples of page_size). */
    int (*erase)(void *user, uint32_t off, size_t len);
    /** Program \p len bytes at \p off (multiples of write_unit) into erased flash. */
    int (*write)(void *user, uint32_t off, const uint8_t *buf, size_t len);
    /** Optional (NULL: none): read the monotonic counter (anti-rollback floor). */
    int (*counter_read)(void *user, uint32_t *value);
    /** Optional: raise the monotonic counter to \p value (never lowers it). */
    int (*counter_raise)(void *user, uint32_t value);
    void    *user;        /**< passed to every hook */
    uint32_t page_size;   /**< erase unit, bytes (power of two, 1..65536) */
    uint32_t write_unit;  /**< program unit, bytes: 1, 2, 4, 8 or 16 */
    uint8_t  erased;      /**< value of an erased byte (0xFF on NOR flash) */
} mb_ks_platform;

/** Crypto parameters the app chose (also carried in the key package). */
typedef struct mb_ks_params {
    uint8_t  profile;           /**< mb_profile: 0 classic, 1 CAN FD */
    uint8_t  reserved[3];       /**< 0 */
    uint32_t rekey_after_ms;    /**< session rotation interval, 0 = never */
    uint32_t rekey_after_msgs;  /**< session rotation after this many messages */
} mb_ks_params;

/** One peer of this device. */
typedef struct mb_ks_pair {
    uint8_t peer_id;                     /**< the pair's CAN device id */
    uint8_t flags;                       /**< bit 0: this device is the controller end;
                                              bit 1: ephemeral key exchange (mb_keypkg.h) */
    uint8_t key_id[4];                   /**< public name of the pair key */
    uint8_t secret[MB_KS_SECRET_LEN];    /**< pair secret (see docs/PROVISIONING.md) */
} mb_ks_pair;

/** The record in RAM. Wipe with mb_ks_record_wipe(). */
typedef struct mb_ks_record {
    uint32_t     generation;       /**< set by mb_keystore_write(), read by boot */
    uint32_t     package_version;  /**< version of the key package it came from */
    uint8_t      device_id;        /**< this device's CAN device id */
    uint8_t      role;             /**< 0 pack controller, 1 battery module */
    uint8_t      flags;            /**< MB_KS_FLAG_* */
    uint8_t      pair_count;       /**< 0..MB_KS_MAX_PAIRS */
    mb_ks_params params;
    uint8_t      app_pub[MB_KS_PUB_LEN];        /**< app's P-256 key, if flagged */
    uint8_t      binding_priv[MB_KS_PRIV_LEN];  /**< this device's binding key */
    mb_ks_pair   pairs[MB_KS_MAX_PAIRS];
} mb_ks_record;

/** Outcome of mb_keystore_boot(), for logs and the key-store status report. */
typedef struct mb_ks_boot_info {
    int      slot_status[2];   /**< MB_OK or the reason each slot was refused */
    uint32_t slot_generation[2]; /**< generation each slot claims (0 if unreadable) */
    int      selected;         /**< 0 or 1; -1 when none */
    uint32_t counter;          /**< monotonic counter read at boot (0 without one) */
} mb_ks_boot_info;

/** Key store. Caller-allocated; wipe with mb_keystore_free(). */
typedef struct mb_keystore {
    const mb_ks_platform *plat;
    uint8_t  mac_key[32];
    uint8_t  enc_key[32];
    uint8_t  uid[MB_KS_UID_LEN];
    uint32_t slot_size;
    uint32_t generation;       /**< newest valid generation, or the counter floor */
    int      current;          /**< slot holding the newest valid record; -1 none */
    uint8_t  booted;           /**< 1 after mb_keystore_boot() read both slots */
    uint8_t  buf[MB_KS_BUF_LEN];
} mb_keystore;

/**
 * \brief  Set up a key store over \p plat.
 * \param storage_key  32 device-unique secret bytes from the platform (see
 *                     docs/PROVISIONING.md: a hardware-held secret, not the
 *                     public MCU UID alone); only derived keys are kept.
 * \param uid          This device's 16-byte uid, bound into every record.
 * \return MB_OK; MB_ERR_NULL (a pointer or a required hook); MB_ERR_INVALID_ARG
 *         for a page size that is not a power of two up to 65536, a write
 *         unit not in {1,2,4,8,16}, or a counter_read hook without
 *         counter_raise; MB_ERR_CRYPTO.
 */
int mb_keystore_init(mb_keystore *ks, const mb_ks_platform *plat,
                     const uint8_t storage_key[32], const uint8_t uid[16]);

/** \brief Bytes one slot occupies: the record maximum rounded up to pages. */
uint32_t mb_keystore_slot_size(const mb_keystore *ks);

/**
 * \brief  Select and load the newest valid record (call once at boot).
 *
 * Each slot is checked in this order, first failure wins:
 *   blank -> MB_ERR_NOT_FOUND; magic -> MB_ERR_INTEGRITY; format version ->
 *   MB_ERR_VERSION; length -> MB_ERR_INTEGRITY; CRC: erased tail ->
 *   MB_ERR_TRUNCATED, otherwise MB_ERR_INTEGRITY; device uid ->
 *   MB_ERR_WRONG_DEVICE; MAC -> MB_ERR_AUTH; generation below the monotonic
 *   counter -> MB_ERR_ROLLBACK.
 *
 * When a record is selected, the other slot is erased unless it is blank
 * (it can hold the previous generation when a write was cut after its new
 * record landed; \p info still reports what the slot held). When none is
 * selected, flash is left as found.
 *
 * \param out   The selected record (decrypted); zeroed when none.
 * \param info  Optional: per-slot reasons (as read, before any erase),
 *              selected slot, counter.
 * \return MB_OK when a record was selected (the monotonic counter, if any,
 *         is raised to its generation, and the other slot is blank).
 *         Otherwise the most significant reason over both slots, in this
 *         order: MB_ERR_ROLLBACK, MB_ERR_WRONG_DEVICE, MB_ERR_AUTH,
 *         MB_ERR_VERSION, MB_ERR_INTEGRITY, MB_ERR_TRUNCATED, MB_ERR_NOT_FOUND
 *         (both slots blank).
 *         MB_ERR_NULL; MB_ERR_FLASH when a hook fails, raising the counter
 *         or erasing the other slot included (nothing is selected then; the
 *         next boot tries again); MB_ERR_CRYPTO.
 */
int mb_keystore_boot(mb_keystore *ks, mb_ks_record *out, mb_ks_boot_info *info);

/**
 * \brief  Write \p rec as the new record (generation = newest + 1, at least
 *         the monotonic counter + 1), into the slot not holding the newest
 *         valid record; read it back; raise the monotonic counter; then
 *         erase the other slot (unless blank) and check it reads blank.
 *
 * On MB_OK exactly one record is on flash: \p rec. Call mb_keystore_boot()
 * first. \p rec->generation is set once the new record is verified.
 * \param rng  Random bytes for the record nonce (MB_OK / negative on failure).
 * \return MB_OK; MB_ERR_NULL; MB_ERR_STATE before boot; MB_ERR_INVALID_ARG for
 *         pair_count above MB_KS_MAX_PAIRS; MB_ERR_RNG; MB_ERR_FLASH when a
 *         hook fails: while erasing, programming or reading back the new
 *         slot, the previous record is still the valid one; while raising
 *         the counter or erasing the other slot, the new record is valid
 *         and in use (\p rec->generation set) and the next boot finishes
 *         those steps; MB_ERR_INTEGRITY when the read-back differs;
 *         MB_ERR_STATE when the generation would wrap; MB_ERR_CRYPTO.
 */
int mb_keystore_write(mb_keystore *ks, mb_ks_record *rec,
                      int (*rng)(void *user, uint8_t *out, size_t len), void *rng_user);

/**
 * \brief  Advance one pair entry to the next generation of its pair secret
 *         (rotation at rest, `modbatt keys rotate`):
 *
 *             PS' || key_id' = HKDF-SHA256(salt = key_id, IKM = PS,
 *                                          info = "modbatt/keystore/v1/rotate", 36)
 *
 *         Deterministic, so both ends of a pair rotated once each hold the
 *         same PS' and key id again; one-way, so the new secret does not
 *         reveal the old one (traffic recorded before the rotation stays
 *         closed to whoever later reads the store). It does not recover from
 *         a compromise: whoever held PS can compute PS' (re-provision for
 *         that). The old secret is overwritten in \p pair; on flash it
 *         goes with the record that held it, which mb_keystore_write() of
 *         the rotated record erases.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_CRYPTO (then \p pair is unchanged).
 */
int mb_ks_pair_rotate(mb_ks_pair *pair);

/** \brief Zeroize keys and the work buffer. NULL-safe. */
void mb_keystore_free(mb_keystore *ks);

/** \brief Zeroize a record. NULL-safe. */
void mb_ks_record_wipe(mb_ks_record *rec);

/** \brief CRC-32 (IEEE 802.3, reflected, as zlib's crc32()) of \p len bytes. */
uint32_t mb_crc32(const uint8_t *data, size_t len);

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_KEYSTORE_H */
