/// The result of `BridgeClient.createOrRecoverLCT`.
public enum LCTCreation: ~Copyable {
    /// The bridge's answer arrived: the LCT and its key halves.
    case created(CreatedLCT)
    /// An attempt whose answer was lost had created the LCT; the lookup found
    /// it and no second one was made. Its key halves are gone with the answer.
    case recovered(RecoveredLCT)
}

/// An LCT that a create attempt made although its answer never arrived,
/// found by looking the pair up before trying again.
public struct RecoveredLCT: Sendable, Equatable {
    public var lct: LCT
    /// Further LCTs of the same pair and context made since the call began
    /// (only against a bridge that allows several per pair): orphans too,
    /// listed so the caller can revoke them.
    public var others: [LCT]
    /// Why the create's outcome was unknown (its attempt's error, one line).
    public var cause: String

    public init(lct: LCT, others: [LCT] = [], cause: String) {
        self.lct = lct
        self.others = others
        self.cause = cause
    }
}
