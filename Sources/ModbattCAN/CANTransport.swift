@_exported import Modbatt

/// A frame as a transport received it.
public struct TimestampedFrame: Sendable, Hashable, CustomStringConvertible {
    /// Reception time. Real interfaces (SocketCAN, socketcand, candump logs)
    /// count from the Unix epoch; the virtual bus counts from its `epoch`
    /// (the Unix time at creation in real-time mode, zero in virtual-clock mode).
    public var timestamp: Duration
    public var frame: CANFrame

    public init(timestamp: Duration, frame: CANFrame) {
        self.timestamp = timestamp
        self.frame = frame
    }

    public var description: String { "(\(CANTime.format(timestamp))) \(frame)" }
}

/// One CAN connection: send frames, receive frames, close.
///
/// Every transport in this module conforms: `VirtualBus.Node`,
/// `SocketCANTransport`, `SocketcandClient`. Code written against the
/// protocol runs unchanged on the simulated bus, a real `can0`, or a remote
/// socketcand server:
///
/// ```swift
/// let bus = VirtualBus()
/// let app = await bus.attach(name: "app"), pack = await bus.attach(name: "pack")
/// try await app.send(CANFrame(id: 0x123, data: [1, 2, 3]))
/// for try await received in pack.frames { print(received); break }
/// ```
public protocol CANTransport: Sendable {
    /// A short name for logs (node name, interface, `host:port/bus`).
    var name: String { get }
    /// Frames received, in order. One consumer per transport: iterate it from
    /// one task. The sequence ends after `close()` and throws if the
    /// underlying connection fails.
    var frames: CANFrames { get }
    /// Queue one frame for transmission. Throws `CANTransportError`.
    func send(_ frame: CANFrame) async throws
    /// Stop sending and receiving; `frames` finishes. Safe to call twice.
    func close() async
}

/// The received-frame sequence every transport hands out.
///
/// A concrete type (rather than an associated type) so that `any CANTransport`
/// is usable without generics. It pulls from its transport: the virtual bus
/// uses that to know when a node is waiting (which drives its virtual clock),
/// the socket transports pull from a `FrameInbox`. Cancelling a waiting task
/// makes that one `next()` return `nil`; the transport stays open.
public struct CANFrames: AsyncSequence, Sendable {
    public typealias Element = TimestampedFrame
    public typealias Failure = any Error

    let pull: @Sendable () async throws -> TimestampedFrame?

    init(pull: @escaping @Sendable () async throws -> TimestampedFrame?) { self.pull = pull }

    public struct AsyncIterator: AsyncIteratorProtocol {
        let pull: @Sendable () async throws -> TimestampedFrame?
        public mutating func next() async throws -> TimestampedFrame? { try await pull() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(pull: pull) }

    /// The next frame, or `nil` if none arrives within `timeout` (wall
    /// clock) or the sequence ended. Timing out does not close the transport.
    public func next(timeout: Duration) async throws -> TimestampedFrame? {
        try await withThrowingTaskGroup(of: TimestampedFrame?.self) { group in
            group.addTask { try await self.pull() }
            group.addTask {
                try? await Task.sleep(for: timeout)
                return nil
            }
            var result = try await group.next() ?? nil
            group.cancelAll()
            // A frame handed over while the timeout fired is kept, not lost.
            while let late = try await group.next() {
                if result == nil, let late { result = late }
            }
            return result
        }
    }

    /// Collect `count` frames, giving up (and returning what arrived) after
    /// `timeout` of wall-clock time in total.
    public func prefix(_ count: Int, timeout: Duration) async throws -> [TimestampedFrame] {
        var out: [TimestampedFrame] = []
        let deadline = ContinuousClock.now + timeout
        while out.count < count {
            let left = deadline - ContinuousClock.now
            guard left > .zero, let frame = try await next(timeout: left) else { break }
            out.append(frame)
        }
        return out
    }
}

/// Failures of the CAN transports.
public enum CANTransportError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The transport was closed.
    case closed
    /// The transmit queue is full (ENOBUFS on SocketCAN); retry later.
    case transmitQueueFull
    /// The frame kind is not carried here (an FD frame on a classic-only bus
    /// or interface, or a protocol that has no way to express it).
    case unsupportedFrame(String)
    /// The kernel has no `AF_CAN` (SocketCAN) support (EAFNOSUPPORT).
    case kernelLacksAFCAN
    /// No CAN interface of that name (ENODEV).
    case noSuchInterface(String)
    /// `libsocketcan` interface setup was not compiled in: build with
    /// `--traits SocketCANSetup`.
    case setupNotCompiled
    /// A system call failed.
    case system(call: String, errno: Int32, message: String)
    /// The peer broke the socketcand protocol or refused a command.
    case protocolViolation(String)
    /// A TCP connection could not be made.
    case connectionFailed(String)

    public var description: String {
        switch self {
        case .closed: return "transport is closed"
        case .transmitQueueFull: return "transmit queue full"
        case .unsupportedFrame(let why): return "unsupported frame: \(why)"
        case .kernelLacksAFCAN:
            return "kernel lacks AF_CAN (SocketCAN) support: socket(PF_CAN) failed with EAFNOSUPPORT; load the can/can_raw modules or use the virtual bus"
        case .noSuchInterface(let name): return "no CAN interface named '\(name)'"
        case .setupNotCompiled:
            return "interface setup needs libsocketcan: build with --traits SocketCANSetup"
        case .system(let call, let errno, let message): return "\(call) failed: \(message) (errno \(errno))"
        case .protocolViolation(let what): return "socketcand protocol: \(what)"
        case .connectionFailed(let what): return "connection failed: \(what)"
        }
    }
}

/// Helpers for `SECS.USECS` timestamps (candump, socketcand).
public enum CANTime {
    /// `1700000000.123456` (microseconds, truncated).
    public static func format(_ t: Duration) -> String {
        let (seconds, attos) = t.components
        var secs = seconds
        var micros = attos / 1_000_000_000_000
        if micros < 0 { secs -= 1; micros += 1_000_000 }
        var frac = String(micros)
        frac = String(repeating: "0", count: max(0, 6 - frac.count)) + frac
        return "\(secs).\(frac)"
    }

    /// Parse `SECS.FRACTION` (1 to 9 fraction digits, or none); nil if malformed.
    public static func parse<S: StringProtocol>(_ text: S) -> Duration? {
        let parts = text.split(separator: ".", maxSplits: 1, omittingEmptySubsequences: false)
        guard let secText = parts.first, !secText.isEmpty, secText.allSatisfy(\.isASCIIDigitChar),
              secText.count <= 12, let secs = Int64(secText) else { return nil }
        var nanos: Int64 = 0
        if parts.count == 2 {
            let frac = parts[1]
            guard !frac.isEmpty, frac.count <= 9, frac.allSatisfy(\.isASCIIDigitChar),
                  let value = Int64(frac) else { return nil }
            nanos = value
            for _ in 0..<(9 - frac.count) { nanos *= 10 }
        }
        return .seconds(secs) + .nanoseconds(nanos)
    }

    /// Wall-clock time since the Unix epoch.
    public static func now() -> Duration {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return .seconds(Int64(ts.tv_sec)) + .nanoseconds(Int64(ts.tv_nsec))
    }
}

extension Character {
    var isASCIIDigitChar: Bool { isASCII && isNumber }
    var isASCIIHexChar: Bool { isASCII && isHexDigit }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
