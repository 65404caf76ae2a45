/* mb_errors.c - names for the MB_ERR_* table (mb_errors.h). */
#include "modbatt/mb_errors.h"

const char *mb_strerror(int code)
{
    switch (code) {
    case MB_OK:                   return "success";
    case MB_ERR_NULL:             return "required pointer argument is NULL";
    case MB_ERR_LENGTH:           return "length out of range";
    case MB_ERR_TAG_LENGTH:       return "tag length must be 4, 8 or 12..16 bytes";
    case MB_ERR_AUTH:             return "authentication failed";
    case MB_ERR_REPLAY:           return "replayed or too-old counter";
    case MB_ERR_NONCE_EXHAUSTED:  return "nonce counter exhausted, rekey required";
    case MB_ERR_CANID_RANGE:      return "CAN id or id field out of range";
    case MB_ERR_CHUNK_RANGE:      return "chunk index or total out of range";
    case MB_ERR_KEY_NOT_SET:      return "no key installed";
    case MB_ERR_CRYPTO:           return "crypto library failure";
    case MB_ERR_INVALID_ARG:      return "invalid argument";
    case MB_ERR_BUFFER_TOO_SMALL: return "output buffer too small";
    case MB_ERR_MALFORMED:        return "malformed frame or message";
    case MB_ERR_EPOCH:            return "unknown or expired key epoch";
    case MB_ERR_STATE:            return "invalid in current state";
    case MB_ERR_TIMEOUT:          return "timed out";
    case MB_ERR_RNG:              return "random number generator failed";
    case MB_ERR_HANDSHAKE:        return "handshake failed";
    case MB_ERR_RATE_LIMITED:     return "rate limited";
    case MB_ERR_NO_SLOT:          return "no free slot";
    case MB_ERR_POLICY:           return "refused by policy";
    case MB_ERR_VERSION:          return "unsupported version";
    case MB_ERR_INTEGRITY:        return "integrity check failed";
    case MB_ERR_ROLLBACK:         return "older than an accepted record (rollback)";
    case MB_ERR_WRONG_DEVICE:     return "belongs to another device";
    case MB_ERR_NOT_FOUND:        return "nothing stored";
    case MB_ERR_TRUNCATED:        return "data truncated or write incomplete";
    case MB_ERR_ABORTED:          return "transfer aborted";
    case MB_ERR_FLASH:            return "flash access failed";
    case MB_ERR_STALE:            return "stale command (older than a newer one or the age bound)";
    default:                      return "unknown error";
    }
}
