/// # Entry point: `PackSimulation`
///
/// A whole battery pack in one process: the app (this host), the API-Bridge
/// (embedded over loopback HTTP, or a remote one), a virtual CAN bus, one
/// pack controller and 1...32 battery modules, each device running the
/// firmware logic of the C core (key packages, key store, transfer,
/// sessions) as a Swift actor on its own bus node (docs/PROVISIONING_FLOW.md).
///
/// ```swift
/// var config = SimulationConfiguration(dataDirectory: URL(filePath: "/tmp/pack"))
/// config.moduleCount = 32
/// let sim = try await PackSimulation(config)
/// let provisioning = try await sim.provision()      // registers, creates LCTs, delivers, pairs
/// print(provisioning.summary)                        // per pair: established or failed + reason
/// let traffic = try await sim.runTraffic(seconds: 2) // telemetry and commands over every pair
/// let attacks = try await sim.runAttacks()           // replay, tamper, forge: all rejected and logged
/// print(sim.auditLogURL.path, sim.keyStoreDirectory.path)
/// await sim.shutdown()
/// ```
///
/// - `provision()` is idempotent and resumable: run it again after an
///   interruption (or after `restartApp()`) and it continues where it
///   stopped without registering anything twice.
/// - Time is the virtual bus clock: the simulation runs as fast as the CPU
///   allows; reports give both bus time and wall time.
/// - Files under `dataDirectory`: `audit.jsonl` (hash-chained audit log),
///   `keystores/<device>.flash|.hwkey|.otp` (per-device key stores, see
///   `DeviceKeyStore`), `app/` (the app's signing key, sealed packages,
///   state), `registry.sqlite` (what this host registered), `bridge.sqlite`
///   (the embedded bridge's database).
/// - Devices are named `app`, `pack`, `module-01` ... `module-32`; the pack
///   controller has CAN device id 0x40, module n has n (`DeviceAddress`,
///   docs/PROTOCOL.md 2.1).
import Foundation
import Logging
import Modbatt
import ModbattBridge
import ModbattCAN

/// Settings of a `PackSimulation`.
public struct SimulationConfiguration: Sendable {
    /// Battery modules, 1...32.
    public var moduleCount: Int = 32
    /// Session profile: classic CAN (8-byte frames) or CAN FD.
    public var profile: SecureSession.Profile = .classic
    /// Nominal and (CAN FD) data bit rates of the bus, bit/s.
    public var bitrate: Int = 500_000
    public var dataBitrate: Int = 2_000_000
    /// Key stores, audit log, app state and registry live here.
    public var dataDirectory: URL
    /// The API-Bridge to use.
    public var bridge: BridgeEndpoint = .embedded()
    /// Seed of the bus fault injection (and of the bridge's fault injection).
    public var seed: UInt64 = 1
    /// Faults to inject.
    public var faults: SimulationFaults = SimulationFaults()
    /// Sealed packages (default) or the clear factory-bootstrap transfer.
    public var packageMode: PackageMode = .sealed
    /// Session parameters carried in every key package.
    public var parameters: CryptoParameters
    /// The app↔pack pair adds an ephemeral key exchange to its handshakes
    /// (forward secrecy, docs/PROTOCOL.md 6.6; module pairs never do).
    public var ephemeralAppLink = false
    /// What tamper detection does.
    public var tamperPolicy: TamperPolicy = TamperPolicy()
    /// The bridge account (`creator`).
    public var creator: String = "modbatt-app"
    /// Give up provisioning after this much bus time.
    public var provisioningTimeout: Duration = .seconds(300)
    /// Logger for progress (warnings only by default).
    public var logger: Logger

    public init(dataDirectory: URL, moduleCount: Int = 32, profile: SecureSession.Profile = .classic) {
        self.dataDirectory = dataDirectory
        self.moduleCount = moduleCount
        self.profile = profile
        self.parameters = CryptoParameters(profile: profile)
        var l = Logger(label: "modbatt.simulation")
        l.logLevel = .warning
        self.logger = l
    }
}

/// Where the API-Bridge is.
public enum BridgeEndpoint: Sendable {
    /// Start an `EmbeddedBridge` on 127.0.0.1 (ephemeral port), its database
    /// in the data directory, with this bearer token.
    case embedded(token: String = "modbatt-sim-token")
    /// A running bridge.
    case remote(BridgeClientConfiguration)
}

/// How key packages travel.
public enum PackageMode: String, Sendable, Codable {
    /// Encrypted to each device's binding key (default).
    case sealed
    /// Clear body with a check value: only for a physically secured factory
    /// line. Every use is logged as a warning and in the audit log, and the
    /// devices' records keep the "bootstrapped" flag.
    case factoryBootstrap
}

/// Faults injected by the simulation.
public struct SimulationFaults: Sendable {
    /// Probability that a transfer frame (key packages, reports, their
    /// ACKs) is dropped on the bus.
    public var deliveryDropRate: Double = 0
    /// Probability that a transfer frame has a bit flipped.
    public var deliveryCorruptRate: Double = 0
    /// Share of API-Bridge calls answered 500 (the embedded bridge only).
    public var bridgeFailRate: Double = 0
    /// Modules (1-based numbers) that never answer on the bus.
    public var silentModules: Set<Int> = []
    /// Modules (1-based numbers) that no COMMAND from the pack reaches: an
    /// attacker suppresses each one (as by breaking its reassembly with an
    /// injected first chunk). The pack must report them unacknowledged.
    /// Not combined with the delivery faults (one fault plan per bus).
    public var suppressedCommandsTo: Set<Int> = []
    /// Stop the app (as a crash) once it has sent this many transfer
    /// frames: `provision()` throws `SimulationError.appCrashed`; call
    /// `restartApp()` and `provision()` again.
    public var appCrashAfterFrames: Int? = nil

    public init(deliveryDropRate: Double = 0, deliveryCorruptRate: Double = 0, bridgeFailRate: Double = 0,
                silentModules: Set<Int> = [], appCrashAfterFrames: Int? = nil) {
        self.deliveryDropRate = deliveryDropRate
        self.deliveryCorruptRate = deliveryCorruptRate
        self.bridgeFailRate = bridgeFailRate
        self.silentModules = silentModules
        self.appCrashAfterFrames = appCrashAfterFrames
    }
}

/// Tamper detection (docs/PROVISIONING_FLOW.md 5): alerts, and when a pair
/// is put in quarantine.
public struct TamperPolicy: Sendable {
    /// Authentication failures on one pair within `window` that raise an
    /// alert (never a quarantine: a node without keys can cause them).
    public var authFailureThreshold: Int = 20
    /// Alerts of one kind come at most once per window; counts expire with it.
    public var window: Duration = .seconds(10)
    /// Quarantine the pair (drop its session, refuse its frames) until it is
    /// re-provisioned, on authenticated evidence only (a cloned key). When
    /// false, only alert.
    public var quarantine: Bool = true

    public init(authFailureThreshold: Int = 20, window: Duration = .seconds(10), quarantine: Bool = true) {
        self.authFailureThreshold = authFailureThreshold
        self.window = window
        self.quarantine = quarantine
    }
}

/// Failures of the simulation itself (device-level failures are reported
/// per pair in `ProvisioningReport`, not thrown).
public enum SimulationError: Error, Sendable, Equatable, CustomStringConvertible {
    case invalidConfiguration(String)
    /// The simulated app crash of `SimulationFaults.appCrashAfterFrames`.
    case appCrashed(afterFrames: Int)
    /// `runTraffic`/`runAttacks` before a successful `provision()`.
    case notProvisioned
    /// The bridge or the host's registry failed; the text says how.
    case bridge(String)
    case unknownDevice(String)
    /// The CAN transport failed or closed during the run.
    case transport(String)

    public var description: String {
        switch self {
        case .invalidConfiguration(let why): return "invalid configuration: \(why)"
        case .appCrashed(let n): return "the app stopped (simulated crash) after \(n) transfer frames"
        case .notProvisioned: return "the pack is not provisioned: run provision() first"
        case .bridge(let why): return "API-Bridge: \(why)"
        case .unknownDevice(let name): return "no device named '\(name)'"
        case .transport(let why): return why
        }
    }
}

/// The simulated pack: see the file's documentation.
public actor PackSimulation {
    public nonisolated let configuration: SimulationConfiguration
    /// The hash-chained audit log (`AuditLog.verify(url:)`).
    public nonisolated let auditLogURL: URL
    /// Directory of the devices' key-store files.
    public nonisolated let keyStoreDirectory: URL
    /// The audit log, for callers that want to record or read it.
    public nonisolated let audit: AuditLog
    /// The virtual bus (for statistics, candump export, extra nodes).
    public nonisolated let bus: VirtualBus

    let world: World

    /// Set up the bus and boot every device (first boot generates each
    /// device's binding key and writes its key store).
    public init(_ configuration: SimulationConfiguration) async throws {
        guard (1...32).contains(configuration.moduleCount) else {
            throw SimulationError.invalidConfiguration("module count must be 1...32, got \(configuration.moduleCount)")
        }
        self.configuration = configuration
        let dir = configuration.dataDirectory
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        auditLogURL = dir.appendingPathComponent("audit.jsonl")
        keyStoreDirectory = dir.appendingPathComponent("keystores")
        let log = try AuditLog(url: dir.appendingPathComponent("audit.jsonl"))
        let w = try await World(configuration: configuration, audit: log,
                                keyStoreDirectory: dir.appendingPathComponent("keystores"))
        audit = log
        world = w
        bus = w.bus
    }

    /// Device names: `app`, `pack`, `module-01` ...
    public nonisolated var deviceNames: [String] {
        ["app", "pack"] + (1...configuration.moduleCount).map(World.moduleName)
    }

    /// The key-store file of a device.
    public nonisolated func keyStorePath(device: String) -> URL {
        keyStoreDirectory.appendingPathComponent("\(device).flash")
    }

    /// Every device's key-store file, by device name.
    public nonisolated var keyStorePaths: [String: URL] {
        Dictionary(uniqueKeysWithValues: deviceNames.map { ($0, keyStorePath(device: $0)) })
    }

    /// Steps 1-5 of the flow: register, create LCTs, build and deliver key
    /// packages, pair every device, collect the pack's reports. Resumable.
    public func provision() async throws -> ProvisioningReport {
        try await world.provision()
    }

    /// Run telemetry (modules -> pack -> app) and commands (app -> pack ->
    /// modules) over the established pairs for `seconds` of bus time.
    public func runTraffic(seconds: Double) async throws -> TrafficReport {
        try await world.runTraffic(seconds: seconds)
    }

    /// Replay, tamper with and forge frames from an attacker node; every
    /// attempt must be rejected and logged.
    public func runAttacks() async throws -> AttackReport {
        try await world.runAttacks()
    }

    /// Simulate an app restart: the app's in-memory state is dropped and
    /// rebuilt from its files (signing key, sealed packages, delivery
    /// progress, registry). Devices keep running.
    public func restartApp() async throws {
        try await world.restartApp()
    }

    /// Rotate every pair's session keys now (the app commands the pack, the
    /// pack its modules). Returns the rotation events observed.
    @discardableResult
    public func rotateSessionKeys() async throws -> Int {
        try await world.rotateSessionKeys()
    }

    /// Update the crypto parameters over CAN: a new key package version (new
    /// LCTs, halves and salts, these parameters) for every device, applied
    /// atomically by each device's key store.
    public func updateParameters(_ parameters: CryptoParameters) async throws -> ProvisioningReport {
        try await world.renew(parameters: parameters, reason: "crypto parameters updated")
    }

    /// Revoke the pair of module `number` (1-based): its LCT is revoked on
    /// the bridge and the pack gets a package without it, so the module's
    /// old keys are refused.
    public func revokeModule(_ number: Int) async throws -> ProvisioningReport {
        try await world.renew(revoking: [number], reason: "pair of \(World.moduleName(number)) revoked")
    }

    /// Re-pair a replaced module: a new board (new serial and binding key)
    /// in slot `number` is registered and the pack re-provisioned.
    public func replaceModule(_ number: Int) async throws -> ProvisioningReport {
        try await world.replaceModule(number)
    }

    /// Key loss and recovery: `device`'s keys are gone (its flash is erased
    /// when `wipe` is true, as for a wiped or replaced board); the app
    /// re-provisions it without registering the rest of the pack again.
    public func recoverDevice(_ device: String, wipe: Bool = true) async throws -> ProvisioningReport {
        try await world.recover(device: device, wipe: wipe)
    }

    /// Power-cycle a device (`pack`, `module-NN`): it boots from its key
    /// store. Returns the reason the store was refused, nil when it booted.
    public func rebootDevice(_ device: String) async throws -> String? {
        try await world.reboot(device: device)
    }

    /// Every frame on the bus so far, in bus order, as a passive listener
    /// recorded it (for a candump log: `modbatt demo --candump`).
    public func recordedFrames() async -> [TimestampedFrame] {
        await world.sniffer.recorded()
    }

    /// Stop the embedded bridge and close the client. Idempotent.
    public func shutdown() async {
        await world.shutdown()
    }
}
