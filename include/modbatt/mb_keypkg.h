/**
 * \file mb_keypkg.h
 * \brief Key packages sealed to a device, device binding keys, and sealed
 *        reports from a device to the app (docs/PROVISIONING.md, 2-4).
 *
 * Every device owns a **binding key pair** (P-256), generated on the device
 * with mb_binding_generate(); the private scalar stays in its key store
 * (mb_keystore.h), the public key is registered with the API-Bridge.
 *
 * The app builds one **key package** per device: header (clear, bound as
 * AAD) + body (parameters, app public key, one entry per pair with both key
 * halves, salt, ids and the expected key id) + GCM tag + the app's ECDSA
 * signature over all of it. mb_keypkg_seal() encrypts the body to the
 * device's binding key and signs as the app:
 *
 *     (e, E)   = fresh P-256 key pair          Z = ECDH(e, D)  (x, 32 bytes)
 *     key||iv  = HKDF-SHA256(salt = E || D, IKM = Z,
 *                            info = "modbatt/keypkg/v1" || len || component id, 44)
 *     body'    = AES-256-GCM(key, iv, AAD = header, body), tag 16 bytes
 *
 * so key halves never cross a bus in clear and only the holder of the
 * device's private key can open it; the signature means only the app the
 * device trusts can make one (anyone can encrypt to a public key).
 * mb_keypkg_open() checks structure, version and target, the signature
 * (against the pinned app key, or on first provisioning the key the package
 * carries, which the device then pins), authenticates and decrypts, then
 * validates every entry (the key id each entry announces must equal what
 * mb_pair_derive() yields) before it returns anything.
 *
 * The **factory bootstrap** mode (MB_KEYPKG_MODE_BOOTSTRAP) carries the body
 * in clear with a SHA-256 check value: only for a physically secured line,
 * refused unless the opener's policy allows it, and flagged in the contents
 * so the caller logs it loudly.
 *
 * **Reports** (delivery results, key-store status, alerts) that a device
 * sends to the app outside a session are encrypted to the app's public key
 * (ephemeral ECDH, same construction, label "modbatt/report/v1") and signed
 * with ECDSA-P256 by the device's binding key.
 *
 * All P-256 work uses mbedTLS's ecp/ecdh/ecdsa with the platform RNG.
 * mbedTLS allocates its bignums through its platform layer (a static pool on
 * firmware, docs/FIRMWARE.md); this module itself never allocates.
 */
#ifndef MODBATT_MB_KEYPKG_H
#define MODBATT_MB_KEYPKG_H

#include <stddef.h>
#include <stdint.h>

#include "modbatt/mb_keystore.h"
#include "modbatt/mb_pair.h"

#ifdef __cplusplus
extern "C" {
#endif

/** Random bytes from the platform: MB_OK (0), or negative on failure. Same
 *  signature as mb_rng_fn of mb_session.h. */
typedef int (*mb_keypkg_rng_fn)(void *user, uint8_t *out, size_t len);

#define MB_P256_PRIV_LEN        32u
#define MB_P256_PUB_LEN         65u   /**< 0x04 || X || Y */
#define MB_P256_SIG_LEN         64u   /**< r || s, 32 bytes each, big-endian */
#define MB_BINDING_KEY_ID_LEN    8u   /**< SHA-256(public key)[0..8) */

/* ---- binding keys ------------------------------------------------------ */

/**
 * \brief  Generate a binding key pair on the device.
 * \param priv  Out: private scalar, 32 bytes big-endian (store it with
 *              mb_keystore_write(); wipe this copy).
 * \param pub   Out: uncompressed public key, 65 bytes (register it).
 * \return MB_OK; MB_ERR_NULL; MB_ERR_RNG; MB_ERR_CRYPTO. Outputs are zeroed
 *         on error.
 */
int mb_binding_generate(mb_keypkg_rng_fn rng, void *rng_user,
                        uint8_t priv[32], uint8_t pub[65]);

/**
 * \brief  Recompute the public key of a stored private key (at boot).
 * \return MB_OK; MB_ERR_NULL; MB_ERR_INVALID_ARG when \p priv is not a valid
 *         P-256 scalar; MB_ERR_RNG; MB_ERR_CRYPTO.
 */
int mb_binding_public(const uint8_t priv[32], mb_keypkg_rng_fn rng, void *rng_user,
                      uint8_t pub[65]);

/**
 * \brief  The public name of a binding key: SHA-256(pub)[0..8).
 * \return MB_OK; MB_ERR_NULL; MB_ERR_CRYPTO.
 */
int mb_binding_key_id(const uint8_t pub[65], uint8_t id[8]);

/* ---- key packages ------------------------------------------------------ */

#define MB_KEYPKG_MAGIC        0x4D424B50u  /**< "MBKP" */
#define MB_KEYPKG_VERSION      1u
#define MB_KEYPKG_MODE_SEALED    1u   /**< body encrypted to the device (default) */
#define MB_KEYPKG_MODE_BOOTSTRAP 2u   /**< body in clear: factory line only */
#define MB_KEYPKG_INFO_LABEL   "modbatt/keypkg/v1"
#define MB_KEYPKG_FIXED_HDR    101u   /**< header bytes before the component id */
#define MB_KEYPKG_PARAMS_LEN   78u    /**< body bytes before the first entry */
#define MB_KEYPKG_ENTRY_FIXED  168u   /**< entry bytes besides the two ids */
#define MB_KEYPKG_TAG_LEN      16u
/** Pair entries a package may carry (the pack controller: app + 32 modules). */
#define MB_KEYPKG_MAX_PAIRS    MB_KS_MAX_PAIRS
/** Largest body: every entry with two 64-byte ids. */
#define MB_KEYPKG_BODY_MAX     (MB_KEYPKG_PARAMS_LEN + MB_KEYPKG_MAX_PAIRS * \
                                (MB_KEYPKG_ENTRY_FIXED + 2u * MB_PAIR_ID_MAX))
/** Largest package. */
#define MB_KEYPKG_MAX          (MB_KEYPKG_FIXED_HDR + MB_PAIR_ID_MAX + \
                                MB_KEYPKG_BODY_MAX + MB_KEYPKG_TAG_LEN + MB_P256_SIG_LEN)

#define MB_KEYPKG_PAIR_CONTROLLER 0x01u  /**< entry flag: this device is the controller end */
/** Entry flag: the pair's handshakes add an ephemeral key exchange
 *  (mb_kex.h, docs/PROTOCOL.md 6.6); kept in the key store's pair flags. */
#define MB_KEYPKG_PAIR_EPHEMERAL  0x02u

/** One pair of the target device. All pointers borrowed. */
typedef struct mb_keypkg_pair {
    uint8_t        peer_id;        /**< the peer's CAN device id */
    uint8_t        flags;          /**< MB_KEYPKG_PAIR_CONTROLLER, MB_KEYPKG_PAIR_EPHEMERAL */
    uint8_t        key_id[4];      /**< key id mb_pair_derive() must yield */
    const uint8_t *peer_comp;      /**< peer component id, 1..64 bytes */
    size_t         peer_comp_len;
    const uint8_t *lct_id;         /**< the pair's LCT id, 1..64 bytes */
    size_t         lct_id_len;
    const uint8_t *half_1;         /**< 64 bytes */
    const uint8_t *half_2;         /**< 64 bytes */
    const uint8_t *salt;           /**< 32 bytes */
} mb_keypkg_pair;

/** A package's contents. For mb_keypkg_seal() the caller fills it (with
 *  \c pairs pointing to \c pair_count entries); mb_keypkg_open() fills it
 *  with pointers into the caller's body buffer (\c pairs NULL: read the
 *  entries with mb_keypkg_pair_at()). */
typedef struct mb_keypkg_contents {
    uint8_t               mode;              /**< MB_KEYPKG_MODE_*: check for BOOTSTRAP and log it */
    uint32_t              package_version;   /**< >= 1, higher for every new package to the device */
    uint8_t               device_id;         /**< target CAN device id */
    uint8_t               role;              /**< 0 pack controller, 1 battery module */
    const uint8_t        *comp_id;           /**< target component id, 1..64 bytes */
    size_t                comp_id_len;
    uint8_t               recipient[MB_BINDING_KEY_ID_LEN]; /**< key id of the sealing key (0 in bootstrap) */
    uint8_t               signer[MB_BINDING_KEY_ID_LEN];    /**< key id of the app key that signed it */
    mb_ks_params          params;
    uint8_t               has_app_pub;       /**< must be 1 in v1 */
    const uint8_t        *app_pub;           /**< 65 bytes: the app's key, which the device pins
                                                  (reports, and the next package's signature) */
    size_t                pair_count;        /**< 0..MB_KEYPKG_MAX_PAIRS */
    const mb_keypkg_pair *pairs;             /**< seal: the entries; open: NULL */
    const uint8_t        *body_;             /**< open: where the entries are (internal) */
} mb_keypkg_contents;

/**
 * \brief  Serialize and seal a package to a device (app side).
 * \param mode        MB_KEYPKG_MODE_SEALED, or MB_KEYPKG_MODE_BOOTSTRAP
 *                    (then \p device_pub may be NULL and nothing is encrypted).
 * \param device_pub  The target's registered binding public key (65 bytes).
 * \param app_priv    The app's signing key. Normally \p c->app_pub is its public
 *                    key; to rotate the app key, sign with the old (pinned) key
 *                    and carry the new one.
 * \param out, cap    Output buffer; *out_len gets the package length.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_INVALID_ARG for an unknown mode, version
 *         0, an id of 0 or over 64 bytes, too many pairs, equal halves,
 *         has_app_pub not 1, an invalid app_priv, or a device_pub that is
 *         not a P-256 point; MB_ERR_BUFFER_TOO_SMALL;
 *         MB_ERR_RNG; MB_ERR_CRYPTO. \p out is zeroed on error.
 */
int mb_keypkg_seal(const mb_keypkg_contents *c, uint8_t mode, const uint8_t *device_pub,
                   const uint8_t app_priv[32], mb_keypkg_rng_fn rng, void *rng_user,
                   uint8_t *out, size_t cap, size_t *out_len);

/** What the opening device expects. */
typedef struct mb_keypkg_expect {
    const uint8_t *binding_priv;    /**< 32 bytes: this device's private key */
    const uint8_t *binding_pub;     /**< 65 bytes: its public key */
    const uint8_t *app_pub;         /**< 65 bytes: the pinned app key (key store);
                                         NULL = none yet: trust the key the package carries */
    const uint8_t *comp_id;         /**< own component id; NULL = not known yet (first provisioning) */
    size_t         comp_id_len;
    uint16_t       device_id;       /**< own CAN device id; 0xFFFF = any */
    uint32_t       min_version;     /**< accept only package_version > this (the stored one) */
    uint8_t        allow_bootstrap; /**< 1: accept a clear factory-bootstrap package */
} mb_keypkg_expect;

/**
 * \brief  Open and validate a package on the device. Nothing is handed out
 *         unless every check passed.
 *
 * Checks, first failure wins: length >= fixed header (MB_ERR_TRUNCATED);
 * magic (MB_ERR_MALFORMED); format version (MB_ERR_VERSION); mode, counts,
 * id lengths (MB_ERR_MALFORMED); total length (MB_ERR_TRUNCATED when short,
 * MB_ERR_MALFORMED when long); bootstrap mode not allowed (MB_ERR_POLICY);
 * recipient key id, component id or CAN device id not this device's
 * (MB_ERR_WRONG_DEVICE); with a pinned app key: signer key id or signature
 * (MB_ERR_AUTH); ephemeral key not on the curve (MB_ERR_MALFORMED); tag or
 * check value (MB_ERR_AUTH; bootstrap: MB_ERR_INTEGRITY); app key flag,
 * reserved bytes or app key not on the curve (MB_ERR_MALFORMED); without a
 * pinned key: signer key id or signature against the carried key
 * (MB_ERR_AUTH); package version not above min_version (MB_ERR_ROLLBACK);
 * body structure (MB_ERR_MALFORMED); an entry whose halves are equal or
 * whose derived key id differs from the announced one (MB_ERR_INTEGRITY).
 *
 * \param body, body_cap  Receives the component id and the decrypted body
 *                        (a capacity of the package length is always
 *                        enough); \p out points into it alone, so \p pkg
 *                        may be released after the call. Wipe it after use.
 * \return MB_OK or the code above; MB_ERR_NULL; MB_ERR_BUFFER_TOO_SMALL;
 *         MB_ERR_RNG; MB_ERR_CRYPTO. On error \p body and \p out are zeroed.
 */
int mb_keypkg_open(const uint8_t *pkg, size_t len, const mb_keypkg_expect *expect,
                   mb_keypkg_rng_fn rng, void *rng_user,
                   uint8_t *body, size_t body_cap, mb_keypkg_contents *out);

/** The clear routing fields of a package's header. */
typedef struct mb_keypkg_route {
    uint8_t  mode;              /**< MB_KEYPKG_MODE_* */
    uint8_t  role;              /**< target role */
    uint8_t  device_id;         /**< target CAN device id */
    uint32_t package_version;
    uint8_t  recipient[MB_BINDING_KEY_ID_LEN];
} mb_keypkg_route;

/**
 * \brief  Read the routing fields of a package without opening it: the pack
 *         controller uses this to forward a module's package (transfer kind
 *         FORWARD) to the device id it names. Nothing here is authenticated
 *         until the target opens the package; never use it for decisions
 *         other than routing and logging.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_TRUNCATED, MB_ERR_MALFORMED or
 *         MB_ERR_VERSION for the structural checks of mb_keypkg_open().
 */
int mb_keypkg_peek(const uint8_t *pkg, size_t len, mb_keypkg_route *out);

/**
 * \brief  Entry \p index of an opened package (pointers into its body), or
 *         of contents being built (a copy of pairs[index]).
 * \return MB_OK; MB_ERR_NULL; MB_ERR_INVALID_ARG for an index out of range
 *         or contents with neither a body nor pairs.
 */
int mb_keypkg_pair_at(const mb_keypkg_contents *c, size_t index, mb_keypkg_pair *out);

/**
 * \brief  Derive the pair keys of entry \p index (mb_pair_derive() with this
 *         device as "self").
 * \return As mb_keypkg_pair_at() and mb_pair_derive().
 */
int mb_keypkg_derive(const mb_keypkg_contents *c, size_t index, mb_pair_keys *keys);

/**
 * \brief  Turn an opened, validated package into the key-store record the
 *         device writes (mb_keystore_write()): parameters, app key, package
 *         version, and per entry the peer id, flags, key id and the pair
 *         secret PS of mb_session_pair_secret() (docs/PROTOCOL.md 6.1), which
 *         mb_session_init_secret() takes at boot. Key halves and salts are not
 *         copied; the pair keys derived on the way are wiped.
 * \param binding_priv  The device's binding private key (kept in the record).
 * \return MB_OK; MB_ERR_NULL; MB_ERR_INVALID_ARG for contents not from
 *         mb_keypkg_open() or with more pairs than MB_KS_MAX_PAIRS;
 *         the codes of mb_pair_derive(). \p rec is wiped on error.
 */
int mb_keypkg_to_record(const mb_keypkg_contents *c, const uint8_t binding_priv[32],
                        mb_ks_record *rec);

/* ---- sealed reports (device -> app) ------------------------------------ */

#define MB_REPORT_MAGIC        0x4D425250u  /**< "MBRP" */
#define MB_REPORT_VERSION      1u
#define MB_REPORT_INFO_LABEL   "modbatt/report/v1"
#define MB_REPORT_HDR_LEN      87u
#define MB_REPORT_PT_MAX       256u
#define MB_REPORT_OVERHEAD     (MB_REPORT_HDR_LEN + MB_KEYPKG_TAG_LEN + MB_P256_SIG_LEN)
#define MB_REPORT_MAX          (MB_REPORT_OVERHEAD + MB_REPORT_PT_MAX)

/** Report types. */
#define MB_REPORT_DELIVERY     1u   /**< result of a key package delivery */
#define MB_REPORT_KEYSTORE     2u   /**< key-store status (boot reasons) */
#define MB_REPORT_ALERT        3u   /**< security alert */

/** Header fields of a report, as sent or as received. */
typedef struct mb_report_info {
    uint8_t  type;        /**< MB_REPORT_* */
    uint8_t  device_id;   /**< sender's CAN device id */
    uint32_t sequence;    /**< per-device counter; the app drops repeats */
    uint8_t  sender[MB_BINDING_KEY_ID_LEN];  /**< key id of the signing key */
} mb_report_info;

/**
 * \brief  Encrypt a report to the app and sign it (device side).
 * \param info      type, device_id and sequence (sender is computed).
 * \param pt, len   Report payload, 0..MB_REPORT_PT_MAX bytes.
 * \param app_pub   The app's public key (from the key package / key store).
 * \param dev_priv, dev_pub  The device's binding key pair.
 * \return MB_OK; MB_ERR_NULL; MB_ERR_LENGTH; MB_ERR_INVALID_ARG for a key
 *         that is not on P-256; MB_ERR_BUFFER_TOO_SMALL; MB_ERR_RNG;
 *         MB_ERR_CRYPTO.
 */
int mb_report_seal(const mb_report_info *info, const uint8_t *pt, size_t len,
                   const uint8_t app_pub[65], const uint8_t dev_priv[32],
                   const uint8_t dev_pub[65], mb_keypkg_rng_fn rng, void *rng_user,
                   uint8_t *out, size_t cap, size_t *out_len);

/**
 * \brief  Verify the signature, then decrypt a report (app side).
 * \param dev_pub   The sender's registered binding public key.
 * \param app_priv, app_pub  The app's key pair (the report is encrypted to app_pub).
 * \param min_sequence  Accept only sequence > this (0 for the first report).
 * \return MB_OK; MB_ERR_TRUNCATED / MB_ERR_MALFORMED / MB_ERR_VERSION for a
 *         bad layout; MB_ERR_WRONG_DEVICE when the sender key id is not
 *         \p dev_pub's; MB_ERR_AUTH for a bad signature or tag;
 *         MB_ERR_REPLAY for an old sequence; MB_ERR_NULL;
 *         MB_ERR_BUFFER_TOO_SMALL; MB_ERR_RNG; MB_ERR_CRYPTO. \p pt is
 *         zeroed on error.
 */
int mb_report_open(const uint8_t *in, size_t len, const uint8_t dev_pub[65],
                   const uint8_t app_priv[32], const uint8_t app_pub[65],
                   uint32_t min_sequence, mb_keypkg_rng_fn rng, void *rng_user,
                   mb_report_info *info, uint8_t *pt, size_t cap, size_t *pt_len);

/* ---- report payloads (inside the sealed report) ------------------------- */

#define MB_REPORT_DELIVERY_LEN  11u
/** MB_REPORT_DELIVERY: [package version u32][result i16][pairs stored u8][generation u32]. */
typedef struct mb_report_delivery {
    uint32_t package_version;  /**< the package this is about */
    int16_t  result;           /**< MB_OK, or the MB_ERR_* that refused it */
    uint8_t  pairs;            /**< pairs stored */
    uint32_t generation;       /**< key-store record generation written (0: none) */
} mb_report_delivery;

#define MB_REPORT_KEYSTORE_LEN  18u
/** MB_REPORT_KEYSTORE: [slot 0 reason i16][slot 1 reason i16][selected i8]
 *  [generation u32][counter u32][package version u32][flags u8]. */
typedef struct mb_report_keystore {
    int16_t  slot_status[2];   /**< mb_ks_boot_info.slot_status */
    int8_t   selected;         /**< 0, 1, or -1 */
    uint32_t generation;       /**< of the selected record */
    uint32_t counter;          /**< monotonic counter (0 without one) */
    uint32_t package_version;  /**< of the selected record */
    uint8_t  flags;            /**< MB_KS_FLAG_* of the selected record */
} mb_report_keystore;

/**
 * \brief  The key-store status of a boot, for a MB_REPORT_KEYSTORE report.
 * \param rec  The record boot loaded; NULL when none was selected.
 * \return MB_OK; MB_ERR_NULL.
 */
int mb_report_keystore_from_boot(const mb_ks_boot_info *info, const mb_ks_record *rec,
                                 mb_report_keystore *out);

/** \brief Encode a delivery result (11 bytes). MB_OK; MB_ERR_NULL; MB_ERR_BUFFER_TOO_SMALL. */
int mb_report_encode_delivery(const mb_report_delivery *d, uint8_t *out, size_t cap, size_t *len);
/** \brief Decode exactly 11 bytes. MB_OK; MB_ERR_NULL; MB_ERR_MALFORMED. */
int mb_report_decode_delivery(const uint8_t *in, size_t len, mb_report_delivery *d);
/** \brief Encode a key-store status (18 bytes). MB_OK; MB_ERR_NULL; MB_ERR_BUFFER_TOO_SMALL;
 *         MB_ERR_INVALID_ARG for selected outside -1..1. */
int mb_report_encode_keystore(const mb_report_keystore *k, uint8_t *out, size_t cap, size_t *len);
/** \brief Decode exactly 18 bytes. MB_OK; MB_ERR_NULL; MB_ERR_MALFORMED. */
int mb_report_decode_keystore(const uint8_t *in, size_t len, mb_report_keystore *k);

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_KEYPKG_H */
