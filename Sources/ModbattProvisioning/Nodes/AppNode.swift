import Foundation
import Modbatt
import ModbattCAN

/// The app's CAN side: sends the key packages to the pack controller
/// (mb_xfer, resumable with the same transfer id and blob), receives the
/// pack's sealed reports (mb_report_open against the pack's registered
/// binding key), runs the app <-> pack session as controller from its own
/// key store, collects the pack's pair status and telemetry, sends commands.
actor AppNode {
    struct Blob: Sendable {
        var name: String
        var xferId: UInt8
        var kind: XferKind
        var bytes: [UInt8]
    }

    struct PairStatus: Sendable, Equatable {
        var state: UInt8
        var reason: UInt8
        var keyId: [UInt8]
        var atMs: UInt32
    }

    let node: any FramePort
    let audit: AuditLog
    let appKey: BindingKeyPair
    let storage: DeviceStorage
    let packId: UInt8
    let policy: TamperPolicy

    private let tx: XferSender
    private var queue: [Blob] = []
    private var current: Blob?
    private(set) var delivered: [String] = []
    private(set) var deliveryFailure: String?
    private let reportRx: XferReceiver
    private var packPub: [UInt8]? {
        didSet { reportSequence = packPub.map { ReportSequence.Receiver(directory: storage.directory, devicePub: $0) } }
    }
    /// The highest report sequence accepted from the pack, kept on disk.
    private var reportSequence: ReportSequence.Receiver?
    private(set) var reports: [(kind: UInt8, payload: [UInt8])] = []
    private(set) var reportsRejected = 0
    private var session: PairSession?
    private var guardState = PairGuard()
    private var helloAttempts = 0
    private var nextHello: UInt32?
    private(set) var establishedAt: UInt32?
    private(set) var pairStatus: [UInt8: PairStatus] = [:]
    private(set) var packTelemetry = 0
    private var commandEvery: UInt32 = 0
    private var nextCommand: UInt32 = 0
    private var pendingRekeyCommand = false
    private(set) var counters = NodeCounters()
    /// The app's commands waiting for the pack's acknowledgement.
    private var commands = CommandAck.Pending()
    private(set) var framesSent = 0
    private(set) var retries = 0
    private var pending: [AuditEntry] = []
    /// Wait before repeating an unanswered HELLO. On a real bus a slow host
    /// should not repeat it while the answer is under way: a newer HELLO
    /// replaces the handshake the pack is answering, so repeating too early
    /// only delays establishment.
    var helloRetryMs: UInt32 = 300

    func setHelloRetry(ms: UInt32) { helloRetryMs = ms }
    /// The pair with the pack adds the ephemeral exchange: HELLOs wait longer.
    private var ephemeralPair = false

    init(node: any FramePort, audit: AuditLog, appKey: BindingKeyPair, storage: DeviceStorage, packId: UInt8,
         policy: TamperPolicy) {
        self.node = node
        self.audit = audit
        self.appKey = appKey
        self.storage = storage
        self.packId = packId
        self.policy = policy
        tx = XferSender(msgId: XferIds.down, deviceId: packId)
        reportRx = XferReceiver(msgId: XferIds.up, deviceId: packId)
    }

    /// Boot the app's key store and its session with the pack.
    func boot(packPub: [UInt8]?) async {
        self.packPub = packPub
        pending += storage.boot()
        buildSession()
        await flushAudit()
    }

    func buildSession() {
        session = nil
        guard storage.refused == nil, let rec = storage.record, let pair = rec.pairs.first,
              let base = storage.helloCounterBase(log: &pending) else { return }
        let params = rec.params
        session = rec.withPair(0) { _, secret in
            try? PairSession(role: .controller, profile: params.profile, deviceId: packId, secret: secret,
                             keyId: pair.keyId, params: params, helloCounterBase: base,
                             ephemeral: pair.ephemeral)
        }
        ephemeralPair = pair.ephemeral
        guardState = PairGuard()
        establishedAt = nil
        helloAttempts = 0
        nextHello = nil
    }

    func enqueue(_ blobs: [Blob]) { queue += blobs }
    var isHandshaking: Bool { nextHello != nil }

    /// Store the app's own record (its pair secret with the pack) and boot the session from it.
    func install(_ rec: KeyRecord) throws(ModbattError) {
        try storage.store(rec)
        buildSession()
    }
    func setPackPub(_ pub: [UInt8]) { packPub = pub }
    var isIdle: Bool { current == nil && queue.isEmpty }
    var isEstablished: Bool { session?.established ?? false }
    var sessionKeyId: [UInt8]? { session?.keyId }
    var handshakeAttempts: Int { helloAttempts }
    func resetCounters() {
        counters = NodeCounters()
        commands = CommandAck.Pending()   // an acknowledgement counts only for a command of this count
    }
    func forgetStatus() { pairStatus = [:] }

    func setCommands(everyMs: UInt32, now: UInt32) {
        commandEvery = everyMs
        nextCommand = now &+ 11
    }

    func commandRekey() { pendingRekeyCommand = true }

    /// Start the handshake with the pack (after its package was delivered).
    func scheduleHandshake(at now: UInt32) {
        helloAttempts = 0
        nextHello = now
    }

    func step(now: UInt32) async -> StepResult {
        let frames = await node.drain()
        var out: [CANFrame] = []
        for f in frames.map(\.frame) {
            if tx.onFrame(f, now: now) { out += tx.sink.take(); continue }
            if reportRx.onFrame(f, now: now) {
                out += reportRx.sink.take()
                if let blob = reportRx.takeCompleted() { openReport(blob) }
                continue
            }
            if let s = session, s.accepts(f) {
                receive(f, s, now: now)
                out += s.takeFrames()
                handleEvents(s, now: now)
            }
        }
        // Delivery.
        tx.poll(now: now)
        out += tx.sink.take()
        if let c = current {
            switch tx.state {
            case .done:
                delivered.append(c.name)
                pending.append(AuditEntry(event: "package_delivered", data: [
                    "to": "pack", "package": .string(c.name), "bytes": .int(Int64(c.bytes.count)),
                    "kind": .string(c.kind == .forward ? "forward" : "keypkg")]))
                framesSent += tx.framesSent
                retries += tx.retries
                current = nil
                if c.kind == .keyPackage { scheduleHandshake(at: now &+ 1) }
            case .aborted(let reason):
                deliveryFailure = "delivery of \(c.name) to the pack aborted: \(reason)"
                pending.append(AuditEntry(event: "delivery_failed", data: [
                    "package": .string(c.name), "reason": .string(reason)]))
                framesSent += tx.framesSent
                retries += tx.retries
                current = nil
                queue.removeAll()
            default: break
            }
        }
        if current == nil, !queue.isEmpty {
            let b = queue.removeFirst()
            current = b
            try? tx.start(xferId: b.xferId, kind: b.kind, bytes: b.bytes, now: now)
            out += tx.sink.take()
        }
        // Handshake with the pack.
        if let s = session {
            _ = s.poll(now: now)
            out += s.takeFrames()
            handleEvents(s, now: now)
            if let due = nextHello, now &- due < 0x8000_0000 {
                if s.established || helloAttempts >= 6 {
                    nextHello = nil
                } else {
                    helloAttempts += 1
                    nextHello = now &+ (ephemeralPair ? max(helloRetryMs, PairSession.ephemeralHandshakeTimeoutMs) : helloRetryMs)
                    try? s.start(now: now)
                    out += s.takeFrames()
                    handleEvents(s, now: now)
                }
            }
            if s.established, pendingRekeyCommand {
                pendingRekeyCommand = false
                if let p = try? s.send(type: AppMessage.command, payload: [AppMessage.cmdRekey], now: now) {
                    commandSent(p, now: now)
                }
                out += s.takeFrames()
                pending.append(AuditEntry(event: "rotation_commanded", data: ["by": "app", "pair": "app-pack"]))
            }
            if s.established, commandEvery > 0, now &- nextCommand < 0x8000_0000 {
                nextCommand = now &+ commandEvery
                do {
                    var position: CommandAck.Position?
                    let ns = try nanosThrowing { () throws(ModbattError) in
                        position = try s.send(type: AppMessage.command, payload: [AppMessage.cmdSetState, 1], now: now)
                    }
                    counters.seal.add(ns)
                    if let position { commandSent(position, now: now) }
                } catch {}
                out += s.takeFrames()
            }
        }
        counters.commandsUnacknowledged += commands.overdue(now: now).count
        for f in out { try? await node.send(f) }
        await flushAudit()
        var due: [UInt32] = []
        if let nextHello { due.append(nextHello) }
        if commandEvery > 0 { due.append(nextCommand) }
        return StepResult(worked: !frames.isEmpty || !out.isEmpty, nextDue: due.min { ($0 &- now) < ($1 &- now) })
    }

    /// A command sealed to the pack: counted as sent, and awaited.
    private func commandSent(_ p: CommandAck.Position, now: UInt32) {
        counters.messages.recordSent(.appToPack)
        commands.sent(p, now: now)
    }

    /// Transfer frames the sender has put on the bus so far (including the one in flight).
    var transferFramesSoFar: Int { framesSent + (current == nil ? 0 : tx.framesSent) }

    private func receive(_ f: CANFrame, _ s: PairSession, now: UInt32) {
        if guardState.quarantined {
            counters.rejected["quarantined", default: 0] += 1
            return
        }
        do throws(ModbattError) {
            var msg: PairSession.Message?
            let ns = try nanosThrowing { () throws(ModbattError) in msg = try s.receive(f, now: now) }
            guard let msg else { return }
            counters.open.add(ns)
            counters.messages.recordDelivered(.packToApp)
            counters.peerSpan.saw(epoch: msg.epoch, counter: msg.counter)
            switch msg.type {
            case AppMessage.pairStatus:
                var i = 0
                while i + 8 <= msg.payload.count {
                    let e = Array(msg.payload[i..<i + 8])
                    pairStatus[e[0]] = PairStatus(state: e[1], reason: e[3], keyId: Array(e[4..<8]), atMs: now)
                    i += 8
                }
            case AppMessage.telemetry:
                packTelemetry += 1
            case AppMessage.commandAck:
                if let p = CommandAck.decode(msg.payload), commands.acknowledged(p) { counters.commandsAcknowledged += 1 }
            default: break
            }
        } catch {
            let reason = reasonName(error)
            counters.rejected[reason, default: 0] += 1
            pending.append(AuditEntry(event: "frame_rejected", data: [
                "device": "app", "pair": "app-pack", "reason": .string(reason), "can_id": .int(Int64(f.id))]))
            if let signal = PairGuard.signal(for: error) {
                pending += guardState.record(signal, now: now, policy: policy, pair: "app-pack").entries
            }
        }
    }

    private func handleEvents(_ s: PairSession, now: UInt32) {
        for e in s.takeEvents() {
            switch e.kind {
            case .handshakeStarted:
                pending.append(AuditEntry(event: "handshake_started", data: ["device": "app", "pair": "app-pack"]))
            case .handshakeDone:
                if establishedAt == nil { establishedAt = now }
                pending.append(AuditEntry(event: "handshake_done", data: [
                    "device": "app", "pair": "app-pack", "key_id": .string(CCore.hex(s.keyId))]))
            case .handshakeFailed:
                pending.append(AuditEntry(event: "handshake_failed", data: [
                    "device": "app", "pair": "app-pack", "reason": .string(reasonName(e.error))]))
            case .rekeySending, .rekeyReceiving:
                counters.rotations += 1
                pending.append(AuditEntry(event: "rotation", data: [
                    "device": "app", "pair": "app-pack",
                    "direction": .string(e.kind == .rekeySending ? "tx" : "rx"), "epoch": .int(Int64(e.epoch))]))
            case .cloneSuspected:
                pending += guardState.record("clone_suspected", now: now, policy: policy, pair: "app-pack").entries
            default: break
            }
        }
    }

    private func openReport(_ bytes: [UInt8]) {
        guard let packPub, let reportSequence else { return }
        do {
            let (info, payload) = try SealedReport.open(bytes, devicePub: packPub, app: appKey,
                                                        minSequence: reportSequence.highest)
            try reportSequence.accept(info.sequence)   // on disk before it is acted on
            reports.append((info.kind, payload))
            var data: [String: AuditValue] = [
                "from": "pack", "type": .int(Int64(info.kind)), "sequence": .int(Int64(info.sequence)),
                "verified": true]
            if info.kind == SealedReport.Kind.delivery.rawValue, payload.count >= 7 {
                let code = Int16(bitPattern: UInt16(payload[4]) << 8 | UInt16(payload[5]))
                data["result"] = .string(code == 0 ? "ok" : CCore.strerror(Int32(code)))
                data["pairs"] = .int(Int64(payload[6]))
            }
            if info.kind == SealedReport.Kind.alert.rawValue {
                data["alert"] = .string(String(decoding: payload.dropFirst(2), as: UTF8.self))
            }
            pending.append(AuditEntry(event: "report_received", data: data))
        } catch {
            reportsRejected += 1
            pending.append(AuditEntry(event: "report_rejected", data: ["from": "pack", "reason": .string("\(error)")]))
        }
    }

    private func flushAudit() async {
        guard !pending.isEmpty else { return }
        let entries = pending
        pending.removeAll()
        for e in entries { _ = try? await audit.record(e.event, e.data) }
    }
}
