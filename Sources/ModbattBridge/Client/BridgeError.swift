/// Every failure of a `BridgeClient` call. The description is one line
/// naming the endpoint, the HTTP status and the service's `code`/`error`
/// text; it never contains key material or the bearer token.
public struct BridgeError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: Sendable, Equatable {
        /// The service answered with a non-2xx status.
        case http
        /// No answer: connection refused or reset, DNS, TLS.
        case transport
        /// An attempt or the whole call ran out of time.
        case timeout
        /// A 2xx answer that does not have the expected shape.
        case invalidResponse
        /// `device_key_half`/`lct_key_half` missing or not exactly 64 bytes.
        case invalidKeyMaterial
        /// The client is misconfigured (URL, CA file, token).
        case configuration
        /// The local provisioning registry failed.
        case registry
        /// The call was cancelled.
        case cancelled
        /// A create's answer was lost but the LCT it made was found
        /// (`existingId`); its key halves are gone: revoke it, create again.
        case keyHalvesLost
        /// A create's outcome is unknown and the lookup failed: an orphan
        /// LCT may exist (`unresolvedLCTs` says which pair).
        case unresolvedLCT
    }

    public var kind: Kind
    /// `METHOD /path`, e.g. `POST /api/v1/lct/create`.
    public var endpoint: String
    /// HTTP status of the last answer, if there was one.
    public var status: Int?
    /// The service's `code` (e.g. `LCT_EXISTS`).
    public var code: String?
    /// The service's `error` text or our own reason.
    public var message: String
    /// The service's `details`.
    public var details: String?
    /// The id of what already exists, on a 409 from the embedded bridge.
    public var existingId: String?
    /// Attempts made (1 = no retry).
    public var attempts: Int
    /// Creates that may have left an LCT behind (kind `.unresolvedLCT`).
    public var unresolvedLCTs: [UnresolvedLCT] = []

    public init(kind: Kind, endpoint: String, status: Int? = nil, code: String? = nil, message: String,
                details: String? = nil, existingId: String? = nil, attempts: Int = 1) {
        self.kind = kind
        self.endpoint = endpoint
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.existingId = existingId
        self.attempts = attempts
    }

    public var description: String {
        var s = endpoint.isEmpty ? "API-Bridge" : endpoint
        if let status { s += ": HTTP \(status)" } else { s += ":" }
        if let code, !code.isEmpty { s += " \(code)" }
        s += (status == nil && (code ?? "").isEmpty ? " " : ": ") + message
        if let details, !details.isEmpty { s += " (\(details))" }
        if attempts > 1 { s += " [after \(attempts) attempts]" }
        return s
    }
}
