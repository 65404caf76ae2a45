import Foundation
import Logging
import Modbatt
import ModbattBridge
import ModbattCAN

/// The simulation's state and orchestration (the app's flow, the devices,
/// the bus). `PackSimulation` is its public face.
actor World {
    /// The device-id plan is `DeviceAddress`'s (docs/PROTOCOL.md 2.1).
    static let packId = DeviceAddress.pack
    static func moduleId(_ n: Int) -> UInt8 { DeviceAddress.module(n) }
    static func moduleName(_ n: Int) -> String { n < 10 ? "module-0\(n)" : "module-\(n)" }
    static func moduleSerial(_ n: Int, generation: Int = 0) -> String {
        let base = "BM-" + String(repeating: "0", count: n < 10 ? 3 : 2) + "\(n)"
        return generation == 0 ? base : base + "-R\(generation)"
    }
    static let packSerial = "PC-0001"

    let config: SimulationConfiguration
    let audit: AuditLog
    let bus: VirtualBus
    let sniffer: AttackerNode
    let keyStoreDirectory: URL
    let logger: Logger

    /// The app's side of the flow, on its own bus node.
    let appSide: AppSide
    let pack: PackControllerNode
    /// The app's public key, as the factory step installs it in each device.
    let factoryAppKey: [UInt8]
    private(set) var modules: [BatteryModuleNode]
    private var moduleSerials: [String]
    private var provisioned = false
    private var replacements: [Int: Int] = [:]

    var app: AppNode { get async { await appSide.app } }

    /// Test hook: sees each pair's halves and salt before sealing (sniffer test).
    func setKeyProbe(_ probe: (@Sendable (_ pair: String, _ material: PairMaterial) -> Void)?) async {
        await appSide.setKeyProbe(probe)
    }

    init(configuration: SimulationConfiguration, audit: AuditLog, keyStoreDirectory: URL) async throws {
        config = configuration
        self.audit = audit
        self.keyStoreDirectory = keyStoreDirectory
        logger = configuration.logger
        try FileManager.default.createDirectory(at: keyStoreDirectory, withIntermediateDirectories: true)
        let faults = configuration.faults
        var plan = FaultPlan.none
        if !faults.suppressedCommandsTo.isEmpty {
            guard faults.deliveryDropRate == 0 && faults.deliveryCorruptRate == 0 else {
                throw SimulationError.invalidConfiguration("suppressed commands and delivery faults cannot be combined")
            }
            let ids = Set(faults.suppressedCommandsTo.map(Self.moduleId))
            plan = FaultPlan(drop: 1) { frame in
                frame.isExtended && XferIds.messageId(frame.id) == 0x300 | UInt16(AppMessage.command)
                    && ids.contains(XferIds.deviceId(frame.id))
            }
        }
        if faults.deliveryDropRate > 0 || faults.deliveryCorruptRate > 0 {
            plan = FaultPlan(drop: faults.deliveryDropRate, corrupt: faults.deliveryCorruptRate) { frame in
                let m = XferIds.messageId(frame.id)
                return frame.isExtended && (m == XferIds.down || m == XferIds.up
                    || m == XferIds.down + XferIds.ackOffset || m == XferIds.up + XferIds.ackOffset)
            }
        }
        let bus = VirtualBus(VirtualBus.Configuration(
            name: "vcan-sim", bitrate: configuration.bitrate, dataBitrate: configuration.dataBitrate,
            allowsFD: configuration.profile == .fd, clock: .virtual, faults: plan, seed: configuration.seed,
            receiveQueueCapacity: 1 << 16, transmitQueueCapacity: 1 << 14))
        self.bus = bus
        sniffer = await bus.attachAttacker(name: "sniffer")
        let appBus = await bus.attach(name: "app")
        let bootstrap = configuration.packageMode == .factoryBootstrap
        // The app first: the factory step installs its public key in every device.
        appSide = try await AppSide(configuration: AppSideConfiguration(
            dataDirectory: configuration.dataDirectory, keyStoreDirectory: keyStoreDirectory,
            bridge: configuration.bridge, creator: configuration.creator, seed: configuration.seed,
            bridgeFailRate: faults.bridgeFailRate, packageMode: configuration.packageMode,
            parameters: configuration.parameters, tamperPolicy: configuration.tamperPolicy,
            provisioningTimeout: configuration.provisioningTimeout, appCrashAfterFrames: faults.appCrashAfterFrames,
            packId: Self.packId, logger: configuration.logger, ephemeralAppLink: configuration.ephemeralAppLink),
            audit: audit, port: appBus)
        factoryAppKey = await appSide.app.appKey.publicKey
        let packStorage = try DeviceStorage(directory: keyStoreDirectory, name: "pack", serial: Self.packSerial,
                                            deviceId: Self.packId, role: 0, factoryAppKey: factoryAppKey)
        let packNode = PackControllerNode(storage: packStorage, node: await bus.attach(name: "pack"), audit: audit,
                                          policy: configuration.tamperPolicy, allowBootstrap: bootstrap)
        pack = packNode
        var mods: [BatteryModuleNode] = []
        var serials: [String] = []
        for n in 1...configuration.moduleCount {
            let serial = Self.moduleSerial(n)
            serials.append(serial)
            let storage = try DeviceStorage(directory: keyStoreDirectory, name: Self.moduleName(n), serial: serial,
                                            deviceId: Self.moduleId(n), role: 1, factoryAppKey: factoryAppKey)
            mods.append(BatteryModuleNode(storage: storage, node: await bus.attach(name: Self.moduleName(n)),
                                          audit: audit, policy: configuration.tamperPolicy,
                                          profile: configuration.profile, allowBootstrap: bootstrap,
                                          silent: configuration.faults.silentModules.contains(n)))
        }
        modules = mods
        moduleSerials = serials
        await packNode.powerOn()
        for m in mods { await m.powerOn() }
        _ = try? await audit.record("simulation_started", [
            "modules": .int(Int64(configuration.moduleCount)), "profile": .string(configuration.profile == .fd ? "fd" : "classic"),
            "bitrate": .int(Int64(configuration.bitrate)), "package_mode": .string(configuration.packageMode.rawValue)])
    }

    // MARK: Clock and stepping

    var clock: VirtualBusClock { VirtualBusClock(bus: bus) }
    var nowMs: UInt32 { get async { await clock.nowMs() } }

    /// The simulated devices' round (the app steps first, in `round`).
    private func stepDevices() async -> (worked: Bool, nextDue: UInt32?) {
        await stepAll([pack] + modules, clock: clock)
    }

    /// One round: every node runs its main loop once, the app first.
    private func round() async -> (worked: Bool, nextDue: UInt32?) {
        await stepAll([await app, pack] + modules, clock: clock)
    }

    /// Run rounds until `done` or `limit` of bus time passed; idle time jumps
    /// to the next timer (at most `maxIdle` ms, so C timers get polled).
    private func drive(limit: Duration, maxIdleMs: UInt32 = 50, done: () async throws -> Bool) async throws {
        try await driveRounds(clock: clock, limit: limit, maxIdleMs: maxIdleMs, round: { await round() }, done: done)
    }

    // MARK: Bridge

    var bridgeURL: String? { get async { await appSide.bridgeURL } }

    /// Components and LCTs on the embedded bridge (nil for a remote one).
    func bridgeCounts() async throws -> (components: Int, lcts: Int)? {
        try await appSide.bridgeCounts()
    }

    func shutdown() async { await appSide.shutdown() }

    func restartApp() async throws { try await appSide.restartApp() }

    // MARK: Provisioning

    private func activeModules() async -> [Int] {
        let revoked = await appSide.appState.revoked
        return (1...config.moduleCount).filter { !revoked.contains(Self.moduleName($0)) }
    }

    func provision() async throws -> ProvisioningReport {
        var devices: [ProvisionedDevice] = []
        if let pub = await pack.bindingPublicKey {
            devices.append(ProvisionedDevice(name: "pack", serial: Self.packSerial, type: "pack-controller",
                                             deviceId: Self.packId, pub: pub))
        }
        for n in await activeModules() {
            guard let pub = await modules[n - 1].bindingPublicKey else { continue }
            devices.append(ProvisionedDevice(name: Self.moduleName(n), serial: moduleSerials[n - 1],
                                             type: "battery-module", deviceId: Self.moduleId(n), pub: pub))
        }
        let report = try await appSide.provision(devices: devices, clock: clock) { await self.stepDevices() }
        provisioned = report.pairs.first?.established == true
        return report
    }

    // MARK: Traffic

    func runTraffic(seconds: Double) async throws -> TrafficReport {
        guard provisioned else { throw SimulationError.notProvisioned }
        let wall0 = Date()
        let now = await nowMs
        await app.resetCounters()
        await pack.resetCounters()
        for m in modules { await m.resetCounters() }
        await app.setCommands(everyMs: 250, now: now)
        await pack.setTraffic(telemetryEveryMs: 100, commandEveryMs: 500, now: now)
        for m in modules { await m.setTelemetry(everyMs: 100, now: now) }
        let before = await bus.statistics()
        try await drive(limit: .milliseconds(Int64(seconds * 1000)), maxIdleMs: 10) { false }
        await app.setCommands(everyMs: 0, now: 0)
        await pack.setTraffic(telemetryEveryMs: 0, commandEveryMs: 0, now: 0)
        for m in modules { await m.setTelemetry(everyMs: 0, now: 0) }
        // Let messages in flight land.
        try await drive(limit: .milliseconds(50), maxIdleMs: 10) { false }
        let after = await bus.statistics()
        var all = [await app.counters, await pack.counters]
        for m in modules { all.append(await m.counters) }
        var seal = Samples(), open = Samples()
        var rejected: [String: Int] = [:]
        for c in all {
            seal.values += c.seal.values
            open.values += c.open.values
            for (k, v) in c.rejected { rejected[k, default: 0] += v }
        }
        let elapsed = after.elapsed - before.elapsed
        let busy = after.busyTime - before.busyTime
        return TrafficReport(
            busSeconds: elapsed.seconds, wallSeconds: Date().timeIntervalSince(wall0),
            messages: all.map(\.messages).reduce(MessageCounts(), +),
            frames: after.frames - before.frames, busLoad: elapsed > .zero ? busy.seconds / elapsed.seconds : 0,
            rejected: rejected, sealNanosP50: seal.percentile(0.5), sealNanosP99: seal.percentile(0.99),
            openNanosP50: open.percentile(0.5), openNanosP99: open.percentile(0.99),
            rotations: all.map(\.rotations).reduce(0, +))
    }

    // MARK: Attacks

    func runAttacks() async throws -> AttackReport {
        guard provisioned else { throw SimulationError.notProvisioned }
        // Some genuine traffic to capture first.
        let captured = await sniffer.recorded()
        if !captured.contains(where: { Self.isSessionFrame($0.frame)
            && DeviceAddress.modules.contains(XferIds.deviceId($0.frame.id)) && XferIds.messageId($0.frame.id) == 0x310 | UInt16(AppMessage.telemetry) }) {
            _ = try await runTraffic(seconds: 0.3)
        }
        let recorded = await sniffer.recorded().map(\.frame)
        var attacks: [AttackReport.Attack] = []

        // Each attack picks its own module where the pack has enough of them:
        // a pair the replays got quarantined would refuse the tampered and
        // forged frames before authentication ever saw them.
        let targets = await activeModules()
        func telemetryFrames(of module: Int) -> [CANFrame] {
            recorded.filter { Self.isSessionFrame($0) && XferIds.deviceId($0.id) == Self.moduleId(module)
                && XferIds.messageId($0.id) == 0x310 | UInt16(AppMessage.telemetry) }
        }
        func telemetryFrames(ofAttack index: Int) -> [CANFrame] {
            guard let first = targets.first else { return telemetryFrames(of: 1) }
            let own = telemetryFrames(of: targets[index % targets.count])
            return own.isEmpty ? telemetryFrames(of: first) : own   // a silent module: fall back
        }
        // Replay: the last complete telemetry messages of a module, resent verbatim.
        attacks.append(try await measureAttack("replay") {
            let frames = Array(telemetryFrames(ofAttack: 0).suffix(12))
            for f in frames { try await sniffer.forge(f) }
            return frames.count
        })
        // Tamper: a captured message with one bit flipped in its last frame (the tag).
        attacks.append(try await measureAttack("tamper") {
            let copy = Self.tampered(Self.lastMessage(telemetryFrames(ofAttack: 1)))
            for f in copy { try await sniffer.forge(f) }
            return copy.count
        })
        // Forge: whole messages (chunks 1..5 of 5) under a module's id with made-up payloads.
        attacks.append(try await measureAttack("forge") {
            guard let template = telemetryFrames(ofAttack: 2).last else { return 0 }
            var g = SplitMix64(seed: config.seed)
            var n = 0
            let size = template.isFD ? 64 : 8
            for _ in 0..<3 {
                for i in 0..<5 {
                    let id = (template.id & ~UInt32(0xFF00)) | UInt32(i) << 12 | UInt32(4) << 8
                    let bytes = (0..<size).map { _ in UInt8(truncatingIfNeeded: g.next()) }
                    try await sniffer.forge(try CANFrame(id: id, extended: true, fd: template.isFD, data: bytes))
                    n += 1
                }
            }
            return n
        })
        // Package replay: the pack's captured key package, sent again by the attacker.
        attacks.append(try await measureAttack("package-replay") {
            let blobs = BusCapture.transfers(in: recorded, deviceId: Self.packId, messageId: XferIds.down)
            guard let pkg = blobs.first(where: { (try? KeyPackage.peek($0).deviceId) == Self.packId }) else { return 0 }
            return try await attackerTransfer(pkg)
        })
        // Delayed command (protocol v2): a command the module never got is
        // replayed after a newer one was applied; refused as stale.
        attacks.append(try await delayedCommand())
        // HELLO flood (protocol v2): forged HELLOs under every module pair's
        // public key id, both directions, every 50 ms for a second.
        attacks.append(try await measureAttack("hello-flood") {
            try await forgeHellos(recorded: recorded, rounds: 20, everyMs: 50)
        })
        // Lockout attempt: what once quarantined a pair, sent by a stranger.
        attacks.append(try await lockoutAttempt(recorded: recorded))
        return AttackReport(attacks: attacks)
    }

    /// Issue #14's first attack: the attacker keeps a COMMAND from a module
    /// (modelled as the module missing its frames, which an injected first
    /// chunk achieves on a real bus) while recording it; the pack, getting no
    /// acknowledgement, sends a newer command, which is applied; then the
    /// attacker replays the recorded one. Version 1 applied it.
    private func delayedCommand() async throws -> AttackReport.Attack {
        guard let n = await activeModules().first else {
            return AttackReport.Attack(name: "delayed-command", framesSent: 0, accepted: 0, rejected: [:], auditLines: 0)
        }
        let id = Self.moduleId(n), module = modules[n - 1]
        let commandId = 0x300 | UInt16(AppMessage.command)
        await module.setMissing { XferIds.deviceId($0.id) == id && XferIds.messageId($0.id) == commandId }
        let suppressed = await pack.sendCommand(to: id, now: await nowMs)
        try await drive(limit: .milliseconds(600), maxIdleMs: 10) { false }
        await module.setMissing(nil)
        _ = await pack.sendCommand(to: id, now: await nowMs)
        try await drive(limit: .milliseconds(50), maxIdleMs: 10) { false }
        return try await measureAttack("delayed-command") {
            for f in suppressed { try await sniffer.forge(f) }
            return suppressed.count
        }
    }

    /// Issue #14's lockout attempt on every module pair: 3 forged HELLOs, 5
    /// replayed messages and 20 garbage frames per device, in both
    /// directions. None may be accepted, and no pair may be quarantined.
    func runLockoutAttempt() async throws -> AttackReport.Attack {
        guard provisioned else { throw SimulationError.notProvisioned }
        return try await lockoutAttempt(recorded: await sniffer.recorded().map(\.frame))
    }

    private func lockoutAttempt(recorded: [CANFrame]) async throws -> AttackReport.Attack {
        try await measureAttack("lockout") {
            var g = SplitMix64(seed: config.seed ^ 0x10C0)
            var sent = try await forgeHellos(recorded: recorded, rounds: 3, everyMs: 5)
            for id in await activeModules().map(Self.moduleId) {
                for sender: UInt16 in [0x300, 0x310] {
                    let own = recorded.filter { Self.isSessionFrame($0) && XferIds.deviceId($0.id) == id
                        && XferIds.messageId($0.id) & 0x3F0 == sender && XferIds.messageId($0.id) & 0xF >= 4 }
                    for f in Self.lastMessages(own, count: 5) {
                        try await sniffer.forge(f)
                        sent += 1
                    }
                    for i in 0..<20 {
                        let msgId = UInt32(sender | UInt16(4 + i % 12))
                        let canId = msgId << 18 | 1 << 17 | UInt32(id)
                        let bytes = (0..<8).map { _ in UInt8(truncatingIfNeeded: g.next()) }
                        try await sniffer.forge(try CANFrame(id: canId, extended: true, data: bytes))
                        sent += 1
                    }
                }
            }
            return sent
        }
    }

    /// Forged HELLOs (right version and public key id, random rest) for
    /// every module pair, as controller and as module; returns frames sent.
    private func forgeHellos(recorded: [CANFrame], rounds: Int, everyMs: Int) async throws -> Int {
        var g = SplitMix64(seed: config.seed ^ 0x4E11)
        var sent = 0
        let keyIds = Self.helloKeyIds(recorded)
        for _ in 0..<rounds {
            for id in await activeModules().map(Self.moduleId) {
                guard let keyId = keyIds[id] else { continue }
                for sender: UInt16 in [0x300, 0x310] {
                    var hello = (0..<Segmentation.helloLength).map { _ in UInt8(truncatingIfNeeded: g.next()) }
                    hello[0] = Segmentation.protocolVersion
                    hello[1] = 0
                    hello.replaceSubrange(2..<6, with: keyId)
                    for f in try Segmentation.frames(of: hello, messageId: sender, encrypted: false, deviceId: id,
                                                     profile: config.parameters.profile) {
                        try await sniffer.forge(f)
                        sent += 1
                    }
                }
            }
            try await drive(limit: .milliseconds(Int64(everyMs)), maxIdleMs: 10) { false }
        }
        return sent
    }

    /// The key id of each module pair, read from a HELLO on the bus (public).
    static func helloKeyIds(_ frames: [CANFrame]) -> [UInt8: [UInt8]] {
        var out: [UInt8: [UInt8]] = [:]
        for f in frames where f.isExtended && XferIds.messageId(f.id) & 0x3EF == 0x300 && (f.id >> 12) & 0xF == 0 {
            let bytes = f.data
            if bytes.count >= 6 { out[XferIds.deviceId(f.id)] = Array(bytes[2..<6]) }
        }
        return out
    }

    /// Run `body` (which sends attack frames and returns how many), let the
    /// bus settle, and count what the devices accepted and rejected.
    private func measureAttack(_ name: String, _ body: () async throws -> Int) async throws -> AttackReport.Attack {
        let lines0 = await audit.count
        await pack.resetCounters()
        await app.resetCounters()
        for m in modules { await m.resetCounters() }
        let sent = try await body()
        try await drive(limit: .milliseconds(200), maxIdleMs: 10) { false }
        var rejected: [String: Int] = [:]
        var accepted = 0
        // The attacks forge frames under a module's ids, so only the pack
        // and the modules can accept one. The app's deliveries in the
        // window are the pack's own reports about the attack, not attack
        // frames.
        let app = await app.counters
        for (k, v) in app.rejected { rejected[k, default: 0] += v }
        var targets = [await pack.counters]
        for m in modules { targets.append(await m.counters) }
        for c in targets {
            accepted += c.messages.delivered
            for (k, v) in c.rejected { rejected[k, default: 0] += v }
        }
        let lines = await audit.count - lines0
        _ = try? await audit.record("attack_finished", ["attack": .string(name), "frames": .int(Int64(sent)),
                                                        "accepted": .int(Int64(accepted))])
        return AttackReport.Attack(name: name, framesSent: sent, accepted: accepted, rejected: rejected,
                                   auditLines: lines)
    }

    /// The attacker plays the app's role on the transfer link.
    private func attackerTransfer(_ blob: [UInt8]) async throws -> Int {
        let tx = XferSender(msgId: XferIds.down, deviceId: Self.packId)
        try tx.start(xferId: 0xEE, kind: .keyPackage, bytes: blob, now: await nowMs)
        var sent = 0
        try await drive(limit: .seconds(30), maxIdleMs: 10) {
            let now = await nowMs
            for f in await sniffer.node.drain() { tx.onFrame(f.frame, now: now) }
            tx.poll(now: now)
            for f in tx.sink.take() {
                try await sniffer.forge(f)
                sent += 1
            }
            return tx.state != .busy
        }
        return sent
    }

    /// A sealed ALERT report [0x0001 pair failed][device id][reason text] for `id`.
    static func isFailureAlert(_ r: (kind: UInt8, payload: [UInt8]), _ id: UInt8) -> Bool {
        r.kind == SealedReport.Kind.alert.rawValue && r.payload.count > 3 && r.payload[0] == 0 && r.payload[1] == 1
            && r.payload[2] == id
    }

    /// A captured message made to look new: its counter moved ahead (IV byte
    /// 9, so the replay window does not catch it) and one tag bit flipped;
    /// only authentication can reject it.
    static func tampered(_ frames: [CANFrame]) -> [CANFrame] {
        guard !frames.isEmpty else { return [] }
        var out = frames
        var offset = 0
        for (i, f) in frames.enumerated() {
            if offset <= 9 && 9 < offset + f.count {
                out[i] = f.withPayload { $0[9 - offset] &+= 1 }
            }
            offset += f.count
        }
        out[out.count - 1] = out[out.count - 1].withPayload { $0[$0.count - 1] ^= 0x01 }
        return out
    }

    /// The frames of the last `count` messages in a captured sequence (a
    /// message starts at chunk index 0: CAN id bits 15..12).
    static func lastMessages(_ frames: [CANFrame], count: Int) -> [CANFrame] {
        var messages: [[CANFrame]] = []
        for f in frames {
            if (f.id >> 12) & 0xF == 0 || messages.isEmpty { messages.append([]) }
            messages[messages.count - 1].append(f)
        }
        return messages.suffix(count).flatMap { $0 }
    }

    static func isSessionFrame(_ f: CANFrame) -> Bool {
        let m = XferIds.messageId(f.id)
        return f.isExtended && (0x300...0x31F).contains(m)
    }

    /// The frames of the last complete message in a captured sequence (its
    /// first frame has the segmentation "first" marker; approximated as the
    /// last run of frames sharing a message id after a gap in chunk order).
    static func lastMessage(_ frames: [CANFrame]) -> [CANFrame] {
        // CAN id bits 15..12 chunk index, 11..8 total (ModBatt layout).
        guard let last = frames.last else { return [] }
        let total = Int((last.id >> 8) & 0xF)
        var out: [CANFrame] = []
        for f in frames.reversed() {
            out.insert(f, at: 0)
            if Int((f.id >> 12) & 0xF) == 0 { break }
            if out.count > total + 1 { break }
        }
        return out
    }

    // MARK: Rotation, renewal, revocation, recovery

    /// Rotation on command: the app asks the pack to rotate every pair's session keys.
    func rotateSessionKeys() async throws -> Int {
        guard provisioned else { throw SimulationError.notProvisioned }
        let before = await rotationCount()
        await app.commandRekey()
        try await drive(limit: .milliseconds(300), maxIdleMs: 10) { false }
        return await rotationCount() - before
    }

    private func rotationCount() async -> Int {
        var n = await app.counters.rotations + (await pack.counters.rotations)
        for m in modules { n += await m.counters.rotations }
        return n
    }

    /// A new package version for every remaining device: the current LCTs are
    /// revoked on the bridge, new ones created (new halves, new salts), the
    /// packages built with `parameters` and delivered; each device replaces
    /// its record atomically (two-slot key store) and pairs again.
    func renew(revoking: [Int] = [], parameters newParameters: CryptoParameters? = nil,
               reason: String) async throws -> ProvisioningReport {
        try await appSide.prepareRenewal(revoking: revoking.map(Self.moduleName), parameters: newParameters,
                                         reason: reason)
        return try await provision()
    }

    /// Key loss: the device's flash is erased (it boots blank and makes a new
    /// binding key), then the pack is re-provisioned without registering
    /// anything again.
    func recover(device name: String, wipe: Bool) async throws -> ProvisioningReport {
        if wipe { try await wipeKeys(device: name) }
        try await service(device: name)
        return try await renew(reason: "recovery of \(name)")
    }

    /// The authorised service procedure (a workshop with the service tool):
    /// the device may bind a new key although its store was used before.
    /// Audited; the device then boots blank and makes a new binding key.
    func service(device name: String) async throws {
        _ = try? await audit.record("service_mode", ["device": .string(name),
                                                     "reason": "recovery: one new binding key allowed"])
        if name == "pack" {
            pack.storage.enterServiceMode()
            await pack.wipeAndReboot()
        } else if let n = Self.moduleNumber(name), n <= modules.count {
            modules[n - 1].storage.enterServiceMode()
            await modules[n - 1].wipeAndReboot()
        } else {
            throw SimulationError.unknownDevice(name)
        }
    }

    func wipeKeys(device name: String) async throws {
        if name == "pack" {
            await pack.wipeAndReboot()
        } else if let n = Self.moduleNumber(name), n <= modules.count {
            await modules[n - 1].wipeAndReboot()
        } else {
            throw SimulationError.unknownDevice(name)
        }
        _ = try? await audit.record("keys_lost", ["device": .string(name)])
    }

    /// A replaced module: a new board (new serial, new binding key) in slot `n`;
    /// it is registered, the old pair revoked, and the pack re-provisioned.
    func replaceModule(_ n: Int) async throws -> ProvisioningReport {
        guard (1...modules.count).contains(n) else { throw SimulationError.unknownDevice("module \(n)") }
        let generation = (replacements[n] ?? 0) + 1
        replacements[n] = generation
        let name = Self.moduleName(n)
        let serial = Self.moduleSerial(n, generation: generation)
        let old = modules[n - 1]
        await old.wipeAndReboot()
        // A new board: new flash, new hardware secret, new counter.
        for ext in ["flash", "hwkey", "otp"] {
            try? FileManager.default.removeItem(at: keyStoreDirectory.appendingPathComponent("\(name).\(ext)"))
        }
        let storage = try DeviceStorage(directory: keyStoreDirectory, name: name, serial: serial,
                                        deviceId: Self.moduleId(n), role: 1, factoryAppKey: factoryAppKey)
        let fresh = BatteryModuleNode(storage: storage, node: old.node, audit: audit, policy: config.tamperPolicy,
                                      profile: config.profile, allowBootstrap: config.packageMode == .factoryBootstrap,
                                      silent: false)
        await fresh.powerOn()
        modules[n - 1] = fresh
        moduleSerials[n - 1] = serial
        _ = try? await audit.record("module_replaced", ["device": .string(name), "serial": .string(serial)])
        return try await renew(reason: "module \(name) replaced")
    }

    /// Power-cycle a device: it boots from its key store; returns why the
    /// store was refused, if it was.
    func reboot(device name: String) async throws -> String? {
        if name == "pack" {
            await pack.powerOn()
            return await pack.bootRefusal
        }
        guard let n = Self.moduleNumber(name), n <= modules.count else { throw SimulationError.unknownDevice(name) }
        await modules[n - 1].powerOn()
        return await modules[n - 1].bootRefusal
    }

    static func moduleNumber(_ name: String) -> Int? {
        guard name.hasPrefix("module-") else { return nil }
        return Int(name.dropFirst(7))
    }

    // MARK: Re-enumeration (docs/PROTOCOL.md 6.7)

    /// The bus gives modules other ids (the ModBatt pack's registration
    /// after a reboot): each module `n` of `assignments` gets its id, then
    /// bus time runs until every one of them is established with the pack
    /// at that id, or `limit` passed. True when all are.
    func reenumerate(_ assignments: [Int: UInt8], limit: Duration = .seconds(3)) async throws -> Bool {
        let now = await nowMs
        for (n, id) in assignments.sorted(by: { $0.key < $1.key }) { try await modules[n - 1].assignAddress(id, now: now) }
        var settled = false
        try await drive(limit: limit, maxIdleMs: 10) {
            for (n, id) in assignments {
                guard await modules[n - 1].isEstablished, await pack.moduleAddress(Self.moduleId(n)) == id,
                      await pack.linkState(Self.moduleId(n)) == .established else { return false }
            }
            settled = true
            return true
        }
        return settled
    }

    /// Put frames on the bus from the attacker's node, then run `ms` of bus time.
    func forge(_ frames: [CANFrame], thenRunMs ms: Int = 50) async throws {
        for f in frames { try await sniffer.forge(f) }
        try await drive(limit: .milliseconds(Int64(ms)), maxIdleMs: 10) { false }
    }

    // MARK: Inspection for tests and tools

    var appState: AppState { get async { await appSide.appState } }
    func packLink(_ id: UInt8) async -> PackControllerNode.LinkState? { await pack.linkState(id) }
    func module(_ n: Int) -> BatteryModuleNode { modules[n - 1] }
}
