import NIOConcurrencyHelpers

/// A bounded, single-consumer queue of received frames that producers on any
/// thread (a socket reader, a NIO event loop) push into.
///
/// Frames live in a ring buffer of inline values: pushing and popping does
/// not allocate. When full, the newest frame is dropped and counted (like a
/// CAN controller's receive overrun). A cancelled `next()` returns `nil`
/// without closing the inbox.
final class FrameInbox: @unchecked Sendable {
    private struct State {
        var ring: [TimestampedFrame?]
        var head = 0
        var count = 0
        var waiter: (id: UInt64, continuation: CheckedContinuation<TimestampedFrame?, any Error>)?
        var nextWaiterId: UInt64 = 0
        var finished = false
        var failure: (any Error)?
        var overruns = 0
    }

    private let lock = NIOLock()
    private var state: State

    init(capacity: Int = 4096) {
        state = State(ring: Array(repeating: nil, count: max(capacity, 1)))
    }

    /// Frames dropped because the inbox was full.
    var overruns: Int { lock.withLock { state.overruns } }

    /// Add a frame; `false` if it was dropped (full or finished).
    @discardableResult
    func push(_ frame: TimestampedFrame) -> Bool {
        enum Outcome { case handOver(CheckedContinuation<TimestampedFrame?, any Error>), buffered, dropped }
        let outcome: Outcome = lock.withLock {
            if state.finished { return .dropped }
            if let waiter = state.waiter {
                state.waiter = nil
                return .handOver(waiter.continuation)
            }
            if state.count == state.ring.count {
                state.overruns += 1
                return .dropped
            }
            state.ring[(state.head + state.count) % state.ring.count] = frame
            state.count += 1
            return .buffered
        }
        switch outcome {
        case .handOver(let continuation):
            continuation.resume(returning: frame)
            return true
        case .buffered: return true
        case .dropped: return false
        }
    }

    /// End the sequence: buffered frames are still delivered, then `nil`
    /// (or `error` is thrown once).
    func finish(throwing error: (any Error)? = nil) {
        let waiter: CheckedContinuation<TimestampedFrame?, any Error>? = lock.withLock {
            guard !state.finished else { return nil }
            state.finished = true
            state.failure = error
            let w = state.waiter?.continuation
            state.waiter = nil
            return w
        }
        if let waiter {
            if let error { waiter.resume(throwing: error) } else { waiter.resume(returning: nil) }
            lock.withLock { state.failure = nil }
        }
    }

    private enum Poll {
        case frame(TimestampedFrame)
        case end
        case fail(any Error)
    }

    private func poll() -> Poll? {
        if state.count > 0 {
            let frame = state.ring[state.head]!
            state.ring[state.head] = nil
            state.head = (state.head + 1) % state.ring.count
            state.count -= 1
            return .frame(frame)
        }
        if state.finished {
            if let failure = state.failure {
                state.failure = nil
                return .fail(failure)
            }
            return .end
        }
        return nil
    }

    /// The next frame; `nil` at the end or when the calling task is cancelled.
    func next() async throws -> TimestampedFrame? {
        if Task.isCancelled { return nil }
        if let ready = lock.withLock({ poll() }) {
            switch ready {
            case .frame(let frame): return frame
            case .end: return nil
            case .fail(let error): throw error
            }
        }
        let id = lock.withLock { () -> UInt64 in
            state.nextWaiterId += 1
            return state.nextWaiterId
        }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<TimestampedFrame?, any Error>) in
                let immediate: Poll?? = lock.withLock {
                    if let ready = poll() { return .some(ready) }
                    if Task.isCancelled { return .some(nil) }
                    precondition(state.waiter == nil, "CANFrames has one consumer: iterate it from one task")
                    state.waiter = (id, continuation)
                    return .none
                }
                switch immediate {
                case .none: break
                case .some(.none): continuation.resume(returning: nil)
                case .some(.some(.frame(let frame))): continuation.resume(returning: frame)
                case .some(.some(.end)): continuation.resume(returning: nil)
                case .some(.some(.fail(let error))): continuation.resume(throwing: error)
                }
            }
        } onCancel: {
            let waiter: CheckedContinuation<TimestampedFrame?, any Error>? = lock.withLock {
                guard let w = state.waiter, w.id == id else { return nil }
                state.waiter = nil
                return w.continuation
            }
            waiter?.resume(returning: nil)
        }
    }

    var frames: CANFrames { CANFrames { [self] in try await self.next() } }
}
