import Foundation

/// Outcome of `PackSimulation.provision()`.
public struct ProvisioningReport: Sendable, Codable, Equatable {
    /// One device pair: `app-pack` or `pack-module-NN`.
    public struct Pair: Sendable, Codable, Equatable {
        public var name: String
        /// CAN device id the pair's frames carry (the pack's or the module's).
        public var deviceId: UInt8
        public var lctId: String?
        /// Public pair key id (4 bytes, hex) the device derived; nil if none.
        public var keyId: String?
        /// Handshake done with key confirmation on both ends.
        public var established: Bool
        /// Why not, when not established.
        public var failure: String?
        /// Bus time from the start of delivery until the pair was confirmed, ms.
        public var establishedAtMs: Double?
        /// This device's package was delivered by an earlier run (a resumed
        /// or repeated `provision`): it was provisioned already.
        public var deliveredEarlier = false
    }

    public var pairs: [Pair]
    /// Components this run registered / found registered by an earlier run.
    public var componentsRegistered: Int
    public var componentsReused: Int
    /// LCTs this run created / found from an earlier run.
    public var lctsCreated: Int
    public var lctsReused: Int
    /// Package bytes per device.
    public var packageBytes: [String: Int]
    public var packageVersion: UInt32
    public var packageMode: PackageMode
    /// Transfer frames the app and the pack sent, and how many were retries.
    public var transferFrames: Int
    public var transferRetries: Int
    /// Sealed reports the app received from the pack and verified.
    public var reportsVerified: Int
    /// Bus time of delivery and pairing; wall time of the bridge part and of the whole call.
    public var busSeconds: Double
    public var bridgeWallSeconds: Double
    public var wallSeconds: Double

    public var allEstablished: Bool { pairs.allSatisfy(\.established) }
    public var failed: [Pair] { pairs.filter { !$0.established } }

    /// One line per failed pair, plus a total.
    public var summary: String {
        var lines = ["\(pairs.filter(\.established).count)/\(pairs.count) pairs established"
            + " (package v\(packageVersion), \(packageMode.rawValue), bus \(String(format: "%.2f", busSeconds)) s,"
            + " wall \(String(format: "%.2f", wallSeconds)) s)"]
        for p in failed { lines.append("  \(p.name): FAILED: \(p.failure ?? "unknown")") }
        return lines.joined(separator: "\n")
    }
}

/// Outcome of `PackSimulation.runTraffic(seconds:)`.
public struct TrafficReport: Sendable, Codable, Equatable {
    public var busSeconds: Double
    public var wallSeconds: Double
    /// Every node's half added up: each direction's sent by its senders,
    /// delivered by its receivers (`MessageCounts`).
    public var messages: MessageCounts
    public var messagesSent: Int { messages.sent }
    public var messagesDelivered: Int { messages.delivered }
    /// Frames on the bus during the run, and the bus load (0...1).
    public var frames: Int
    public var busLoad: Double
    /// Rejected frames by reason (`ModbattError` description).
    public var rejected: [String: Int]
    /// Wall time of sealing one message (mb_session_send) and of the receive
    /// call that authenticated and decrypted one, nanoseconds.
    public var sealNanosP50: Int
    public var sealNanosP99: Int
    public var openNanosP50: Int
    public var openNanosP99: Int
    /// Session key rotations observed (scheduled or on command).
    public var rotations: Int
}

/// Outcome of `PackSimulation.runAttacks()`.
public struct AttackReport: Sendable, Codable, Equatable {
    public struct Attack: Sendable, Codable, Equatable {
        /// `replay`, `tamper`, `forge`, `package-replay`.
        public var name: String
        public var framesSent: Int
        /// Messages the victims accepted from the attacker (must be 0).
        public var accepted: Int
        /// Rejections the victims logged, by reason.
        public var rejected: [String: Int]
        /// Audit-log lines recorded for this attack.
        public var auditLines: Int
    }

    public var attacks: [Attack]
    /// True when no attack got a message accepted and every attack was logged.
    public var allRejected: Bool { attacks.allSatisfy { $0.accepted == 0 && $0.auditLines > 0 } }
}
