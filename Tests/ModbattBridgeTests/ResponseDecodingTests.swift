import Foundation
import Modbatt
import Testing
@testable import ModbattBridge

/// Response bodies a broken or hostile bridge may send, decoded directly
/// (no HTTP). Regression tests for the Swift fuzz harness
/// (Tests/Fuzz/swift/fuzz_bridge_json.swift, docs/security/SWIFT_HARDENING.md).
/// A 64-byte key half in hex.
private let hexHalf = String(repeating: "5a", count: 64)

@Suite("Bridge response decoding")
struct ResponseDecodingTests {
    static let endpoint = "POST /api/v1/lct/create"

    // Found by fuzz_bridge_json: `Int64(1e300)` trapped and ended the client.
    @Test("timestamps beyond Int64 decode as unknown instead of trapping", arguments: [
        "1e300", "-1e300", "9.3e18", "-9.3e18", "1.8e19",
    ])
    func hugeTimestamps(_ number: String) throws {
        let lct = try BridgeJSON.decode(LCT.self, from: Data(#"{"lct_id":"l","created_at":\#(number),"updated_at":\#(number)}"#.utf8))
        #expect(lct.createdAt == nil && lct.updatedAt == nil)
        let component = try BridgeJSON.decode(Component.self, from: Data(#"{"component_id":"c","created_at":\#(number)}"#.utf8))
        #expect(component.createdAt == nil)
        let challenge = try BridgeJSON.decode(PairingChallenge.self, from: Data(#"{"challenge_id":"p","expires_at":\#(number)}"#.utf8))
        #expect(challenge.expiresAt == nil)
        let completion = try BridgeJSON.decode(PairingCompletion.self, from: Data(#"{"completed_at":\#(number)}"#.utf8))
        #expect(completion.completedAt == nil)
        let revocation = try BridgeJSON.decode(PairingRevocation.self, from: Data(#"{"revoked_at":\#(number)}"#.utf8))
        #expect(revocation.revokedAt == nil)
    }

    @Test("fractional and exponent timestamps within range still decode, truncated")
    func fractionalTimestamps() throws {
        let lct = try BridgeJSON.decode(LCT.self, from: Data(#"{"lct_id":"l","created_at":1.7e9,"updated_at":-12.9}"#.utf8))
        #expect(lct.createdAt == 1_700_000_000)
        #expect(lct.updatedAt == -12)
    }

    @Test("a create answer yields two 64-byte halves equal to the fields")
    func createAnswer() throws {
        let body = #"{"lct_id":"l","device_key_half":"\#(hexHalf)","lct_key_half":"\#(hexHalf.uppercased())"}"#
        let created = try CreatedLCT.decode(Data(body.utf8), endpoint: Self.endpoint)
        #expect(created.lct.lctId == "l")
        #expect(created.deviceKeyHalf.revealHex() == hexHalf)
        #expect(created.lctKeyHalf.revealHex() == hexHalf)
    }

    @Test("a create answer with a short, missing or non-JSON half fails without repeating it", arguments: [
        (#"{"lct_id":"l","device_key_half":"\#(String(hexHalf.dropLast(2)))","lct_key_half":"\#(hexHalf)"}"#,
         BridgeError.Kind.invalidKeyMaterial, "device_key_half"),
        (#"{"lct_id":"l","device_key_half":"\#(hexHalf)"}"#, .invalidKeyMaterial, "lct_key_half is missing"),
        (#"{"lct_id":"l","device_key_half":"\#(hexHalf)","lct_key_half":"\#(hexHalf)zz"}"#, .invalidKeyMaterial, "lct_key_half"),
        (#"{"device_key_half":"\#(hexHalf)","lct_key_half":"\#(hexHalf)"}"#, .invalidResponse, "missing field 'lct_id'"),
        (#"{"lct_id":"l","device_key_half":7}"#, .invalidResponse, "device_key_half"),
    ])
    func badCreateAnswers(_ body: String, _ kind: BridgeError.Kind, _ mentions: String) {
        do {
            _ = try CreatedLCT.decode(Data(body.utf8), endpoint: Self.endpoint)
            Issue.record("accepted \(body)")
        } catch {
            #expect(error.kind == kind)
            #expect(error.description.contains(mentions))
            #expect(!error.description.contains(String(hexHalf.prefix(16))))
        }
    }
}
