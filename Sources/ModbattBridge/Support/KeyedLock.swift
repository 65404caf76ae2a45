import NIOConcurrencyHelpers

/// An async mutex per string key: one body at a time per key, FIFO.
final class KeyedLock: Sendable {
    private let state = NIOLockedValueBox<[String: [CheckedContinuation<Void, Never>]]>([:])

    func withLock<T: ~Copyable>(_ key: String, _ body: () async throws -> T) async throws -> T {
        await lock(key)
        defer { unlock(key) }
        return try await body()
    }

    private func lock(_ key: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let acquired = state.withLockedValue { s -> Bool in
                if s[key] == nil {
                    s[key] = []
                    return true
                }
                s[key]!.append(continuation)
                return false
            }
            if acquired { continuation.resume() }
        }
    }

    private func unlock(_ key: String) {
        let next = state.withLockedValue { s -> CheckedContinuation<Void, Never>? in
            guard var waiters = s[key], !waiters.isEmpty else {
                s[key] = nil
                return nil
            }
            let first = waiters.removeFirst()
            s[key] = waiters
            return first
        }
        next?.resume()
    }
}
