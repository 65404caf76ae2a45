import NIOConcurrencyHelpers

/// Decides, call by call, which fault (if any) to inject.
final class FaultInjector: Sendable {
    enum Decision: Equatable { case pass, fail, tooManyRequests }

    let configuration: FaultConfiguration
    private let state: NIOLockedValueBox<(rng: SeededRandom, burstLeft: Int)>

    init(_ configuration: FaultConfiguration) {
        self.configuration = configuration
        state = NIOLockedValueBox((SeededRandom(seed: configuration.seed), 0))
    }

    func decide() -> Decision {
        state.withLockedValue { s in
            if s.burstLeft > 0 {
                s.burstLeft -= 1
                return .tooManyRequests
            }
            if configuration.burst429Length > 0, Double.random(in: 0..<1, using: &s.rng) < configuration.burst429Chance {
                s.burstLeft = configuration.burst429Length - 1
                return .tooManyRequests
            }
            if configuration.failRate > 0, Double.random(in: 0..<1, using: &s.rng) < configuration.failRate {
                return .fail
            }
            return .pass
        }
    }
}

/// A token bucket over all clients: `rate` calls per second, bursts up to `rate`.
final class RateLimiter: Sendable {
    private let rate: Double
    private let state: NIOLockedValueBox<(tokens: Double, last: ContinuousClock.Instant)>

    init(perSecond rate: Double) {
        self.rate = rate
        state = NIOLockedValueBox((max(rate, 1), .now))
    }

    /// True if the call may proceed.
    func admit() -> Bool {
        state.withLockedValue { s in
            let now = ContinuousClock.now
            let elapsed = s.last.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            s.tokens = min(max(rate, 1), s.tokens + seconds * rate)
            s.last = now
            guard s.tokens >= 1 else { return false }
            s.tokens -= 1
            return true
        }
    }
}
