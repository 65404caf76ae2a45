/// How a client presents the bridge token.
///
/// The API-Bridge as deployed checks `X-API-Key: <key>` in its security
/// layer; Modbatt's embedded bridge and earlier clients use
/// `Authorization: Bearer <token>`. The client sends one of them
/// (`BridgeClientConfiguration.authScheme`); the embedded server accepts the
/// ones its configuration lists (`BridgeServerConfiguration.authSchemes`).
public enum BridgeAuthScheme: String, Sendable, Hashable, CaseIterable, CustomStringConvertible {
    /// `Authorization: Bearer <token>`.
    case bearer
    /// `X-API-Key: <token>`.
    case apiKey = "x-api-key"

    /// The name used in configuration files, environment variables and flags.
    public var description: String { rawValue }

    /// Parse a configured name (`bearer` or `x-api-key`, any case).
    public init?(name: String) {
        self.init(rawValue: name.lowercased())
    }

    /// What a configured name must be, for error messages.
    public static let expectedNames = "\"bearer\" or \"x-api-key\""

    /// The header this scheme puts the token in, and its value.
    public func header(token: String) -> (name: String, value: String) {
        switch self {
        case .bearer: ("Authorization", "Bearer \(token)")
        case .apiKey: ("X-API-Key", token)
        }
    }
}
