/// # The device side of a pack on a CAN transport
///
/// A pack controller and its battery modules, each running its firmware
/// loop (the same `PackControllerNode` / `BatteryModuleNode` as in the
/// simulation) on its own connection to a real bus (a socketcand server's
/// bus, a SocketCAN interface), with file-backed key stores and wall-clock
/// time. They wait for their key packages from the app (`modbatt provision`,
/// `TransportProvisioning`), pair, and then send telemetry and obey commands.
///
/// ```swift
/// let keys = try PackDevices.bootKeyStores(config)        // factory step: binding keys
/// let devices = try await PackDevices(configuration: config) { name in
///     try await TransportAddress("socketcand://127.0.0.1:29536/vcan0").open()
/// }
/// try await devices.run()                                 // until cancelled
/// print(await devices.status())
/// ```
import Foundation
import Logging
import Modbatt
import ModbattCAN

/// Settings of a `PackDevices`.
public struct PackDevicesConfiguration: Sendable {
    public struct Device: Sendable, Equatable {
        public var serial: String
        public var deviceId: UInt8
        public init(serial: String, deviceId: UInt8) {
            self.serial = serial
            self.deviceId = deviceId
        }
    }

    /// Key-store files (`pack.flash`, `module-NN.flash`, ...) and `audit.jsonl`.
    public var storeDirectory: URL
    public var pack: Device
    public var modules: [Device]
    public var profile: SecureSession.Profile = .classic
    /// Telemetry period once paired (modules -> pack -> app), ms; 0 = none.
    public var telemetryEveryMs: UInt32 = 100
    public var tamperPolicy = TamperPolicy()

    public init(storeDirectory: URL, pack: Device, modules: [Device]) {
        self.storeDirectory = storeDirectory
        self.pack = pack
        self.modules = modules
    }

    func storage(_ d: Device, isPack: Bool) throws -> DeviceStorage {
        // The bench has no factory step that installs the app's key: its
        // devices pin the signer of their first package (docs/PROVISIONING.md).
        try DeviceStorage(directory: storeDirectory,
                          name: isPack ? "pack" : PackLayout.moduleName(deviceId: d.deviceId),
                          serial: d.serial, deviceId: d.deviceId, role: isPack ? 0 : 1, allowFirstUsePinning: true)
    }
}

/// One device's state, for status lines.
public struct PackDeviceStatus: Sendable, Equatable {
    /// `pack`, `module-NN`.
    public var name: String
    public var serial: String
    public var deviceId: UInt8
    /// Package version of the stored record (0: not provisioned).
    public var packageVersion: UInt32
    /// Its pair (the module's with the pack; the pack's with the app) is key-confirmed.
    public var established: Bool
    /// Why the key store was refused at boot, if it was.
    public var refused: String?
    /// This device's half of the figures (`MessageCounts`): the messages it
    /// sealed, and those it accepted from its peers.
    public var messagesSent: Int
    public var messagesDelivered: Int
    public var rejected: [String: Int]
}

/// The devices of one pack on transports: see the file's documentation.
public actor PackDevices {
    public nonisolated let configuration: PackDevicesConfiguration
    private let audit: AuditLog
    private let pack: PackControllerNode
    private let modules: [BatteryModuleNode]
    private let ports: [TransportFramePort]
    private let clock: WallClock

    /// The factory step: boot every device's key store (the first boot
    /// generates its binding key) and return the binding public keys, pack first.
    public static func bootKeyStores(_ configuration: PackDevicesConfiguration) throws -> PackLayout {
        try FileManager.default.createDirectory(at: configuration.storeDirectory, withIntermediateDirectories: true)
        func key(_ d: PackDevicesConfiguration.Device, isPack: Bool) throws -> PackLayout.Device {
            let storage = try configuration.storage(d, isPack: isPack)
            _ = storage.boot()
            guard let pub = storage.binding?.publicKey else {
                throw SimulationError.invalidConfiguration(
                    "the key store of \(isPack ? "the pack" : d.serial) is unusable: \(storage.refused.map { "\($0)" } ?? "?")")
            }
            return PackLayout.Device(serial: d.serial, deviceId: d.deviceId, bindingKey: pub)
        }
        return PackLayout(pack: try key(configuration.pack, isPack: true),
                          modules: try configuration.modules.map { try key($0, isPack: false) })
    }

    /// Boot the devices, each on its own transport from `connect(deviceName)`.
    public init(configuration: PackDevicesConfiguration,
                connect: (String) async throws -> any CANTransport) async throws {
        self.configuration = configuration
        try FileManager.default.createDirectory(at: configuration.storeDirectory, withIntermediateDirectories: true)
        audit = try AuditLog(url: configuration.storeDirectory.appendingPathComponent("audit.jsonl"))
        let doorbell = Doorbell()
        clock = WallClock(doorbell: doorbell)
        // One connection per device, as separate boards would have.
        let names = ["pack"] + configuration.modules.map { PackLayout.moduleName(deviceId: $0.deviceId) }
        var ports: [TransportFramePort] = []
        do {
            for name in names { ports.append(TransportFramePort(try await connect(name), doorbell: doorbell)) }
            pack = PackControllerNode(storage: try configuration.storage(configuration.pack, isPack: true),
                                      node: ports[0], audit: audit, policy: configuration.tamperPolicy,
                                      allowBootstrap: false)
            var mods: [BatteryModuleNode] = []
            for (i, d) in configuration.modules.enumerated() {
                mods.append(BatteryModuleNode(storage: try configuration.storage(d, isPack: false), node: ports[i + 1],
                                              audit: audit, policy: configuration.tamperPolicy,
                                              profile: configuration.profile, allowBootstrap: false, silent: false))
            }
            modules = mods
        } catch {
            for p in ports { await p.close() }
            throw error
        }
        self.ports = ports
        await pack.powerOn()
        for m in modules { await m.powerOn() }
    }

    /// Run every device's firmware loop until the task is cancelled (returns
    /// normally) or a transport fails (throws `SimulationError.transport`).
    public func run() async throws {
        let nodes: [any FirmwareNode] = [pack] + modules
        let ports = self.ports
        let clock = self.clock
        let now = await clock.nowMs()
        await pack.rehandshakeModules(now: now)
        let every = configuration.telemetryEveryMs
        await pack.setTraffic(telemetryEveryMs: every, commandEveryMs: every == 0 ? 0 : every * 5, now: now)
        for m in modules { await m.setTelemetry(everyMs: every, now: now) }
        do {
            try await driveRounds(clock: clock, limit: .seconds(Int64(Int32.max)), maxIdleMs: 50,
                                  round: { await stepAll(nodes, clock: clock) }) {
                if let failed = ports.first(where: { $0.isEnded }) {
                    throw SimulationError.transport("\(failed.name): "
                        + (failed.failure.map { "\($0)" } ?? "the connection closed"))
                }
                return false
            }
        } catch is CancellationError {
            return
        }
    }

    /// Every device's state, pack first.
    public func status() async -> [PackDeviceStatus] {
        let p = await pack.counters
        var out = [PackDeviceStatus(
            name: "pack", serial: configuration.pack.serial, deviceId: configuration.pack.deviceId,
            packageVersion: pack.storage.record?.packageVersion ?? 0, established: await pack.appSessionEstablished,
            refused: await pack.bootRefusal, messagesSent: p.messages.sent, messagesDelivered: p.messages.delivered, rejected: p.rejected)]
        for (m, d) in zip(modules, configuration.modules) {
            let c = await m.counters
            out.append(PackDeviceStatus(
                name: m.storage.name, serial: d.serial, deviceId: d.deviceId,
                packageVersion: m.storage.record?.packageVersion ?? 0, established: await m.isEstablished,
                refused: await m.bootRefusal, messagesSent: c.messages.sent, messagesDelivered: c.messages.delivered, rejected: c.rejected))
        }
        return out
    }

    /// Close the transports and flush the audit log.
    public func shutdown() async {
        for p in ports { await p.close() }
        try? await audit.sync()
    }
}
