/// The LCTs a component is part of: `GET /api/v1/components/{id}/relationships`.
///
/// The API-Bridge's REST subset has no way to find an LCT by its pair; the
/// chain behind it does (`GET /racecarweb/lctmanager/v1/component/{id}/relationships`,
/// answering `{"component_relationships": [...], "lct_count"}`). The
/// embedded bridge serves that query under `/api/v1` in the chain's shape,
/// and the client reads the chain's field names (`component_a_id`,
/// `pairing_status`, `operational_context`) as well as the bridge's
/// (`component_a`, `status`, `context`). No key material is involved.
public struct ComponentRelationships: Codable, Sendable, Equatable {
    public var relationships: [LCT]

    public init(relationships: [LCT]) {
        self.relationships = relationships
    }

    enum CodingKeys: String, CodingKey {
        case componentRelationships = "component_relationships"
        case relationships
        case lctCount = "lct_count"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let wire = try c.decodeIfPresent([RelationshipWire].self, forKey: .componentRelationships)
            ?? c.decodeIfPresent([RelationshipWire].self, forKey: .relationships) ?? []
        relationships = wire.map(\.lct)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(relationships.map(RelationshipWire.init), forKey: .componentRelationships)
        try c.encode(relationships.count, forKey: .lctCount)
    }
}

/// One relationship record: the chain's names when encoding, either
/// spelling when decoding.
private struct RelationshipWire: Codable {
    var lct: LCT

    init(_ lct: LCT) { self.lct = lct }

    enum Keys: String, CodingKey {
        case lctId = "lct_id"
        case componentAId = "component_a_id", componentA = "component_a"
        case componentBId = "component_b_id", componentB = "component_b"
        case pairingStatus = "pairing_status", status
        case operationalContext = "operational_context", context
        case proxyComponentId = "proxy_component_id", proxyId = "proxy_id"
        case createdAt = "created_at", updatedAt = "updated_at"
        case creator
    }

    init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: Keys.self)
        lct = LCT(lctId: try c.decode(String.self, forKey: .lctId),
                  componentA: c.decodeLooseString(.componentAId) ?? c.decodeLooseString(.componentA) ?? "",
                  componentB: c.decodeLooseString(.componentBId) ?? c.decodeLooseString(.componentB) ?? "",
                  context: c.decodeLooseString(.operationalContext) ?? c.decodeLooseString(.context) ?? "",
                  proxyId: c.decodeLooseString(.proxyComponentId) ?? c.decodeLooseString(.proxyId),
                  status: c.decodeLooseString(.pairingStatus) ?? c.decodeLooseString(.status) ?? "",
                  createdAt: try c.decodeTimestamp(.createdAt), updatedAt: try c.decodeTimestamp(.updatedAt),
                  creator: c.decodeLooseString(.creator), txhash: TxHashKeys.decode(from: decoder))
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(lct.lctId, forKey: .lctId)
        try c.encode(lct.componentA, forKey: .componentAId)
        try c.encode(lct.componentB, forKey: .componentBId)
        try c.encode(lct.status, forKey: .pairingStatus)
        try c.encode(lct.context, forKey: .operationalContext)
        try c.encodeIfPresent(lct.proxyId, forKey: .proxyComponentId)
        try c.encodeIfPresent(lct.createdAt, forKey: .createdAt)
        try c.encodeIfPresent(lct.updatedAt, forKey: .updatedAt)
        try c.encodeIfPresent(lct.creator, forKey: .creator)
    }
}
