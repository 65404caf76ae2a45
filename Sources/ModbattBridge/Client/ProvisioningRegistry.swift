import Foundation
import GRDB
import Modbatt

/// What this host registered and created on which bridge, in a small SQLite
/// file (default `registry.sqlite` in the per-user data folder). It makes
/// provisioning idempotent: a re-run finds its earlier work here instead of
/// registering a device twice or creating a second LCT for a pair. It holds
/// ids and non-secret fingerprints only, never key halves.
public final class ProvisioningRegistry: Sendable {
    private let db: DatabaseQueue
    public let path: String?

    /// `path == nil`: in memory (tests).
    public init(path: String?) throws {
        var config = Configuration()
        config.label = "modbatt-registry"
        config.busyMode = .timeout(5)
        do {
            db = try path.map { try DatabaseQueue(path: $0, configuration: config) } ?? DatabaseQueue(configuration: config)
            try Self.migrator.migrate(db)
        } catch {
            throw BridgeError(kind: .registry, endpoint: "", message: "cannot open the provisioning registry \(path ?? ":memory:"): \(error)")
        }
        self.path = path
    }

    /// The registry in the per-user data folder.
    public static func openDefault() throws -> ProvisioningRegistry {
        try ProvisioningRegistry(path: DataDirectory.file("registry.sqlite"))
    }

    private static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE host (
                    id INTEGER PRIMARY KEY CHECK (id = 1),
                    host_id TEXT NOT NULL,
                    machine_fingerprint TEXT,
                    created_at INTEGER NOT NULL
                );
                CREATE TABLE components (
                    bridge TEXT NOT NULL,
                    hardware_serial TEXT NOT NULL,
                    component_id TEXT NOT NULL,
                    component_identity TEXT NOT NULL,
                    lct_id TEXT,
                    component_data TEXT NOT NULL,
                    context TEXT NOT NULL,
                    registered_at INTEGER NOT NULL,
                    PRIMARY KEY (bridge, hardware_serial)
                );
                CREATE TABLE lcts (
                    bridge TEXT NOT NULL,
                    pair_key TEXT NOT NULL,
                    lct_id TEXT NOT NULL,
                    component_a TEXT NOT NULL,
                    component_b TEXT NOT NULL,
                    device_key_fingerprint TEXT NOT NULL,
                    lct_key_fingerprint TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    PRIMARY KEY (bridge, pair_key)
                );
                """)
        }
        return m
    }

    // MARK: Host ID

    /// This host's stable identity: created on first use, then read back
    /// unchanged forever. See `HostIdentity`.
    public func hostIdentity(machineId: String? = HostIdentity.readMachineId()) throws -> HostIdentity {
        let fingerprint = machineId.map(HostIdentity.fingerprint)
        return try wrap {
            try db.write { db in
                if let row = try Row.fetchOne(db, sql: "SELECT * FROM host WHERE id = 1") {
                    let stored: String? = row["machine_fingerprint"]
                    return HostIdentity(hostId: row["host_id"], createdAt: row["created_at"], machineFingerprint: stored,
                                        machineMatches: stored.flatMap { s in fingerprint.map { $0 == s } })
                }
                // OR IGNORE: if another process created it meanwhile, its id wins.
                try db.execute(sql: "INSERT OR IGNORE INTO host (id, host_id, machine_fingerprint, created_at) VALUES (1, ?, ?, ?)",
                               arguments: [HostIdentity.generate(), fingerprint, Int64(Date().timeIntervalSince1970)])
                let row = try Row.fetchOne(db, sql: "SELECT * FROM host WHERE id = 1")!
                let stored: String? = row["machine_fingerprint"]
                return HostIdentity(hostId: row["host_id"], createdAt: row["created_at"], machineFingerprint: stored,
                                    machineMatches: stored.flatMap { s in fingerprint.map { $0 == s } })
            }
        }
    }

    // MARK: Components

    public func component(bridge: String, hardwareSerial: String) throws -> RegisteredComponent? {
        try wrap {
            try db.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM components WHERE bridge = ? AND hardware_serial = ?",
                                 arguments: [bridge, hardwareSerial]).map(Self.component)
            }
        }
    }

    func record(_ c: RegisteredComponent) throws {
        try wrap {
            try db.write { db in
                try db.execute(sql: """
                    INSERT OR REPLACE INTO components (bridge, hardware_serial, component_id, component_identity, lct_id,
                                                       component_data, context, registered_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [c.bridge, c.hardwareSerial, c.componentId, c.componentIdentity, c.lctId,
                                     c.componentData, c.context, c.registeredAt])
            }
        }
    }

    public func components(bridge: String) throws -> [RegisteredComponent] {
        try wrap {
            try db.read { db in
                try Row.fetchAll(db, sql: "SELECT * FROM components WHERE bridge = ? ORDER BY registered_at, hardware_serial",
                                 arguments: [bridge]).map(Self.component)
            }
        }
    }

    private static func component(_ row: Row) -> RegisteredComponent {
        RegisteredComponent(bridge: row["bridge"], hardwareSerial: row["hardware_serial"], componentId: row["component_id"],
                            componentIdentity: row["component_identity"], lctId: row["lct_id"],
                            componentData: row["component_data"], context: row["context"],
                            registeredAt: row["registered_at"])
    }

    // MARK: LCTs

    public func lct(bridge: String, componentA: String, componentB: String) throws -> ProvisionedLCTRecord? {
        try wrap {
            try db.read { db in
                try Row.fetchOne(db, sql: "SELECT * FROM lcts WHERE bridge = ? AND pair_key = ?",
                                 arguments: [bridge, Self.pairKey(componentA, componentB)]).map(Self.lct)
            }
        }
    }

    func record(_ l: ProvisionedLCTRecord) throws {
        try wrap {
            try db.write { db in
                try db.execute(sql: """
                    INSERT OR REPLACE INTO lcts (bridge, pair_key, lct_id, component_a, component_b, device_key_fingerprint,
                                                 lct_key_fingerprint, created_at)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?)
                    """, arguments: [l.bridge, Self.pairKey(l.componentA, l.componentB), l.lctId, l.componentA,
                                     l.componentB, l.deviceKeyFingerprint, l.lctKeyFingerprint, l.createdAt])
            }
        }
    }

    /// Forget a pair's LCT (after it was revoked on the bridge).
    public func forgetLCT(bridge: String, componentA: String, componentB: String) throws {
        try wrap {
            try db.write { db in
                try db.execute(sql: "DELETE FROM lcts WHERE bridge = ? AND pair_key = ?",
                               arguments: [bridge, Self.pairKey(componentA, componentB)])
            }
        }
    }

    private static func lct(_ row: Row) -> ProvisionedLCTRecord {
        ProvisionedLCTRecord(bridge: row["bridge"], lctId: row["lct_id"], componentA: row["component_a"],
                             componentB: row["component_b"], deviceKeyFingerprint: row["device_key_fingerprint"],
                             lctKeyFingerprint: row["lct_key_fingerprint"], createdAt: row["created_at"])
    }

    static func pairKey(_ a: String, _ b: String) -> String { a < b ? "\(a)|\(b)" : "\(b)|\(a)" }

    private func wrap<T>(_ body: () throws -> T) throws -> T {
        do { return try body() } catch let error as BridgeError { throw error } catch {
            throw BridgeError(kind: .registry, endpoint: "", message: "provisioning registry: \(error)")
        }
    }
}

/// A component this host registered (a row of the registry).
public struct RegisteredComponent: Sendable, Equatable {
    public var bridge: String
    public var hardwareSerial: String
    public var componentId: String
    public var componentIdentity: String
    public var lctId: String?
    public var componentData: String
    public var context: String
    public var registeredAt: Int64
}

/// An LCT this host created: ids and the halves' fingerprints, no key bytes.
public struct ProvisionedLCTRecord: Sendable, Equatable {
    public var bridge: String
    public var lctId: String
    public var componentA: String
    public var componentB: String
    public var deviceKeyFingerprint: String
    public var lctKeyFingerprint: String
    public var createdAt: Int64
}

/// The Host ID of this app instance (the seed's open decision).
///
/// Decision: a random UUID (122 random bits from the system CSPRNG), made on
/// first use, stored in the provisioning registry and never recomputed. It is
/// not derived from a MAC address, CPU id or hostname, which change with
/// hardware swaps, VMs and containers. It is *bound* to the machine only
/// loosely: the registry also keeps a fingerprint (HMAC, not the id itself)
/// of `/etc/machine-id`; if the registry is copied to another machine,
/// `machineMatches` is false so the app can warn, but the Host ID stays the
/// same (changing it silently would orphan everything registered under it).
public struct HostIdentity: Sendable, Equatable {
    /// `host-` + lower-case UUID, e.g. `host-3b9f0c1e-...`.
    public let hostId: String
    public let createdAt: Int64
    public let machineFingerprint: String?
    /// nil when the machine id is unknown now or was unknown at creation.
    public let machineMatches: Bool?

    static func generate() -> String { "host-" + UUID().uuidString.lowercased() }

    /// `/etc/machine-id` (or the D-Bus copy), trimmed; nil if absent.
    public static func readMachineId() -> String? {
        for path in ["/etc/machine-id", "/var/lib/dbus/machine-id"] {
            if let data = FileManager.default.contents(atPath: path) {
                let text = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
                if !text.isEmpty { return text }
            }
        }
        return nil
    }

    static func fingerprint(_ machineId: String) -> String {
        SecretBytes(copying: Array(machineId.utf8)).fingerprint
    }
}
