import Dispatch
import Foundation
import Logging
import Modbatt
import ModbattBridge
import ModbattCAN
import ModbattProvisioning

/// Settings of one pack simulation (`modbatt demo` / `modbatt simulate`).
struct SimulationSettings: Sendable {
    var modules = 8
    var fd = false
    var bitrate = 500_000
    var dataBitrate = 2_000_000
    var seconds = 5.0
    var drop = 0.0
    var corrupt = 0.0
    var replay = 0.0
    var seed: UInt64 = 1
    /// The app-pack pair's handshakes add an ephemeral key exchange (flow demo).
    var ephemeralAppLink = false
    var realtime = false
    var socketcand: (host: String, port: Int)?
    var attacks = false
    var candumpPath: String?
    var workDir: URL
    var statusPeriodMs = 100
    var limitsPeriodMs = 500
}

/// One end of a pair's secure session, owned by the device that runs it.
final class PairEnd {
    var session: SecureSession
    let pair: Int
    let isController: Bool

    init(session: consuming SecureSession, pair: Int, isController: Bool) {
        self.session = session
        self.pair = pair
        self.isController = isController
    }
}

/// A node on the bus: the app, the pack controller or a module.
final class SimDevice {
    let name: String
    let node: VirtualBus.Node
    var ends: [PairEnd] = []
    var out: [CANFrame] = []

    init(name: String, node: VirtualBus.Node) {
        self.name = name
        self.node = node
    }
}

/// One pair: controller and device, and the device id its frames carry.
struct SimPair {
    var name: String
    var deviceId: UInt8
    var controller: Int
    var device: Int
    var controllerEnd: PairEnd
    var deviceEnd: PairEnd
    var lctId: String
    var keyFingerprint: String
}

/// Session events collected from the C callbacks (called synchronously
/// inside session calls) for counting and the audit log.
final class EventSink: @unchecked Sendable {
    struct Pending {
        var event: String
        var data: [String: AuditValue]
    }

    private let lock = NSLock()
    private(set) var rejected: [String: Int] = [:]
    private(set) var rejectionCount = 0
    private(set) var handshakesDone = 0
    private(set) var resyncs = 0
    private var pending: [Pending] = []

    func handler(pair: Int, pairName: String, side: String) -> @Sendable (SecureSession.Event) -> Void {
        { [self] event in
            lock.withLock {
                switch event.kind {
                case .rejected, .handshakeFailed:
                    let reason = Self.reason(event.error)
                    rejected[reason, default: 0] += 1
                    rejectionCount += 1
                    pending.append(Pending(event: "frame_rejected", data: [
                        "pair": .string(pairName), "side": .string(side), "reason": .string(reason),
                        "msg_id": .string(String(format: "0x%03x", event.messageId)),
                        "epoch": .int(Int64(event.epoch)), "counter": .int(Int64(truncatingIfNeeded: event.counter)),
                    ]))
                case .handshakeDone:
                    handshakesDone += 1
                    pending.append(Pending(event: "session_established", data: [
                        "pair": .string(pairName), "side": .string(side)]))
                case .resync:
                    resyncs += 1
                    pending.append(Pending(event: "resync", data: [
                        "pair": .string(pairName), "side": .string(side), "reason": .string(Self.reason(event.error))]))
                default:
                    break
                }
            }
        }
    }

    func takePending() -> [Pending] {
        lock.withLock {
            defer { pending.removeAll() }
            return pending
        }
    }

    func snapshot() -> (count: Int, byReason: [String: Int]) { lock.withLock { (rejectionCount, rejected) } }

    static func reason(_ error: ModbattError?) -> String {
        switch error {
        case .authenticationFailed?: return "authentication_failed"
        case .replay?: return "replay"
        case .wrongEpoch?: return "wrong_epoch"
        case .malformed?: return "malformed"
        case .timeout?: return "timeout"
        case .noSlot?: return "no_slot"
        case .policy?: return "policy"
        case .invalidState?: return "invalid_state"
        case .handshakeFailed?: return "handshake_failed"
        case .rateLimited?: return "rate_limited"
        case .unsupportedVersion?: return "unsupported_version"
        case .chunkOutOfRange?: return "chunk_out_of_range"
        case .canIdOutOfRange?: return "can_id_out_of_range"
        case nil: return "unknown"
        default: return "other"
        }
    }
}

/// The pack simulation: provisioning through an embedded API-Bridge, then
/// every pair's secure session on one virtual bus (the vehicle bus and the
/// module bus share it), traffic, optional faults and attacks.
///
/// One driver task owns every device and session; bus time advances in
/// 1 ms steps (virtual clock: as fast as the CPU allows; real time: paced
/// by the wall clock). Each step every device reads the frames it
/// received, hands each to the session that takes it (`accepts`), and
/// queues what the sessions produced.
final class PackSimulator: @unchecked Sendable {
    let settings: SimulationSettings
    let logger: Logger
    let progress: Progress

    private(set) var bus: VirtualBus!
    private var devices: [SimDevice] = []
    private var pairs: [SimPair] = []
    private let sink = EventSink()
    private var audit: AuditLog?
    private var recorder: VirtualBus.Node?
    private var recordHandle: FileHandle?
    private var server: SocketcandServer?
    private var faultsEnabled = FaultSwitch()

    private var nowMs: UInt32 = 0
    private var seq: UInt32 = 0
    private var pendingPayloads: [PayloadKey: Int] = [:]
    private var deliveredPayloads: Set<PayloadKey> = []
    private var cryptoSamples: [Int] = []
    private var ignoredFrames = 0
    private var txQueueFull = 0
    private var attackDeliveries = 0

    /// Sent when a session sealed it, delivered when the receiving session
    /// returned exactly that payload (matched below), per direction.
    var messages = MessageCounts()
    var duplicatesDelivered = 0
    var forgedDelivered = 0
    var attacks: [RunSummary.Attack] = []
    var trafficLoad = 0.0
    var simulatedSeconds = 0.0
    var interrupted = false

    struct PayloadKey: Hashable {
        var pair: Int
        var fromController: Bool
        var payload: [UInt8]
    }

    final class FaultSwitch: @unchecked Sendable {
        private let lock = NSLock()
        private var on = true
        var isOn: Bool {
            get { lock.withLock { on } }
            set { lock.withLock { on = newValue } }
        }
    }

    init(settings: SimulationSettings, logger: Logger, progress: Progress) {
        self.settings = settings
        self.logger = logger
        self.progress = progress
    }

    var auditPath: String { settings.workDir.appendingPathComponent("audit.jsonl").path }

    // MARK: Provisioning

    /// Register every device with an embedded API-Bridge, create one LCT per
    /// pair, derive both ends' pair keys, and set up the sessions.
    func provision() async throws {
        let fm = FileManager.default
        try fm.createDirectory(at: settings.workDir, withIntermediateDirectories: true)
        audit = try AuditLog(url: URL(fileURLWithPath: auditPath))

        let switchBox = faultsEnabled
        let plan = FaultPlan(drop: settings.drop, corrupt: settings.corrupt, duplicate: settings.replay,
                             applies: { frame in
                                 // Faults hit encrypted frames while traffic runs (handshakes are left
                                 // alone so every pair comes up; attacks run on a clean bus).
                                 switchBox.isOn && frame.isExtended && (frame.id >> 17) & 1 == 1
                             })
        let config = VirtualBus.Configuration(
            name: "vcan0", bitrate: settings.bitrate, dataBitrate: settings.dataBitrate, allowsFD: settings.fd,
            clock: settings.realtime ? .realTime : .virtual, faults: plan, seed: settings.seed)
        bus = VirtualBus(config)

        let token = (0..<4).map { _ in String(UInt64.random(in: .min ... .max), radix: 16) }.joined()
        var bridgeLogger = logger
        bridgeLogger.logLevel = max(logger.logLevel, .warning)
        let bridge = try await EmbeddedBridge.start(.ephemeral(token: token, logger: bridgeLogger))
        defer { Task { await bridge.stop() } }
        let client = try BridgeClient(configuration: BridgeClientConfiguration(
            baseURL: bridge.baseURL, token: token, allowInsecureHTTP: true), logger: bridgeLogger)
        let registry = try ProvisioningRegistry(path: settings.workDir.appendingPathComponent("registry.sqlite").path)
        let provisioner = Provisioner(client: client, registry: registry, creator: "modbatt-demo", logger: bridgeLogger)
        progress.update("provisioning through the API-Bridge at \(bridge.baseURL) ...")

        let names = ["app", "pack"] + (1...settings.modules).map { String(format: "module-%02d", $0) }
        var componentIds: [String] = []
        do {
            let host = try await provisioner.ensureHostRegistered()
            componentIds.append(host.componentId)
            for (i, name) in names.enumerated().dropFirst() {
                let serial = i == 1 ? "PACK-0001" : String(format: "MOD-%04d", i - 1)
                let c = try await provisioner.ensureComponent(hardwareSerial: serial, componentData: "\(name) \(serial)")
                componentIds.append(c.componentId)
                try await audit?.record("component_registered", ["device": .string(name), "serial": .string(serial),
                                                                 "component_id": .string(c.componentId)])
            }
        } catch {
            await client.shutdown()
            throw error
        }
        for name in names {
            devices.append(SimDevice(name: name, node: await bus.attach(name: name)))
        }

        let profile: SecureSession.Profile = settings.fd ? .fd : .classic
        // Pair 0: app (controller) - pack (device); then pack - module i. Ids: `DeviceAddress`.
        var specs: [(String, UInt8, Int, Int)] = [("app-pack", DeviceAddress.pack, 0, 1)]
        for m in 1...settings.modules {
            specs.append((String(format: "pack-module-%02d", m), DeviceAddress.module(m), 1, 1 + m))
        }
        for (index, spec) in specs.enumerated() {
            let (pairName, deviceId, ctl, dev) = spec
            progress.update("provisioning pair \(index + 1)/\(specs.count): \(pairName) ...")
            let lct: LCTProvisioning
            do {
                lct = try await provisioner.ensureLCT(componentA: componentIds[ctl], componentB: componentIds[dev])
            } catch {
                await client.shutdown()
                throw error
            }
            let created: CreatedLCT
            switch consume lct {
            case .created(let c):
                created = c
            case .alreadyProvisioned:
                await client.shutdown()
                throw CLIError("pair \(pairName) was provisioned by an earlier run and its key halves are gone")
            }
            let salt = Salt.random()
            let ctlKeys = try PairKeys(halves: created.deviceKeyHalf, created.lctKeyHalf, salt: salt,
                                       selfId: componentIds[ctl], peerId: componentIds[dev], lctId: created.lct.lctId)
            let devKeys = try PairKeys(halves: created.deviceKeyHalf, created.lctKeyHalf, salt: salt,
                                       selfId: componentIds[dev], peerId: componentIds[ctl], lctId: created.lct.lctId)
            let keyId = ctlKeys.keyId.map { String(format: "%02x", $0) }.joined()
            let ctlSession = try SecureSession(
                configuration: .init(role: .controller, profile: profile, deviceId: deviceId), pairKeys: ctlKeys,
                onEvent: sink.handler(pair: index, pairName: pairName, side: names[ctl]))
            let devSession = try SecureSession(
                configuration: .init(role: .device, profile: profile, deviceId: deviceId), pairKeys: devKeys,
                onEvent: sink.handler(pair: index, pairName: pairName, side: names[dev]))
            let ctlEnd = PairEnd(session: ctlSession, pair: index, isController: true)
            let devEnd = PairEnd(session: devSession, pair: index, isController: false)
            devices[ctl].ends.append(ctlEnd)
            devices[dev].ends.append(devEnd)
            pairs.append(SimPair(name: pairName, deviceId: deviceId, controller: ctl, device: dev,
                                 controllerEnd: ctlEnd, deviceEnd: devEnd, lctId: created.lct.lctId, keyFingerprint: keyId))
            try await audit?.record("pair_provisioned", ["pair": .string(pairName), "lct_id": .string(created.lct.lctId),
                                                         "key_id": .string(keyId),
                                                         "device_id": .int(Int64(deviceId))])
        }
        await client.shutdown()
        progress.step("provisioned \(names.count) devices and \(pairs.count) pairs through the API-Bridge (\(bridge.baseURL))")

        if let path = settings.candumpPath {
            guard fm.createFile(atPath: path, contents: nil), let h = FileHandle(forWritingAtPath: path) else {
                throw CLIError("cannot create the candump log \(path)")
            }
            recordHandle = h
            recorder = await bus.attach(name: "candump")
        }
        if let sc = settings.socketcand {
            do {
                server = try await SocketcandServer.start(bus: bus, host: sc.host, port: sc.port, logger: logger)
            } catch {
                throw ErrorText.cliError(error)
            }
        }
    }

    /// Port of the socketcand server, when one runs.
    var socketcandPort: Int? { server?.port }

    // MARK: Running

    private func currentMs() async -> UInt32 {
        let t = await bus.time
        let ms = t.components.seconds * 1000 + t.components.attoseconds / 1_000_000_000_000_000
        return UInt32(truncatingIfNeeded: ms)
    }

    /// Advance one step and process everything received.
    private func step(_ dt: Duration = .milliseconds(1)) async {
        if settings.realtime {
            try? await Task.sleep(for: dt)
        } else {
            await bus.advance(by: dt)
        }
        nowMs = await currentMs()
        for device in devices {
            let frames = await device.node.drain()
            for f in frames { handle(f.frame, at: device) }
        }
        await flush()
    }

    private func handle(_ frame: CANFrame, at device: SimDevice) {
        var taken = false
        for end in device.ends where end.session.accepts(frame) {
            taken = true
            let t0 = DispatchTime.now().uptimeNanoseconds
            let message = try? end.session.receive(frame, now: nowMs, output: &device.out)
            if let message {
                cryptoSamples.append(Int(DispatchTime.now().uptimeNanoseconds - t0))
                deliver(message, pair: end.pair, fromController: !end.isController)
            }
        }
        if !taken { ignoredFrames += 1 }
    }

    private func deliver(_ message: SecureSession.Message, pair: Int, fromController: Bool) {
        let key = PayloadKey(pair: pair, fromController: fromController, payload: message.payload)
        if let n = pendingPayloads[key], n > 0 {
            pendingPayloads[key] = n - 1 == 0 ? nil : n - 1
            deliveredPayloads.insert(key)
            messages.recordDelivered(Self.direction(pair: pair, fromController: fromController))
        } else if deliveredPayloads.contains(key) {
            duplicatesDelivered += 1
            attackDeliveries += 1
        } else {
            forgedDelivered += 1
            attackDeliveries += 1
        }
    }

    /// Pair 0 is the app (controller) with the pack; every other pair the pack (controller) with a module.
    static func direction(pair: Int, fromController: Bool) -> MessageCounts.Direction {
        pair == 0 ? (fromController ? .appToPack : .packToApp) : (fromController ? .packToModule : .moduleToPack)
    }

    private func flush() async {
        for device in devices where !device.out.isEmpty {
            let frames = device.out
            device.out.removeAll(keepingCapacity: true)
            for f in frames {
                do { try await device.node.send(f) } catch { txQueueFull += 1 }
            }
        }
        let pending = sink.takePending()
        if !pending.isEmpty, let audit {
            for p in pending { _ = try? await audit.record(p.event, p.data) }
        }
        if let recorder, let recordHandle {
            let frames = await recorder.drain()
            if !frames.isEmpty {
                var text = ""
                for f in frames { text += "\(CandumpRecord(f, interface: "vcan0"))\n" }
                recordHandle.write(Data(text.utf8))
            }
        }
    }

    private func pollAll() {
        for p in pairs {
            try? p.controllerEnd.session.poll(now: nowMs)
            try? p.deviceEnd.session.poll(now: nowMs)
        }
    }

    /// Run the handshakes; retry any that fail until `limitMs`.
    func establish(limitMs: UInt32 = 3000) async -> (established: Int, failed: [String]) {
        nowMs = await currentMs()
        let start = nowMs
        var lastTry = [UInt32](repeating: 0, count: pairs.count)
        for (i, p) in pairs.enumerated() {
            let device = devices[p.controller]
            try? p.controllerEnd.session.start(now: nowMs, output: &device.out)
            lastTry[i] = nowMs
        }
        await flush()
        var nextPoll = nowMs
        while nowMs &- start < limitMs && !Task.isCancelled {
            await step()
            if nowMs >= nextPoll { pollAll(); nextPoll = nowMs + 10 }
            var all = true
            for (i, p) in pairs.enumerated() where !(p.controllerEnd.session.info.established
                                                      && p.deviceEnd.session.info.established) {
                all = false
                let info = p.controllerEnd.session.info
                if !info.handshakeInProgress && nowMs &- lastTry[i] >= 300 {
                    try? p.controllerEnd.session.start(now: nowMs, output: &devices[p.controller].out)
                    lastTry[i] = nowMs
                }
            }
            progress.update("handshakes: \(pairs.filter { $0.controllerEnd.session.info.established }.count)/\(pairs.count)")
            if all { break }
        }
        await flush()
        let failed = pairs.filter { !($0.controllerEnd.session.info.established && $0.deviceEnd.session.info.established) }
        progress.step("handshakes: \(pairs.count - failed.count)/\(pairs.count) pairs established"
                      + " at t = \(String(format: "%.3f", Double(nowMs) / 1000)) s")
        return (pairs.count - failed.count, failed.map(\.name))
    }

    private func nextSeq() -> UInt32 {
        seq &+= 1
        return seq
    }

    /// STATUS (docs/PROTOCOL.md 10.3); the sequence number makes every payload unique.
    private func statusPayload(_ s: UInt32) -> [UInt8] {
        let voltage = UInt16(35000 + (s & 0x3FF))
        let current = UInt16((s >> 10) & 0x3FF)
        let temp = UInt16(200 + ((s >> 20) & 0xFF))
        let soc = UInt16(5000 + ((s >> 28) & 0xF) * 100)
        return [UInt8(voltage >> 8), UInt8(voltage & 0xFF), UInt8(current >> 8), UInt8(current & 0xFF),
                UInt8(temp >> 8), UInt8(temp & 0xFF), UInt8(soc >> 8), UInt8(soc & 0xFF), 3, 4]
    }

    /// LIMITS (10.2), unique per sequence number.
    private func limitsPayload(_ s: UInt32) -> [UInt8] {
        let charge = UInt16(1000 + (s & 0x3FF))
        let discharge = UInt16(2000 + ((s >> 10) & 0x3FF))
        let vmax = UInt16(41000 + ((s >> 20) & 0xFF))
        let vmin = UInt16(30000 + ((s >> 28) & 0xF))
        return [UInt8(charge >> 8), UInt8(charge & 0xFF), UInt8(discharge >> 8), UInt8(discharge & 0xFF),
                UInt8(vmax >> 8), UInt8(vmax & 0xFF), UInt8(vmin >> 8), UInt8(vmin & 0xFF)]
    }

    private func send(_ end: PairEnd, from device: SimDevice, type: SecureSession.MessageType, payload: [UInt8]) {
        guard end.session.info.established else { return }
        let t0 = DispatchTime.now().uptimeNanoseconds
        do {
            try end.session.send(type, payload: payload, now: nowMs, output: &device.out)
        } catch {
            return
        }
        cryptoSamples.append(Int(DispatchTime.now().uptimeNanoseconds - t0))
        messages.recordSent(Self.direction(pair: end.pair, fromController: end.isController))
        pendingPayloads[PayloadKey(pair: end.pair, fromController: end.isController, payload: payload), default: 0] += 1
    }

    /// Telemetry (STATUS, device to controller, every `statusPeriodMs`) and
    /// commands (COMMAND twice, then LIMITS every `limitsPeriodMs`) for `seconds`.
    func runTraffic(seconds: Double) async {
        faultsEnabled.isOn = true
        let before = await bus.statistics()
        nowMs = await currentMs()
        let start = nowMs
        let durationMs = UInt32(seconds * 1000)
        for p in pairs {
            send(p.controllerEnd, from: devices[p.controller], type: .command, payload: [2, 0])   // Precharge
        }
        var commandedOn = false
        var nextStatus = pairs.indices.map { UInt32($0 * 3 % settings.statusPeriodMs) }
        var nextLimits = pairs.indices.map { UInt32(20 + $0 * 3 % settings.statusPeriodMs) }
        var nextPoll: UInt32 = 0
        var nextProgress: UInt32 = 0
        while nowMs &- start < durationMs && !Task.isCancelled {
            await step()
            let t = nowMs &- start
            if !commandedOn && t >= 50 {
                commandedOn = true
                for p in pairs { send(p.controllerEnd, from: devices[p.controller], type: .command, payload: [3, 0]) }
            }
            for (i, p) in pairs.enumerated() {
                if t >= nextStatus[i] {
                    send(p.deviceEnd, from: devices[p.device], type: .status, payload: statusPayload(nextSeq()))
                    nextStatus[i] += UInt32(settings.statusPeriodMs)
                }
                if t >= nextLimits[i] {
                    send(p.controllerEnd, from: devices[p.controller], type: .limits, payload: limitsPayload(nextSeq()))
                    nextLimits[i] += UInt32(settings.limitsPeriodMs)
                }
            }
            if t >= nextPoll { pollAll(); nextPoll = t + 10 }
            if t >= nextProgress {
                nextProgress = t + 100
                progress.update(String(format: "traffic: %.1f / %.1f s of bus time, %d messages sent, %d delivered",
                                       Double(t) / 1000, seconds, messages.sent, messages.delivered))
            }
        }
        interrupted = Task.isCancelled
        // Let frames in flight arrive (reassembly timeouts are 100 ms).
        await settle(ms: 300)
        let after = await bus.statistics()
        let elapsed = after.elapsed - before.elapsed
        let busy = after.busyTime - before.busyTime
        trafficLoad = elapsed > .zero ? busy / elapsed : 0
        simulatedSeconds = Double(nowMs &- start) / 1000
        faultsEnabled.isOn = false
        progress.step(String(format: "traffic: %.1f s of bus time, %d messages sent, %d delivered",
                             Double(min(durationMs, nowMs &- start)) / 1000, messages.sent, messages.delivered))
    }

    /// Step without new traffic for `ms`, polling the sessions' timers.
    private func settle(ms: UInt32) async {
        let start = nowMs
        var nextPoll = nowMs
        while nowMs &- start < ms && !Task.isCancelled {
            await step()
            if nowMs >= nextPoll { pollAll(); nextPoll = nowMs + 10 }
        }
    }

    // MARK: Attacks

    /// A complete message as recorded by the attacker: its frames in order.
    private struct RecordedMessage {
        var frames: [CANFrame]
        var deviceId: UInt8
        var messageId: UInt16
    }

    private func recordedMessages(_ frames: [CANFrame]) -> [RecordedMessage] {
        var partial: [UInt32: [CANFrame]] = [:]
        var out: [RecordedMessage] = []
        for f in frames {
            guard let id = f.modbattId, id.encrypted, MessageNames.isSession(id.messageId), id.messageId & 0xF >= 4 else { continue }
            let key = f.id & ~UInt32(0xFF00)
            if id.chunkIndex == 1 { partial[key] = [] }
            guard var list = partial[key], list.count == Int(id.chunkIndex) - 1 else { partial[key] = nil; continue }
            list.append(f)
            if list.count == Int(id.chunkTotal) {
                out.append(RecordedMessage(frames: list, deviceId: id.deviceId, messageId: id.messageId))
                partial[key] = nil
            } else {
                partial[key] = list
            }
        }
        return out
    }

    /// Change byte `offset` of the wire message spread over `frames`.
    private func mutate(_ frames: inout [CANFrame], offset: Int, _ change: (inout UInt8) -> Void) {
        var base = 0
        for i in frames.indices {
            let f = frames[i]
            let usable = usableCount(f, last: i == frames.count - 1)
            if offset < base + usable {
                let at = offset - base
                frames[i] = f.withPayload { raw in change(&raw[at]) }
                return
            }
            base += usable
        }
    }

    /// Wire bytes a frame carries (without CAN FD padding on the last frame).
    private func usableCount(_ f: CANFrame, last: Bool) -> Int {
        if last, f.isFD, (f.id >> 16) & 1 == 1, f.count > 0 { return f.count - Int(f[f.count - 1]) }
        return f.count
    }

    private func wireLength(_ frames: [CANFrame]) -> Int {
        frames.enumerated().reduce(0) { $0 + usableCount($1.element, last: $1.offset == frames.count - 1) }
    }

    /// Replay, tamper and forge: each in its own window on a quiet bus;
    /// every attempt must be rejected and nothing delivered.
    func runAttacks(perPair: Int = 2) async throws {
        let attacker = await bus.attachAttacker()
        // The attacker starts recording now: let one round of traffic pass.
        await runQuietTraffic(ms: 600)
        let recorded = await attacker.recorded().map(\.frame)
        let messages = recordedMessages(recorded)
        var byPair: [UInt8: [RecordedMessage]] = [:]
        for m in messages { byPair[m.deviceId, default: []].append(m) }
        var chosen: [RecordedMessage] = []
        for p in pairs {
            chosen += (byPair[p.deviceId] ?? []).suffix(perPair)
        }
        var rng = SplitMix64(seed: settings.seed ^ 0xA77AC)

        // 1. Replay: the recorded frames, unchanged.
        try await attackWindow("replay", attempts: chosen.count) {
            for m in chosen { for f in m.frames { try await attacker.replayFrame(f) } }
        }
        // 2. Tamper: a fresh counter (so the replay window passes) and one flipped tag bit.
        try await attackWindow("tamper", attempts: chosen.count) {
            for m in chosen {
                var frames = m.frames
                self.mutate(&frames, offset: 8) { $0 = $0 &+ 1 }          // counter += 2^24
                self.mutate(&frames, offset: self.wireLength(frames) - 1) { $0 ^= 0x01 }
                for f in frames { try await attacker.forge(f) }
            }
        }
        // 3. Forge: the pair's ids, the sender's fixed field, a fresh counter, random ciphertext and tag.
        try await attackWindow("forge", attempts: chosen.count) {
            for m in chosen {
                var frames = m.frames
                self.mutate(&frames, offset: 8) { $0 = $0 &+ 2 }
                for offset in 12..<self.wireLength(frames) {
                    let r = UInt8(truncatingIfNeeded: rng.next())
                    self.mutate(&frames, offset: offset) { $0 = r }
                }
                for f in frames { try await attacker.forge(f) }
            }
        }
        await attacker.close()
    }

    /// Traffic without counting it as the traffic phase (attacker recording).
    private func runQuietTraffic(ms: UInt32) async {
        let start = nowMs
        var nextStatus: UInt32 = 0
        var nextLimits: UInt32 = 50
        var nextPoll: UInt32 = 0
        while nowMs &- start < ms && !Task.isCancelled {
            await step()
            let t = nowMs &- start
            if t >= nextStatus {
                for p in pairs { send(p.deviceEnd, from: devices[p.device], type: .status, payload: statusPayload(nextSeq())) }
                nextStatus += UInt32(settings.statusPeriodMs)
            }
            if t >= nextLimits {
                for p in pairs { send(p.controllerEnd, from: devices[p.controller], type: .limits, payload: limitsPayload(nextSeq())) }
                nextLimits += 200
            }
            if t >= nextPoll { pollAll(); nextPoll = t + 10 }
        }
        await settle(ms: 150)
    }

    private func attackWindow(_ kind: String, attempts: Int, _ body: () async throws -> Void) async throws {
        progress.update("attack: \(kind) (\(attempts) messages) ...")
        try await audit?.record("attack_started", ["kind": .string(kind), "messages": .int(Int64(attempts))])
        let before = sink.snapshot()
        let deliveredBefore = attackDeliveries
        try await body()
        await settle(ms: 150)
        let after = sink.snapshot()
        let rejected = after.count - before.count
        let accepted = attackDeliveries - deliveredBefore
        var reasons: [String: Int] = [:]
        for (k, v) in after.byReason { let d = v - (before.byReason[k] ?? 0); if d > 0 { reasons[k] = d } }
        attacks.append(RunSummary.Attack(kind: kind, attempted: attempts, rejected: rejected, accepted: accepted,
                                         reasons: reasons))
        try await audit?.record("attack_finished", [
            "kind": .string(kind), "messages": .int(Int64(attempts)), "rejected": .int(Int64(rejected)),
            "accepted": .int(Int64(accepted)),
            "reasons": .string(reasons.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ","))])
        progress.step("attack: \(kind): \(rejected)/\(attempts) rejected ("
                      + reasons.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                      + "), \(accepted) accepted")
    }

    /// Keep running in real time until cancelled or `seconds` (socketcand mode).
    func summary(command: String, wallSeconds: Double, pairsEstablished: Int, pairsFailed: Int) async -> RunSummary {
        let stats = await bus.statistics()
        let snapshot = sink.snapshot()
        let frameTime = settings.fd
            ? FrameTiming.fdBits(dataBytes: 64, extended: true, bitRateSwitch: true, stuffing: .worstCase)
            : FrameTiming(nominalBits: FrameTiming.classicBits(dataBytes: 8, extended: true, stuffing: .worstCase), dataBits: 0)
        let frameNs = frameTime.duration(bitrate: settings.bitrate, dataBitrate: settings.dataBitrate)
        let ns = Int(frameNs.components.seconds * 1_000_000_000 + frameNs.components.attoseconds / 1_000_000_000)
        let auditCount = await audit?.count ?? 0
        var rejected = snapshot.byReason
        if txQueueFull > 0 { rejected["tx_queue_full"] = txQueueFull }
        let attacksOK = attacks.allSatisfy(\.passed)
        return RunSummary(
            command: command, modules: settings.modules, fd: settings.fd, bitrate: settings.bitrate,
            dataBitrate: settings.dataBitrate, simulatedSeconds: simulatedSeconds, wallSeconds: wallSeconds,
            seed: settings.seed, pairsEstablished: pairsEstablished, pairsFailed: pairsFailed,
            messages: messages,
            duplicatesDelivered: duplicatesDelivered, forgedDelivered: forgedDelivered,
            frames: stats.frames, busLoad: trafficLoad, rejected: rejected,
            cryptoNs: Percentiles.of(cryptoSamples), frameTimeNs: ns,
            faults: RunSummary.Faults(dropped: stats.dropped, corrupted: stats.corrupted,
                                      duplicated: stats.duplicated, delayed: stats.delayed),
            attacks: attacks, auditLog: auditPath, auditEvents: auditCount, keyStores: nil,
            candumpLog: settings.candumpPath, ignoredFrames: ignoredFrames, resyncs: sink.resyncs,
            ok: pairsFailed == 0 && attacksOK && forgedDelivered == 0 && duplicatesDelivered == 0)
    }

    /// Close everything: the socketcand server, the candump log, the audit log.
    func close() async {
        await server?.close()
        server = nil
        if recorder != nil { await flush() }
        if let h = recordHandle {
            try? h.synchronize()
            try? h.close()
            recordHandle = nil
        }
        try? await audit?.sync()
    }
}

extension AttackerNode {
    /// Send a recorded frame again, unchanged.
    func replayFrame(_ frame: CANFrame) async throws { try await forge(frame) }
}
