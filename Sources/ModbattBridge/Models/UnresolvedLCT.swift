/// A create whose outcome is unknown and could not be settled: it may have
/// left an LCT on the bridge that nobody holds the halves of. Reported
/// (`BridgeError.unresolvedLCTs`), never dropped; find it later with
/// `BridgeClient.lctRelationships(componentId:)` and revoke it.
public struct UnresolvedLCT: Sendable, Codable, Equatable, CustomStringConvertible {
    public var creator: String
    public var componentA: String
    public var componentB: String
    public var context: String
    /// The create attempt's error: why its outcome is unknown.
    public var createFailure: String
    /// The lookup's error: why it could not be settled.
    public var lookupFailure: String

    public init(_ request: CreateLCTRequest, createFailure: String, lookupFailure: String) {
        creator = request.creator
        componentA = request.componentA
        componentB = request.componentB
        context = request.context
        self.createFailure = createFailure
        self.lookupFailure = lookupFailure
    }

    enum CodingKeys: String, CodingKey {
        case creator
        case componentA = "component_a"
        case componentB = "component_b"
        case context
        case createFailure = "create_failure"
        case lookupFailure = "lookup_failure"
    }

    public var description: String {
        "LCT of \(componentA) and \(componentB) (context '\(context)', creator '\(creator)'):"
            + " the create may have gone through (\(createFailure)) and the lookup failed (\(lookupFailure))"
    }
}
