import Logging

/// How an embedded API-Bridge runs.
public struct BridgeServerConfiguration: Sendable {
    /// Where the bridge keeps its data.
    public enum Storage: Sendable, Equatable {
        /// A throwaway in-memory database.
        case memory
        /// An SQLite file (created if missing).
        case file(String)
        /// `bridge.sqlite` in the per-user data folder (`DataDirectory`).
        case defaultFile
    }

    /// Token authentication (the header it may come in: `authSchemes`).
    public enum Auth: Sendable, Equatable {
        case token(String)
        /// No authentication (local experiments only; logged as a warning).
        case disabled
    }

    /// Loopback by default.
    public var host: String
    /// 0 = an ephemeral port (read it from `EmbeddedBridge.port`).
    public var port: Int
    public var storage: Storage
    public var auth: Auth
    /// The headers a token is accepted in: both by default; `[.apiKey]`
    /// behaves like the API-Bridge as deployed, `[.bearer]` like Modbatt's
    /// bridge before it spoke `X-API-Key`.
    public var authSchemes: Set<BridgeAuthScheme>
    public var faults: FaultConfiguration
    /// Faults aimed at given calls (a create that commits and loses its answer).
    public var scriptedFaults: [ScriptedFault] = []
    /// At most one LCT per pair that is not revoked (409 `LCT_EXISTS`). False
    /// accepts another LCT for the pair, as a chain may: a client that blindly
    /// retried a create would leave an orphan, which tests can then count.
    public var oneLCTPerPair = true
    /// Requests per second over all clients before answering 429; nil = unlimited.
    public var rateLimitPerSecond: Double?
    /// Seconds a pairing challenge stays pending before it expires.
    public var challengeLifetimeSeconds: Int
    /// Largest request body accepted (bytes).
    public var maxBodyBytes: Int
    public var logger: Logger

    public init(host: String = "127.0.0.1", port: Int = 8080, storage: Storage = .defaultFile, auth: Auth,
                authSchemes: Set<BridgeAuthScheme> = Set(BridgeAuthScheme.allCases),
                faults: FaultConfiguration = FaultConfiguration(), rateLimitPerSecond: Double? = nil,
                challengeLifetimeSeconds: Int = 300, maxBodyBytes: Int = 64 * 1024,
                logger: Logger = Logger(label: "modbatt.bridge.server")) {
        self.host = host
        self.port = port
        self.storage = storage
        self.auth = auth
        self.authSchemes = authSchemes
        self.faults = faults
        self.rateLimitPerSecond = rateLimitPerSecond
        self.challengeLifetimeSeconds = challengeLifetimeSeconds
        self.maxBodyBytes = maxBodyBytes
        self.logger = logger
    }

    /// In memory, ephemeral port on 127.0.0.1: what tests and the demo want.
    public static func ephemeral(token: String?, faults: FaultConfiguration = FaultConfiguration(),
                                 logger: Logger = Logger(label: "modbatt.bridge.server")) -> BridgeServerConfiguration {
        BridgeServerConfiguration(port: 0, storage: .memory, auth: token.map { .token($0) } ?? .disabled,
                                  faults: faults, logger: logger)
    }
}

/// Faults the embedded bridge injects into `/api/v1` calls to exercise
/// clients. Every decision comes from one generator seeded with `seed`, so a
/// run with the same requests in the same order sees the same faults.
public struct FaultConfiguration: Sendable, Equatable {
    /// Added to every API call before it is handled.
    public var latencyMilliseconds: Int
    /// Share of calls (0...1) answered 500 `INTERNAL_ERROR` without being handled.
    public var failRate: Double
    /// Length of a burst of 429 answers; 0 = no bursts.
    public var burst429Length: Int
    /// Chance (0...1) that a call outside a burst starts one.
    public var burst429Chance: Double
    /// `Retry-After` seconds sent with 429 answers (bursts and the rate limit).
    public var retryAfterSeconds: Int
    public var seed: UInt64

    public init(latencyMilliseconds: Int = 0, failRate: Double = 0, burst429Length: Int = 0,
                burst429Chance: Double = 0.1, retryAfterSeconds: Int = 1, seed: UInt64 = 0) {
        self.latencyMilliseconds = latencyMilliseconds
        self.failRate = failRate
        self.burst429Length = burst429Length
        self.burst429Chance = burst429Chance
        self.retryAfterSeconds = retryAfterSeconds
        self.seed = seed
    }

    public var isActive: Bool { latencyMilliseconds > 0 || failRate > 0 || burst429Length > 0 }
}
