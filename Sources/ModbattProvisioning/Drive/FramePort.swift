import Foundation
import ModbattCAN

/// What a device node needs from the bus: the frames received since the
/// last look, and a way to send. The node's firmware loop (`step(now:)`)
/// is given the time by its driver, so a port has no clock of its own.
///
/// `VirtualBus.Node` is a port (the simulation, virtual clock);
/// `TransportFramePort` makes any `CANTransport` one (a socketcand server's
/// bus, a SocketCAN interface; wall-clock time).
public protocol FramePort: Sendable {
    var name: String { get }
    /// Every frame received since the previous call, oldest first; never waits.
    func drain() async -> [TimestampedFrame]
    func send(_ frame: CANFrame) async throws
}

extension VirtualBus.Node: FramePort {}

/// Wakes a wall-clock driver when any of its ports receives a frame.
public final class Doorbell: @unchecked Sendable {
    private let lock = NSLock()
    private var rung = false
    private var waiter: CheckedContinuation<Void, Never>?

    public init() {}

    public func ring() {
        let w: CheckedContinuation<Void, Never>? = lock.withLock {
            if let w = waiter {
                waiter = nil
                return w
            }
            rung = true
            return nil
        }
        w?.resume()
    }

    /// Return when rung (now or since the last wait), or after `timeout`.
    /// One waiter at a time.
    public func wait(timeout: Duration) async {
        if lock.withLock({ let r = rung; rung = false; return r }) { return }
        await withTaskGroup(of: Void.self) { group in
            group.addTask { await self.waitForRing() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                if !Task.isCancelled { self.ring() }   // releases the waiter
            }
            await group.next()
            group.cancelAll()
            // The sleeper may not have rung: release the waiter if it is still parked.
            let parked: CheckedContinuation<Void, Never>? = lock.withLock {
                let w = waiter
                waiter = nil
                return w
            }
            parked?.resume()
            await group.waitForAll()
        }
    }

    private func waitForRing() async {
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            let now: Bool = lock.withLock {
                if rung {
                    rung = false
                    return true
                }
                waiter = c
                return false
            }
            if now { c.resume() }
        }
    }
}

/// A `CANTransport` as a `FramePort`: a reader task collects received frames
/// until the next `drain()` and rings the doorbell on each. If the
/// transport fails (the server went away), `failure` says why.
public final class TransportFramePort: FramePort, @unchecked Sendable {
    public let transport: any CANTransport
    private let doorbell: Doorbell
    private let lock = NSLock()
    private var inbox: [TimestampedFrame] = []
    private var failed: (any Error)?
    private var ended = false
    private var sent = 0
    private var received = 0
    private var reader: Task<Void, Never>?

    public init(_ transport: any CANTransport, doorbell: Doorbell) {
        self.transport = transport
        self.doorbell = doorbell
        reader = Task { [weak self, transport] in
            do {
                for try await f in transport.frames {
                    self?.take(f)
                }
                self?.end(nil)
            } catch {
                self?.end(error)
            }
        }
    }

    public var name: String { transport.name }

    /// Why the transport stopped delivering frames (nil while it runs or after a clean close).
    public var failure: (any Error)? { lock.withLock { failed } }
    /// The transport's frame sequence ended (closed or failed).
    public var isEnded: Bool { lock.withLock { ended } }

    public func drain() async -> [TimestampedFrame] {
        lock.withLock {
            let out = inbox
            inbox.removeAll(keepingCapacity: true)
            return out
        }
    }

    public func send(_ frame: CANFrame) async throws {
        try await transport.send(frame)
        lock.withLock { sent += 1 }
    }

    /// Frames sent and received through this port so far.
    public var framesSent: Int { lock.withLock { sent } }
    public var framesReceived: Int { lock.withLock { received } }

    public func close() async {
        await transport.close()
        reader?.cancel()
    }

    /// Stop collecting frames but leave the transport open (for a caller
    /// that borrowed it, as discovery does).
    public func stopReading() {
        reader?.cancel()
    }

    private func take(_ f: TimestampedFrame) {
        lock.withLock {
            inbox.append(f)
            received += 1
        }
        doorbell.ring()
    }

    private func end(_ error: (any Error)?) {
        lock.withLock {
            ended = true
            failed = error
        }
        doorbell.ring()
    }
}
