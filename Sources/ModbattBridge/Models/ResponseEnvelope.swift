/// Some API-Bridge deployments wrap every answer as
/// `{"status": "success", "data": {…}, "message": "…", "timestamp": "…"}`;
/// others send the payload itself. `Unwrapped` decodes either form, so one
/// client works against both. An envelope whose status says the call failed
/// becomes a `ResponseEnvelopeError` carrying the bridge's message, never an
/// empty or default value.
struct Unwrapped<Payload: Decodable>: Decodable {
    let payload: Payload

    private enum Keys: String, CodingKey { case status, success, data, message }

    init(from decoder: any Decoder) throws {
        // An envelope has `data` beside `status` (or `success`); no payload
        // of the API has a field named `data`.
        guard let c = try? decoder.container(keyedBy: Keys.self), c.contains(.data),
              c.contains(.status) || c.contains(.success)
        else {
            payload = try Payload(from: decoder)
            return
        }
        let status = c.decodeLooseString(.status)?.lowercased()
        let success = try? c.decodeIfPresent(Bool.self, forKey: .success)
        if success == false || ["error", "fail", "failed", "failure"].contains(status ?? "") {
            throw ResponseEnvelopeError(status: status ?? "success: false", message: c.decodeLooseString(.message) ?? "")
        }
        payload = try c.decode(Payload.self, forKey: .data)
    }
}

/// A 2xx answer whose envelope reports a failure.
struct ResponseEnvelopeError: Error, Equatable {
    var status: String
    var message: String

    /// One line; the bridge's message is cut short and stripped of control
    /// characters (it is shown to people and logged).
    var description: String {
        let printable = message.unicodeScalars.filter { $0.value >= 0x20 && !(0x7F...0x9F).contains($0.value) }
        let text = String(String.UnicodeScalarView(printable.prefix(200)))
        return "the bridge answered status '\(status)'" + (text.isEmpty ? "" : ": \(text)")
    }
}
