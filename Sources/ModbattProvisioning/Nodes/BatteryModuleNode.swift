import Foundation
import Modbatt
import ModbattCAN

/// A battery module's firmware on the module bus: receives its key package
/// (mb_xfer), validates and opens it (mb_keypkg_open against its binding
/// key and pinned app key), stores the record (mb_keystore), boots its
/// session from the stored pair secret, answers the pack's handshake, sends
/// telemetry and obeys commands. Only the C core's API is used.
actor BatteryModuleNode {
    let storage: DeviceStorage
    let node: any FramePort
    let audit: AuditLog
    let policy: TamperPolicy
    let profile: SecureSession.Profile
    var allowBootstrap: Bool
    /// Never answers (a dead module).
    var silent: Bool

    private var rx: XferReceiver
    private var discovery: DiscoveryResponder
    /// The id the bus gave this module (docs/PROTOCOL.md 6.7): the
    /// provisioned one until the pack registers it under another.
    private(set) var address: UInt8
    /// HELLOs left to announce a (re)assigned address, and when the next is due.
    private var announcesLeft = 0
    private var nextAnnounce: UInt32 = 0
    private var session: PairSession?
    private var guardState = PairGuard()
    private var telemetryEvery: UInt32 = 0
    private var nextTelemetry: UInt32 = 0
    private var telemetrySeq: UInt16 = 0
    private(set) var counters = NodeCounters()
    private var pending: [AuditEntry] = []

    var deviceId: UInt8 { storage.deviceId }
    var name: String { storage.name }

    init(storage: DeviceStorage, node: any FramePort, audit: AuditLog, policy: TamperPolicy,
         profile: SecureSession.Profile, allowBootstrap: Bool, silent: Bool) {
        self.storage = storage
        self.node = node
        self.audit = audit
        self.policy = policy
        self.profile = profile
        self.allowBootstrap = allowBootstrap
        self.silent = silent
        address = storage.deviceId
        rx = XferReceiver(msgId: XferIds.down, deviceId: storage.deviceId)
        discovery = DiscoveryResponder(deviceId: storage.deviceId)
    }

    /// The bus gave this module an id (the ModBatt pack's registration, or
    /// a re-registration after either side rebooted; docs/PROTOCOL.md 6.7).
    /// Under a new id the session moves (its keys end, the pair stays); under
    /// any id the module then starts a handshake, whose HELLO tells the pack
    /// where its pair is now: retried every 300 ms, four times at most,
    /// until established. Transfers and discovery follow the id. Throws for
    /// the broadcast and unassigned ids.
    func assignAddress(_ id: UInt8, now: UInt32) throws(ModbattError) {
        guard DeviceAddress.isAddress(id) else { throw .invalidArgument }
        if id != address {
            try session?.readdress(to: id)
            pending.append(AuditEntry(event: "address_changed", data: [
                "device": .string(name), "from": .int(Int64(address)), "to": .int(Int64(id))]))
            address = id
            rx = XferReceiver(msgId: XferIds.down, deviceId: id)
            discovery.deviceId = id
        }
        announcesLeft = session == nil ? 0 : 4
        nextAnnounce = now
    }

    /// Power on: boot the key store and the session.
    func powerOn() async {
        pending += storage.boot()
        rx.reset()
        buildSession()
        await flushAudit()
    }

    var bindingPublicKey: [UInt8]? { storage.binding?.publicKey }
    var isEstablished: Bool { session?.established ?? false }
    var isQuarantined: Bool { guardState.quarantined || storage.refused != nil }
    var bootRefusal: String? { storage.refused.map { "\($0)" } }
    var keyId: [UInt8]? { storage.record?.pairs.first?.keyId }

    func setTelemetry(everyMs: UInt32, now: UInt32) {
        telemetryEvery = everyMs
        nextTelemetry = now &+ UInt32(deviceId) % max(everyMs, 1)
    }

    func resetCounters() { counters = NodeCounters() }

    /// Attack hook: frames for which `predicate` is true never reach this
    /// module (an attacker suppresses them on the bus); nil restores normal
    /// reception.
    func setMissing(_ predicate: (@Sendable (CANFrame) -> Bool)?) { missing = predicate }
    private var missing: (@Sendable (CANFrame) -> Bool)?
    /// Off the bus (`true`: it neither hears nor answers) or back on.
    func setSilent(_ off: Bool) { silent = off }
    /// Factory-bootstrap policy of this device (refuses clear packages when false).
    func setAllowBootstrap(_ allow: Bool) { allowBootstrap = allow }

    private func buildSession() {
        session = nil
        guard storage.refused == nil, let rec = storage.record, let pair = rec.pairs.first,
              let base = storage.helloCounterBase(log: &pending) else { return }
        let params = rec.params
        session = rec.withPair(0) { _, secret in
            try? PairSession(role: .device, profile: params.profile, deviceId: address, secret: secret,
                             keyId: pair.keyId, params: params, helloCounterBase: base)
        }
        guardState = PairGuard()
    }

    /// One pass of the firmware main loop.
    func step(now: UInt32) async -> StepResult {
        let frames = await node.drain().filter { missing?($0.frame) != true }
        if silent { return StepResult(worked: false, nextDue: nil) }
        var out: [CANFrame] = []
        var worked = !frames.isEmpty
        for f in frames.map(\.frame) {
            if let answer = discovery.handle(f, now: now, identity: { storage.discoveryIdentity(role: .module, address: address) }) {
                out += counters.discoveryFrames(answer)
                continue
            }
            if rx.onFrame(f, now: now) {
                out += rx.sink.take()
                if let blob = rx.takeCompleted() { handlePackage(blob, now: now) }
                continue
            }
            guard let s = session, s.accepts(f) else { continue }
            if guardState.quarantined {
                counters.rejected["quarantined", default: 0] += 1
                pending.append(AuditEntry(event: "frame_rejected", data: [
                    "device": .string(name), "reason": "quarantined", "can_id": .int(Int64(f.id))]))
                continue
            }
            receive(f, session: s, now: now)
            out += s.takeFrames()
            handleEvents(s, now: now)
        }
        if let s = session {
            if announcesLeft > 0, now &- nextAnnounce < 0x8000_0000, !s.info.handshaking {
                do {
                    try s.start(now: now)
                    announcesLeft -= 1
                    nextAnnounce = now &+ 300
                } catch .rateLimited {
                    nextAnnounce = now &+ 50   // a HELLO went out just before: this one soon, not lost
                } catch {
                    announcesLeft -= 1
                    nextAnnounce = now &+ 300
                }
                out += s.takeFrames()
            }
            if let e = s.poll(now: now), e != .timeout { _ = e }
            out += s.takeFrames()
            handleEvents(s, now: now)
            if telemetryEvery > 0, s.established, !guardState.quarantined, now &- nextTelemetry < 0x8000_0000 {
                sendTelemetry(s, now: now)
                out += s.takeFrames()
                nextTelemetry = now &+ telemetryEvery
            }
        }
        for f in out { try? await node.send(f) }
        worked = worked || !out.isEmpty
        await flushAudit()
        var due: UInt32? = (telemetryEvery > 0 && session?.established == true) ? nextTelemetry : nil
        if announcesLeft > 0 { due = due.map { ($0 &- now) < (nextAnnounce &- now) ? $0 : nextAnnounce } ?? nextAnnounce }
        return StepResult(worked: worked, nextDue: due)
    }

    private func receive(_ f: CANFrame, session s: PairSession, now: UInt32) {
        do throws(ModbattError) {
            var msg: PairSession.Message?
            let ns = try nanosThrowing { () throws(ModbattError) in msg = try s.receive(f, now: now) }
            if let msg {
                counters.open.add(ns)
                counters.messages.recordDelivered(.packToModule)
                if msg.type == AppMessage.command { obey(msg, session: s, now: now) }
            }
        } catch {
            reject(error, frame: f, now: now)
        }
    }

    private func reject(_ error: ModbattError, frame: CANFrame, now: UInt32) {
        let reason = reasonName(error)
        counters.rejected[reason, default: 0] += 1
        pending.append(AuditEntry(event: "frame_rejected", data: [
            "device": .string(name), "reason": .string(reason), "can_id": .int(Int64(frame.id))]))
        if let signal = PairGuard.signal(for: error) {
            pending += guardState.record(signal, now: now, policy: policy, pair: "pack-\(name)").entries
        }
    }

    private func handleEvents(_ s: PairSession, now: UInt32) {
        for e in s.takeEvents() {
            switch e.kind {
            case .cloneSuspected:
                pending += guardState.record("clone_suspected", now: now, policy: policy, pair: "pack-\(name)").entries
            case .handshakeDone:
                announcesLeft = 0   // the pack knows where this module is
                pending.append(AuditEntry(event: "handshake_done", data: [
                    "device": .string(name), "pair": .string("pack-\(name)"),
                    "key_id": .string(CCore.hex(s.keyId))]))
            case .handshakeFailed:
                pending.append(AuditEntry(event: "handshake_failed", data: [
                    "device": .string(name), "reason": .string(reasonName(e.error))]))
            case .rekeySending, .rekeyReceiving:
                counters.rotations += 1
                pending.append(AuditEntry(event: "rotation", data: [
                    "device": .string(name), "direction": .string(e.kind == .rekeySending ? "tx" : "rx"),
                    "epoch": .int(Int64(e.epoch))]))
            default: break
            }
        }
    }

    private func sendTelemetry(_ s: PairSession, now: UInt32) {
        telemetrySeq &+= 1
        // [seq u16][cell mV u16 x2][temp dC i16][soc %]
        let mv = UInt16(3600 + Int(deviceId) % 100)
        let payload: [UInt8] = [UInt8(telemetrySeq >> 8), UInt8(telemetrySeq & 0xFF), UInt8(mv >> 8), UInt8(mv & 0xFF),
                                UInt8(mv >> 8), UInt8((mv &+ 3) & 0xFF), 0x00, 0xFA, 80]
        do {
            let ns = try nanosThrowing { () throws(ModbattError) in try s.send(type: AppMessage.telemetry, payload: payload, now: now) }
            counters.seal.add(ns)
            counters.messages.recordSent(.moduleToPack)
        } catch {
            pending.append(AuditEntry(event: "send_failed", data: ["device": .string(name), "reason": .string("\(error)")]))
        }
    }

    /// Apply a command and acknowledge it (`CommandAck`).
    private func obey(_ msg: PairSession.Message, session s: PairSession, now: UInt32) {
        guard let op = msg.payload.first else { return }
        if op == AppMessage.cmdRekey {
            try? s.rekey(now: now)
            pending.append(AuditEntry(event: "rotation_commanded", data: ["device": .string(name)]))
        }
        let ack = CommandAck.encode(op: op, .init(epoch: msg.epoch, counter: msg.counter))
        if (try? s.send(type: AppMessage.commandAck, payload: ack, now: now)) != nil { counters.messages.recordSent(.moduleToPack) }
    }

    private func handlePackage(_ pkg: [UInt8], now: UInt32) {
        guard let binding = storage.binding, storage.refused == nil else {
            pending.append(AuditEntry(event: "package_rejected", data: [
                "device": .string(name), "reason": "key store refused at boot"]))
            return
        }
        if let why = storage.unpinnedRefusal(bootstrap: allowBootstrap) {
            pending.append(AuditEntry(event: "package_rejected", data: ["device": .string(name), "reason": .string(why)]))
            return
        }
        do {
            let opened = try OpenedPackage.open(pkg, binding: binding, pinnedAppPub: storage.record?.appPub,
                                           deviceId: deviceId, minVersion: storage.packageVersion,
                                           allowBootstrap: allowBootstrap)
            if opened.isBootstrap {
                pending.append(AuditEntry(event: "bootstrap_package_accepted", data: [
                    "device": .string(name), "warning": "key halves crossed the bus in clear (factory bootstrap)"]))
            }
            let rec = try opened.record(binding: binding)
            try storage.store(rec)
            pending.append(AuditEntry(event: "package_installed", data: [
                "device": .string(name), "package_version": .int(Int64(opened.version)),
                "pairs": .int(Int64(opened.pairCount)), "generation": .int(Int64(storage.record?.generation ?? 0))]))
            buildSession()
            if let k = storage.record?.pairs.first {
                pending.append(AuditEntry(event: "pair_derived", data: [
                    "device": .string(name), "key_id": .string(CCore.hex(k.keyId)),
                    "secret_fingerprint": .string(k.fingerprint)]))
            }
        } catch {
            pending.append(AuditEntry(event: "package_rejected", data: [
                "device": .string(name), "reason": .string("\(error)")]))
        }
    }

    /// Forget every key (wiped flash / replaced board) and boot blank.
    func wipeAndReboot() async {
        storage.wipe()
        await powerOn()
    }

    private func flushAudit() async {
        guard !pending.isEmpty else { return }
        let entries = pending
        pending.removeAll()
        for e in entries { _ = try? await audit.record(e.event, e.data) }
    }
}

func nanosThrowing(_ body: () throws(ModbattError) -> Void) throws(ModbattError) -> Int {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try body()
    return Int(DispatchTime.now().uptimeNanoseconds - t0)
}
