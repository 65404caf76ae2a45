import Foundation

/// The JSON coders both sides use. Field names are spelled out in each
/// model's `CodingKeys` (snake_case, as the real API-Bridge sends them);
/// unknown fields are ignored when decoding.
enum BridgeJSON {
    static func encoder() -> JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }

    static func decoder() -> JSONDecoder { JSONDecoder() }

    static func encode<T: Encodable>(_ value: T) throws -> Data { try encoder().encode(value) }

    static func decode<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try decoder().decode(type, from: data)
    }

    /// A 2xx answer of the bridge: the payload itself or wrapped in an
    /// envelope (`Unwrapped`).
    static func decodeAnswer<T: Decodable>(_ type: T.Type, from data: Data) throws -> T {
        try decoder().decode(Unwrapped<T>.self, from: data).payload
    }

    /// One line describing a decoding failure by field path and kind only,
    /// never by value (the value may be key material).
    static func describe(_ error: any Error) -> String {
        if let refused = error as? ResponseEnvelopeError { return refused.description }
        guard let error = error as? DecodingError else { return "malformed JSON" }
        func path(_ p: [any CodingKey]) -> String {
            p.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
        }
        switch error {
        case .keyNotFound(let key, let ctx):
            return "missing field '\(path(ctx.codingPath + [key]))'"
        case .typeMismatch(let type, let ctx):
            return ctx.codingPath.isEmpty
                ? "the body must be a JSON object"
                : "field '\(path(ctx.codingPath))' has the wrong type (expected \(jsonTypeName(type)))"
        case .valueNotFound(let type, let ctx):
            return "field '\(path(ctx.codingPath))' must not be null (expected \(jsonTypeName(type)))"
        case .dataCorrupted(let ctx):
            return ctx.codingPath.isEmpty ? "malformed JSON" : "field '\(path(ctx.codingPath))' is invalid"
        @unknown default:
            return "malformed JSON"
        }
    }

    private static func jsonTypeName(_ type: Any.Type) -> String {
        switch type {
        case is String.Type: return "string"
        case is Bool.Type: return "boolean"
        case is Int.Type, is Int64.Type, is UInt64.Type, is Double.Type: return "number"
        default: return type is any Collection.Type ? "array" : "object"
        }
    }
}

extension KeyedDecodingContainer {
    /// A Unix time sent as a number, a numeric string or an RFC 3339 string
    /// (the Go service's `2025-07-05T14:31:51.123456789Z`; whole seconds);
    /// nil when absent or unusable (a number beyond Int64, e.g. `1e300`, is
    /// unusable: converting it would trap and end the client process).
    /// Timestamps are metadata the client never acts on, so an unreadable
    /// one is unknown rather than an error.
    func decodeTimestamp(_ key: Key) throws -> Int64? {
        if let n = try? decodeIfPresent(Int64.self, forKey: key) { return n }
        if let d = try? decodeIfPresent(Double.self, forKey: key) { return Int64(exactly: d.rounded(.towardZero)) }
        guard let s = try? decodeIfPresent(String.self, forKey: key) else { return nil }
        if let n = Int64(s) { return n }
        return RFC3339.unixSeconds(s)
    }

    /// A string the service may also send as a number (ids, codes).
    func decodeLooseString(_ key: Key) -> String? {
        if let s = try? decodeIfPresent(String.self, forKey: key) { return s }
        if let n = try? decodeIfPresent(Int64.self, forKey: key) { return String(n) }
        return nil
    }
}

/// The transaction hash field: `txhash` in most bridge versions, `tx_hash` in some.
struct TxHashKeys: CodingKey {
    var stringValue: String
    var intValue: Int? { nil }
    init(stringValue: String) { self.stringValue = stringValue }
    init?(intValue: Int) { nil }
    static let txhash = TxHashKeys(stringValue: "txhash")
    static let txHash = TxHashKeys(stringValue: "tx_hash")

    static func decode(from decoder: any Decoder) -> String? {
        guard let c = try? decoder.container(keyedBy: TxHashKeys.self) else { return nil }
        return c.decodeLooseString(.txhash) ?? c.decodeLooseString(.txHash)
    }
}
