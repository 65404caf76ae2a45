import Modbatt

/// `POST /api/v1/lct/create` body.
public struct CreateLCTRequest: Codable, Sendable, Equatable {
    public var creator: String
    public var componentA: String
    public var componentB: String
    public var context: String
    public var proxyId: String?

    public init(creator: String, componentA: String, componentB: String, context: String = "", proxyId: String? = nil) {
        self.creator = creator
        self.componentA = componentA
        self.componentB = componentB
        self.context = context
        self.proxyId = proxyId
    }

    enum CodingKeys: String, CodingKey {
        case creator
        case componentA = "component_a"
        case componentB = "component_b"
        case context
        case proxyId = "proxy_id"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        creator = try c.decode(String.self, forKey: .creator)
        componentA = try c.decode(String.self, forKey: .componentA)
        componentB = try c.decode(String.self, forKey: .componentB)
        context = try c.decodeIfPresent(String.self, forKey: .context) ?? ""
        proxyId = try c.decodeIfPresent(String.self, forKey: .proxyId)
    }
}

/// A Linked Context Token as `GET /api/v1/lct/{id}` returns it. Carries no
/// key material: the halves exist only in the create response (`CreatedLCT`).
public struct LCT: Codable, Sendable, Equatable {
    public var lctId: String
    public var componentA: String
    public var componentB: String
    public var context: String
    public var proxyId: String?
    public var status: String
    public var createdAt: Int64?
    public var updatedAt: Int64?
    public var creator: String?
    public var txhash: String?

    public init(lctId: String, componentA: String, componentB: String, context: String, proxyId: String?,
                status: String, createdAt: Int64?, updatedAt: Int64? = nil, creator: String?, txhash: String?) {
        self.lctId = lctId
        self.componentA = componentA
        self.componentB = componentB
        self.context = context
        self.proxyId = proxyId
        self.status = status
        self.createdAt = createdAt
        self.updatedAt = updatedAt
        self.creator = creator
        self.txhash = txhash
    }

    enum CodingKeys: String, CodingKey {
        case lctId = "lct_id"
        case componentA = "component_a"
        case componentB = "component_b"
        case context
        case proxyId = "proxy_id"
        case status
        case createdAt = "created_at"
        case updatedAt = "updated_at"
        case creator, txhash
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        lctId = try c.decode(String.self, forKey: .lctId)
        componentA = c.decodeLooseString(.componentA) ?? ""
        componentB = c.decodeLooseString(.componentB) ?? ""
        context = c.decodeLooseString(.context) ?? ""
        proxyId = c.decodeLooseString(.proxyId)
        status = c.decodeLooseString(.status) ?? ""
        createdAt = try c.decodeTimestamp(.createdAt)
        updatedAt = try c.decodeTimestamp(.updatedAt)
        creator = c.decodeLooseString(.creator)
        txhash = TxHashKeys.decode(from: decoder)
    }
}

/// The answer to LCT creation: the LCT and its two 64-byte key halves,
/// already parsed into zeroizing `KeyHalf` values. Non-copyable, so the
/// halves exist once; it has no description and is not `Codable`, so it
/// cannot end up in a log by accident. Take the halves with `consume`
/// (`let device = created.deviceKeyHalf` after `let created = ...` consumes
/// that field) or borrow them.
public struct CreatedLCT: ~Copyable {
    public let lct: LCT
    public let deviceKeyHalf: KeyHalf
    public let lctKeyHalf: KeyHalf

    public init(lct: LCT, deviceKeyHalf: consuming KeyHalf, lctKeyHalf: consuming KeyHalf) {
        self.lct = lct
        self.deviceKeyHalf = deviceKeyHalf
        self.lctKeyHalf = lctKeyHalf
    }
}

/// The wire form of the create response. Internal: its strings hold the
/// key halves, so it is never logged, printed or kept.
struct CreateLCTWire: Codable {
    var lct: LCT
    var deviceKeyHalf: String?
    var lctKeyHalf: String?

    enum CodingKeys: String, CodingKey {
        case deviceKeyHalf = "device_key_half"
        case lctKeyHalf = "lct_key_half"
    }

    init(lct: LCT, deviceKeyHalf: String?, lctKeyHalf: String?) {
        self.lct = lct
        self.deviceKeyHalf = deviceKeyHalf
        self.lctKeyHalf = lctKeyHalf
    }

    init(from decoder: any Decoder) throws {
        lct = try LCT(from: decoder)
        let c = try decoder.container(keyedBy: CodingKeys.self)
        deviceKeyHalf = try c.decodeIfPresent(String.self, forKey: .deviceKeyHalf)
        lctKeyHalf = try c.decodeIfPresent(String.self, forKey: .lctKeyHalf)
    }

    func encode(to encoder: any Encoder) throws {
        try lct.encode(to: encoder)
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(deviceKeyHalf, forKey: .deviceKeyHalf)
        try c.encodeIfPresent(lctKeyHalf, forKey: .lctKeyHalf)
    }
}

/// `PUT /api/v1/lct/{id}/status` body.
public struct UpdateLCTStatusRequest: Codable, Sendable, Equatable {
    public var creator: String
    /// Optional; when present it must equal the id in the path.
    public var lctId: String?
    public var status: String
    public var context: String?

    /// Statuses the embedded bridge accepts.
    public static let knownStatuses: Set<String> = ["active", "inactive", "maintenance", "suspended", "revoked"]

    public init(creator: String, lctId: String? = nil, status: String, context: String? = nil) {
        self.creator = creator
        self.lctId = lctId
        self.status = status
        self.context = context
    }

    enum CodingKeys: String, CodingKey {
        case creator
        case lctId = "lct_id"
        case status, context
    }
}
