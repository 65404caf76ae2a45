/// # Provisioning a real pack over a CAN transport
///
/// The app's side of the flow (docs/PROVISIONING_FLOW.md §1) against a
/// running API-Bridge and a CAN transport, while the pack controller and its
/// modules are real devices elsewhere on that bus (`PackDevices`, or
/// hardware). Time is the wall clock. State lives under `dataDirectory`
/// exactly as in `PackSimulation` (`app/state.json`, `app/packages/`,
/// `keystores/app.*`, `registry.sqlite`, `audit.jsonl`), so `provision()` is
/// idempotent and resumable across processes.
///
/// ```swift
/// let transport = try await TransportAddress("socketcand://127.0.0.1:29536/vcan0").open()
/// let p = try await TransportProvisioning(configuration: config, layout: layout, transport: transport)
/// let report = try await p.provision()
/// let traffic = try await p.exchangeTraffic(seconds: 1)
/// await p.shutdown()
/// ```
import Foundation
import Logging
import Modbatt
import ModbattBridge
import ModbattCAN

/// The devices of one pack: the pack controller and its modules, with their
/// hardware serials, CAN device ids and binding public keys (read from each
/// device at the factory or service step).
public struct PackLayout: Sendable, Equatable {
    public struct Device: Sendable, Equatable {
        public var serial: String
        public var deviceId: UInt8
        /// 65 bytes, `04 || X || Y`.
        public var bindingKey: [UInt8]

        public init(serial: String, deviceId: UInt8, bindingKey: [UInt8]) {
            self.serial = serial
            self.deviceId = deviceId
            self.bindingKey = bindingKey
        }
    }

    /// The pack controller's CAN device id (`DeviceAddress.pack`, docs/PROTOCOL.md 2.1).
    public static let packDeviceId: UInt8 = DeviceAddress.pack
    /// Module CAN device ids as provisioned: 0x01 (module 1) ... 0x20 (module 32)
    /// (`DeviceAddress.modules`).
    public static let moduleDeviceIds: ClosedRange<UInt8> = DeviceAddress.modules

    public var pack: Device
    public var modules: [Device]

    public init(pack: Device, modules: [Device]) {
        self.pack = pack
        self.modules = modules
    }

    /// A module's device name (`module-NN`) from its CAN device id.
    public static func moduleName(deviceId: UInt8) -> String {
        DeviceAddress.moduleNumber(deviceId).map(World.moduleName) ?? String(format: "device-0x%02x", deviceId)
    }

    var provisionedDevices: [ProvisionedDevice] {
        [ProvisionedDevice(name: "pack", serial: pack.serial, type: "pack-controller", deviceId: pack.deviceId,
                           pub: pack.bindingKey)]
            + modules.map { ProvisionedDevice(name: Self.moduleName(deviceId: $0.deviceId), serial: $0.serial,
                                              type: "battery-module", deviceId: $0.deviceId, pub: $0.bindingKey) }
    }
}

/// Settings of a `TransportProvisioning`.
public struct TransportProvisioningConfiguration: Sendable {
    /// App state, sealed packages, the app's key store, registry, audit log.
    public var dataDirectory: URL
    public var bridge: BridgeClientConfiguration
    /// The bridge account (`creator`).
    public var creator = "modbatt-app"
    /// Session parameters carried in every key package.
    public var parameters: CryptoParameters
    /// The app↔pack pair adds an ephemeral key exchange to its handshakes
    /// (forward secrecy, docs/PROTOCOL.md 6.6; module pairs never do).
    public var ephemeralAppLink = false
    /// Give up delivery and pairing after this much time.
    public var timeout: Duration = .seconds(120)
    public var tamperPolicy = TamperPolicy()
    public var logger: Logger
    /// How the app's signing key is protected at rest: a passphrase, or the
    /// key file beside the store (development only; `modbatt provision`
    /// makes the caller choose).
    public var appKeySource: StorageKeySource = .keyFile

    public init(dataDirectory: URL, bridge: BridgeClientConfiguration, profile: SecureSession.Profile = .classic) {
        self.dataDirectory = dataDirectory
        self.bridge = bridge
        parameters = CryptoParameters(profile: profile)
        var l = Logger(label: "modbatt.provision")
        l.logLevel = .warning
        logger = l
    }
}

/// What the app saw of the encrypted traffic over its session with the pack.
public struct AppTrafficReport: Sendable, Equatable {
    public var seconds: Double
    /// The app-pack pair's messages as the app can tell them: `app_to_pack`
    /// sent = commands the app sealed, delivered = those the pack
    /// acknowledged; `pack_to_app` delivered = messages the app accepted,
    /// sent = what their counters say the pack sealed (`SenderSpan`).
    public var messages: MessageCounts
    public var messagesSent: Int { messages.sent }
    public var messagesDelivered: Int { messages.delivered }
    /// Frames the app sent and received on the transport during the exchange.
    public var frames: Int
    /// Rejected frames by reason.
    public var rejected: [String: Int]
    /// Nanoseconds per seal and per open (authenticate + decrypt).
    public var sealNanos: [Int]
    public var openNanos: [Int]
}

/// The app side on a transport: see the file's documentation.
public actor TransportProvisioning {
    public nonisolated let configuration: TransportProvisioningConfiguration
    public nonisolated let layout: PackLayout
    public nonisolated let auditLogURL: URL
    public nonisolated let keyStoreDirectory: URL
    public nonisolated let audit: AuditLog
    private let port: TransportFramePort
    private let clock: WallClock
    private let appSide: AppSide

    /// Boots the app's key store (its signing key on first use) and attaches
    /// to `transport`, which this object closes on `shutdown()`.
    public init(configuration: TransportProvisioningConfiguration, layout: PackLayout,
                transport: any CANTransport) async throws {
        self.configuration = configuration
        self.layout = layout
        let dir = configuration.dataDirectory
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        auditLogURL = dir.appendingPathComponent("audit.jsonl")
        keyStoreDirectory = dir.appendingPathComponent("keystores")
        audit = try AuditLog(url: auditLogURL)
        let doorbell = Doorbell()
        port = TransportFramePort(transport, doorbell: doorbell)
        clock = WallClock(doorbell: doorbell)
        appSide = try await AppSide(configuration: AppSideConfiguration(
            dataDirectory: dir, keyStoreDirectory: keyStoreDirectory, bridge: .remote(configuration.bridge),
            creator: configuration.creator, seed: 1, packageMode: .sealed, parameters: configuration.parameters,
            tamperPolicy: configuration.tamperPolicy, provisioningTimeout: configuration.timeout,
            appCrashAfterFrames: nil, packId: layout.pack.deviceId, logger: configuration.logger,
            appKeySource: configuration.appKeySource, ephemeralAppLink: configuration.ephemeralAppLink),
            audit: audit, port: port)
        await appSide.app.setHelloRetry(ms: 1000)
    }

    /// Register, create LCTs, build and deliver the key packages, pair, and
    /// collect the pack's reports. Resumable: a second run registers nothing
    /// again and sends only what the pack has not acknowledged.
    public func provision() async throws -> ProvisioningReport {
        let port = self.port
        return try await appSide.provision(devices: layout.provisionedDevices, clock: clock) {
            // Nobody else to step; a failed transport ends the wait.
            (worked: false, nextDue: nil)
        } failure: {
            port.failure.map { "the CAN transport failed: \($0)" } ?? (port.isEnded ? "the CAN transport closed" : nil)
        }
    }

    /// Send a command every `commandEveryMs` over the app's session with the
    /// pack for `seconds`, and count what comes back (the pack's telemetry).
    public func exchangeTraffic(seconds: Double, commandEveryMs: UInt32 = 100) async throws -> AppTrafficReport {
        let app = await appSide.app
        guard await app.isEstablished else { throw SimulationError.notProvisioned }
        await app.resetCounters()
        let sent0 = port.framesSent, received0 = port.framesReceived
        await app.setCommands(everyMs: commandEveryMs, now: await clock.nowMs())
        let limit = Duration.milliseconds(Int64(seconds * 1000))
        try await driveRounds(clock: clock, limit: limit, maxIdleMs: 10,
                              round: { await stepAll([app], clock: clock) }, done: { false })
        await app.setCommands(everyMs: 0, now: 0)
        // Let answers in flight land.
        try await driveRounds(clock: clock, limit: .milliseconds(200), maxIdleMs: 10,
                              round: { await stepAll([app], clock: clock) }, done: { false })
        let c = await app.counters
        return AppTrafficReport(
            seconds: seconds, messages: Self.appView(c),
            frames: port.framesSent - sent0 + port.framesReceived - received0, rejected: c.rejected,
            sealNanos: c.seal.values, openNanos: c.open.values)
    }

    /// Both directions from the app's counters: the pack's halves come from
    /// what it told the app (acknowledgements, message counters).
    static func appView(_ c: NodeCounters) -> MessageCounts {
        var m = MessageCounts()
        m.recordSent(.appToPack, count: c.messages[.appToPack].sent)
        m.recordDelivered(.appToPack, count: c.commandsAcknowledged)
        m.recordSent(.packToApp, count: c.peerSpan.sent)
        m.recordDelivered(.packToApp, count: c.messages[.packToApp].delivered)
        return m
    }

    /// Close the bridge client and the transport, flush the audit log.
    public func shutdown() async {
        await appSide.shutdown()
        await port.close()
        try? await audit.sync()
    }
}
