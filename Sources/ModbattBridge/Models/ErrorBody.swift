/// The API-Bridge error body: `{"error", "code", "details"}`.
///
/// Decoding is lenient: `code` may be a string or a number, and `error` may
/// be a string or a nested `{"code", "message", "details"}` object (an
/// older documented shape). The embedded bridge adds `existing_id` to 409
/// answers, naming the component, LCT or challenge that already exists.
public struct BridgeErrorBody: Codable, Sendable, Equatable {
    public var error: String
    public var code: String
    public var details: String?
    public var existingId: String?

    public init(error: String, code: String, details: String? = nil, existingId: String? = nil) {
        self.error = error
        self.code = code
        self.details = details
        self.existingId = existingId
    }

    enum CodingKeys: String, CodingKey {
        case error, code, details, message
        case existingId = "existing_id"
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        if let nested = try? c.nestedContainer(keyedBy: CodingKeys.self, forKey: .error) {
            error = nested.decodeLooseString(.message) ?? ""
            code = nested.decodeLooseString(.code) ?? ""
            details = nested.decodeLooseString(.details)
        } else {
            error = c.decodeLooseString(.error) ?? c.decodeLooseString(.message) ?? ""
            code = c.decodeLooseString(.code) ?? ""
            details = c.decodeLooseString(.details)
        }
        existingId = c.decodeLooseString(.existingId)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(error, forKey: .error)
        try c.encode(code, forKey: .code)
        try c.encodeIfPresent(details, forKey: .details)
        try c.encodeIfPresent(existingId, forKey: .existingId)
    }
}
