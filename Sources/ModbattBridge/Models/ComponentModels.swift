/// `POST /api/v1/components/register` body.
public struct RegisterComponentRequest: Codable, Sendable, Equatable {
    /// The signing account on the bridge (e.g. `demo-user`).
    public var creator: String
    /// Free text describing the component; Modbatt puts the hardware serial here.
    public var componentData: String
    public var context: String

    public init(creator: String, componentData: String, context: String = "") {
        self.creator = creator
        self.componentData = componentData
        self.context = context
    }

    enum CodingKeys: String, CodingKey {
        case creator
        case componentData = "component_data"
        case context
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        creator = try c.decode(String.self, forKey: .creator)
        componentData = try c.decode(String.self, forKey: .componentData)
        context = try c.decodeIfPresent(String.self, forKey: .context) ?? ""
    }
}

/// A registered component: the register response and `GET /api/v1/components/{id}`.
/// The real service's register answer carries only the first five fields.
public struct Component: Codable, Sendable, Equatable {
    public var componentId: String
    public var componentIdentity: String
    public var lctId: String?
    public var status: String
    public var txhash: String?
    public var componentData: String?
    public var context: String?
    public var creator: String?
    public var createdAt: Int64?

    public init(componentId: String, componentIdentity: String, lctId: String?, status: String, txhash: String?,
                componentData: String?, context: String?, creator: String?, createdAt: Int64?) {
        self.componentId = componentId
        self.componentIdentity = componentIdentity
        self.lctId = lctId
        self.status = status
        self.txhash = txhash
        self.componentData = componentData
        self.context = context
        self.creator = creator
        self.createdAt = createdAt
    }

    enum CodingKeys: String, CodingKey {
        case componentId = "component_id"
        case componentIdentity = "component_identity"
        case lctId = "lct_id"
        case status, txhash
        case componentData = "component_data"
        case context, creator
        case createdAt = "created_at"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        componentId = try c.decode(String.self, forKey: .componentId)
        componentIdentity = c.decodeLooseString(.componentIdentity) ?? ""
        lctId = c.decodeLooseString(.lctId)
        status = c.decodeLooseString(.status) ?? ""
        txhash = TxHashKeys.decode(from: decoder)
        componentData = c.decodeLooseString(.componentData)
        context = c.decodeLooseString(.context)
        creator = c.decodeLooseString(.creator)
        createdAt = try c.decodeTimestamp(.createdAt)
    }
}

/// `GET /health`.
public struct BridgeHealth: Codable, Sendable, Equatable {
    public var status: String
    public var version: String?

    public init(status: String, version: String? = nil) {
        self.status = status
        self.version = version
    }
}
