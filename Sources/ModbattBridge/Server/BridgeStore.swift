import Foundation
import GRDB
import Modbatt

/// The embedded bridge's SQLite database: components, LCTs and pairing
/// challenges. Key halves are never stored; an LCT row keeps only the
/// non-secret fingerprints of its two halves (`KeyHalf.fingerprint`).
final class BridgeStore: Sendable {
    private let db: DatabaseQueue
    /// Pending challenges expire after this many seconds.
    let challengeLifetime: Int64
    /// At most one LCT per pair that is not revoked (409 `LCT_EXISTS`); false
    /// behaves like a chain that accepts another (tests of orphan recovery).
    let oneLCTPerPair: Bool

    /// `path == nil`: an in-memory database (gone when the bridge stops).
    init(path: String?, challengeLifetime: Int64 = 300, oneLCTPerPair: Bool = true) throws {
        var config = Configuration()
        config.label = "modbatt-bridge"
        config.busyMode = .timeout(5)
        if let path {
            db = try DatabaseQueue(path: path, configuration: config)
        } else {
            db = try DatabaseQueue(configuration: config)
        }
        self.challengeLifetime = challengeLifetime
        self.oneLCTPerPair = oneLCTPerPair
        try Self.migrator.migrate(db)
    }

    func close() {
        try? db.close()
    }

    private static var migrator: DatabaseMigrator {
        var m = DatabaseMigrator()
        m.registerMigration("v1") { db in
            try db.execute(sql: """
                CREATE TABLE components (
                    component_id TEXT PRIMARY KEY,
                    component_identity TEXT NOT NULL,
                    component_data TEXT NOT NULL,
                    context TEXT NOT NULL,
                    creator TEXT NOT NULL,
                    lct_id TEXT NOT NULL,
                    status TEXT NOT NULL,
                    txhash TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    UNIQUE (creator, component_data)
                );
                CREATE TABLE lcts (
                    lct_id TEXT PRIMARY KEY,
                    component_a TEXT NOT NULL,
                    component_b TEXT NOT NULL,
                    pair_key TEXT NOT NULL,
                    context TEXT NOT NULL,
                    proxy_id TEXT,
                    status TEXT NOT NULL,
                    creator TEXT NOT NULL,
                    txhash TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    updated_at INTEGER,
                    device_key_fingerprint TEXT NOT NULL,
                    lct_key_fingerprint TEXT NOT NULL
                );
                CREATE INDEX lcts_pair ON lcts (pair_key, status);
                CREATE TABLE pairings (
                    challenge_id TEXT PRIMARY KEY,
                    component_a TEXT NOT NULL,
                    component_b TEXT NOT NULL,
                    pair_key TEXT NOT NULL,
                    operational_context TEXT NOT NULL,
                    proxy_id TEXT,
                    force_immediate INTEGER NOT NULL,
                    status TEXT NOT NULL,
                    creator TEXT NOT NULL,
                    txhash TEXT NOT NULL,
                    created_at INTEGER NOT NULL,
                    expires_at INTEGER NOT NULL,
                    lct_id TEXT,
                    session_context TEXT,
                    completed_at INTEGER,
                    revoked_at INTEGER,
                    reason TEXT
                );
                CREATE INDEX pairings_pair ON pairings (pair_key, status);
                """)
        }
        return m
    }

    static func now() -> Int64 { Int64(Date().timeIntervalSince1970) }

    /// Order-independent name of a pair.
    static func pairKey(_ a: String, _ b: String) -> String { a < b ? "\(a)|\(b)" : "\(b)|\(a)" }

    // MARK: Components

    func registerComponent(_ r: RegisterComponentRequest) async throws -> Component {
        let id = Identifiers.make("comp_")
        let identity = Identifiers.make("identity_")
        let tx = Identifiers.txHash()
        let now = Self.now()
        return try await db.write { db in
            if let existing = try String.fetchOne(
                db, sql: "SELECT component_id FROM components WHERE creator = ? AND component_data = ?",
                arguments: [r.creator, r.componentData]) {
                throw APIError(.conflict, "COMPONENT_EXISTS", "a component with this component_data is already registered",
                               details: "component_id \(existing)", existingId: existing)
            }
            try db.execute(sql: """
                INSERT INTO components (component_id, component_identity, component_data, context, creator, lct_id,
                                        status, txhash, created_at)
                VALUES (?, ?, ?, ?, ?, ?, 'registered', ?, ?)
                """, arguments: [id, identity, r.componentData, r.context, r.creator, "lct_" + id, tx, now])
            return Component(componentId: id, componentIdentity: identity, lctId: "lct_" + id, status: "registered",
                             txhash: tx, componentData: r.componentData, context: r.context, creator: r.creator,
                             createdAt: now)
        }
    }

    func component(_ id: String) async throws -> Component {
        try await db.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM components WHERE component_id = ?", arguments: [id])
            else { throw APIError.componentNotFound(id) }
            return Self.component(row)
        }
    }

    func componentCount() async throws -> Int {
        try await db.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM components") ?? 0 }
    }

    func lctCount() async throws -> Int {
        try await db.read { db in try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM lcts") ?? 0 }
    }

    private static func component(_ row: Row) -> Component {
        Component(componentId: row["component_id"], componentIdentity: row["component_identity"], lctId: row["lct_id"],
                  status: row["status"], txhash: row["txhash"], componentData: row["component_data"],
                  context: row["context"], creator: row["creator"], createdAt: row["created_at"])
    }

    private static func requireComponents(_ db: Database, _ ids: String...) throws {
        for id in ids {
            let count = try Int.fetchOne(db, sql: "SELECT COUNT(*) FROM components WHERE component_id = ?", arguments: [id])
            if (count ?? 0) == 0 { throw APIError.componentNotFound(id) }
        }
    }

    // MARK: LCTs

    /// Insert an LCT whose halves have the given fingerprints. At most one
    /// LCT per pair that is not `revoked` (409 `LCT_EXISTS` otherwise).
    func createLCT(_ r: CreateLCTRequest, deviceKeyFingerprint: String, lctKeyFingerprint: String) async throws -> LCT {
        let id = Identifiers.make("lct_")
        let tx = Identifiers.txHash()
        let now = Self.now()
        let pair = Self.pairKey(r.componentA, r.componentB)
        return try await db.write { db in
            try Self.requireComponents(db, r.componentA, r.componentB)
            if oneLCTPerPair, let existing = try String.fetchOne(
                db, sql: "SELECT lct_id FROM lcts WHERE pair_key = ? AND status != 'revoked'", arguments: [pair]) {
                throw APIError(.conflict, "LCT_EXISTS", "an LCT for this component pair already exists",
                               details: "lct_id \(existing)", existingId: existing)
            }
            try db.execute(sql: """
                INSERT INTO lcts (lct_id, component_a, component_b, pair_key, context, proxy_id, status, creator, txhash,
                                  created_at, device_key_fingerprint, lct_key_fingerprint)
                VALUES (?, ?, ?, ?, ?, ?, 'active', ?, ?, ?, ?, ?)
                """, arguments: [id, r.componentA, r.componentB, pair, r.context, r.proxyId, r.creator, tx, now,
                                 deviceKeyFingerprint, lctKeyFingerprint])
            return LCT(lctId: id, componentA: r.componentA, componentB: r.componentB, context: r.context,
                       proxyId: r.proxyId, status: "active", createdAt: now, creator: r.creator, txhash: tx)
        }
    }

    func lct(_ id: String) async throws -> LCT {
        try await db.read { db in
            guard let row = try Row.fetchOne(db, sql: "SELECT * FROM lcts WHERE lct_id = ?", arguments: [id])
            else { throw APIError.lctNotFound(id) }
            return Self.lct(row)
        }
    }

    /// Every LCT the component is part of, either side, oldest first
    /// (the chain's "component relationships" query).
    func relationships(of componentId: String) async throws -> [LCT] {
        try await db.read { db in
            try Self.requireComponents(db, componentId)
            return try Row.fetchAll(db, sql: """
                SELECT * FROM lcts WHERE component_a = ? OR component_b = ? ORDER BY created_at, rowid
                """, arguments: [componentId, componentId]).map(Self.lct)
        }
    }

    /// The stored fingerprints of an LCT's halves (for tests and audits).
    func lctFingerprints(_ id: String) async throws -> (device: String, lct: String)? {
        try await db.read { db in
            try Row.fetchOne(db, sql: "SELECT device_key_fingerprint, lct_key_fingerprint FROM lcts WHERE lct_id = ?",
                             arguments: [id]).map { ($0[0], $0[1]) }
        }
    }

    func updateLCTStatus(_ id: String, status: String, context: String?) async throws -> LCT {
        let tx = Identifiers.txHash()
        let now = Self.now()
        return try await db.write { db in
            guard var row = try Row.fetchOne(db, sql: "SELECT * FROM lcts WHERE lct_id = ?", arguments: [id])
            else { throw APIError.lctNotFound(id) }
            let current: String = row["status"]
            if current == "revoked" && status != "revoked" {
                throw APIError(.gone, "LCT_REVOKED", "the LCT is revoked and cannot change status",
                               details: "lct_id \(id)")
            }
            try db.execute(sql: "UPDATE lcts SET status = ?, txhash = ?, updated_at = ?, context = COALESCE(?, context) WHERE lct_id = ?",
                           arguments: [status, tx, now, context, id])
            row = try Row.fetchOne(db, sql: "SELECT * FROM lcts WHERE lct_id = ?", arguments: [id])!
            return Self.lct(row)
        }
    }

    private static func lct(_ row: Row) -> LCT {
        LCT(lctId: row["lct_id"], componentA: row["component_a"], componentB: row["component_b"],
            context: row["context"], proxyId: row["proxy_id"], status: row["status"], createdAt: row["created_at"],
            updatedAt: row["updated_at"], creator: row["creator"], txhash: row["txhash"])
    }

    // MARK: Pairing

    func initiatePairing(_ r: InitiatePairingRequest) async throws -> PairingChallenge {
        let id = Identifiers.make("challenge_")
        let tx = Identifiers.txHash()
        let now = Self.now()
        let pair = Self.pairKey(r.componentA, r.componentB)
        let lifetime = challengeLifetime
        return try await db.write { db in
            try Self.requireComponents(db, r.componentA, r.componentB)
            try Self.expireChallenges(db, now: now)
            if let pending = try String.fetchOne(
                db, sql: "SELECT challenge_id FROM pairings WHERE pair_key = ? AND status = 'pending'", arguments: [pair]) {
                guard r.forceImmediate else {
                    throw APIError(.conflict, "PAIRING_IN_PROGRESS", "a pairing challenge for this pair is pending",
                                   details: "challenge_id \(pending)", existingId: pending)
                }
                try db.execute(sql: "UPDATE pairings SET status = 'cancelled' WHERE challenge_id = ?", arguments: [pending])
            }
            try db.execute(sql: """
                INSERT INTO pairings (challenge_id, component_a, component_b, pair_key, operational_context, proxy_id,
                                      force_immediate, status, creator, txhash, created_at, expires_at)
                VALUES (?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?)
                """, arguments: [id, r.componentA, r.componentB, pair, r.operationalContext, r.proxyId,
                                 r.forceImmediate, r.creator, tx, now, now + lifetime])
            return try Self.challenge(db, id)!
        }
    }

    func completePairing(_ r: CompletePairingRequest) async throws -> PairingCompletion {
        let tx = Identifiers.txHash()
        let now = Self.now()
        return try await db.write { db in
            try Self.expireChallenges(db, now: now)
            guard let ch = try Self.challenge(db, r.challengeId) else { throw APIError.challengeNotFound(r.challengeId) }
            switch ch.status {
            case "pending": break
            case "completed":
                throw APIError(.conflict, "PAIRING_ALREADY_COMPLETED", "the pairing challenge is already completed",
                               details: "challenge_id \(ch.challengeId)", existingId: ch.challengeId)
            default:
                throw APIError(.gone, "CHALLENGE_\(ch.status.uppercased())", "the pairing challenge is \(ch.status)",
                               details: "challenge_id \(ch.challengeId)")
            }
            let lctId = try String.fetchOne(
                db, sql: "SELECT lct_id FROM lcts WHERE pair_key = ? AND status != 'revoked'",
                arguments: [Self.pairKey(ch.componentA, ch.componentB)])
            try db.execute(sql: """
                UPDATE pairings SET status = 'completed', lct_id = ?, session_context = ?, completed_at = ?, txhash = ?
                WHERE challenge_id = ?
                """, arguments: [lctId, r.sessionContext, now, tx, r.challengeId])
            return PairingCompletion(challengeId: r.challengeId, lctId: lctId, status: "completed",
                                     trustSummary: "components \(ch.componentA) and \(ch.componentB) authenticated",
                                     sessionContext: r.sessionContext, completedAt: now, txhash: tx)
        }
    }

    func revokePairing(_ r: RevokePairingRequest) async throws -> PairingRevocation {
        let tx = Identifiers.txHash()
        let now = Self.now()
        return try await db.write { db in
            try Self.expireChallenges(db, now: now)
            var lctId = r.lctId
            if let challengeId = r.challengeId {
                guard let ch = try Self.challenge(db, challengeId) else { throw APIError.challengeNotFound(challengeId) }
                if ch.status == "revoked" {
                    throw APIError(.gone, "CHALLENGE_REVOKED", "the pairing challenge is already revoked",
                                   details: "challenge_id \(challengeId)")
                }
                try db.execute(sql: "UPDATE pairings SET status = 'revoked', revoked_at = ?, reason = ? WHERE challenge_id = ?",
                               arguments: [now, r.reason, challengeId])
                if lctId == nil { lctId = ch.lctId }
            }
            if let id = r.lctId {
                guard let row = try Row.fetchOne(db, sql: "SELECT status, pair_key FROM lcts WHERE lct_id = ?", arguments: [id])
                else { throw APIError.lctNotFound(id) }
                let status: String = row["status"]
                if status == "revoked" {
                    throw APIError(.gone, "LCT_REVOKED", "the LCT is already revoked", details: "lct_id \(id)")
                }
                let pair: String = row["pair_key"]
                try db.execute(sql: "UPDATE lcts SET status = 'revoked', updated_at = ?, txhash = ? WHERE lct_id = ?",
                               arguments: [now, tx, id])
                try db.execute(sql: """
                    UPDATE pairings SET status = 'revoked', revoked_at = ?, reason = ?
                    WHERE pair_key = ? AND status IN ('pending', 'completed')
                    """, arguments: [now, r.reason, pair])
            }
            return PairingRevocation(lctId: lctId, challengeId: r.challengeId, status: "revoked", reason: r.reason,
                                     revokedAt: now, txhash: tx)
        }
    }

    func pairingStatus(_ id: String) async throws -> PairingChallenge {
        let now = Self.now()
        return try await db.write { db in
            try Self.expireChallenges(db, now: now)
            guard let ch = try Self.challenge(db, id) else { throw APIError.challengeNotFound(id) }
            return ch
        }
    }

    private static func expireChallenges(_ db: Database, now: Int64) throws {
        try db.execute(sql: "UPDATE pairings SET status = 'expired' WHERE status = 'pending' AND expires_at <= ?",
                       arguments: [now])
    }

    private static func challenge(_ db: Database, _ id: String) throws -> PairingChallenge? {
        guard let row = try Row.fetchOne(db, sql: "SELECT * FROM pairings WHERE challenge_id = ?", arguments: [id])
        else { return nil }
        return PairingChallenge(
            challengeId: row["challenge_id"], componentA: row["component_a"], componentB: row["component_b"],
            operationalContext: row["operational_context"], proxyId: row["proxy_id"],
            forceImmediate: row["force_immediate"], status: row["status"], createdAt: row["created_at"],
            expiresAt: row["expires_at"], creator: row["creator"], lctId: row["lct_id"], txhash: row["txhash"])
    }
}
