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

/// A device the app provisions: its name (`pack`, `module-NN`), hardware
/// serial, component type, CAN device id and binding public key.
struct ProvisionedDevice: Sendable {
    var name: String
    var serial: String
    var type: String
    var deviceId: UInt8
    var pub: [UInt8]
}

/// What the app side needs to know, whether the devices are simulated
/// (`PackSimulation`) or real ones on a CAN transport (`TransportProvisioning`).
struct AppSideConfiguration: Sendable {
    var dataDirectory: URL
    var keyStoreDirectory: URL
    var bridge: BridgeEndpoint
    var creator: String
    var seed: UInt64
    /// Share of embedded-bridge calls answered 500 (simulation faults).
    var bridgeFailRate: Double = 0
    var packageMode: PackageMode
    var parameters: CryptoParameters
    var tamperPolicy: TamperPolicy
    var provisioningTimeout: Duration
    /// Simulated crash after this many transfer frames (first run only).
    var appCrashAfterFrames: Int?
    var packId: UInt8
    var logger: Logger
    /// How the app's key store (its signing key) is protected at rest.
    var appKeySource: StorageKeySource = .keyFile
    /// The app↔pack pair adds an ephemeral key exchange to its handshakes
    /// (forward secrecy, PROTOCOL.md 6.6); both key stores record it.
    var ephemeralAppLink = false
}

/// The app's side of the flow (docs/PROVISIONING_FLOW.md §1): the bridge
/// calls, the key packages, their delivery to the pack controller over the
/// app's `FramePort`, the pairing and the report. It keeps `app/state.json`
/// and `registry.sqlite`, so `provision` resumes where a previous run
/// stopped. The devices are driven by the caller (`others`): simulated nodes
/// on the virtual bus, or nobody when they run elsewhere on a real bus.
actor AppSide {
    let config: AppSideConfiguration
    let audit: AuditLog
    let appDirectory: URL
    let logger: Logger
    private let port: any FramePort
    private(set) var app: AppNode
    private var state: AppState

    private var bridge: EmbeddedBridge?
    private var client: BridgeClient?
    private var registry: ProvisioningRegistry?
    private var provisioner: Provisioner?
    private var crashed = false
    /// Crypto parameters of the next package version.
    private(set) var parameters: CryptoParameters
    /// Test hook: sees each pair's halves and salt before sealing (sniffer test).
    private var keyProbe: (@Sendable (_ pair: String, _ material: PairMaterial) -> Void)?

    func setKeyProbe(_ probe: (@Sendable (_ pair: String, _ material: PairMaterial) -> Void)?) { keyProbe = probe }

    init(configuration: AppSideConfiguration, audit: AuditLog, port: any FramePort) async throws {
        config = configuration
        parameters = configuration.parameters
        self.audit = audit
        self.port = port
        logger = configuration.logger
        appDirectory = configuration.dataDirectory.appendingPathComponent("app")
        try FileManager.default.createDirectory(at: configuration.keyStoreDirectory, withIntermediateDirectories: true)
        try FileManager.default.createDirectory(at: appDirectory.appendingPathComponent("packages"),
                                                withIntermediateDirectories: true)
        state = Self.loadState(appDirectory)
        app = try Self.makeApp(configuration, audit: audit, port: port)
        await app.boot(packPub: state.bindingKeys["pack"].flatMap(CCore.unhex))
    }

    private static func loadState(_ appDirectory: URL) -> AppState {
        let url = appDirectory.appendingPathComponent("state.json")
        return (try? JSONDecoder().decode(AppState.self, from: Data(contentsOf: url))) ?? AppState()
    }

    /// The app's key store holds its signing key (its "binding" key) and its pair secret with the pack.
    private static func makeApp(_ config: AppSideConfiguration, audit: AuditLog, port: any FramePort) throws -> AppNode {
        let storage = try DeviceStorage(directory: config.keyStoreDirectory, name: "app", serial: "modbatt-app-host",
                                        deviceId: 0, role: 2, keySource: config.appKeySource)
        _ = storage.boot()
        if storage.refused == .authenticationFailed, case .passphrase = config.appKeySource {
            throw SimulationError.invalidConfiguration("the app key store does not open with this passphrase")
        }
        guard let appKey = storage.binding else {
            throw SimulationError.invalidConfiguration("the app key store is unusable: \(storage.refused.map { "\($0)" } ?? "?")")
        }
        return AppNode(node: port, audit: audit, appKey: appKey, storage: storage, packId: config.packId,
                       policy: config.tamperPolicy)
    }

    var appState: AppState { state }

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
                    token: token, faults: FaultConfiguration(failRate: config.bridgeFailRate, seed: config.seed))
                server.storage = .file(config.dataDirectory.appendingPathComponent("bridge.sqlite").path)
                server.logger = config.logger   // the caller's level: --log-level trace shows the bridge too
                bridge = try await EmbeddedBridge.start(server)
            }
            clientConfig = BridgeClientConfiguration(baseURL: bridge!.baseURL, token: token,
                                                     requestTimeout: .seconds(5), retry: retry)
        case .remote(let c):
            clientConfig = c
        }
        let l = config.logger
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
        state = Self.loadState(appDirectory)
        app = try Self.makeApp(config, audit: audit, port: port)
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

    /// Steps 1-5 of the flow for `devices` (the pack first, then its modules
    /// in order). `others` runs one round of every other node on the bus
    /// after the app's own step (the simulated devices; nothing on a real
    /// bus); `failure` says why the bus is gone, which ends the run.
    func provision(devices: [ProvisionedDevice], clock: any DriveClock,
                   others: @Sendable () async -> (worked: Bool, nextDue: UInt32?),
                   failure: @Sendable () -> String? = { nil }) async throws -> ProvisioningReport {
        let wall0 = Date()
        try await ensureBridge()
        guard let provisioner, let client, let registry else { throw SimulationError.bridge("not connected") }
        let bridgeKey = bridgeURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? ""

        // 1. Register the app and every device, create the LCTs.
        var registered = 0, reused = 0, created = 0, lctReused = 0
        let deliveredBefore = Set(state.delivered)
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
            var pairs: [(name: String, a: String, b: String, device: ProvisionedDevice)] = []
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
                                                material: am, ephemeral: config.ephemeralAppLink))
                var modulePackages: [(ProvisionedDevice, [UInt8])] = []
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
                        entries: [PackageEntry(peerId: config.packId, controller: false, keyId: kid, peerComponent: p.a,
                                               material: m)],
                        bootstrap: bootstrap, devicePub: p.device.pub)
                    modulePackages.append((p.device, pkg))
                }
                let packDevice = devices.first { $0.name == "pack" }!
                let packPkg = try KeyPackage.seal(version: version, deviceId: config.packId, role: 0, componentId: packComp,
                                                  params: parameters, appKey: appKey, entries: packEntries,
                                                  bootstrap: bootstrap, devicePub: packDevice.pub)
                // The app's own record first (its pair secret with the pack), then the packages.
                let rec = KeyRecord.build(binding: appKey, deviceId: 0, role: 2, version: version,
                                          params: parameters,
                                          pairs: [(config.packId, true, config.ephemeralAppLink, appSecret)])
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
        if state.delivered.contains("pack") { await app.scheduleHandshake(at: await clock.nowMs()) }
        let busStart = await clock.elapsed()

        // 4. Pairing: wait until every pair is established or reported failed.
        let moduleIds = devices.filter { $0.name != "pack" }.map(\.deviceId)
        let crashAt = crashed ? nil : config.appCrashAfterFrames
        let app = self.app
        try await driveRounds(clock: clock, limit: config.provisioningTimeout, maxIdleMs: 50, round: {
            let mine = await app.step(now: await clock.nowMs())
            let rest = await others()
            let now = await clock.nowMs()
            let due = [mine.nextDue, rest.nextDue].compactMap { $0 }.min { ($0 &- now) < ($1 &- now) }
            return (mine.worked || rest.worked, due)
        }) {
            if let why = failure() { throw SimulationError.transport(why) }
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
                reports.contains { World.isFailureAlert($0, id) }
            }
        }
        let busSeconds = (await clock.elapsed() - busStart).seconds

        // 5. The report.
        var pairs: [ProvisioningReport.Pair] = []
        let appEstablished = await app.isEstablished
        let failure = await app.deliveryFailure
        let estAt = await app.establishedAt
        let startMs = UInt32(truncatingIfNeeded: Int(busStart.seconds * 1000))
        pairs.append(ProvisioningReport.Pair(
            name: "app-pack", deviceId: config.packId, lctId: state.lcts["app-pack"], keyId: state.keyIds["app-pack"],
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
                if let a = alerts.last(where: { World.isFailureAlert($0, d.deviceId) }) {
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
        for i in pairs.indices {
            let device = pairs[i].name == "app-pack" ? "pack" : String(pairs[i].name.dropFirst("pack-".count))
            pairs[i].deliveredEarlier = deliveredBefore.contains(device)
        }
        for p in pairs {
            _ = try? await audit.record(p.established ? "pair_verified" : "pair_failed_reported", [
                "pair": .string(p.name), "key_id": .string(p.keyId ?? ""), "reason": .string(p.failure ?? "")])
        }
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
            } catch let e as BridgeError where (e.status == 409 || e.kind == .keyHalvesLost) && e.existingId != nil {
                // Created on the bridge but the answer was lost (a retried request, a crash; the
                // client found it by lookup: .keyHalvesLost): nobody holds its halves. Revoke it
                // and create the pair's LCT again.
                revoked += 1
                try await revoke(e.existingId!, reason: "key halves never received", client)
                _ = try? await audit.record("lct_revoked", [
                    "pair": .string(name), "lct_id": .string(e.existingId!), "reason": "halves never received"])
                continue
            } catch let e as BridgeError where e.kind == .unresolvedLCT {
                // The create may have left an LCT behind and the lookup could not tell: a durable trace.
                for u in e.unresolvedLCTs {
                    _ = try? await audit.record("lct_unresolved", [
                        "pair": .string(name), "component_a": .string(u.componentA), "component_b": .string(u.componentB),
                        "context": .string(u.context), "create_failure": .string(u.createFailure),
                        "lookup_failure": .string(u.lookupFailure)])
                }
                throw e
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
                try await revoke(r.lctId, reason: "key halves lost before packaging", client)
                try registry.forgetLCT(bridge: bridgeKey, componentA: a, componentB: b)
                _ = try? await audit.record("lct_revoked", [
                    "pair": .string(name), "lct_id": .string(r.lctId), "reason": "halves lost before packaging"])
            }
        }
        throw SimulationError.bridge("cannot create the LCT of \(name)")
    }

    /// Revoke an LCT; one the bridge already revoked counts as done (a retried
    /// call whose first attempt went through, its answer lost: 410 LCT_REVOKED).
    private func revoke(_ lctId: String, reason: String, _ client: BridgeClient) async throws {
        do {
            _ = try await client.revokePairing(RevokePairingRequest(creator: config.creator, lctId: lctId, reason: reason))
        } catch let e as BridgeError where e.status == 410 {
            logger.info("LCT \(lctId) was already revoked: \(e)")
        }
    }

    /// Before a new package version: every current LCT is revoked on the
    /// bridge and forgotten, the `revoking` modules are left out from now on,
    /// and `newParameters` (if any) apply to the next packages.
    func prepareRenewal(revoking names: [String], parameters newParameters: CryptoParameters?,
                        reason: String) async throws {
        try await ensureBridge()
        guard let client, let registry else { throw SimulationError.bridge("not connected") }
        let bridgeKey = bridgeURL.map { $0.hasSuffix("/") ? String($0.dropLast()) : $0 } ?? ""
        for (pair, lctId) in state.lcts.sorted(by: { $0.key < $1.key }) {
            let ends = pair.split(separator: "-", maxSplits: 1).map(String.init)
            guard ends.count == 2, let a = state.components[ends[0]], let b = state.components[ends[1]] else { continue }
            do {
                try await revoke(lctId, reason: reason, client)
                try registry.forgetLCT(bridge: bridgeKey, componentA: a, componentB: b)
            } catch {
                throw SimulationError.bridge("revoking \(pair): \(error)")
            }
            _ = try? await audit.record("lct_revoked", ["pair": .string(pair), "lct_id": .string(lctId),
                                                        "reason": .string(reason)])
        }
        for name in names where !state.revoked.contains(name) {
            state.revoked.append(name)
            _ = try? await audit.record("pair_revoked", ["pair": .string("pack-\(name)"),
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
    }
}
