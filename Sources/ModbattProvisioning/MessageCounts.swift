import Foundation

/// The one vocabulary for message figures (`demo`, `simulate`, `provision`;
/// docs/CLI.md, "The JSON document"): application messages per direction of
/// a pair. A message counts as `sent` once, by its sender, when it is sealed;
/// and as `delivered` once, when its receiver authenticates, decrypts and
/// accepts it. So per direction `delivered <= sent` (what the bus loses makes
/// the difference), and the totals are sums over the directions, never
/// counted separately, so they cannot disagree with them. Attack frames are
/// not messages of a pair and are counted apart.
public struct MessageCounts: Sendable, Equatable, Codable {
    /// Who sends to whom. The app-pack pair and every pack-module pair (all
    /// modules together).
    public enum Direction: String, Sendable, CaseIterable, Codable {
        case appToPack = "app_to_pack"
        case packToApp = "pack_to_app"
        case packToModule = "pack_to_module"
        case moduleToPack = "module_to_pack"
    }

    /// One direction's figures.
    public struct Flow: Sendable, Equatable, Codable {
        public var sent: Int
        public var delivered: Int

        public init(sent: Int = 0, delivered: Int = 0) {
            self.sent = sent
            self.delivered = delivered
        }
    }

    /// The directions that carried or were meant to carry messages.
    public private(set) var flows: [Direction: Flow]

    public init(_ flows: [Direction: Flow] = [:]) { self.flows = flows }

    public mutating func recordSent(_ d: Direction, count: Int = 1) { flows[d, default: Flow()].sent += count }
    public mutating func recordDelivered(_ d: Direction, count: Int = 1) {
        flows[d, default: Flow()].delivered += count
    }

    public subscript(_ d: Direction) -> Flow { flows[d] ?? Flow() }

    /// Totals, derived from the directions.
    public var sent: Int { flows.values.reduce(0) { $0 + $1.sent } }
    public var delivered: Int { flows.values.reduce(0) { $0 + $1.delivered } }

    /// Directions where more arrived than was sent: a counting mistake (a
    /// message counted at one end only), never a property of the bus.
    public var inconsistent: [Direction] {
        Direction.allCases.filter { self[$0].delivered > self[$0].sent }
    }

    /// Both ends' counts together: each node records its own half (what it
    /// sent, what it accepted), the run adds them up.
    public static func + (a: MessageCounts, b: MessageCounts) -> MessageCounts {
        var r = a
        for (d, f) in b.flows {
            r.recordSent(d, count: f.sent)
            r.recordDelivered(d, count: f.delivered)
        }
        return r
    }

    /// Encoded as an object keyed by direction (`{"app_to_pack": {"sent": 3, "delivered": 3}}`).
    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(Dictionary(uniqueKeysWithValues: flows.map { ($0.key.rawValue, $0.value) }))
    }

    public init(from decoder: any Decoder) throws {
        let byName = try decoder.singleValueContainer().decode([String: Flow].self)
        flows = [:]
        for (name, f) in byName {
            guard let d = Direction(rawValue: name) else {
                throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath,
                                                        debugDescription: "unknown direction \(name)"))
            }
            flows[d] = f
        }
    }
}
