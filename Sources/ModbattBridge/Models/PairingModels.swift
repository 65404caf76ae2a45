/// `POST /api/v1/pairing/initiate` body.
public struct InitiatePairingRequest: Codable, Sendable, Equatable {
    public var creator: String
    public var componentA: String
    public var componentB: String
    public var operationalContext: String
    public var proxyId: String?
    /// Replace a pending challenge for the same pair instead of failing with 409.
    public var forceImmediate: Bool

    public init(creator: String, componentA: String, componentB: String, operationalContext: String = "",
                proxyId: String? = nil, forceImmediate: Bool = false) {
        self.creator = creator
        self.componentA = componentA
        self.componentB = componentB
        self.operationalContext = operationalContext
        self.proxyId = proxyId
        self.forceImmediate = forceImmediate
    }

    enum CodingKeys: String, CodingKey {
        case creator
        case componentA = "component_a"
        case componentB = "component_b"
        case operationalContext = "operational_context"
        case proxyId = "proxy_id"
        case forceImmediate = "force_immediate"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        creator = try c.decode(String.self, forKey: .creator)
        componentA = try c.decode(String.self, forKey: .componentA)
        componentB = try c.decode(String.self, forKey: .componentB)
        operationalContext = try c.decodeIfPresent(String.self, forKey: .operationalContext) ?? ""
        proxyId = try c.decodeIfPresent(String.self, forKey: .proxyId)
        forceImmediate = try c.decodeIfPresent(Bool.self, forKey: .forceImmediate) ?? false
    }
}

/// A pairing challenge: the initiate response and `GET /api/v1/pairing/status/{challenge_id}`.
/// `status` is `pending`, `completed`, `expired`, `revoked` or `cancelled`.
public struct PairingChallenge: Codable, Sendable, Equatable {
    public var challengeId: String
    public var componentA: String
    public var componentB: String
    public var operationalContext: String
    public var proxyId: String?
    public var forceImmediate: Bool
    public var status: String
    public var createdAt: Int64?
    public var expiresAt: Int64?
    public var creator: String?
    public var lctId: String?
    public var txhash: String?

    public init(challengeId: String, componentA: String, componentB: String, operationalContext: String,
                proxyId: String?, forceImmediate: Bool, status: String, createdAt: Int64?, expiresAt: Int64?,
                creator: String?, lctId: String?, txhash: String?) {
        self.challengeId = challengeId
        self.componentA = componentA
        self.componentB = componentB
        self.operationalContext = operationalContext
        self.proxyId = proxyId
        self.forceImmediate = forceImmediate
        self.status = status
        self.createdAt = createdAt
        self.expiresAt = expiresAt
        self.creator = creator
        self.lctId = lctId
        self.txhash = txhash
    }

    enum CodingKeys: String, CodingKey {
        case challengeId = "challenge_id"
        case componentA = "component_a"
        case componentB = "component_b"
        case operationalContext = "operational_context"
        case proxyId = "proxy_id"
        case forceImmediate = "force_immediate"
        case status
        case createdAt = "created_at"
        case expiresAt = "expires_at"
        case creator
        case lctId = "lct_id"
        case txhash
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        challengeId = try c.decode(String.self, forKey: .challengeId)
        componentA = c.decodeLooseString(.componentA) ?? ""
        componentB = c.decodeLooseString(.componentB) ?? ""
        operationalContext = c.decodeLooseString(.operationalContext) ?? ""
        proxyId = c.decodeLooseString(.proxyId)
        forceImmediate = (try? c.decodeIfPresent(Bool.self, forKey: .forceImmediate)) ?? false
        status = c.decodeLooseString(.status) ?? ""
        createdAt = try c.decodeTimestamp(.createdAt)
        expiresAt = try c.decodeTimestamp(.expiresAt)
        creator = c.decodeLooseString(.creator)
        lctId = c.decodeLooseString(.lctId)
        txhash = TxHashKeys.decode(from: decoder)
    }
}

/// `POST /api/v1/pairing/complete` body.
public struct CompletePairingRequest: Codable, Sendable, Equatable {
    public var creator: String
    public var challengeId: String
    public var componentAAuth: String
    public var componentBAuth: String
    public var sessionContext: String

    public init(creator: String, challengeId: String, componentAAuth: String = "", componentBAuth: String = "",
                sessionContext: String = "") {
        self.creator = creator
        self.challengeId = challengeId
        self.componentAAuth = componentAAuth
        self.componentBAuth = componentBAuth
        self.sessionContext = sessionContext
    }

    enum CodingKeys: String, CodingKey {
        case creator
        case challengeId = "challenge_id"
        case componentAAuth = "component_a_auth"
        case componentBAuth = "component_b_auth"
        case sessionContext = "session_context"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        creator = try c.decode(String.self, forKey: .creator)
        challengeId = try c.decode(String.self, forKey: .challengeId)
        componentAAuth = try c.decodeIfPresent(String.self, forKey: .componentAAuth) ?? ""
        componentBAuth = try c.decodeIfPresent(String.self, forKey: .componentBAuth) ?? ""
        sessionContext = try c.decodeIfPresent(String.self, forKey: .sessionContext) ?? ""
    }
}

/// The complete response. The real bridge may add `session_keys` and
/// `split_key_a`/`split_key_b`; this client drops them unread (Modbatt's key
/// halves come from LCT creation only) and the embedded bridge never sends them.
public struct PairingCompletion: Codable, Sendable, Equatable {
    public var challengeId: String?
    /// The active LCT of the pair, if one exists.
    public var lctId: String?
    public var status: String
    public var trustSummary: String?
    public var sessionContext: String?
    public var completedAt: Int64?
    public var txhash: String?

    public init(challengeId: String?, lctId: String?, status: String, trustSummary: String?,
                sessionContext: String?, completedAt: Int64?, txhash: String?) {
        self.challengeId = challengeId
        self.lctId = lctId
        self.status = status
        self.trustSummary = trustSummary
        self.sessionContext = sessionContext
        self.completedAt = completedAt
        self.txhash = txhash
    }

    enum CodingKeys: String, CodingKey {
        case challengeId = "challenge_id"
        case lctId = "lct_id"
        case status
        case trustSummary = "trust_summary"
        case sessionContext = "session_context"
        case completedAt = "completed_at"
        case txhash
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        challengeId = c.decodeLooseString(.challengeId)
        lctId = c.decodeLooseString(.lctId)
        status = c.decodeLooseString(.status) ?? ""
        trustSummary = c.decodeLooseString(.trustSummary)
        sessionContext = c.decodeLooseString(.sessionContext)
        completedAt = try c.decodeTimestamp(.completedAt)
        txhash = TxHashKeys.decode(from: decoder)
    }
}

/// `DELETE /api/v1/pairing/revoke` body: name an LCT (revokes it and every
/// pairing of its pair) or a challenge (revokes that challenge), or both.
public struct RevokePairingRequest: Codable, Sendable, Equatable {
    public var creator: String
    public var lctId: String?
    public var challengeId: String?
    public var reason: String
    public var notifyOffline: Bool

    public init(creator: String, lctId: String? = nil, challengeId: String? = nil, reason: String = "",
                notifyOffline: Bool = false) {
        self.creator = creator
        self.lctId = lctId
        self.challengeId = challengeId
        self.reason = reason
        self.notifyOffline = notifyOffline
    }

    enum CodingKeys: String, CodingKey {
        case creator
        case lctId = "lct_id"
        case challengeId = "challenge_id"
        case reason
        case notifyOffline = "notify_offline"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        creator = try c.decode(String.self, forKey: .creator)
        lctId = try c.decodeIfPresent(String.self, forKey: .lctId)
        challengeId = try c.decodeIfPresent(String.self, forKey: .challengeId)
        reason = try c.decodeIfPresent(String.self, forKey: .reason) ?? ""
        notifyOffline = try c.decodeIfPresent(Bool.self, forKey: .notifyOffline) ?? false
    }
}

/// The revoke response.
public struct PairingRevocation: Codable, Sendable, Equatable {
    public var lctId: String?
    public var challengeId: String?
    public var status: String
    public var reason: String?
    public var revokedAt: Int64?
    public var txhash: String?

    public init(lctId: String?, challengeId: String?, status: String, reason: String?, revokedAt: Int64?,
                txhash: String?) {
        self.lctId = lctId
        self.challengeId = challengeId
        self.status = status
        self.reason = reason
        self.revokedAt = revokedAt
        self.txhash = txhash
    }

    enum CodingKeys: String, CodingKey {
        case lctId = "lct_id"
        case challengeId = "challenge_id"
        case status, reason
        case revokedAt = "revoked_at"
        case txhash
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lctId = c.decodeLooseString(.lctId)
        challengeId = c.decodeLooseString(.challengeId)
        status = c.decodeLooseString(.status) ?? ""
        reason = c.decodeLooseString(.reason)
        revokedAt = try c.decodeTimestamp(.revokedAt)
        txhash = TxHashKeys.decode(from: decoder)
    }
}
