internal import CModbatt

/// Every failure the Modbatt safety layer reports.
///
/// Each C core return code (`MB_ERR_*` in `mb_errors.h`) maps to exactly one
/// case; the Swift layer adds cases for input it validates itself (parsing
/// key material). Descriptions never contain key bytes.
public enum ModbattError: Error, Equatable, Sendable, CustomStringConvertible {
    /// `MB_ERR_NULL`: a required buffer was missing.
    case nullArgument
    /// `MB_ERR_LENGTH`: a length is out of range for the call.
    case invalidLength
    /// `MB_ERR_TAG_LENGTH`: tag length is not 4, 8 or 12...16 bytes.
    case invalidTagLength
    /// `MB_ERR_AUTH`: authentication failed (bad tag or key confirmation).
    case authenticationFailed
    /// `MB_ERR_REPLAY`: the counter was seen before or is older than the window.
    case replay
    /// `MB_ERR_NONCE_EXHAUSTED`: the nonce counter reached its limit; rekey.
    case nonceExhausted
    /// `MB_ERR_CANID_RANGE`: CAN id above 29 bits or a field out of range.
    case canIdOutOfRange
    /// `MB_ERR_CHUNK_RANGE`: chunk index/total out of range.
    case chunkOutOfRange
    /// `MB_ERR_KEY_NOT_SET`: a context was used before a key was installed.
    case keyNotSet
    /// `MB_ERR_CRYPTO`: the underlying crypto library failed.
    case cryptoFailure
    /// `MB_ERR_INVALID_ARG`: an argument value is invalid.
    case invalidArgument
    /// `MB_ERR_BUFFER_TOO_SMALL`: an output buffer was too small.
    case bufferTooSmall
    /// `MB_ERR_MALFORMED`: a frame or message does not parse.
    case malformed
    /// `MB_ERR_EPOCH`: unknown or expired key epoch.
    case wrongEpoch
    /// `MB_ERR_STATE`: the call is not valid in the current state.
    case invalidState
    /// `MB_ERR_TIMEOUT`: a handshake, transfer or reassembly timed out.
    case timeout
    /// `MB_ERR_RNG`: the random-number source failed.
    case randomFailure
    /// `MB_ERR_HANDSHAKE`: the handshake failed (wrong key or tampering).
    case handshakeFailed
    /// `MB_ERR_RATE_LIMITED`: refused by a rate limit.
    case rateLimited
    /// `MB_ERR_NO_SLOT`: no free reassembly or session slot.
    case noSlot
    /// `MB_ERR_POLICY`: refused by the session policy.
    case policy
    /// `MB_ERR_VERSION`: unsupported protocol, package or record version.
    case unsupportedVersion
    /// `MB_ERR_INTEGRITY`: a record failed its CRC or MAC.
    case integrity
    /// `MB_ERR_ROLLBACK`: a record or package is older than one already accepted.
    case rollback
    /// `MB_ERR_WRONG_DEVICE`: a record or package belongs to another device.
    case wrongDevice
    /// `MB_ERR_NOT_FOUND`: nothing is stored (blank key store).
    case notFound
    /// `MB_ERR_TRUNCATED`: data ends early (cut transfer, interrupted flash write).
    case truncated
    /// `MB_ERR_ABORTED`: a transfer was aborted (retries exhausted or peer abort).
    case aborted
    /// `MB_ERR_FLASH`: the platform flash hook failed.
    case flashFailure
    /// `MB_ERR_STALE`: a command older than a newer one of its kind, or than the age bound.
    case stale
    /// A C code this version of the wrapper does not know (a newer core).
    case unknown(code: Int32)
    /// Key material given as text did not parse; `reason` says why (never the bytes).
    case invalidKeyEncoding(reason: String)

    /// Map a C core return code; `nil` for `MB_OK` (0).
    public init?(code: Int32) {
        guard code != MB_OK else { return nil }
        self = Self.table[code] ?? .unknown(code: code)
    }

    private static let table: [Int32: ModbattError] = [
        MB_ERR_NULL: .nullArgument, MB_ERR_LENGTH: .invalidLength,
        MB_ERR_TAG_LENGTH: .invalidTagLength, MB_ERR_AUTH: .authenticationFailed,
        MB_ERR_REPLAY: .replay, MB_ERR_NONCE_EXHAUSTED: .nonceExhausted,
        MB_ERR_CANID_RANGE: .canIdOutOfRange, MB_ERR_CHUNK_RANGE: .chunkOutOfRange,
        MB_ERR_KEY_NOT_SET: .keyNotSet, MB_ERR_CRYPTO: .cryptoFailure,
        MB_ERR_INVALID_ARG: .invalidArgument, MB_ERR_BUFFER_TOO_SMALL: .bufferTooSmall,
        MB_ERR_MALFORMED: .malformed, MB_ERR_EPOCH: .wrongEpoch,
        MB_ERR_STATE: .invalidState, MB_ERR_TIMEOUT: .timeout,
        MB_ERR_RNG: .randomFailure, MB_ERR_HANDSHAKE: .handshakeFailed,
        MB_ERR_RATE_LIMITED: .rateLimited, MB_ERR_NO_SLOT: .noSlot,
        MB_ERR_POLICY: .policy, MB_ERR_VERSION: .unsupportedVersion,
        MB_ERR_INTEGRITY: .integrity, MB_ERR_ROLLBACK: .rollback,
        MB_ERR_WRONG_DEVICE: .wrongDevice, MB_ERR_NOT_FOUND: .notFound,
        MB_ERR_TRUNCATED: .truncated, MB_ERR_ABORTED: .aborted,
        MB_ERR_FLASH: .flashFailure, MB_ERR_STALE: .stale,
    ]

    /// The C code this error came from, if it came from the C core.
    public var code: Int32? {
        switch self {
        case .unknown(let code): return code
        case .invalidKeyEncoding: return nil
        default: return Self.table.first { $0.value == self }?.key
        }
    }

    public var description: String {
        switch self {
        case .invalidKeyEncoding(let reason): return "invalid key encoding: \(reason)"
        default: return String(cString: mb_strerror(code ?? MB_ERR_CRYPTO))
        }
    }

    /// Throw the error for a C return code, if it is not `MB_OK`.
    static func check(_ code: Int32) throws(ModbattError) {
        if code != MB_OK { throw ModbattError(code: code) ?? .unknown(code: code) }
    }
}
