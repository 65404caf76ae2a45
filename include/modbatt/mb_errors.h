/**
 * \file mb_errors.h
 * \brief Return codes of the Modbatt C core.
 *
 * Every function that can fail returns \c int: #MB_OK (0) or one negative
 * \c MB_ERR_* code from this table. Codes are stable: firmware, the Swift
 * layer and log tooling match on their numeric values, so a code is never
 * renumbered or reused; new codes are appended.
 */
#ifndef MODBATT_MB_ERRORS_H
#define MODBATT_MB_ERRORS_H

#ifdef __cplusplus
extern "C" {
#endif

#define MB_OK                      0    /**< Success. */
#define MB_ERR_NULL               -1    /**< A required pointer argument was NULL. */
#define MB_ERR_LENGTH             -2    /**< A buffer length is out of range for this call. */
#define MB_ERR_TAG_LENGTH         -3    /**< Tag length is not 4, 8 or 12..16 bytes. */
#define MB_ERR_AUTH               -4    /**< Authentication failed (bad tag or confirmation). */
#define MB_ERR_REPLAY             -5    /**< Counter already seen or older than the replay window. */
#define MB_ERR_NONCE_EXHAUSTED    -6    /**< Nonce counter limit reached; rekey before sending. */
#define MB_ERR_CANID_RANGE        -7    /**< CAN id above 29 bits or a field out of range. */
#define MB_ERR_CHUNK_RANGE        -8    /**< Chunk index/total outside 1..16 or index > total. */
#define MB_ERR_KEY_NOT_SET        -9    /**< Context used before a key was installed. */
#define MB_ERR_CRYPTO            -10    /**< The underlying crypto library reported a failure. */
#define MB_ERR_INVALID_ARG       -11    /**< An argument value is invalid (e.g. identical halves). */
#define MB_ERR_BUFFER_TOO_SMALL  -12    /**< Output buffer cannot hold the result. */
#define MB_ERR_MALFORMED         -13    /**< Frame or message does not parse. */
#define MB_ERR_EPOCH             -14    /**< Message belongs to an unknown or expired key epoch. */
#define MB_ERR_STATE             -15    /**< Call not valid in the object's current state. */
#define MB_ERR_TIMEOUT           -16    /**< A handshake, transfer or reassembly timed out. */
#define MB_ERR_RNG               -17    /**< The platform random-number callback failed. */
#define MB_ERR_HANDSHAKE         -18    /**< Handshake failed (wrong pair key or tampering). */
#define MB_ERR_RATE_LIMITED      -19    /**< Refused by a rate limit (e.g. resync attempts). */
#define MB_ERR_NO_SLOT           -20    /**< No free reassembly or session slot. */
#define MB_ERR_POLICY            -21    /**< Refused by the session policy (e.g. clear diagnostics). */
#define MB_ERR_VERSION           -22    /**< Unsupported protocol, package or record version. */
#define MB_ERR_INTEGRITY         -23    /**< Stored or received record failed its CRC or MAC. */
#define MB_ERR_ROLLBACK          -24    /**< Record or package older than one already accepted. */
#define MB_ERR_WRONG_DEVICE      -25    /**< Record or package belongs to another device. */
#define MB_ERR_NOT_FOUND         -26    /**< Nothing stored (blank key store). */
#define MB_ERR_TRUNCATED         -27    /**< Data ends early (cut transfer, interrupted flash write). */
#define MB_ERR_ABORTED           -28    /**< Transfer aborted: retries exhausted or peer abort. */
#define MB_ERR_FLASH             -29    /**< The platform flash hook reported a failure. */
#define MB_ERR_STALE             -30    /**< Command older than a newer one of its kind, or than the age bound. */

/** Lowest (most negative) code in use; for table-driven tests and bindings. */
#define MB_ERR_MIN               MB_ERR_STALE

/**
 * \brief  Name a return code.
 * \param code  A value returned by any \c mb_ function.
 * \return A static, human-readable string; "unknown error" for codes not in
 *         the table. Never NULL, never contains key material.
 */
const char *mb_strerror(int code);

#ifdef __cplusplus
}
#endif

#endif /* MODBATT_MB_ERRORS_H */
