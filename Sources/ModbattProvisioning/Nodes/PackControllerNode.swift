import Foundation
import Modbatt
import ModbattCAN

/// The pack controller's firmware: receives its own key package and the
/// modules' packages from the app (mb_xfer, kinds KEYPKG and FORWARD),
/// opens and stores its own (mb_keypkg_open, mb_keystore), relays each
/// module's sealed package unchanged to the module (mb_keypkg_peek for
/// routing only), runs the handshake as controller with every module and as
/// device with the app, reports to the app in sealed, signed reports
/// (mb_report_seal) and over the app session (pair status, telemetry),
/// and obeys the app's commands.
actor PackControllerNode {
    enum LinkState: Sendable, Equatable {
        case pending
        case established
        case failed(String)
    }

    struct ModuleLink {
        var state: LinkState = .pending
        var delivered = false
        var handshakeAttempts = 0
        var nextHello: UInt32?
        var guardState = PairGuard()
        var reported: LinkState?
        var commands = CommandAck.Pending()
    }

    let storage: DeviceStorage
    let node: any FramePort
    let audit: AuditLog
    let policy: TamperPolicy
    var allowBootstrap: Bool
    let maxHandshakeAttempts = 4

    private let appRx: XferReceiver
    private var discovery: DiscoveryResponder
    private let reportTx: XferSender
    private var reportQueue: [[UInt8]] = []
    private var reportXferId: UInt8 = 0
    private var forwardTx: [UInt8: XferSender] = [:]
    private var forwardQueue: [UInt8: [[UInt8]]] = [:]
    private var forwardXferId: UInt8 = 0
    private var appSession: PairSession?
    private var appGuard = PairGuard()
    /// Module pairs by the module's provisioned id, the pair's name here;
    /// each session talks under the module's address now (`pairAt`).
    private var moduleSessions: [UInt8: PairSession] = [:]
    private var links: [UInt8: ModuleLink] = [:]
    /// Where each module pair is: address -> provisioned id (docs/PROTOCOL.md 6.7).
    private var pairAt: [UInt8: UInt8] = [:]
    /// A pair heard at another address: the session that answered its HELLO
    /// there, until its FINISH confirms the move (by provisioned id).
    private var moves: [UInt8: PairSession] = [:]
    private var helloCollector = HelloCollector()
    private var telemetry: [UInt8: [UInt8]] = [:]
    private var telemetryEvery: UInt32 = 0
    private var nextTelemetry: UInt32 = 0
    private var commandEvery: UInt32 = 0
    private var nextCommand: UInt32 = 0
    private var statusDirty = false
    private(set) var counters = NodeCounters()
    private var pending: [AuditEntry] = []

    var deviceId: UInt8 { storage.deviceId }
    var name: String { storage.name }

    init(storage: DeviceStorage, node: any FramePort, audit: AuditLog, policy: TamperPolicy, allowBootstrap: Bool) {
        self.storage = storage
        self.node = node
        self.audit = audit
        self.policy = policy
        self.allowBootstrap = allowBootstrap
        appRx = XferReceiver(msgId: XferIds.down, deviceId: storage.deviceId)
        reportTx = XferSender(msgId: XferIds.up, deviceId: storage.deviceId)
        discovery = DiscoveryResponder(deviceId: storage.deviceId)
    }

    func powerOn() async {
        pending += storage.boot()
        appRx.reset()
        buildSessions()
        await flushAudit()
    }

    var bindingPublicKey: [UInt8]? { storage.binding?.publicKey }
    var appSessionEstablished: Bool { appSession?.established ?? false }
    func linkState(_ id: UInt8) -> LinkState? { links[id]?.state }
    /// Where the pair of the module provisioned as `id` is now.
    func moduleAddress(_ id: UInt8) -> UInt8? { pairAt.first { $0.value == id }?.key }
    /// Whether the pair is being moved to another address (its HELLO there answered).
    func pairMoving(_ id: UInt8) -> Bool { moves[id] != nil }
    func moduleKeyId(_ id: UInt8) -> [UInt8]? { storage.record?.pairs.first { $0.peerId == id }?.keyId }
    var isQuarantined: Bool { storage.refused != nil }
    var bootRefusal: String? { storage.refused.map { "\($0)" } }
    func pairQuarantined(_ id: UInt8) -> Bool { links[id]?.guardState.quarantined ?? false }
    func resetCounters() { counters = NodeCounters() }

    /// After a power cycle on a real bus: the module sessions' state was lost
    /// with the RAM, so the pack (their controller) starts a handshake with
    /// every module it holds a pair for, as it does after a delivery.
    func rehandshakeModules(now: UInt32) {
        for id in moduleSessions.keys where links[id]?.state == .pending {
            links[id]?.handshakeAttempts = 0
            links[id]?.nextHello = now
        }
    }

    func setTraffic(telemetryEveryMs: UInt32, commandEveryMs: UInt32, now: UInt32) {
        telemetryEvery = telemetryEveryMs
        nextTelemetry = now &+ 7
        commandEvery = commandEveryMs
        nextCommand = now &+ 13
    }

    /// Sessions from the stored record: the app pair (this side is the
    /// device) and one per module (this side is the controller), each at
    /// the module's provisioned id; with `keepingAddresses` (a new package
    /// while running) a module pair stays where its module was heard last
    /// (docs/PROTOCOL.md 6.7). A boot starts from the provisioned ids.
    private func buildSessions(keepingAddresses: Bool = false) {
        let previous = keepingAddresses ? Dictionary(uniqueKeysWithValues: pairAt.map { ($0.value, $0.key) }) : [:]
        let known = keepingAddresses ? Set(moduleSessions.keys) : []
        defer { if keepingAddresses { placeModules(previous: previous, known: known) } }
        appSession = nil
        moduleSessions = [:]
        pairAt = [:]
        moves = [:]
        helloCollector.reset()
        guard storage.refused == nil, let rec = storage.record,
              let base = storage.helloCounterBase(log: &pending) else { return }
        let params = rec.params
        for (i, p) in rec.pairs.enumerated() {
            let s: PairSession? = rec.withPair(i) { _, secret in
                try? PairSession(role: p.controller ? .controller : .device, profile: params.profile,
                                 deviceId: p.controller ? p.peerId : rec.deviceId, secret: secret,
                                 keyId: p.keyId, params: params, helloCounterBase: base, ephemeral: p.ephemeral)
            }
            guard let s else { continue }
            if p.controller {
                moduleSessions[p.peerId] = s
                pairAt[p.peerId] = p.peerId
                var link = links[p.peerId] ?? ModuleLink()
                link.guardState = PairGuard()
                if link.state != .established { link.state = .pending }
                links[p.peerId] = link
            } else {
                appSession = s
                appGuard = PairGuard()
            }
        }
    }

    func step(now: UInt32) async -> StepResult {
        let frames = await node.drain()
        var out: [CANFrame] = []
        var worked = !frames.isEmpty
        for f in frames.map(\.frame) {
            if let answer = discovery.handle(f, now: now, identity: { storage.discoveryIdentity(role: .packController) }) {
                out += counters.discoveryFrames(answer)
                continue
            }
            if appRx.onFrame(f, now: now) {
                out += appRx.sink.take()
                if let blob = appRx.takeCompleted() { handleBlob(blob, kind: appRx.kind, now: now) }
                continue
            }
            if reportTx.onFrame(f, now: now) { out += reportTx.sink.take(); continue }
            if f.isExtended, let tx = forwardTx[pairAt[XferIds.deviceId(f.id)] ?? XferIds.deviceId(f.id)],
               tx.onFrame(f, now: now) {
                out += tx.sink.take()
                continue
            }
            if let s = appSession, s.accepts(f) {
                out += receiveApp(f, s, now: now)
                continue
            }
            if f.isExtended, let answered = relocate(f, now: now) {
                out += answered
            } else if f.isExtended, let peer = pairAt[XferIds.deviceId(f.id)], let s = moduleSessions[peer], s.accepts(f) {
                out += receiveModule(f, s, peer: peer, now: now)
            } else if World.isSessionFrame(f), XferIds.messageId(f.id) >= 0x310, XferIds.deviceId(f.id) != deviceId,
                      storage.record != nil {
                // A module frame for a pair this pack holds no key for (revoked or never provisioned).
                counters.rejected["no-pair", default: 0] += 1
                pending.append(AuditEntry(event: "frame_rejected", data: [
                    "device": .string(name), "reason": "no-pair (revoked or unknown)",
                    "peer": .int(Int64(XferIds.deviceId(f.id))), "can_id": .int(Int64(f.id))]))
            }
        }
        out += runTimers(now: now)
        for f in out { try? await node.send(f) }
        worked = worked || !out.isEmpty
        await flushAudit()
        return StepResult(worked: worked, nextDue: nextDue(now: now))
    }

    private func nextDue(now: UInt32) -> UInt32? {
        var due: [UInt32] = links.values.compactMap(\.nextHello)
        if telemetryEvery > 0 { due.append(nextTelemetry) }
        if commandEvery > 0 { due.append(nextCommand) }
        due += links.values.compactMap(\.commands.nextDeadline)
        return due.min { ($0 &- now) < ($1 &- now) }
    }

    // MARK: Blobs from the app

    private func handleBlob(_ blob: [UInt8], kind: XferKind?, now: UInt32) {
        switch kind {
        case .keyPackage: installOwnPackage(blob, now: now)
        case .forward: forward(blob, now: now)
        default:
            pending.append(AuditEntry(event: "blob_refused", data: ["device": .string(name), "reason": "unknown kind"]))
        }
    }

    private func installOwnPackage(_ pkg: [UInt8], now: UInt32) {
        guard let binding = storage.binding, storage.refused == nil else {
            pending.append(AuditEntry(event: "package_rejected", data: [
                "device": .string(name), "reason": "key store refused at boot"]))
            return
        }
        var version: UInt32 = 0
        var result: ModbattError?
        if let why = storage.unpinnedRefusal(bootstrap: allowBootstrap) {
            pending.append(AuditEntry(event: "package_rejected", data: ["device": .string(name), "reason": .string(why)]))
            result = .policy
        } else {
            result = openAndInstall(pkg, binding: binding, version: &version)
        }
        queueDeliveryReport(version: version, result: result, now: now)
    }

    /// Open the pack's own package, store its record, start its sessions; the refusal, if any.
    private func openAndInstall(_ pkg: [UInt8], binding: BindingKeyPair, version: inout UInt32) -> ModbattError? {
        do {
            let opened = try OpenedPackage.open(pkg, binding: binding, pinnedAppPub: storage.record?.appPub,
                                           deviceId: deviceId, minVersion: storage.packageVersion,
                                           allowBootstrap: allowBootstrap)
            version = opened.version
            if opened.isBootstrap {
                pending.append(AuditEntry(event: "bootstrap_package_accepted", data: [
                    "device": .string(name), "warning": "key halves crossed the bus in clear (factory bootstrap)"]))
            }
            let rec = try opened.record(binding: binding)
            try storage.store(rec)
            pending.append(AuditEntry(event: "package_installed", data: [
                "device": .string(name), "package_version": .int(Int64(version)),
                "pairs": .int(Int64(opened.pairCount)), "generation": .int(Int64(storage.record?.generation ?? 0))]))
            for p in storage.record?.pairs ?? [] {
                pending.append(AuditEntry(event: "pair_derived", data: [
                    "device": .string(name), "peer": .int(Int64(p.peerId)), "key_id": .string(CCore.hex(p.keyId)),
                    "secret_fingerprint": .string(p.fingerprint)]))
            }
            // A new package replaces every pair: links start over (the modules stay where they are).
            links = [:]
            forwardTx = [:]
            buildSessions(keepingAddresses: true)
            return nil
        } catch {
            pending.append(AuditEntry(event: "package_rejected", data: [
                "device": .string(name), "reason": .string("\(error)")]))
            return error
        }
    }

    /// The delivery result report to the app.
    private func queueDeliveryReport(version: UInt32, result: ModbattError?, now: UInt32) {
        // Delivery result report: [version u32][result i16][pairs u8][generation u32]
        let code = Int16(truncatingIfNeeded: result?.code ?? 0)
        let gen = storage.record?.generation ?? 0
        let payload: [UInt8] = be32(version) + [UInt8(UInt16(bitPattern: code) >> 8), UInt8(UInt16(bitPattern: code) & 0xFF),
                                                UInt8(storage.record?.pairs.count ?? 0)] + be32(gen)
        queueReport(.delivery, payload, now: now)
    }

    private func forward(_ pkg: [UInt8], now: UInt32) {
        guard storage.refused == nil else { return }
        do {
            let route = try KeyPackage.peek(pkg)
            let target = route.deviceId
            pending.append(AuditEntry(event: "package_forwarding", data: [
                "device": .string(name), "target": .int(Int64(target)), "package_version": .int(Int64(route.version)),
                "bytes": .int(Int64(pkg.count))]))
            var link = links[target] ?? ModuleLink()
            link.state = .pending
            link.delivered = false
            link.handshakeAttempts = 0
            link.nextHello = nil
            links[target] = link
            forwardQueue[target, default: []].append(pkg)
            startForwardIfIdle(target, now: now)
        } catch {
            pending.append(AuditEntry(event: "package_rejected", data: [
                "device": .string(name), "reason": .string("cannot route: \(error)")]))
        }
    }

    private func startForwardIfIdle(_ target: UInt8, now: UInt32) {
        // To the module where it is now (docs/PROTOCOL.md 6.7); the package names its provisioned id.
        let address = moduleAddress(target) ?? target
        let tx = forwardTx[target].flatMap { $0.deviceId == address || $0.isActive ? $0 : nil }
            ?? XferSender(msgId: XferIds.down, deviceId: address)
        forwardTx[target] = tx
        guard !tx.isActive, var queue = forwardQueue[target], !queue.isEmpty else { return }
        let blob = queue.removeFirst()
        forwardQueue[target] = queue
        forwardXferId &+= 1
        if forwardXferId == 0 { forwardXferId = 1 }
        try? tx.start(xferId: forwardXferId, kind: .keyPackage, bytes: blob, now: now)
    }

    // MARK: Timers

    private func runTimers(now: UInt32) -> [CANFrame] {
        var out: [CANFrame] = []
        // Forward transfers: progress, completion, failure.
        for (id, tx) in forwardTx {
            tx.poll(now: now)
            out += tx.sink.take()
            switch tx.state {
            case .done where links[id]?.delivered == false:
                links[id]?.delivered = true
                links[id]?.nextHello = now &+ 1
                pending.append(AuditEntry(event: "package_delivered", data: [
                    "device": .string(name), "target": .int(Int64(id)), "frames": .int(Int64(tx.framesSent)),
                    "retries": .int(Int64(tx.retries))]))
                startForwardIfIdle(id, now: now)
            case .aborted(let reason) where links[id]?.state == .pending:
                fail(id, "delivery to module aborted: \(reason)", now: now)
                startForwardIfIdle(id, now: now)
            default: break
            }
        }
        // Handshakes with modules whose package arrived.
        for (id, link) in links {
            guard let due = link.nextHello, now &- due < 0x8000_0000, link.state == .pending,
                  let s = moduleSessions[id], pairAt[s.deviceId] == id else { continue }
            if s.established {
                links[id]?.nextHello = nil
                continue
            }
            if link.handshakeAttempts >= maxHandshakeAttempts {
                fail(id, "handshake: no key-confirmed answer after \(link.handshakeAttempts) attempts", now: now)
                continue
            }
            links[id]?.handshakeAttempts += 1
            links[id]?.nextHello = now &+ 300
            try? s.start(now: now)
            out += s.takeFrames()
            _ = s.takeEvents()
        }
        // Session timers.
        if let s = appSession {
            _ = s.poll(now: now)
            out += s.takeFrames()
            handleAppEvents(s, now: now)
        }
        for (id, s) in moduleSessions {
            _ = s.poll(now: now)
            out += s.takeFrames()
            handleModuleEvents(id, s, now: now)
        }
        for (id, s) in moves {
            _ = s.poll(now: now)
            out += s.takeFrames()
            settleMove(id, s, now: now)
        }
        // Reports to the app.
        reportTx.poll(now: now)
        out += reportTx.sink.take()
        if !reportTx.isActive, !reportQueue.isEmpty {
            let r = reportQueue.removeFirst()
            reportXferId &+= 1
            try? reportTx.start(xferId: reportXferId, kind: .report, bytes: r, now: now)
            out += reportTx.sink.take()
        }
        // Pair status to the app over the session.
        if let s = appSession, s.established { out += sendStatus(s, now: now) }
        // Traffic.
        if let s = appSession, s.established, telemetryEvery > 0, now &- nextTelemetry < 0x8000_0000 {
            nextTelemetry = now &+ telemetryEvery
            out += sendAggregate(s, now: now)
        }
        if commandEvery > 0, now &- nextCommand < 0x8000_0000 {
            nextCommand = now &+ commandEvery
            for (id, s) in moduleSessions.sorted(by: { $0.key < $1.key })
            where s.established && links[id]?.guardState.quarantined != true {
                do {
                    var position: CommandAck.Position?
                    let ns = try nanosThrowing { () throws(ModbattError) in
                        position = try s.send(type: AppMessage.command, payload: [AppMessage.cmdSetState, 1], now: now)
                    }
                    counters.seal.add(ns)
                    counters.messages.recordSent(.packToModule)
                    if let position { links[id]?.commands.sent(position, now: now) }
                } catch {}
                out += s.takeFrames()
            }
        }
        reportUnacknowledgedCommands(now: now)
        return out
    }

    /// Send one COMMAND (set state) to module `id` now, outside the traffic
    /// schedule (the demo's delayed-command attack); the frames sent.
    func sendCommand(to id: UInt8, now: UInt32) async -> [CANFrame] {
        guard let s = moduleSessions[id], s.established,
              let p = try? s.send(type: AppMessage.command, payload: [AppMessage.cmdSetState, 1], now: now)
        else { return [] }
        counters.messages.recordSent(.packToModule)
        links[id]?.commands.sent(p, now: now)
        let out = s.takeFrames()
        for f in out { try? await node.send(f) }
        return out
    }

    /// Commands a module did not acknowledge in time: suppressed or lost.
    private func reportUnacknowledgedCommands(now: UInt32) {
        for id in links.keys.sorted() {
            guard let late = links[id]?.commands.overdue(now: now), !late.isEmpty else { continue }
            counters.commandsUnacknowledged += late.count
            for p in late {
                pending.append(AuditEntry(event: "command_unacknowledged", data: [
                    "device": .string(name), "pair": .string(pairName(id)), "epoch": .int(Int64(p.epoch)),
                    "counter": .int(Int64(p.counter)), "deadline_ms": .int(Int64(CommandAck.deadlineMs))]))
            }
        }
    }

    private func fail(_ id: UInt8, _ reason: String, now: UInt32) {
        links[id]?.state = .failed(reason)
        links[id]?.nextHello = nil
        statusDirty = true
        pending.append(AuditEntry(event: "pair_failed", data: [
            "device": .string(name), "peer": .int(Int64(id)), "reason": .string(reason)]))
        let payload: [UInt8] = [0x00, 0x01, id] + Array(reason.utf8.prefix(120))
        queueReport(.alert, payload, now: now)
    }

    private func queueReport(_ kind: SealedReport.Kind, _ payload: [UInt8], now: UInt32) {
        guard let binding = storage.binding, let appPub = storage.record?.appPub else { return }
        do {
            let sequence = try storage.reportSequence.next()   // reserved on disk: survives a reboot
            let sealed = try SealedReport.seal(kind: kind, deviceId: deviceId, sequence: sequence, payload: payload,
                                               appPub: appPub, device: binding)
            reportQueue.append(sealed)
        } catch {
            pending.append(AuditEntry(event: "report_failed", data: ["reason": .string("\(error)")]))
        }
    }

    // MARK: Sessions

    private func receiveApp(_ f: CANFrame, _ s: PairSession, now: UInt32) -> [CANFrame] {
        if appGuard.quarantined {
            counters.rejected["quarantined", default: 0] += 1
            pending.append(AuditEntry(event: "frame_rejected", data: [
                "device": .string(name), "pair": "app-pack", "reason": "quarantined", "can_id": .int(Int64(f.id))]))
            return []
        }
        do throws(ModbattError) {
            var msg: PairSession.Message?
            let ns = try nanosThrowing { () throws(ModbattError) in msg = try s.receive(f, now: now) }
            if let msg {
                counters.open.add(ns)
                counters.messages.recordDelivered(.appToPack)
                if msg.type == AppMessage.command { return obeyApp(msg, s, now: now) }
            }
        } catch {
            rejected(error, frame: f, pair: "app-pack", guardState: &appGuard, now: now)
        }
        let out = s.takeFrames()
        handleAppEvents(s, now: now)
        return out
    }

    /// Apply the app's command and acknowledge it (`CommandAck`), as a
    /// module does the pack's: the acknowledgement is how the app learns
    /// that its command was accepted (its `app_to_pack` deliveries).
    private func obeyApp(_ msg: PairSession.Message, _ s: PairSession, now: UInt32) -> [CANFrame] {
        guard let op = msg.payload.first else { return [] }
        var moduleFrames: [CANFrame] = []
        if op == AppMessage.cmdRekey {
            // Rotation on command: this pair and every module pair.
            try? s.rekey(now: now)
            for (_, m) in moduleSessions where m.established { try? m.rekey(now: now) }
            pending.append(AuditEntry(event: "rotation_commanded", data: ["device": .string(name)]))
            for (_, m) in moduleSessions { moduleFrames += m.takeFrames() }
        }
        let ack = CommandAck.encode(op: op, .init(epoch: msg.epoch, counter: msg.counter))
        if (try? s.send(type: AppMessage.commandAck, payload: ack, now: now)) != nil {
            counters.messages.recordSent(.packToApp)
        }
        let out = s.takeFrames() + moduleFrames
        handleAppEvents(s, now: now)
        return out
    }

    private func receiveModule(_ f: CANFrame, _ s: PairSession, peer id: UInt8, now: UInt32) -> [CANFrame] {
        if links[id]?.guardState.quarantined == true {
            counters.rejected["quarantined", default: 0] += 1
            pending.append(AuditEntry(event: "frame_rejected", data: [
                "device": .string(name), "pair": .string(pairName(id)), "reason": "quarantined",
                "can_id": .int(Int64(f.id))]))
            return []
        }
        do throws(ModbattError) {
            var msg: PairSession.Message?
            let ns = try nanosThrowing { () throws(ModbattError) in msg = try s.receive(f, now: now) }
            if let msg {
                counters.open.add(ns)
                counters.messages.recordDelivered(.moduleToPack)
                counters.deliveredFrom.insert(id)
                if msg.type == AppMessage.telemetry { telemetry[id] = msg.payload }
                if msg.type == AppMessage.commandAck, let p = CommandAck.decode(msg.payload),
                   links[id]?.commands.acknowledged(p) == true {
                    counters.commandsAcknowledged += 1
                }
            }
        } catch {
            var g = links[id]?.guardState ?? PairGuard()
            rejected(error, frame: f, pair: pairName(id), guardState: &g, now: now)
            links[id]?.guardState = g
            if g.quarantined {
                statusDirty = true
                links[id]?.state = .failed("quarantined: tamper policy")
            }
        }
        let out = s.takeFrames()
        handleModuleEvents(id, s, now: now)
        return out
    }

    private func rejected(_ error: ModbattError, frame: CANFrame, pair: String, guardState: inout PairGuard,
                          now: UInt32) {
        let reason = reasonName(error)
        counters.rejected[reason, default: 0] += 1
        pending.append(AuditEntry(event: "frame_rejected", data: [
            "device": .string(name), "pair": .string(pair), "reason": .string(reason), "can_id": .int(Int64(frame.id))]))
        if let signal = PairGuard.signal(for: error) {
            noteSignal(signal, pair: pair, guardState: &guardState, now: now)
        }
    }

    /// Log a tamper signal; a quarantine is also reported to the app.
    private func noteSignal(_ signal: String, pair: String, guardState: inout PairGuard, now: UInt32) {
        let (entries, quarantinedNow) = guardState.record(signal, now: now, policy: policy, pair: pair)
        pending += entries
        if quarantinedNow {
            let alert: [UInt8] = [0x00, 0x02] + Array(pair.utf8.prefix(64))
            queueReport(.alert, alert, now: now)
        }
    }

    private func handleAppEvents(_ s: PairSession, now: UInt32) {
        for e in s.takeEvents() {
            switch e.kind {
            case .cloneSuspected:
                noteSignal("clone_suspected", pair: "app-pack", guardState: &appGuard, now: now)
            case .handshakeDone:
                statusDirty = true
                for id in links.keys { links[id]?.reported = nil }
                pending.append(AuditEntry(event: "handshake_done", data: [
                    "device": .string(name), "pair": "app-pack", "key_id": .string(CCore.hex(s.keyId))]))
            case .rekeySending, .rekeyReceiving:
                counters.rotations += 1
                pending.append(AuditEntry(event: "rotation", data: [
                    "device": .string(name), "pair": "app-pack",
                    "direction": .string(e.kind == .rekeySending ? "tx" : "rx"), "epoch": .int(Int64(e.epoch))]))
            default: break
            }
        }
    }

    private func handleModuleEvents(_ id: UInt8, _ s: PairSession, now: UInt32) {
        for e in s.takeEvents() {
            switch e.kind {
            case .handshakeDone:
                if links[id]?.state != .established {
                    links[id]?.state = .established
                    links[id]?.nextHello = nil
                    statusDirty = true
                }
                pending.append(AuditEntry(event: "handshake_done", data: [
                    "device": .string(name), "pair": .string(pairName(id)), "key_id": .string(CCore.hex(s.keyId))]))
            case .handshakeFailed:
                pending.append(AuditEntry(event: "handshake_failed", data: [
                    "device": .string(name), "pair": .string(pairName(id)), "reason": .string(reasonName(e.error))]))
            case .rekeySending, .rekeyReceiving:
                counters.rotations += 1
                pending.append(AuditEntry(event: "rotation", data: [
                    "device": .string(name), "pair": .string(pairName(id)),
                    "direction": .string(e.kind == .rekeySending ? "tx" : "rx"), "epoch": .int(Int64(e.epoch))]))
            case .cloneSuspected:
                if var link = links[id] {
                    noteSignal("clone_suspected", pair: pairName(id), guardState: &link.guardState, now: now)
                    links[id] = link
                }
            default: break
            }
        }
    }

    private func pairName(_ id: UInt8) -> String {
        "pack-" + (DeviceAddress.moduleNumber(id).map(World.moduleName) ?? String(format: "device-0x%02x", id))
    }

    // MARK: A pair at another address (docs/PROTOCOL.md 6.7)

    /// A module's handshake at an address that is not its pair's: nil when
    /// `f` is not part of one (the caller routes it as usual), else the
    /// frames to send. A HELLO there is collected whole and checked by the
    /// pair it names (authentic, under that address, counter above every
    /// one answered) before anything else happens: a refused one is
    /// counted and logged and changes nothing, the pair's session keeps
    /// working. An accepted one is answered by a new session of the same
    /// pair secret at that address; only its FINISH moves the pair
    /// (`settleMove`).
    private func relocate(_ f: CANFrame, now: UInt32) -> [CANFrame]? {
        let address = XferIds.deviceId(f.id)
        let message = XferIds.messageId(f.id)
        guard (0x310...0x312).contains(message), DeviceAddress.isAddress(address), address != deviceId else { return nil }
        if let (id, s) = moves.first(where: { $0.value.deviceId == address }), s.accepts(f) {
            do throws(ModbattError) { _ = try s.receive(f, now: now) } catch {
                counters.rejected[reasonName(error), default: 0] += 1
            }
            let out = s.takeFrames()
            settleMove(id, s, now: now)
            return out
        }
        guard message == 0x310 else { return nil }
        if let kid = HelloCollector.keyId(ofFirstChunk: f) {
            // The pair at this address, or no pair this pack holds: the usual path.
            if let here = pairAt[address], moduleSessions[here]?.keyId == kid { return nil }
            guard moduleSessions.contains(where: { $0.value.keyId == kid }) else { return nil }
        } else if !helloCollector.collecting(at: address) {
            return nil
        }
        guard let hello = helloCollector.add(f, at: address, now: now),
              let (id, current) = moduleSessions.first(where: { $0.value.keyId == hello.keyId }) else { return [] }
        let from = current.deviceId
        do throws(ModbattError) {
            try current.checkHello(hello.hello, at: address)
            let moved = try makeModuleSession(id, at: address)
            try moved.takeCounters(from: current)
            for frame in hello.frames { _ = try moved.receive(frame, now: now) }
            moves[id] = moved
            pending.append(AuditEntry(event: "pair_moving", data: [
                "device": .string(name), "pair": .string(pairName(id)), "from": .int(Int64(from)),
                "to": .int(Int64(address)), "key_id": .string(CCore.hex(current.keyId))]))
            let out = moved.takeFrames()
            _ = moved.takeEvents()
            return out
        } catch {
            // Forged, replayed, or for another id: no state, no tamper signal
            // (a stranger can send one), the session at `from` untouched.
            counters.rejected["move_" + reasonName(error), default: 0] += 1
            pending.append(AuditEntry(event: "pair_move_refused", data: [
                "device": .string(name), "pair": .string(pairName(id)), "at": .int(Int64(address)),
                "reason": .string(reasonName(error))]))
            return []
        }
    }

    /// After a new package: module pairs at the ids they were at (`previous`:
    /// provisioned id -> address), a pair parked before stays parked, a new
    /// pair starts at its provisioned id if that is free.
    private func placeModules(previous: [UInt8: UInt8], known: Set<UInt8>) {
        pairAt = [:]
        for (peer, s) in moduleSessions.sorted(by: { $0.key < $1.key }) {
            guard let address = previous[peer] else { continue }
            if address != s.deviceId { try? s.readdress(to: address) }
            pairAt[address] = peer
        }
        for peer in moduleSessions.keys.sorted() where previous[peer] == nil && !known.contains(peer) && pairAt[peer] == nil {
            pairAt[peer] = peer
        }
    }

    /// A new session of module pair `id` (the stored pair secret) at
    /// `address`; its HELLO counters come from the pair's current session
    /// (`takeCounters`), which started from this boot's base.
    private func makeModuleSession(_ id: UInt8, at address: UInt8) throws(ModbattError) -> PairSession {
        guard let rec = storage.record, let i = rec.pairs.firstIndex(where: { $0.controller && $0.peerId == id })
        else { throw .invalidState }
        let p = rec.pairs[i], params = rec.params
        let made: Result<PairSession, ModbattError> = rec.withPair(i) { _, secret in
            Result { () throws(ModbattError) -> PairSession in
                try PairSession(role: .controller, profile: params.profile, deviceId: address, secret: secret,
                                keyId: p.keyId, params: params, ephemeral: p.ephemeral)
            }
        }
        return try made.get()
    }

    /// The moving session's outcome: confirmed (FINISH), the pair now lives
    /// at its new address, and a pair the pack still placed there is parked
    /// (its module is elsewhere: its keys end until its own HELLO says
    /// where); failed or timed out, it is dropped and nothing else changes.
    private func settleMove(_ id: UInt8, _ moved: PairSession, now: UInt32) {
        for e in moved.takeEvents() {
            switch e.kind {
            case .handshakeDone:
                let address = moved.deviceId
                let old = moduleSessions[id]
                if let old {
                    try? moved.takeCounters(from: old)
                    if pairAt[old.deviceId] == id { pairAt[old.deviceId] = nil }
                }
                if let other = pairAt[address], other != id, let parked = moduleSessions[other] {
                    try? parked.readdress(to: parked.deviceId)   // ends its keys, keeps its counters
                    pairAt[address] = nil
                    links[other]?.state = .pending
                    links[other]?.nextHello = nil
                    statusDirty = true
                    pending.append(AuditEntry(event: "pair_parked", data: [
                        "device": .string(name), "pair": .string(pairName(other)), "at": .int(Int64(address))]))
                }
                pairAt[address] = id
                moduleSessions[id] = moved
                moves[id] = nil
                var link = links[id] ?? ModuleLink()
                link.state = .established
                link.nextHello = nil
                link.guardState = PairGuard()
                links[id] = link
                statusDirty = true
                pending.append(AuditEntry(event: "pair_moved", data: [
                    "device": .string(name), "pair": .string(pairName(id)), "from": .int(Int64(old?.deviceId ?? id)),
                    "to": .int(Int64(address)), "key_id": .string(CCore.hex(moved.keyId))]))
            case .handshakeFailed:
                moves[id] = nil
                pending.append(AuditEntry(event: "pair_move_failed", data: [
                    "device": .string(name), "pair": .string(pairName(id)), "at": .int(Int64(moved.deviceId)),
                    "reason": .string(reasonName(e.error))]))
            default: break
            }
        }
    }

    /// Pair status entries [id][state 0 pending 1 ok 2 failed][reason i16][key id 4], 12 per message.
    private func sendStatus(_ s: PairSession, now: UInt32) -> [CANFrame] {
        guard statusDirty else { return [] }
        statusDirty = false
        var entries: [[UInt8]] = []
        for (id, link) in links.sorted(by: { $0.key < $1.key }) where link.reported != link.state {
            let state: UInt8
            switch link.state {
            case .pending: continue
            case .established: state = 1
            case .failed: state = 2
            }
            links[id]?.reported = link.state
            let kid = moduleKeyId(id) ?? [0, 0, 0, 0]
            var reason: UInt8 = 0
            if case .failed(let why) = link.state {
                reason = why.hasPrefix("delivery") ? 1 : why.hasPrefix("handshake") ? 2 : 3
            }
            entries.append([id, state, 0, reason] + kid)
        }
        var out: [CANFrame] = []
        let perMessage = PairSession.maxPayload(.classic) / 8
        var i = 0
        while i < entries.count {
            let chunk = entries[i..<min(i + perMessage, entries.count)].flatMap { $0 }
            // A message the app counts when it arrives is counted here when it leaves.
            if (try? s.send(type: AppMessage.pairStatus, payload: chunk, now: now)) != nil {
                counters.messages.recordSent(.packToApp)
            }
            out += s.takeFrames()
            i += perMessage
        }
        return out
    }

    private func sendAggregate(_ s: PairSession, now: UInt32) -> [CANFrame] {
        // [modules reporting u8][min mV u16][max mV u16]
        let mvs = telemetry.values.compactMap { $0.count >= 4 ? UInt16($0[2]) << 8 | UInt16($0[3]) : nil }
        let lo = mvs.min() ?? 0, hi = mvs.max() ?? 0
        let payload: [UInt8] = [UInt8(telemetry.count), UInt8(lo >> 8), UInt8(lo & 0xFF), UInt8(hi >> 8), UInt8(hi & 0xFF)]
        do {
            let ns = try nanosThrowing { () throws(ModbattError) in try s.send(type: AppMessage.telemetry, payload: payload, now: now) }
            counters.seal.add(ns)
            counters.messages.recordSent(.packToApp)
        } catch {}
        return s.takeFrames()
    }

    /// Forget every key (wiped flash / replaced board) and boot blank.
    func wipeAndReboot() async {
        storage.wipe()
        links = [:]
        forwardTx = [:]
        await powerOn()
    }

    private func flushAudit() async {
        guard !pending.isEmpty else { return }
        let entries = pending
        pending.removeAll()
        for e in entries { _ = try? await audit.record(e.event, e.data) }
    }
}

func be32(_ v: UInt32) -> [UInt8] { [UInt8(v >> 24), UInt8((v >> 16) & 0xFF), UInt8((v >> 8) & 0xFF), UInt8(v & 0xFF)] }
