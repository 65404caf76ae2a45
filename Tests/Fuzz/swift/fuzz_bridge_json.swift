// libFuzzer harness: the API-Bridge client's decoding of response bodies
// (ModbattBridge/Models, BridgeJSON, CreatedLCT.decode). Input: a body as
// the bridge would send it.
//
// Invariants:
// - every response type either fails with a DecodingError, described by
//   BridgeJSON.describe in one bounded line that repeats no string value of
//   the body, or decodes to a value that encodes and decodes to itself;
// - the LCT create answer either throws a BridgeError of kind
//   invalidResponse/invalidKeyMaterial or yields two key halves of exactly
//   64 bytes equal to the decoded fields; no error description contains
//   16 consecutive characters of either key-half field;
// - KeyHalf(encoded:) on the raw text: 64 bytes or an error that does not
//   repeat the text.
import Foundation
import Modbatt
@testable import ModbattBridge

private let createEndpoint = "POST /api/v1/lct/create"

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzBridgeJSON(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let body = Data(bytes: data, count: size)
    let json = try? JSONSerialization.jsonObject(with: body, options: [.fragmentsAllowed])
    let values = json.map(stringValues) ?? []
    checkRoundTrip(Component.self, body, values)
    checkRoundTrip(LCT.self, body, values)
    checkRoundTrip(PairingChallenge.self, body, values)
    checkRoundTrip(PairingCompletion.self, body, values)
    checkRoundTrip(PairingRevocation.self, body, values)
    checkRoundTrip(BridgeHealth.self, body, values)
    checkRoundTrip(BridgeErrorBody.self, body, values)
    checkCreateAnswer(body, keyHalfFields(in: body), values)
    checkKeyHalfText(inputText(data, size))
    return 0
}

private func checkRoundTrip<T: Codable & Equatable>(_ model: T.Type, _ body: Data, _ values: [String]) {
    let value: T
    do { value = try BridgeJSON.decode(T.self, from: body) } catch {
        invariant(error is DecodingError, "\(T.self): \(type(of: error)) instead of a DecodingError")
        let text = BridgeJSON.describe(error)
        checkReasonBounded(text, limit: 200)
        checkRepeatsNoValue(text, values, what: "\(T.self) error")
        return
    }
    guard let encoded = try? BridgeJSON.encode(value), let again = try? BridgeJSON.decode(T.self, from: encoded) else {
        invariant(false, "\(T.self) decoded but does not encode and decode again")
        return
    }
    invariant(again == value, "\(T.self) changes in an encode/decode round trip")
    invariant((try? BridgeJSON.encode(again)) == encoded, "\(T.self) encodes differently the second time")
}

private func checkCreateAnswer(_ body: Data, _ fields: (device: String?, lct: String?), _ values: [String]) {
    do {
        let created = try CreatedLCT.decode(body, endpoint: createEndpoint)
        checkHalf(created.deviceKeyHalf, equals: fields.device)
        checkHalf(created.lctKeyHalf, equals: fields.lct)
        invariant((try? BridgeJSON.decode(LCT.self, from: body)) == created.lct, "the created LCT differs from the LCT decoding")
    } catch {
        invariant(error.kind == .invalidResponse || error.kind == .invalidKeyMaterial, "create answer: kind \(error.kind)")
        let text = error.description
        checkReasonBounded(text, limit: 240)
        for half in [fields.device, fields.lct].compactMap({ $0 }) { checkNoWindow(of: half, in: text) }
        checkRepeatsNoValue(text, values, what: "create answer error")
    }
}

private func checkHalf(_ half: borrowing KeyHalf, equals field: String?) {
    let hex = half.revealHex()
    invariant(hex.utf8.count == 2 * KeyHalf.byteCount, "a key half of \(hex.utf8.count / 2) bytes")
    guard let field, let expected = try? KeyHalf(encoded: field) else {
        invariant(false, "a key half was accepted from a field that does not decode alone")
        return
    }
    invariant(expected.revealHex() == hex, "the key half differs from its field's decoding")
}

private func checkKeyHalfText(_ text: String) {
    do {
        let half = try KeyHalf(encoded: text)
        invariant(half.revealHex().utf8.count == 2 * KeyHalf.byteCount, "KeyHalf(encoded:) gave a wrong length")
    } catch {
        let description = "\(error)"
        checkReasonBounded(description, limit: 200)
        checkNoWindow(of: text, in: description)
    }
}

/// No 16 consecutive characters of a key-half field appear in `text`
/// (the fixed vocabulary of the messages is taken out first, so a field
/// that happens to spell a field name is not a false alarm).
private func checkNoWindow(of secret: String, in text: String) {
    var scrubbed = text
    for word in [createEndpoint, "device_key_half", "lct_key_half", "unexpected answer", "key half"] {
        scrubbed = scrubbed.replacingOccurrences(of: word, with: "~")
    }
    // Bytes, not Foundation's String.contains: that treats a window of NUL
    // characters as found anywhere.
    let haystack = Array(scrubbed.utf8)
    let chars = Array(secret)
    guard chars.count >= 16 else { return }
    for start in 0...(chars.count - 16) {
        let window = Array(String(chars[start..<start + 16]).utf8)
        invariant(!containsBytes(haystack, window), "an error description repeats key-half text: \(text.prefix(120))")
    }
}

private func containsBytes(_ haystack: [UInt8], _ needle: [UInt8]) -> Bool {
    guard !needle.isEmpty, haystack.count >= needle.count else { return needle.isEmpty }
    return (0...(haystack.count - needle.count)).contains { haystack[$0..<$0 + needle.count].elementsEqual(needle) }
}

/// Error descriptions name fields and kinds, never values.
private func checkRepeatsNoValue(_ text: String, _ values: [String], what: String) {
    for value in values where value.count >= 12 && !vocabulary.contains(value) {
        invariant(!text.contains(value), "\(what) repeats a value of the body: \(text.prefix(120))")
    }
}

private let vocabulary = [createEndpoint, "unexpected answer: ", "missing field", "has the wrong type",
                          "must not be null", "is invalid", "malformed JSON", "the body must be a JSON object",
                          "device_key_half", "lct_key_half", "operational_context", "component_identity",
                          "component_data", "trust_summary", "session_context", "challenge_id", "existing_id"]
    .joined(separator: "|")

private func stringValues(in root: Any) -> [String] {
    var out: [String] = []
    func walk(_ node: Any) {
        switch node {
        case let s as String: out.append(s)
        case let a as [Any]: a.forEach(walk)
        case let d as [String: Any]: d.values.forEach(walk)
        default: break
        }
    }
    walk(root)
    return out
}

/// The two half fields as the client's own JSON parser reads them: it is
/// more lenient than JSONSerialization (a raw control character inside a
/// string passes), so JSONSerialization cannot be the oracle here.
private struct HalfFields: Decodable {
    var device_key_half: String?
    var lct_key_half: String?
}

private func keyHalfFields(in body: Data) -> (device: String?, lct: String?) {
    guard let fields = try? JSONDecoder().decode(HalfFields.self, from: body) else { return (nil, nil) }
    return (fields.device_key_half, fields.lct_key_half)
}
