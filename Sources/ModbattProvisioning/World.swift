import Foundation
import Logging
import Modbatt
import ModbattBridge
import ModbattCAN

/// What the app keeps on disk between runs (`app/state.json`): ids and
/// progress only. Key halves are never written; sealed packages are
/// (`app/packages/`), since only their target device can open them.
struct AppState: Codable, Sendable {
    var packageVersion: UInt32 = 0
    /// Packages of `packageVersion` are built and saved.
    var built = false
    var mode: PackageMode = .sealed
    /// Packages (by device name) of `packageVersion` the pack acknowledged.
    var delivered: [String] = []
    /// Component id per device name, binding public key (hex) per device name.
    var components: [String: String] = [:]
    var bindingKeys: [String: String] = [:]
    /// LCT id and key id (hex) per pair name.
    var lcts: [String: String] = [:]
    var keyIds: [String: String] = [:]
    /// Modules whose pair was revoked (left out of packages).
    var revoked: [String] = []
}

/// The simulation's state and orchestration (the app's flow, the devices,
/// the bus). `PackSimulation` is its public face.
actor World {
    static let packId: UInt8 = 0x01
    static func moduleId(_ n: Int) -> UInt8 { UInt8(0x0F + n) }
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
    let appDirectory: URL
    let logger: Logger

    private let appBusNode: VirtualBus.Node
    private(set) var app: AppNode
    let pack: PackControllerNode
    private(set) var modules: [BatteryModuleNode]
    private var moduleSerials: [String]
    private var state: AppState

    private var bridge: EmbeddedBridge?
    private var client: BridgeClient?
    private var registry: ProvisioningRegistry?
    private var provisioner: Provisioner?
    private var crashed = false
    private var provisioned = false
    /// Crypto parameters of the next package version.
    private var parameters: CryptoParameters
    private var replacements: [Int: Int] = [:]
    /// Test hook: sees each pair's halves and salt before sealing (sniffer test).
    private var keyProbe: (@Sendable (_ pair: String, _ material: PairMaterial) -> Void)?

    func setKeyProbe(_ probe: (@Sendable (_ pair: String, _ material: PairMaterial) -> Void)?) { keyProbe = probe }

    init(configuration: SimulationConfiguration, audit: AuditLog, keyStoreDirectory: URL) async throws {
        config = configuration
        parameters = configuration.parameters
        self.audit = audit
        self.keyStoreDirectory = keyStoreDirectory
        logger = configuration.logger
        let appDir = configuration.dataDirectory.appendingPathComponent("app")
        appDirectory = appDir
        try FileManager.default.createDirectory(at: keyStoreDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: appDir.appendingPathComponent("packages"),
                                                withIntermediateDirectories: true)
        let faults = configuration.faults
        var plan = FaultPlan.none
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
        appBusNode = appBus
        let stateURL = configuration.dataDirectory.appendingPathComponent("app/state.json")
        let loaded = (try? JSONDecoder().decode(AppState.self, from: Data(contentsOf: stateURL))) ?? AppState()
        state = loaded
        let bootstrap = configuration.packageMode == .factoryBootstrap
        let packStorage = try DeviceStorage(directory: keyStoreDirectory, name: "pack", serial: Self.packSerial,
                                            deviceId: Self.packId, role: 0)
        let packNode = PackControllerNode(storage: packStorage, node: await bus.attach(name: "pack"), audit: audit,
                                          policy: configuration.tamperPolicy, allowBootstrap: bootstrap)
        pack = packNode
        var mods: [BatteryModuleNode] = []
        var serials: [String] = []
        for n in 1...configuration.moduleCount {
            let serial = Self.moduleSerial(n)
            serials.append(serial)
            let storage = try DeviceStorage(directory: keyStoreDirectory, name: Self.moduleName(n), serial: serial,
                                            deviceId: Self.moduleId(n), role: 1)
            mods.append(BatteryModuleNode(storage: storage, node: await bus.attach(name: Self.moduleName(n)),
                                          audit: audit, policy: configuration.tamperPolicy,
                                          profile: configuration.profile, allowBootstrap: bootstrap,
                                          silent: configuration.faults.silentModules.contains(n)))
        }
        modules = mods
        moduleSerials = serials
        let appStorage = try DeviceStorage(directory: keyStoreDirectory, name: "app", serial: "modbatt-app-host",
                                           deviceId: 0, role: 2)
        // The app's key store holds its signing key (its "binding" key) and its pair secret with the pack.
        _ = appStorage.boot()
        guard let appKey = appStorage.binding else {
            throw SimulationError.invalidConfiguration("the app key store is unusable: \(appStorage.refused.map { "\($0)" } ?? "?")")
        }
        let appNode = AppNode(node: appBus, audit: audit, appKey: appKey, storage: appStorage, packId: Self.packId,
                              policy: configuration.tamperPolicy)
        app = appNode
        await packNode.powerOn()
        for m in mods { await m.powerOn() }
        await appNode.boot(packPub: loaded.bindingKeys["pack"].flatMap(CCore.unhex))
        _ = try? await audit.record("simulation_started", [
            "modules": .int(Int64(configuration.moduleCount)), "profile": .string(configuration.profile == .fd ? "fd" : "classic"),
            "bitrate": .int(Int64(configuration.bitrate)), "package_mode": .string(configuration.packageMode.rawValue)])
    }

    // MARK: Clock and stepping

    var nowMs: UInt32 {
        get async {
            let t = await bus.time
            return UInt32(truncatingIfNeeded: t.components.seconds * 1000 + t.components.attoseconds / 1_000_000_000_000_000)
        }
    }

    /// One round: every node runs its main loop once. Returns whether any
    /// node did something and the earliest timer due.
    private func round() async -> (Bool, UInt32?) {
        var worked = false
        var due: [UInt32] = []
        let now = await nowMs
        let r = await app.step(now: now)
        worked = worked || r.worked
        if let d = r.nextDue { due.append(d) }
        let p = await pack.step(now: await nowMs)
        worked = worked || p.worked
        if let d = p.nextDue { due.append(d) }
        for m in modules {
            let s = await m.step(now: await nowMs)
            worked = worked || s.worked
            if let d = s.nextDue { due.append(d) }
        }
        let n = await nowMs
        return (worked, due.min { ($0 &- n) < ($1 &- n) })
    }

    /// Run rounds until `done` or `limit` of bus time passed; idle time jumps
    /// to the next timer (at most `maxIdle` ms, so C timers get polled).
    private func drive(limit: Duration, maxIdleMs: UInt32 = 50, done: () async throws -> Bool) async throws {
        let start = await bus.time
        while true {
            let (worked, due) = await round()
            if try await done() { return }
            if await bus.time - start >= limit { return }
            if !worked {
                let now = await nowMs
                var wait = maxIdleMs
                if let due {
                    let d = due &- now
                    if d < 0x8000_0000 { wait = min(max(d, 1), maxIdleMs) }
                }
                await bus.advance(by: .milliseconds(Int64(wait)))
            }
        }
    }

    // MARK: Bridge

    private func ensureBridge() async throws {
        if provisioner != nil { return }
        let retry = RetryPolicy(maxAttempts: 10, baseDelay: .milliseconds(5), maxDelay: .milliseconds(100),
                                totalTimeout: .seconds(30), jitterSeed: config.seed)
        let clientConfig: BridgeClientConfiguration
        switch config.bridge {
        case .embedded(let token):
            if bridge == nil {
                var server = BridgeServerConfiguration.ephemeral(
                    token: token, faults: FaultConfiguration(failRate: config.faults.bridgeFailRate, seed: config.seed))
                server.storage = .file(config.dataDirectory.appendingPathComponent("bridge.sqlite").path)
                var l = Logger(label: "modbatt.sim.bridge")
                l.logLevel = .critical
                server.logger = l
                bridge = try await EmbeddedBridge.start(server)
            }
            clientConfig = BridgeClientConfiguration(baseURL: bridge!.baseURL, token: token,
                                                     requestTimeout: .seconds(5), retry: retry)
        case .remote(let c):
            clientConfig = c
        }
        var l = Logger(label: "modbatt.sim.client")
        l.logLevel = .critical
        let c = try BridgeClient(configuration: clientConfig, logger: l)
        let r = try ProvisioningRegistry(path: config.dataDirectory.appendingPathComponent("registry.sqlite").path)
        client = c
        registry = r
        provisioner = Provisioner(client: c, registry: r, creator: config.creator, logger: l)
    }

    var bridgeURL: String? {
        switch config.bridge {
        case .embedded: return bridge?.baseURL
        case .remote(let c): return c.baseURL
        }
    }

    /// Components and LCTs on the embedded bridge (nil for a remote one).
    func bridgeCounts() async throws -> (components: Int, lcts: Int)? {
        try await bridge?.counts()
    }

    func shutdown() async {
        await client?.shutdown()
        client = nil
        provisioner = nil
        await bridge?.stop()
        bridge = nil
    }

    func restartApp() async throws {
        await client?.shutdown()
        client = nil
        provisioner = nil
        registry = nil
        crashed = true
        let stateURL = appDirectory.appendingPathComponent("state.json")
        state = (try? JSONDecoder().decode(AppState.self, from: Data(contentsOf: stateURL))) ?? AppState()
        let appStorage = try DeviceStorage(directory: keyStoreDirectory, name: "app", serial: "modbatt-app-host",
                                           deviceId: 0, role: 2)
        _ = appStorage.boot()
        guard let appKey = appStorage.binding else { throw SimulationError.invalidConfiguration("app key store unusable") }
        app = AppNode(node: appBusNode, audit: audit, appKey: appKey, storage: appStorage, packId: Self.packId,
                      policy: config.tamperPolicy)
        await app.boot(packPub: state.bindingKeys["pack"].flatMap(CCore.unhex))
        _ = try? await audit.record("app_restarted", ["package_version": .int(Int64(state.packageVersion)),
                                                      "delivered": .int(Int64(state.delivered.count))])
    }

    private func saveState() throws {
        let enc = JSONEncoder()
        enc.outputFormatting = [.prettyPrinted, .sortedKeys]
        try enc.encode(state).write(to: appDirectory.appendingPathComponent("state.json"), options: .atomic)
    }

    private func packageURL(_ name: String, version: UInt32) -> URL {
        appDirectory.appendingPathComponent("packages/v\(version)-\(name).mbkp")
    }

    // MARK: Provisioning

    private struct DeviceInfo {
        var name: String
        var serial: String
        var type: String
        var deviceId: UInt8
        var pub: [UInt8]
    }

    private func activeModules() -> [Int] {
        (1...config.moduleCount).filter { !state.revoked.contains(Self.moduleName($0)) }
    }

    func provision() async throws -> ProvisioningReport {
        let wall0 = Date()
        try await ensureBridge()
        guard let provisioner, let client, let registry else { throw SimulationError.bridge("not connected") }
        let bridgeKey = bridgeURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? ""

        // 1. Register the app and every device, create the LCTs.
        var registered = 0, reused = 0, created = 0, lctReused = 0
        var devices: [DeviceInfo] = []
        if let pub = await pack.bindingPublicKey {
            devices.append(DeviceInfo(name: "pack", serial: Self.packSerial, type: "pack-controller", deviceId: Self.packId, pub: pub))
        }
        for n in activeModules() {
            guard let pub = await modules[n - 1].bindingPublicKey else { continue }
            devices.append(DeviceInfo(name: Self.moduleName(n), serial: moduleSerials[n - 1], type: "battery-module",
                                      deviceId: Self.moduleId(n), pub: pub))
        }
        let host: RegisteredComponent
        do {
            let known = try registry.hostIdentity()
            let before = try registry.component(bridge: bridgeKey, hardwareSerial: known.hostId)
            host = try await provisioner.ensureHostRegistered(context: "modbatt-app")
            if before == nil {
                registered += 1
                _ = try? await audit.record("component_registered", [
                    "device": "app", "component_id": .string(host.componentId), "host_id": .string(known.hostId)])
            } else { reused += 1 }
            for d in devices {
                let before = try registry.component(bridge: bridgeKey, hardwareSerial: d.serial)
                let c = try await provisioner.ensureComponent(
                    hardwareSerial: d.serial, componentData: "modbatt:\(d.type):\(d.serial):\(CCore.hex(d.pub))",
                    context: "modbatt-pack")
                state.components[d.name] = c.componentId
                state.bindingKeys[d.name] = CCore.hex(d.pub)
                if before == nil {
                    registered += 1
                    _ = try? await audit.record("component_registered", [
                        "device": .string(d.name), "component_id": .string(c.componentId), "serial": .string(d.serial),
                        "type": .string(d.type), "binding_key_id": .string(CCore.hex(BindingKeyPair.keyId(of: d.pub)))])
                } else { reused += 1 }
            }
            state.components["app"] = host.componentId
            try saveState()
        } catch let e as SimulationError {
            throw e
        } catch {
            throw SimulationError.bridge("\(error)")
        }
        await app.setPackPub(devices.first { $0.name == "pack" }?.pub ?? [])
        let bridgeWall = Date().timeIntervalSince(wall0)

        let haveAll = state.built && devices.allSatisfy {
            FileManager.default.fileExists(atPath: packageURL($0.name, version: state.packageVersion).path)
        }
        var packageBytes: [String: Int] = [:]
        if !haveAll {
            // Pairs: app <-> pack, pack <-> each module.
            guard let packComp = state.components["pack"] else { throw SimulationError.bridge("pack not registered") }
            var pairs: [(name: String, a: String, b: String, device: DeviceInfo)] = []
            for d in devices where d.name != "pack" {
                pairs.append(("pack-\(d.name)", packComp, state.components[d.name]!, d))
            }
            var materials: [String: PairMaterial] = [:]
            do {
                let (m0, r0) = try await createLCT(host.componentId, packComp, "app-pack", provisioner, client,
                                                   registry, bridgeKey)
                materials["app-pack"] = m0
                created += 1
                lctReused += r0
                for p in pairs {
                    let (m, r) = try await createLCT(p.a, p.b, p.name, provisioner, client, registry, bridgeKey)
                    materials[p.name] = m
                    created += 1
                    lctReused += r
                }
            } catch let e as SimulationError {
                throw e
            } catch {
                throw SimulationError.bridge("\(error)")
            }

            // 2. Build the packages.
            let version = state.packageVersion + 1
            let bootstrap = config.packageMode == .factoryBootstrap
            if bootstrap {
                logger.warning("FACTORY BOOTSTRAP: key packages travel IN CLEAR; only on a physically secured line")
                _ = try? await audit.record("bootstrap_mode", [
                    "warning": "key packages are sent in clear (factory bootstrap); every key half is visible on the bus",
                    "package_version": .int(Int64(version))])
            }
            let appKey = app.appKey
            var packEntries: [PackageEntry] = []
            do {
                let am = materials["app-pack"]!
                let appSecret = try am.pairSecret(selfId: host.componentId, peerId: packComp)
                let kid = appSecret.keyId
                state.lcts["app-pack"] = am.lctId
                state.keyIds["app-pack"] = CCore.hex(kid)
                packEntries.append(PackageEntry(peerId: 0, controller: false, keyId: kid, peerComponent: host.componentId,
                                                material: am))
                var modulePackages: [(DeviceInfo, [UInt8])] = []
                for p in pairs {
                    let m = materials[p.name]!
                    let kid = try m.pairSecret(selfId: p.a, peerId: p.b).keyId
                    state.lcts[p.name] = m.lctId
                    state.keyIds[p.name] = CCore.hex(kid)
                    packEntries.append(PackageEntry(peerId: p.device.deviceId, controller: true, keyId: kid,
                                                    peerComponent: p.b, material: m))
                    let pkg = try KeyPackage.seal(
                        version: version, deviceId: p.device.deviceId, role: 1, componentId: p.b,
                        params: parameters, appKey: appKey,
                        entries: [PackageEntry(peerId: Self.packId, controller: false, keyId: kid, peerComponent: p.a,
                                               material: m)],
                        bootstrap: bootstrap, devicePub: p.device.pub)
                    modulePackages.append((p.device, pkg))
                }
                let packDevice = devices.first { $0.name == "pack" }!
                let packPkg = try KeyPackage.seal(version: version, deviceId: Self.packId, role: 0, componentId: packComp,
                                                  params: parameters, appKey: appKey, entries: packEntries,
                                                  bootstrap: bootstrap, devicePub: packDevice.pub)
                // The app's own record first (its pair secret with the pack), then the packages.
                let rec = KeyRecord.build(binding: appKey, deviceId: 0, role: 2, version: version,
                                          params: parameters, pairs: [(Self.packId, true, appSecret)])
                try await app.install(rec)
                try Data(packPkg).write(to: packageURL("pack", version: version), options: .atomic)
                packageBytes["pack"] = packPkg.count
                _ = try? await audit.record("package_built", [
                    "device": "pack", "package_version": .int(Int64(version)), "bytes": .int(Int64(packPkg.count)),
                    "pairs": .int(Int64(packEntries.count)), "mode": .string(bootstrap ? "bootstrap" : "sealed"),
                    "recipient_key_id": .string(CCore.hex(BindingKeyPair.keyId(of: packDevice.pub)))])
                for (d, pkg) in modulePackages {
                    try Data(pkg).write(to: packageURL(d.name, version: version), options: .atomic)
                    packageBytes[d.name] = pkg.count
                    _ = try? await audit.record("package_built", [
                        "device": .string(d.name), "package_version": .int(Int64(version)), "bytes": .int(Int64(pkg.count)),
                        "pairs": 1, "mode": .string(bootstrap ? "bootstrap" : "sealed"),
                        "recipient_key_id": .string(CCore.hex(BindingKeyPair.keyId(of: d.pub)))])
                }
            } catch let e as ModbattError {
                throw SimulationError.invalidConfiguration("building key packages failed: \(e)")
            }
            materials.removeAll()   // halves and salts are wiped here
            state.packageVersion = version
            state.built = true
            state.mode = config.packageMode
            state.delivered = []
            try saveState()
        } else {
            lctReused += state.lcts.count
            for d in devices {
                packageBytes[d.name] = (try? Data(contentsOf: packageURL(d.name, version: state.packageVersion)))?.count
            }
        }

        // 3. Deliver: the pack's package, then each module's for the pack to forward.
        let version = state.packageVersion
        var blobs: [AppNode.Blob] = []
        let order = ["pack"] + devices.map(\.name).filter { $0 != "pack" }
        for (i, name) in order.enumerated() where !state.delivered.contains(name) {
            guard let data = try? Data(contentsOf: packageURL(name, version: version)) else { continue }
            var id = UInt8(truncatingIfNeeded: Int(version) &* 41 &+ i &+ 1)
            if id == 0 { id = 1 }
            blobs.append(AppNode.Blob(name: name, xferId: id, kind: name == "pack" ? .keyPackage : .forward,
                                      bytes: [UInt8](data)))
        }
        if !blobs.isEmpty && blobs.first?.name == "pack" { await app.forgetStatus() }
        await app.enqueue(blobs)
        if state.delivered.contains("pack") { await app.scheduleHandshake(at: await nowMs) }
        let busStart = await bus.time

        // 4. Pairing: wait until every pair is established or reported failed.
        let moduleIds = devices.filter { $0.name != "pack" }.map(\.deviceId)
        let crashAt = crashed ? nil : config.faults.appCrashAfterFrames
        try await drive(limit: config.provisioningTimeout) {
            let delivered = await app.delivered
            for name in delivered where !state.delivered.contains(name) {
                state.delivered.append(name)
                try? saveState()
            }
            let framesSoFar = await app.transferFramesSoFar
            if let crashAt, framesSoFar >= crashAt {
                throw SimulationError.appCrashed(afterFrames: framesSoFar)
            }
            let idle = await app.isIdle
            guard idle else { return false }
            let failed = await app.deliveryFailure
            if failed != nil { return true }
            let established = await app.isEstablished
            if !established {
                let attempts = await app.handshakeAttempts
                let handshaking = await app.isHandshaking
                return attempts >= 6 && !handshaking
            }
            let status = await app.pairStatus
            guard moduleIds.allSatisfy({ status[$0].map { $0.state == 1 || $0.state == 2 } ?? false }) else { return false }
            // Wait for the sealed alert that carries each failure's reason.
            let reports = await app.reports
            return moduleIds.filter { status[$0]?.state == 2 }.allSatisfy { id in
                reports.contains { Self.isFailureAlert($0, id) }
            }
        }
        let busSeconds = (await bus.time - busStart).seconds

        // 5. The report.
        var pairs: [ProvisioningReport.Pair] = []
        let appEstablished = await app.isEstablished
        let failure = await app.deliveryFailure
        let estAt = await app.establishedAt
        let startMs = UInt32(truncatingIfNeeded: Int(busStart.seconds * 1000))
        pairs.append(ProvisioningReport.Pair(
            name: "app-pack", deviceId: Self.packId, lctId: state.lcts["app-pack"], keyId: state.keyIds["app-pack"],
            established: appEstablished,
            failure: appEstablished ? nil : (failure ?? "handshake with the pack: no key-confirmed answer"),
            establishedAtMs: estAt.map { Double($0 &- startMs) }))
        let status = await app.pairStatus
        let alerts = await app.reports.filter { $0.kind == SealedReport.Kind.alert.rawValue }
        for d in devices where d.name != "pack" {
            let s = status[d.deviceId]
            let ok = s?.state == 1 && appEstablished
            var reason: String?
            if !ok {
                if let a = alerts.last(where: { Self.isFailureAlert($0, d.deviceId) }) {
                    reason = String(decoding: a.payload.dropFirst(3), as: UTF8.self)
                } else if let s, s.state == 2 {
                    reason = ["", "delivery to the module failed", "handshake failed", "quarantined"][min(Int(s.reason), 3)]
                } else if !appEstablished {
                    reason = "no status: the app has no session with the pack"
                } else {
                    reason = "no status from the pack before the deadline"
                }
            }
            let pairName = "pack-\(d.name)"
            pairs.append(ProvisioningReport.Pair(
                name: pairName, deviceId: d.deviceId, lctId: state.lcts[pairName],
                keyId: s.map { CCore.hex($0.keyId) } ?? state.keyIds[pairName], established: ok, failure: reason,
                establishedAtMs: ok ? s.map { Double($0.atMs &- startMs) } : nil))
        }
        for p in pairs {
            _ = try? await audit.record(p.established ? "pair_verified" : "pair_failed_reported", [
                "pair": .string(p.name), "key_id": .string(p.keyId ?? ""), "reason": .string(p.failure ?? "")])
        }
        provisioned = pairs.first?.established == true
        let report = ProvisioningReport(
            pairs: pairs, componentsRegistered: registered, componentsReused: reused, lctsCreated: created,
            lctsReused: lctReused, packageBytes: packageBytes, packageVersion: version, packageMode: state.mode,
            transferFrames: await app.framesSent, transferRetries: await app.retries,
            reportsVerified: await app.reports.count, busSeconds: busSeconds, bridgeWallSeconds: bridgeWall,
            wallSeconds: Date().timeIntervalSince(wall0))
        _ = try? await audit.record("provisioning_finished", [
            "established": .int(Int64(pairs.filter(\.established).count)), "pairs": .int(Int64(pairs.count)),
            "package_version": .int(Int64(version))])
        return report
    }

    /// Create a pair's LCT; returns its material and how many stale LCTs
    /// (created by an earlier run whose packages were never saved, so their
    /// halves are gone) were revoked first.
    private func createLCT(_ a: String, _ b: String, _ name: String, _ provisioner: Provisioner, _ client: BridgeClient,
                           _ registry: ProvisioningRegistry, _ bridgeKey: String) async throws -> (PairMaterial, Int) {
        var revoked = 0
        for _ in 0..<3 {
            let result: LCTProvisioning
            do {
                result = try await provisioner.ensureLCT(componentA: a, componentB: b, context: "modbatt-pack")
            } catch let e as BridgeError where e.status == 409 && e.existingId != nil {
                // Created on the bridge but the answer was lost (a retried request, a crash):
                // nobody holds its halves. Revoke it and create the pair's LCT again.
                revoked += 1
                _ = try await client.revokePairing(RevokePairingRequest(
                    creator: config.creator, lctId: e.existingId!, reason: "key halves never received"))
                _ = try? await audit.record("lct_revoked", [
                    "pair": .string(name), "lct_id": .string(e.existingId!), "reason": "halves never received"])
                continue
            }
            switch result {
            case .created(let c):
                let salt = Salt.random()
                let m = PairMaterial(deviceHalf: c.deviceKeyHalf, lctHalf: c.lctKeyHalf, salt: salt,
                                     lctId: c.lct.lctId, componentA: a, componentB: b)
                keyProbe?(name, m)
                _ = try? await audit.record("lct_created", [
                    "pair": .string(name), "lct_id": .string(c.lct.lctId),
                    "device_half_fingerprint": .string(m.fingerprints.device),
                    "lct_half_fingerprint": .string(m.fingerprints.lct)])
                return (m, revoked)
            case .alreadyProvisioned(let r):
                revoked += 1
                _ = try await client.revokePairing(RevokePairingRequest(
                    creator: config.creator, lctId: r.lctId, reason: "key halves lost before packaging"))
                try registry.forgetLCT(bridge: bridgeKey, componentA: a, componentB: b)
                _ = try? await audit.record("lct_revoked", [
                    "pair": .string(name), "lct_id": .string(r.lctId), "reason": "halves lost before packaging"])
            }
        }
        throw SimulationError.bridge("cannot create the LCT of \(name)")
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
            messagesSent: all.map(\.sent).reduce(0, +), messagesDelivered: all.map(\.delivered).reduce(0, +),
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
        if !captured.contains(where: { Self.isSessionFrame($0.frame) && XferIds.deviceId($0.frame.id) >= 0x10
            && XferIds.messageId($0.frame.id) == 0x310 | UInt16(AppMessage.telemetry) }) {
            _ = try await runTraffic(seconds: 0.3)
        }
        let recorded = await sniffer.recorded().map(\.frame)
        var attacks: [AttackReport.Attack] = []

        func measure(_ name: String, _ body: () async throws -> Int) async throws -> AttackReport.Attack {
            let lines0 = await audit.count
            await pack.resetCounters()
            await app.resetCounters()
            for m in modules { await m.resetCounters() }
            let sent = try await body()
            try await drive(limit: .milliseconds(200), maxIdleMs: 10) { false }
            var rejected: [String: Int] = [:]
            var accepted = 0
            var all = [await pack.counters, await app.counters]
            for m in modules { all.append(await m.counters) }
            for c in all {
                accepted += c.delivered
                for (k, v) in c.rejected { rejected[k, default: 0] += v }
            }
            let lines = await audit.count - lines0
            _ = try? await audit.record("attack_finished", ["attack": .string(name), "frames": .int(Int64(sent)),
                                                            "accepted": .int(Int64(accepted))])
            return AttackReport.Attack(name: name, framesSent: sent, accepted: accepted, rejected: rejected,
                                       auditLines: lines)
        }

        // Replay: the last complete telemetry messages of the first module, resent verbatim.
        let firstModule = Self.moduleId(activeModules().first ?? 1)
        let victimFrames = recorded.filter { Self.isSessionFrame($0) && XferIds.deviceId($0.id) == firstModule
            && XferIds.messageId($0.id) == 0x310 | UInt16(AppMessage.telemetry) }
        attacks.append(try await measure("replay") {
            let frames = Array(victimFrames.suffix(12))
            for f in frames { try await sniffer.forge(f) }
            return frames.count
        })
        // Tamper: a captured message with one bit flipped in its last frame (the tag).
        attacks.append(try await measure("tamper") {
            let copy = Self.tampered(Self.lastMessage(victimFrames))
            for f in copy { try await sniffer.forge(f) }
            return copy.count
        })
        // Forge: whole messages (chunks 1..5 of 5) under a module's id with made-up payloads.
        attacks.append(try await measure("forge") {
            guard let template = victimFrames.last else { return 0 }
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
        attacks.append(try await measure("package-replay") {
            let blobs = BusCapture.transfers(in: recorded, deviceId: Self.packId, messageId: XferIds.down)
            guard let pkg = blobs.first(where: { (try? KeyPackage.peek($0).deviceId) == Self.packId }) else { return 0 }
            return try await attackerTransfer(pkg)
        })
        return AttackReport(attacks: attacks)
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
        try await ensureBridge()
        guard let client, let registry else { throw SimulationError.bridge("not connected") }
        let bridgeKey = bridgeURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? ""
        for (pair, lctId) in state.lcts.sorted(by: { $0.key < $1.key }) {
            let ends = pair.split(separator: "-", maxSplits: 1).map(String.init)
            guard ends.count == 2, let a = state.components[ends[0]], let b = state.components[ends[1]] else { continue }
            do {
                _ = try await client.revokePairing(RevokePairingRequest(creator: config.creator, lctId: lctId, reason: reason))
                try registry.forgetLCT(bridge: bridgeKey, componentA: a, componentB: b)
            } catch {
                throw SimulationError.bridge("revoking \(pair): \(error)")
            }
            _ = try? await audit.record("lct_revoked", ["pair": .string(pair), "lct_id": .string(lctId),
                                                        "reason": .string(reason)])
        }
        for n in revoking where !state.revoked.contains(Self.moduleName(n)) {
            state.revoked.append(Self.moduleName(n))
            _ = try? await audit.record("pair_revoked", ["pair": .string("pack-\(Self.moduleName(n))"),
                                                         "reason": .string(reason)])
        }
        if let newParameters {
            parameters = newParameters
            _ = try? await audit.record("parameters_updated", [
                "profile": .string(newParameters.profile == .fd ? "fd" : "classic"),
                "rekey_after_ms": .int(Int64(newParameters.rekeyAfterMs)),
                "rekey_after_msgs": .int(Int64(newParameters.rekeyAfterMessages))])
        }
        state.lcts = [:]
        state.keyIds = [:]
        state.built = false
        state.delivered = []
        try saveState()
        return try await provision()
    }

    /// Key loss: the device's flash is erased (it boots blank and makes a new
    /// binding key), then the pack is re-provisioned without registering
    /// anything again.
    func recover(device name: String, wipe: Bool) async throws -> ProvisioningReport {
        if wipe { try await wipeKeys(device: name) }
        return try await renew(reason: "recovery of \(name)")
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
                                        deviceId: Self.moduleId(n), role: 1)
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

    // MARK: Inspection for tests and tools

    var appState: AppState { state }
    func packLink(_ id: UInt8) async -> PackControllerNode.LinkState? { await pack.linkState(id) }
    func module(_ n: Int) -> BatteryModuleNode { modules[n - 1] }
}
