import Foundation

/// When and how long `BridgeClient` waits before trying a call again.
///
/// Retried: connection errors, attempt timeouts, 5xx and 429. Never retried:
/// any other 4xx, TLS certificate failures, bad responses. Delays grow
/// exponentially with "full jitter" (uniform in 0...base·2ⁿ, capped at
/// `maxDelay`); a 429's or 503's `Retry-After` is honoured as a lower bound.
/// The whole call, waits included, ends by `totalTimeout`.
public struct RetryPolicy: Sendable, Equatable {
    /// Attempts in all, the first included.
    public var maxAttempts: Int
    public var baseDelay: Duration
    public var maxDelay: Duration
    /// Bound on one call, all attempts and waits together.
    public var totalTimeout: Duration
    /// Seed for the jitter; nil = the system generator.
    public var jitterSeed: UInt64?

    public init(maxAttempts: Int = 6, baseDelay: Duration = .milliseconds(200), maxDelay: Duration = .seconds(5),
                totalTimeout: Duration = .seconds(30), jitterSeed: UInt64? = nil) {
        self.maxAttempts = max(1, maxAttempts)
        self.baseDelay = baseDelay
        self.maxDelay = maxDelay
        self.totalTimeout = totalTimeout
        self.jitterSeed = jitterSeed
    }

    public static let `default` = RetryPolicy()
    /// One attempt only.
    public static let none = RetryPolicy(maxAttempts: 1)

    /// Whether an answer with this status is worth another attempt.
    public static func isRetryable(status: Int) -> Bool { status == 429 || (500...599).contains(status) }

    /// Upper bound of the wait after `attempt` failed attempts (1-based).
    func ceiling(afterAttempt attempt: Int) -> Duration {
        let exponent = min(attempt - 1, 30)
        let scaled = baseDelay * (1 << exponent)
        return scaled < maxDelay ? scaled : maxDelay
    }

    /// The wait before the next attempt: full jitter, at least `retryAfter`.
    func delay(afterAttempt attempt: Int, retryAfter: Duration?, using rng: inout some RandomNumberGenerator) -> Duration {
        let ceiling = ceiling(afterAttempt: attempt)
        let nanos = ceiling.nanoseconds
        let jittered = Duration.nanoseconds(nanos > 0 ? Int64.random(in: 0...nanos, using: &rng) : 0)
        if let retryAfter, retryAfter > jittered { return retryAfter }
        return jittered
    }

    /// Parse `Retry-After`: delta-seconds or an HTTP date.
    static func parseRetryAfter(_ value: String?, now: Date = Date()) -> Duration? {
        guard let value = value?.trimmingCharacters(in: .whitespaces), !value.isEmpty else { return nil }
        if let seconds = Int(value) { return .seconds(max(0, seconds)) }
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = TimeZone(identifier: "GMT")
        formatter.dateFormat = "EEE, dd MMM yyyy HH:mm:ss zzz"
        guard let date = formatter.date(from: value) else { return nil }
        let delta = date.timeIntervalSince(now)
        return .milliseconds(Int64(max(0, delta) * 1000))
    }
}

extension Duration {
    var nanoseconds: Int64 {
        components.seconds * 1_000_000_000 + components.attoseconds / 1_000_000_000
    }
}
