internal import CModbatt

/// One side of a secure CAN session between the two devices of a pair
/// (docs/PROTOCOL.md): the handshake with key confirmation, AES-256-GCM
/// messages with replay protection, segmentation into CAN / CAN FD frames,
/// reassembly, key rotation and resynchronisation. A thin, checked wrapper
/// over the C core's `mb_session`.
///
/// Frames to transmit are appended to the `output` array every call takes
/// (handshake replies and rekey requests are produced while receiving, too).
/// Pass the same array each time and clear it with
/// `removeAll(keepingCapacity: true)` after sending: steady-state sending and
/// receiving then allocate nothing except the payload array of a delivered
/// message.
///
/// Non-copyable: the session owns its keys (wiped in `deinit`) and its
/// memory, and every operation is `mutating`, so the compiler guarantees a
/// single user at a time. That is why it may be `Sendable` (moved to
/// another task) although the C state inside is not thread-safe.
public struct SecureSession: ~Copyable {
    /// The session's end of the pair.
    public enum Role: Sendable, Equatable {
        /// App/VCU on the vehicle bus, pack controller on the module bus.
        case controller
        /// Pack on the vehicle bus, battery module on the module bus.
        case device
    }

    /// Link profile; the same on both ends.
    public enum Profile: Sendable, Equatable {
        /// CAN 2.0B, 8-byte frames; up to 100 bytes of plaintext per message.
        case classic
        /// CAN FD, up to 64-byte frames; up to 228 bytes of plaintext.
        case fd
    }

    /// Settings; the defaults are the C core's (`mb_session_cfg_defaults`).
    public struct Configuration: Sendable, Equatable {
        public var role: Role
        public var profile: Profile
        /// The pair's device id (CAN id bits 7...0): the pack or the module.
        public var deviceId: UInt8
        /// Accept and allow sending unencrypted diagnostics (default off).
        public var allowClearDiagnostics = false
        public var handshakeTimeoutMs: UInt32 = 250
        public var handshakeMinIntervalMs: UInt32 = 100
        /// Rotate the sending keys after this long (0 = never by time).
        public var rekeyAfterMs: UInt32 = 3_600_000
        /// Rotate the sending keys after this many messages (1...2^32).
        public var rekeyAfterMessages: UInt64 = 1 << 20
        /// How long the previous receiving epoch stays valid after a rotation.
        public var graceMs: UInt32 = 500
        public var reassemblyTimeoutMs: UInt32 = 100
        /// Consecutive authentication/epoch failures that start a resync (0 = never).
        public var resyncAfter: UInt16 = 5
        public var resyncMinIntervalMs: UInt32 = 1000
        /// This side's HELLOs carry `helloCounterBase + 1`, `+ 2`, ...: the base
        /// must be above every HELLO counter this side sent before under the
        /// pair secret, across restarts (a persisted boot count << 32, see
        /// `BootCounter`). A peer refuses HELLOs whose counter it has passed.
        public var helloCounterBase: UInt64 = 0
        /// Message types that are commands: refused when older than a newer
        /// command or than `commandMaxAgeMs` (docs/PROTOCOL.md 7.5).
        public var commandTypes: Set<MessageType> = [.command, .limits]
        public var commandMaxAgeMs: UInt32 = 1000
        /// The controller renews the handshake this often (0 = never).
        public var rehandshakeMs: UInt32 = 1_800_000
        /// Add an ephemeral P-256 exchange to every handshake, so that a
        /// recorded session cannot be decrypted with the pair secret alone
        /// (forward secrecy, docs/PROTOCOL.md 6.6). For links whose two ends
        /// can afford it (app and pack controller); both ends must agree.
        public var ephemeralKeyExchange = false

        public init(role: Role, profile: Profile, deviceId: UInt8) {
            self.role = role
            self.profile = profile
            self.deviceId = deviceId
        }
    }

    /// Message type: the low four bits of the message id (docs/PROTOCOL.md, 3).
    public struct MessageType: RawRepresentable, Sendable, Hashable {
        public let rawValue: UInt8
        public init(rawValue: UInt8) { self.rawValue = rawValue }
        /// Pack state command, controller to device.
        public static let command = MessageType(rawValue: 0x4)
        /// Charge/discharge limits, controller to device.
        public static let limits = MessageType(rawValue: 0x5)
        /// Telemetry, device to controller.
        public static let status = MessageType(rawValue: 0x6)
        /// Error codes and health, either way.
        public static let diagnostics = MessageType(rawValue: 0x7)
        /// Application-defined types 0x8...0xF (`index` 0...7).
        public static func application(_ index: UInt8) -> MessageType {
            MessageType(rawValue: 0x8 + (index & 0x7))
        }
    }

    /// A message delivered by `receive`.
    public struct Message: Sendable, Equatable {
        public let type: MessageType
        public let payload: [UInt8]
        /// False only for clear diagnostics that the policy allowed.
        public let encrypted: Bool
        /// Receiving key epoch it authenticated under.
        public let epoch: UInt32
        /// Its message counter.
        public let counter: UInt64
    }

    /// An audit event (`mb_event`); never carries key bytes.
    public struct Event: Sendable, Equatable {
        public enum Kind: Sendable, Equatable {
            case handshakeStarted, handshakeAccepted, handshakeDone, handshakeFailed
            case rekeySending, rekeyReceiving, rekeyRequested, graceEnded, rejected, resync
            /// Two different authentic HELLOs with one counter: a second
            /// holder of the pair key (authenticated evidence of a clone).
            case cloneSuspected
            case unknown(UInt8)
        }
        public let kind: Kind
        public let deviceId: UInt8
        /// 11-bit message id involved, 0 if none.
        public let messageId: UInt16
        /// The reason, for failures and rejections.
        public let error: ModbattError?
        public let epoch: UInt32
        public let counter: UInt64
    }

    /// State summary for health reports and tests.
    public struct Info: Sendable, Equatable {
        public let established: Bool
        public let handshakeInProgress: Bool
        public let sendingEpoch: UInt32
        public let receivingEpoch: UInt32
        public let nextCounter: UInt64
        public let consecutiveFailures: UInt16
    }

    /// Supplies `count` random bytes (the handshake nonce), or nil on failure.
    public typealias RandomSource = @Sendable (_ count: Int) -> [UInt8]?

    /// The system CSPRNG.
    public static let systemRandom: RandomSource = { count in
        var rng = SystemRandomNumberGenerator()
        return (0..<count).map { _ in UInt8.random(in: .min ... .max, using: &rng) }
    }

    /// Largest plaintext of one message in `profile`; a command (which
    /// carries a 4-byte freshness value) has 4 bytes less.
    public static func maxPayload(_ profile: Profile, command: Bool = false) -> Int {
        let max = profile == .fd ? Int(MB_SEG_FD_MAX - MB_SESSION_OVERHEAD) : Int(MB_SEG_CLASSIC_MAX - MB_SESSION_OVERHEAD)
        return command ? max - Int(MB_SESSION_FV_LEN) : max
    }

    private let session: UnsafeMutablePointer<mb_session>
    private let aead: UnsafeMutablePointer<mb_aead>
    private let inbox: UnsafeMutablePointer<mb_session_msg>
    private let sink: Sink

    /// Set up from this device's pair keys (`PairKeys`, derived with this
    /// device as "self"). Only the pair secret and key id are kept.
    public init(configuration: Configuration, pairKeys: borrowing PairKeys,
                random: @escaping RandomSource = SecureSession.systemRandom,
                onEvent: (@Sendable (Event) -> Void)? = nil) throws(ModbattError) {
        let sink = Sink(fd: configuration.profile == .fd, ephemeral: configuration.ephemeralKeyExchange,
                        random: random, onEvent: onEvent)
        let session = UnsafeMutablePointer<mb_session>.allocate(capacity: 1)
        let aead = UnsafeMutablePointer<mb_aead>.allocate(capacity: 1)
        let inbox = UnsafeMutablePointer<mb_session_msg>.allocate(capacity: 1)
        session.initialize(to: mb_session())
        inbox.initialize(to: mb_session_msg())
        mb_aead_init(aead)
        var cfg = Self.cConfig(configuration, aead: aead, sink: sink)
        var keys = Self.cKeys(pairKeys)
        let code = mb_session_init(session, &cfg, &keys)
        mb_pair_keys_wipe(&keys)
        if let error = ModbattError(code: code) {
            Self.release(session, aead, inbox)
            throw error
        }
        self.session = session
        self.aead = aead
        self.inbox = inbox
        self.sink = sink
    }

    deinit {
        Self.release(session, aead, inbox)
    }

    /// Start (or restart) the handshake: appends the HELLO frames.
    public mutating func start(now: UInt32, output: inout [CANFrame]) throws(ModbattError) {
        let code = mb_session_start(session, now)
        sink.drain(into: &output)
        try ModbattError.check(code)
    }

    /// Seal `payload` and append its frames. Rotates the sending keys first
    /// when a limit is reached.
    public mutating func send(_ type: MessageType, payload: [UInt8], now: UInt32,
                              output: inout [CANFrame]) throws(ModbattError) {
        let code = payload.withUnsafeBufferPointer { buf in
            mb_session_send(session, UInt32(type.rawValue), buf.baseAddress, buf.count, now)
        }
        sink.drain(into: &output)
        try ModbattError.check(code)
    }

    /// Send unencrypted diagnostics (only when the configuration allows it).
    public mutating func sendClearDiagnostics(payload: [UInt8], output: inout [CANFrame]) throws(ModbattError) {
        let code = payload.withUnsafeBufferPointer { buf in
            mb_session_send_clear_diag(session, buf.baseAddress, buf.count)
        }
        sink.drain(into: &output)
        try ModbattError.check(code)
    }

    /// Rotate the sending keys now and ask the peer to rotate its own.
    public mutating func rekey(now: UInt32, output: inout [CANFrame]) throws(ModbattError) {
        let code = mb_session_rekey(session, now)
        sink.drain(into: &output)
        try ModbattError.check(code)
    }

    /// Does this session take `frame`? (the pair's device id and one of the
    /// peer's message ids; extended frames only).
    public func accepts(_ frame: CANFrame) -> Bool {
        frame.isExtended && mb_session_accepts(session, frame.id)
    }

    /// Process one received frame. Returns a message when this frame
    /// completed an authentic one; nil for a stored chunk or a handshake
    /// step (whose answer is appended to `output`). Throws the rejection:
    /// `.authenticationFailed`, `.replay`, `.wrongEpoch`, `.malformed`,
    /// `.policy`, `.invalidState`, `.handshakeFailed`, `.noSlot`,
    /// `.rateLimited`, `.unsupportedVersion`, or `.canIdOutOfRange` for a
    /// frame that is not this session's (see `accepts`).
    public mutating func receive(_ frame: CANFrame, now: UInt32,
                                 output: inout [CANFrame]) throws(ModbattError) -> Message? {
        guard frame.isExtended, frame.count <= Int(MB_FRAME_DATA_MAX) else { throw .canIdOutOfRange }
        var raw = Self.cFrame(frame)
        let code = mb_session_rx(session, &raw, now, inbox)
        sink.drain(into: &output)
        try ModbattError.check(code)
        guard inbox.pointee.ready != 0 else { return nil }
        let m = inbox.pointee
        let payload = withUnsafeBytes(of: &inbox.pointee.data) { Array($0.prefix(Int(m.len))) }
        withUnsafeMutableBytes(of: &inbox.pointee.data) { mb_wipe($0.baseAddress, $0.count) }
        return Message(type: MessageType(rawValue: m.type), payload: payload,
                       encrypted: m.encrypted != 0, epoch: m.epoch, counter: m.counter)
    }

    /// Run the timers (handshake timeout, reassembly expiry, grace period,
    /// time-based rotation). Throws `.timeout` once when a handshake step
    /// timed out.
    public mutating func poll(now: UInt32) throws(ModbattError) {
        try ModbattError.check(mb_session_poll(session, now))
    }

    /// Current state.
    public var info: Info {
        var i = mb_session_info()
        _ = mb_session_get_info(session, &i)
        return Info(established: i.established != 0, handshakeInProgress: i.hs_state != 0,
                    sendingEpoch: i.tx_epoch, receivingEpoch: i.rx_epoch,
                    nextCounter: i.tx_next_counter, consecutiveFailures: i.fail_run)
    }

    // MARK: C plumbing

    private static func release(_ session: UnsafeMutablePointer<mb_session>,
                                _ aead: UnsafeMutablePointer<mb_aead>,
                                _ inbox: UnsafeMutablePointer<mb_session_msg>) {
        mb_session_free(session)
        mb_aead_free(aead)
        withUnsafeMutableBytes(of: &inbox.pointee) { mb_wipe($0.baseAddress, $0.count) }
        session.deallocate()
        aead.deallocate()
        inbox.deallocate()
    }

    private static func cConfig(_ c: Configuration, aead: UnsafeMutablePointer<mb_aead>,
                                sink: Sink) -> mb_session_cfg {
        var cfg = mb_session_cfg()
        mb_session_cfg_defaults(&cfg)
        cfg.role = c.role == .controller ? MB_ROLE_CONTROLLER : MB_ROLE_DEVICE
        cfg.profile = c.profile == .fd ? MB_PROFILE_FD : MB_PROFILE_CLASSIC
        cfg.device_id = c.deviceId
        cfg.allow_clear_diag = c.allowClearDiagnostics ? 1 : 0
        cfg.hs_timeout_ms = c.handshakeTimeoutMs
        cfg.hs_min_interval_ms = c.handshakeMinIntervalMs
        cfg.rekey_after_ms = c.rekeyAfterMs
        cfg.rekey_after_msgs = c.rekeyAfterMessages
        cfg.grace_ms = c.graceMs
        cfg.reasm_timeout_ms = c.reassemblyTimeoutMs
        cfg.resync_after = c.resyncAfter
        cfg.resync_min_interval_ms = c.resyncMinIntervalMs
        cfg.hello_counter_base = c.helloCounterBase
        cfg.fresh_types = c.commandTypes.reduce(0) { $0 | UInt16(1) << UInt16($1.rawValue & 0xF) }
        cfg.fresh_max_age_ms = c.commandMaxAgeMs
        cfg.rehandshake_ms = c.rehandshakeMs
        cfg.rng = Sink.rngThunk
        cfg.tx = Sink.txThunk
        cfg.event = Sink.eventThunk
        // The session object keeps `sink` alive; the C side borrows it.
        cfg.user = Unmanaged.passUnretained(sink).toOpaque()
        cfg.aead = aead
        cfg.kex = sink.kex?.pointer
        return cfg
    }

    /// The C frame of an extended frame whose payload fits (checked by the caller).
    static func cFrame(_ frame: CANFrame) -> mb_frame {
        var raw = mb_frame()
        raw.id = frame.id
        raw.len = UInt8(frame.count)
        frame.withUnsafeBytes { src in
            withUnsafeMutableBytes(of: &raw.data) { dst in dst.copyMemory(from: src) }
        }
        return raw
    }

    static func cKeys(_ k: borrowing PairKeys) -> mb_pair_keys {
        var keys = mb_pair_keys()
        k.txKey.withUnsafeBytes { src in withUnsafeMutableBytes(of: &keys.tx_key) { $0.copyMemory(from: src) } }
        k.rxKey.withUnsafeBytes { src in withUnsafeMutableBytes(of: &keys.rx_key) { $0.copyMemory(from: src) } }
        k.confirmKey.withUnsafeBytes { src in
            withUnsafeMutableBytes(of: &keys.confirm_key) { $0.copyMemory(from: src) }
        }
        k.keyId.withUnsafeBytes { src in withUnsafeMutableBytes(of: &keys.key_id) { $0.copyMemory(from: src) } }
        k.txFixed.withUnsafeBytes { src in withUnsafeMutableBytes(of: &keys.tx_fixed) { $0.copyMemory(from: src) } }
        k.rxFixed.withUnsafeBytes { src in withUnsafeMutableBytes(of: &keys.rx_fixed) { $0.copyMemory(from: src) } }
        keys.self_is_low = k.selfIsLow ? 1 : 0
        return keys
    }
}

extension SecureSession: @unchecked Sendable {}

/// What the C callbacks reach through `user`: frames produced during one
/// call, the random source and the event handler. Only touched from inside
/// a `SecureSession` call, which the compiler keeps exclusive.
private final class Sink {
    let fd: Bool
    let random: SecureSession.RandomSource
    let onEvent: (@Sendable (SecureSession.Event) -> Void)?
    /// The ephemeral exchange's state, when configured: it must outlive the
    /// C session, which the session object's `deinit` frees before it
    /// releases the sink.
    let kex: EphemeralKeyExchange?
    var frames: [CANFrame] = []

    init(fd: Bool, ephemeral: Bool, random: @escaping SecureSession.RandomSource,
         onEvent: (@Sendable (SecureSession.Event) -> Void)?) {
        self.fd = fd
        self.random = random
        self.onEvent = onEvent
        kex = ephemeral ? EphemeralKeyExchange() : nil
        frames.reserveCapacity(16)   // one message is at most 16 frames
    }

    func drain(into output: inout [CANFrame]) {
        guard !frames.isEmpty else { return }
        output.append(contentsOf: frames)
        frames.removeAll(keepingCapacity: true)
    }

    static func from(_ user: UnsafeMutableRawPointer?) -> Sink {
        Unmanaged<Sink>.fromOpaque(user!).takeUnretainedValue()
    }

    static let rngThunk: mb_rng_fn = { user, out, count in
        guard let out, let bytes = Sink.from(user).random(count), bytes.count == count else { return -1 }
        bytes.withUnsafeBufferPointer { out.update(from: $0.baseAddress!, count: count) }
        return 0
    }

    static let txThunk: mb_tx_fn = { user, frame in
        guard let frame else { return MB_ERR_NULL }
        let sink = Sink.from(user)
        var f = frame.pointee
        let len = Int(f.len)
        let built: CANFrame? = withUnsafeBytes(of: &f.data) { raw in
            try? CANFrame(id: f.id, extended: true, fd: sink.fd,
                          data: UnsafeRawBufferPointer(rebasing: raw[0..<len]))
        }
        guard let built else { return MB_ERR_LENGTH }
        sink.frames.append(built)
        return MB_OK
    }

    static let eventThunk: mb_event_fn = { user, event in
        guard let event else { return }
        let sink = Sink.from(user)
        guard let handler = sink.onEvent else { return }
        let e = event.pointee
        let kind = SecureSession.Event.Kind(eventCode: e.type)
        handler(SecureSession.Event(kind: kind, deviceId: e.device_id, messageId: e.msg_id,
                                    error: ModbattError(code: e.code), epoch: e.epoch, counter: e.counter))
    }
}

extension SecureSession.Event.Kind {
    /// The kind of a C core `mb_event_type` code (for every caller that
    /// receives `mb_event`s from the C session).
    package init(eventCode: UInt8) {
        switch Int(eventCode) {
        case Int(MB_EV_HS_STARTED.rawValue): self = .handshakeStarted
        case Int(MB_EV_HS_ACCEPTED.rawValue): self = .handshakeAccepted
        case Int(MB_EV_HS_DONE.rawValue): self = .handshakeDone
        case Int(MB_EV_HS_FAILED.rawValue): self = .handshakeFailed
        case Int(MB_EV_REKEY_TX.rawValue): self = .rekeySending
        case Int(MB_EV_REKEY_RX.rawValue): self = .rekeyReceiving
        case Int(MB_EV_REKEY_REQUESTED.rawValue): self = .rekeyRequested
        case Int(MB_EV_GRACE_END.rawValue): self = .graceEnded
        case Int(MB_EV_REJECT.rawValue): self = .rejected
        case Int(MB_EV_RESYNC.rawValue): self = .resync
        case Int(MB_EV_CLONE_SUSPECT.rawValue): self = .cloneSuspected
        default: self = .unknown(eventCode)
        }
    }
}
