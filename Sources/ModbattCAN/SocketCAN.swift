internal import CModbattSocketCAN
import NIOConcurrencyHelpers
import NIOPosix

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A raw `AF_CAN` socket on a Linux CAN interface (`can0`, `vcan0`), classic
/// and CAN FD, with kernel receive filters and kernel timestamps.
///
/// Frames are read on a dedicated thread (a blocking `poll`/`recvmsg` loop,
/// 100 ms wake-ups to notice `close()`), so no Swift concurrency thread ever
/// blocks on the socket. Needs a kernel with SocketCAN; where it is missing
/// `init` throws `CANTransportError.kernelLacksAFCAN`.
public final class SocketCANTransport: CANTransport {
    /// A kernel acceptance filter: a frame passes if `(frame.id & mask) == (id & mask)`
    /// and its id kind (standard/extended) matches.
    public struct Filter: Sendable, Hashable {
        public var id: UInt32
        public var mask: UInt32
        public var extended: Bool
        /// Pass the frames that do *not* match.
        public var inverted: Bool

        public init(id: UInt32, mask: UInt32, extended: Bool, inverted: Bool = false) {
            self.id = id
            self.mask = mask
            self.extended = extended
            self.inverted = inverted
        }

        /// Exactly one id.
        public static func exact(_ id: UInt32, extended: Bool) -> Filter {
            Filter(id: id, mask: extended ? 0x1FFF_FFFF : 0x7FF, extended: extended)
        }
    }

    public struct Options: Sendable {
        /// Send and receive CAN FD frames (needs an FD-capable interface; MTU 72).
        public var canFD: Bool
        /// Kernel filters; empty receives everything.
        public var filters: [Filter]
        /// Also receive the frames this socket sends.
        public var receiveOwnFrames: Bool
        public var receiveQueueCapacity: Int

        public init(canFD: Bool = true, filters: [Filter] = [], receiveOwnFrames: Bool = false,
                    receiveQueueCapacity: Int = 4096) {
            self.canFD = canFD
            self.filters = filters
            self.receiveOwnFrames = receiveOwnFrames
            self.receiveQueueCapacity = receiveQueueCapacity
        }
    }

    public let name: String
    public let options: Options
    private let fd: Int32
    private let inbox: FrameInbox
    private let stopped = NIOLockedValueBox(false)
    private let closedFD = NIOLockedValueBox(false)
    private let pool: NIOThreadPool
    private let skipped = NIOLockedValueBox(0)

    /// Open and bind a raw CAN socket on `interface`.
    /// - Throws: `CANTransportError.kernelLacksAFCAN` (no SocketCAN in the
    ///   kernel), `.noSuchInterface`, or `.system` for other failures.
    public init(interface: String, options: Options = Options()) throws(CANTransportError) {
        var fd: Int32 = -1
        let rc = mb_can_open(interface, options.canFD ? 1 : 0, &fd)
        if rc != 0 {
            // An interface that is classic-only refuses CAN_RAW_FD_FRAMES on old kernels.
            throw Self.error(rc, call: "open \(interface)", interface: interface)
        }
        self.fd = fd
        self.name = interface
        self.options = options
        self.inbox = FrameInbox(capacity: options.receiveQueueCapacity)
        do throws(CANTransportError) {
            if !options.filters.isEmpty { try Self.applyFilters(fd: fd, options.filters) }
            if options.receiveOwnFrames {
                let r = mb_can_set_receive_own(fd, 1)
                if r != 0 { throw Self.error(r, call: "setsockopt(CAN_RAW_RECV_OWN_MSGS)", interface: interface) }
            }
        } catch {
            _ = mb_can_close(fd)
            throw error
        }
        pool = NIOThreadPool(numberOfThreads: 1)
        pool.start()
        startReader()
    }

    public var frames: CANFrames { inbox.frames }

    /// Received frames the transport dropped: remote and error frames (not modelled).
    public var skippedFrames: Int { skipped.withLockedValue { $0 } }
    /// Frames dropped because nobody read them fast enough.
    public var receiveOverruns: Int { inbox.overruns }

    public func send(_ frame: CANFrame) async throws {
        guard !stopped.withLockedValue({ $0 }) else { throw CANTransportError.closed }
        if frame.isFD && !options.canFD {
            throw CANTransportError.unsupportedFrame("CAN FD frame on a socket opened without canFD")
        }
        var raw = mb_can_frame()
        raw.id = frame.id
        raw.flags = UInt8((frame.isExtended ? MB_CAN_FLAG_EXTENDED : 0) | (frame.isFD ? MB_CAN_FLAG_FD : 0)
            | (frame.bitRateSwitch ? MB_CAN_FLAG_BRS : 0) | (frame.errorStateIndicator ? MB_CAN_FLAG_ESI : 0))
        raw.len = UInt8(frame.count)
        frame.withUnsafeBytes { src in
            withUnsafeMutableBytes(of: &raw.data) { dst in dst.copyMemory(from: src) }
        }
        let rc = mb_can_write(fd, &raw)
        if rc != 0 { throw Self.error(rc, call: "write", interface: name) }
    }

    /// Replace the kernel filters (empty: receive everything).
    public func setFilters(_ filters: [Filter]) throws(CANTransportError) {
        if filters.isEmpty {
            let rc = mb_can_clear_filters(fd)
            if rc != 0 { throw Self.error(rc, call: "setsockopt(CAN_RAW_FILTER)", interface: name) }
        } else {
            try Self.applyFilters(fd: fd, filters)
        }
    }

    public func close() async {
        let first = stopped.withLockedValue { was -> Bool in
            defer { was = true }
            return !was
        }
        guard first else { return }
        try? await pool.shutdownGracefully()
        closeDescriptor()
        inbox.finish()
    }

    deinit {
        stopped.withLockedValue { $0 = true }
        closeDescriptor()
    }

    private func closeDescriptor() {
        let doClose = closedFD.withLockedValue { was -> Bool in
            defer { was = true }
            return !was
        }
        if doClose { _ = mb_can_close(fd) }
    }

    private func startReader() {
        let fd = self.fd, inbox = self.inbox, stopped = self.stopped, skipped = self.skipped, name = self.name
        pool.submit { state in
            guard case .active = state else { return }
            var raw = mb_can_frame()
            var sec: Int64 = 0
            var usec: Int32 = 0
            while !stopped.withLockedValue({ $0 }) {
                let rc = mb_can_read(fd, &raw, &sec, &usec, 100)
                if rc == 0 { continue }
                if rc < 0 {
                    inbox.finish(throwing: Self.error(rc, call: "recvmsg", interface: name))
                    return
                }
                guard let frame = Self.frame(from: raw) else {
                    skipped.withLockedValue { $0 += 1 }
                    continue
                }
                inbox.push(TimestampedFrame(timestamp: .seconds(sec) + .microseconds(Int64(usec)), frame: frame))
            }
        }
    }

    static func frame(from raw: mb_can_frame) -> CANFrame? {
        let flags = UInt32(raw.flags)
        if flags & (MB_CAN_FLAG_RTR | MB_CAN_FLAG_ERROR) != 0 { return nil }
        var copy = raw
        return withUnsafeBytes(of: &copy.data) { data in
            try? CANFrame(id: raw.id, extended: flags & MB_CAN_FLAG_EXTENDED != 0, fd: flags & MB_CAN_FLAG_FD != 0,
                          bitRateSwitch: flags & MB_CAN_FLAG_BRS != 0,
                          errorStateIndicator: flags & MB_CAN_FLAG_ESI != 0,
                          data: UnsafeRawBufferPointer(rebasing: data[0..<Int(raw.len)]))
        }
    }

    private static func applyFilters(fd: Int32, _ filters: [Filter]) throws(CANTransportError) {
        let raw = filters.map {
            mb_can_filter(id: $0.id, mask: $0.mask, extended: $0.extended ? 1 : 0, invert: $0.inverted ? 1 : 0)
        }
        let rc = raw.withUnsafeBufferPointer { mb_can_set_filters(fd, $0.baseAddress, $0.count) }
        if rc != 0 { throw error(rc, call: "setsockopt(CAN_RAW_FILTER)", interface: "") }
    }

    /// Map a shim return code (-errno) to a transport error.
    static func error(_ rc: Int32, call: String, interface: String) -> CANTransportError {
        let code = -rc
        switch code {
        case EAFNOSUPPORT: return .kernelLacksAFCAN
        case ENODEV: return .noSuchInterface(interface)
        case ENOBUFS: return .transmitQueueFull
        case ENOSYS: return .setupNotCompiled
        default: return .system(call: call, errno: code, message: String(cString: strerror(code)))
        }
    }

    /// Whether raw CAN sockets can be opened here at all: `nil` if yes,
    /// otherwise the reason (tests skip with it).
    public static func unavailableReason(interface: String = "vcan0") -> String? {
        var fd: Int32 = -1
        let rc = mb_can_open(interface, 0, &fd)
        if rc == 0 {
            _ = mb_can_close(fd)
            return nil
        }
        return error(rc, call: "open \(interface)", interface: interface).description
    }
}

/// Interface setup through libsocketcan (needs the `SocketCANSetup` trait
/// and, for changes, CAP_NET_ADMIN). Without the trait every call throws
/// `CANTransportError.setupNotCompiled`.
public enum SocketCANInterface {
    /// CAN controller state (`enum can_state`).
    public enum State: Int32, Sendable {
        case errorActive = 0, errorWarning, errorPassive, busOff, stopped, sleeping
    }

    /// True when built with `--traits SocketCANSetup`.
    public static var isSetupAvailable: Bool { mb_can_setup_available() == 1 }

    /// Set the nominal bitrate (the interface must be down). For CAN FD data
    /// rates use `ip link set IFACE type can bitrate N dbitrate M fd on`.
    public static func setBitrate(_ bitrate: UInt32, interface: String) throws(CANTransportError) {
        try check(mb_can_set_bitrate(interface, bitrate), "can_set_bitrate", interface)
    }

    public static func start(_ interface: String) throws(CANTransportError) {
        try check(mb_can_start(interface), "can_do_start", interface)
    }

    public static func stop(_ interface: String) throws(CANTransportError) {
        try check(mb_can_stop(interface), "can_do_stop", interface)
    }

    /// Restart after bus-off.
    public static func restart(_ interface: String) throws(CANTransportError) {
        try check(mb_can_restart(interface), "can_do_restart", interface)
    }

    /// Automatic restart delay after bus-off (0: restart manually).
    public static func setRestartDelay(milliseconds: UInt32, interface: String) throws(CANTransportError) {
        try check(mb_can_set_restart_ms(interface, milliseconds), "can_set_restart_ms", interface)
    }

    public static func state(_ interface: String) throws(CANTransportError) -> State {
        var raw: Int32 = 0
        try check(mb_can_get_state(interface, &raw), "can_get_state", interface)
        return State(rawValue: raw) ?? .stopped
    }

    /// Interface MTU: 16 for classic CAN, 72 for CAN FD.
    public static func mtu(_ interface: String) throws(CANTransportError) -> Int {
        let rc = mb_can_interface_mtu(interface)
        if rc < 0 { throw SocketCANTransport.error(rc, call: "ioctl(SIOCGIFMTU)", interface: interface) }
        return Int(rc)
    }

    private static func check(_ rc: Int32, _ call: String, _ interface: String) throws(CANTransportError) {
        if rc != 0 { throw SocketCANTransport.error(rc, call: call, interface: interface) }
    }
}
