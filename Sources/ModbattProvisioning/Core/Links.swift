internal import CModbatt
import Foundation
import Modbatt

// Wrappers over the C core's chunked transfer (mb_xfer) and sessions
// (mb_session, booted from a stored pair secret), as the device firmware
// and the app use them. Frames the C side sends are collected in `outbox`
// and put on the transport by the owner after each call.

/// Collects frames from C `send`/`tx` callbacks.
final class FrameSink {
    var outbox: [CANFrame] = []
    let fd: Bool
    init(fd: Bool = false) { self.fd = fd }

    func take() -> [CANFrame] {
        defer { outbox.removeAll(keepingCapacity: true) }
        return outbox
    }

    static func from(_ user: UnsafeMutableRawPointer?) -> FrameSink {
        Unmanaged<FrameSink>.fromOpaque(user!).takeUnretainedValue()
    }
}

enum XferKind: UInt8, Sendable {
    case keyPackage = 1, forward = 2, report = 3
}

enum XferState: Sendable, Equatable {
    case idle, busy, done, aborted(reason: String)

    init(_ s: mb_xfer_state, reason: UInt8) {
        switch s {
        case MB_XFER_BUSY: self = .busy
        case MB_XFER_DONE: self = .done
        case MB_XFER_ABORTED: self = .aborted(reason: XferState.reasonText(reason))
        default: self = .idle
        }
    }

    static func reasonText(_ r: UInt8) -> String {
        switch Int32(r) {
        case Int32(MB_XFER_ABORT_RETRIES.rawValue): return "no acknowledgement after all retries"
        case Int32(MB_XFER_ABORT_REFUSED.rawValue): return "refused by the receiver"
        case Int32(MB_XFER_ABORT_CRC.rawValue): return "blob kept failing its CRC-32"
        case Int32(MB_XFER_ABORT_LOCAL.rawValue): return "aborted locally"
        case Int32(MB_XFER_ABORT_SENDER.rawValue): return "sender aborted"
        default: return "aborted (\(r))"
        }
    }
}

private let xferSendThunk: mb_xfer_send_fn = { user, id, data, len in
    let sink = FrameSink.from(user)
    let bytes = data.map { Array(UnsafeBufferPointer(start: $0, count: Int(len))) } ?? []
    guard let frame = try? CANFrame(id: id, extended: true, data: bytes) else { return MB_ERR_LENGTH }
    sink.outbox.append(frame)
    return MB_OK
}

private func xferConfig(msgId: UInt16, deviceId: UInt8, sink: FrameSink) -> mb_xfer_cfg {
    var cfg = mb_xfer_cfg()
    mb_xfer_cfg_defaults(&cfg)
    cfg.data_msg_id = msgId
    cfg.device_id = deviceId
    cfg.send = xferSendThunk
    cfg.user = Unmanaged.passUnretained(sink).toOpaque()
    return cfg
}

/// Message ids of the transfer protocol.
enum XferIds {
    static let down = UInt16(MB_XFER_MSGID_DOWN)
    static let up = UInt16(MB_XFER_MSGID_UP)
    static let ackOffset = UInt16(MB_XFER_ACK_OFFSET)

    /// The 11-bit message id of a 29-bit ModBatt id.
    static func messageId(_ id: UInt32) -> UInt16 { UInt16((id >> 18) & 0x7FF) }
    static func deviceId(_ id: UInt32) -> UInt8 { UInt8(id & 0xFF) }
}

/// Sending side of one transfer link (mb_xfer_tx).
final class XferSender {
    let sink = FrameSink()
    private let tx: UnsafeMutablePointer<mb_xfer_tx>
    private var cfg: mb_xfer_cfg
    private var blob: UnsafeMutableBufferPointer<UInt8>?
    let msgId: UInt16
    let deviceId: UInt8
    private(set) var kind: XferKind = .keyPackage
    private(set) var xferId: UInt8 = 0

    init(msgId: UInt16, deviceId: UInt8) {
        self.msgId = msgId
        self.deviceId = deviceId
        tx = .allocate(capacity: 1)
        tx.initialize(to: mb_xfer_tx())
        cfg = mb_xfer_cfg()
        cfg = xferConfig(msgId: msgId, deviceId: deviceId, sink: sink)
    }

    deinit {
        release()
        tx.deallocate()
    }

    private func release() {
        if let blob {
            mb_wipe(blob.baseAddress, blob.count)
            blob.deallocate()
        }
        blob = nil
    }

    /// Start sending `bytes` (sends START). Reusing `xferId` with the same
    /// blob after an interruption makes the receiver resume.
    func start(xferId: UInt8, kind: XferKind, bytes: [UInt8], now: UInt32) throws(ModbattError) {
        release()
        let b = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: bytes.count)
        _ = b.initialize(from: bytes)
        blob = b
        self.kind = kind
        self.xferId = xferId
        tx.initialize(to: mb_xfer_tx())
        try CCore.check(mb_xfer_tx_start(tx, &cfg, xferId, kind.rawValue, b.baseAddress, b.count, now))
    }

    func resume(now: UInt32) throws(ModbattError) {
        try CCore.check(mb_xfer_tx_resume(tx, now))
    }

    /// True when the frame was this sender's ACK.
    @discardableResult
    func onFrame(_ frame: CANFrame, now: UInt32) -> Bool {
        guard frame.isExtended, XferIds.messageId(frame.id) == msgId + XferIds.ackOffset,
              XferIds.deviceId(frame.id) == deviceId, state == .busy else { return false }
        let data = frame.data
        _ = mb_xfer_tx_on_frame(tx, frame.id, data, UInt8(data.count), now)
        return true
    }

    func poll(now: UInt32) {
        if state == .busy { _ = mb_xfer_tx_poll(tx, now) }
    }

    var state: XferState { XferState(mb_xfer_tx_state(tx), reason: tx.pointee.abort_reason) }
    var framesSent: Int { Int(tx.pointee.frames_sent) }
    var retries: Int { Int(tx.pointee.retries_total) }
    var isActive: Bool { state == .busy }
}

/// Receiving side of one transfer link (mb_xfer_rx).
final class XferReceiver {
    let sink = FrameSink()
    private let rx: UnsafeMutablePointer<mb_xfer_rx>
    private var cfg: mb_xfer_cfg
    private let buffer: UnsafeMutableBufferPointer<UInt8>
    let msgId: UInt16
    let deviceId: UInt8
    private var consumed = false

    init(msgId: UInt16, deviceId: UInt8, capacity: Int = CCore.keyPackageMax) {
        self.msgId = msgId
        self.deviceId = deviceId
        rx = .allocate(capacity: 1)
        rx.initialize(to: mb_xfer_rx())
        buffer = .allocate(capacity: capacity)
        buffer.initialize(repeating: 0)
        cfg = mb_xfer_cfg()
        cfg = xferConfig(msgId: msgId, deviceId: deviceId, sink: sink)
        _ = mb_xfer_rx_init(rx, &cfg, buffer.baseAddress, buffer.count)
    }

    deinit {
        mb_wipe(buffer.baseAddress, buffer.count)
        buffer.deallocate()
        rx.deallocate()
    }

    /// True when the frame was for this receiver (it answered it).
    @discardableResult
    func onFrame(_ frame: CANFrame, now: UInt32) -> Bool {
        guard frame.isExtended, XferIds.messageId(frame.id) == msgId, XferIds.deviceId(frame.id) == deviceId
        else { return false }
        let data = frame.data
        _ = mb_xfer_rx_on_frame(rx, frame.id, data, UInt8(data.count), now)
        if state != .done { consumed = false }
        return true
    }

    /// The blob of a transfer that just completed, once. The receiver stays
    /// DONE (it re-acknowledges a repeated END or START, so a sender whose
    /// last ACK was lost, or a restarted sender, finishes without a resend).
    func takeCompleted() -> [UInt8]? {
        guard state == .done, !consumed else { return nil }
        consumed = true
        return Array(buffer.prefix(Int(rx.pointee.len)))
    }

    var state: XferState { XferState(mb_xfer_rx_state(rx), reason: rx.pointee.abort_reason) }
    var kind: XferKind? { XferKind(rawValue: rx.pointee.kind) }

    /// Forget the current transfer (a power cycle of the receiving device).
    func reset() {
        mb_xfer_rx_reset(rx)
        consumed = false
    }
}

// MARK: Sessions from a stored pair secret

/// One end of a pair's secure session, set up from the pair secret PS and
/// key id a key store keeps (mb_session_init_secret). Same behaviour as
/// `SecureSession`, which starts from derived `PairKeys`.
final class PairSession {
    /// An ephemeral pair's handshake step timeout (both ends), and the least
    /// time between HELLO retries: the pack controller answers a HELLO, and
    /// takes its FINISH, after two P-256 scalar multiplications, 0.82 s
    /// measured on the STM32WB55 at 64 MHz (docs/PROTOCOL.md 6.6). A shorter
    /// wait fails every handshake, and a sooner retry restarts its work.
    static let ephemeralHandshakeTimeoutMs: UInt32 = 2000

    struct Event: Sendable {
        var kind: SecureSession.Event.Kind
        var deviceId: UInt8
        var messageId: UInt16
        var error: ModbattError?
        var epoch: UInt32
        var counter: UInt64
    }

    struct Message: Sendable {
        var type: UInt8
        var payload: [UInt8]
        var epoch: UInt32
        var counter: UInt64
    }

    private let session: UnsafeMutablePointer<mb_session>
    private let aead: UnsafeMutablePointer<mb_aead>
    private let inbox: UnsafeMutablePointer<mb_session_msg>
    private let box: Box
    /// The pair's device id: the address the session talks under (`readdress`).
    private(set) var deviceId: UInt8
    let keyId: [UInt8]
    let role: SecureSession.Role

    final class Box {
        let sink: FrameSink
        var events: [Event] = []
        /// The ephemeral exchange's state, when the pair uses one; it must
        /// outlive the C session, which `deinit` frees first.
        let kex: EphemeralKeyExchange?

        init(fd: Bool, ephemeral: Bool) {
            sink = FrameSink(fd: fd)
            kex = ephemeral ? EphemeralKeyExchange() : nil
        }
    }

    init(role: SecureSession.Role, profile: SecureSession.Profile, deviceId: UInt8,
         secret: UnsafeRawBufferPointer, keyId: [UInt8], params: CryptoParameters,
         handshakeTimeoutMs: UInt32? = nil, helloCounterBase: UInt64 = 0,
         ephemeral: Bool = false) throws(ModbattError) {
        self.deviceId = deviceId
        self.keyId = keyId
        self.role = role
        box = Box(fd: profile == .fd, ephemeral: ephemeral)
        session = .allocate(capacity: 1)
        session.initialize(to: mb_session())
        aead = .allocate(capacity: 1)
        inbox = .allocate(capacity: 1)
        inbox.initialize(to: mb_session_msg())
        mb_aead_init(aead)
        var cfg = mb_session_cfg()
        mb_session_cfg_defaults(&cfg)
        cfg.role = role == .controller ? MB_ROLE_CONTROLLER : MB_ROLE_DEVICE
        cfg.profile = profile == .fd ? MB_PROFILE_FD : MB_PROFILE_CLASSIC
        cfg.device_id = deviceId
        cfg.hs_timeout_ms = handshakeTimeoutMs ?? (ephemeral ? Self.ephemeralHandshakeTimeoutMs : 250)
        cfg.hello_counter_base = helloCounterBase
        if params.rekeyAfterMs > 0 { cfg.rekey_after_ms = params.rekeyAfterMs } else { cfg.rekey_after_ms = 0 }
        if params.rekeyAfterMessages > 0 { cfg.rekey_after_msgs = UInt64(params.rekeyAfterMessages) }
        cfg.rng = CCore.rng
        cfg.tx = PairSession.txThunk
        cfg.event = PairSession.eventThunk
        cfg.user = Unmanaged.passUnretained(box).toOpaque()
        cfg.aead = aead
        cfg.kex = box.kex.map { UnsafeMutablePointer($0.opaque) }
        let code = keyId.withUnsafeBufferPointer { kid in
            mb_session_init_secret(session, &cfg, secret.bindMemory(to: UInt8.self).baseAddress, kid.baseAddress)
        }
        // On failure deinit releases the buffers (the instance is fully initialized).
        if let error = ModbattError(code: code) { throw error }
    }

    deinit {
        mb_session_free(session)
        mb_aead_free(aead)
        withUnsafeMutableBytes(of: &inbox.pointee) { mb_wipe($0.baseAddress, $0.count) }
        session.deallocate()
        aead.deallocate()
        inbox.deallocate()
    }

    func takeFrames() -> [CANFrame] { box.sink.take() }

    func takeEvents() -> [Event] {
        defer { box.events.removeAll() }
        return box.events
    }

    func start(now: UInt32) throws(ModbattError) { try CCore.check(mb_session_start(session, now)) }

    /// Seal and send; returns the message's position (epoch, counter), which
    /// a receiver echoes to acknowledge a command.
    @discardableResult
    func send(type: UInt8, payload: [UInt8], now: UInt32) throws(ModbattError) -> CommandAck.Position {
        let code = payload.withUnsafeBufferPointer { mb_session_send(session, UInt32(type), $0.baseAddress, $0.count, now) }
        try CCore.check(code)
        let i = info
        return CommandAck.Position(epoch: i.txEpoch, counter: i.nextCounter &- 1)
    }

    func rekey(now: UInt32) throws(ModbattError) { try CCore.check(mb_session_rekey(session, now)) }

    func accepts(_ frame: CANFrame) -> Bool { frame.isExtended && mb_session_accepts(session, frame.id) }

    /// Process one frame; a delivered message or nil; throws the rejection.
    func receive(_ frame: CANFrame, now: UInt32) throws(ModbattError) -> Message? {
        guard frame.isExtended, frame.count <= Int(MB_FRAME_DATA_MAX) else { throw .canIdOutOfRange }
        var raw = mb_frame()
        raw.id = frame.id
        raw.len = UInt8(frame.count)
        frame.withUnsafeBytes { src in withUnsafeMutableBytes(of: &raw.data) { $0.copyMemory(from: src) } }
        let code = mb_session_rx(session, &raw, now, inbox)
        try CCore.check(code)
        guard inbox.pointee.ready != 0 else { return nil }
        let m = inbox.pointee
        let payload = withUnsafeBytes(of: &inbox.pointee.data) { Array($0.prefix(Int(m.len))) }
        withUnsafeMutableBytes(of: &inbox.pointee.data) { mb_wipe($0.baseAddress, $0.count) }
        return Message(type: m.type, payload: payload, epoch: m.epoch, counter: m.counter)
    }

    func poll(now: UInt32) -> ModbattError? { ModbattError(code: mb_session_poll(session, now)) }

    // A pair at another address (docs/PROTOCOL.md 6.7).

    /// Move to another device id: every session key goes, the pair secret,
    /// key id and HELLO counters stay; a handshake at the new id follows.
    func readdress(to id: UInt8) throws(ModbattError) {
        try CCore.check(mb_session_readdress(session, id))
        deviceId = id
    }

    /// Whether `hello` (a whole HELLO) is this pair's, authentic and fresh,
    /// sent under device id `id`; changes nothing.
    func checkHello(_ hello: [UInt8], at id: UInt8) throws(ModbattError) {
        try CCore.check(hello.withUnsafeBufferPointer { mb_session_check_hello(session, id, $0.baseAddress, $0.count) })
    }

    /// Raise this session's HELLO counters to `other`'s (one side of one pair).
    func takeCounters(from other: PairSession) throws(ModbattError) {
        try CCore.check(mb_session_take_counters(session, other.session))
    }

    var established: Bool {
        var i = mb_session_info()
        _ = mb_session_get_info(session, &i)
        return i.established != 0
    }

    var info: (established: Bool, handshaking: Bool, txEpoch: UInt32, rxEpoch: UInt32, nextCounter: UInt64,
               failRun: UInt16) {
        var i = mb_session_info()
        _ = mb_session_get_info(session, &i)
        return (i.established != 0, i.hs_state != 0, i.tx_epoch, i.rx_epoch, i.tx_next_counter, i.fail_run)
    }

    static func maxPayload(_ profile: SecureSession.Profile) -> Int { SecureSession.maxPayload(profile) }

    // C callbacks

    private static let txThunk: mb_tx_fn = { user, frame in
        guard let frame else { return MB_ERR_NULL }
        let box = Unmanaged<Box>.fromOpaque(user!).takeUnretainedValue()
        var f = frame.pointee
        let len = Int(f.len)
        let built: CANFrame? = withUnsafeBytes(of: &f.data) { raw in
            try? CANFrame(id: f.id, extended: true, fd: box.sink.fd,
                          data: UnsafeRawBufferPointer(rebasing: raw[0..<len]))
        }
        guard let built else { return MB_ERR_LENGTH }
        box.sink.outbox.append(built)
        return MB_OK
    }

    private static let eventThunk: mb_event_fn = { user, event in
        guard let event else { return }
        let box = Unmanaged<Box>.fromOpaque(user!).takeUnretainedValue()
        let e = event.pointee
        let kind = SecureSession.Event.Kind(eventCode: e.type)
        box.events.append(Event(kind: kind, deviceId: e.device_id, messageId: e.msg_id,
                                error: ModbattError(code: e.code), epoch: e.epoch, counter: e.counter))
    }
}
