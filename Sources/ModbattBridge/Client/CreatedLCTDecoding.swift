import Foundation
import Modbatt

extension CreatedLCT {
    /// Parse the 2xx body of `POST /api/v1/lct/create`: the LCT and its two
    /// key halves, each exactly 64 bytes once decoded. Kept apart from the
    /// HTTP client so the fuzz harness (Tests/Fuzz/swift) drives this exact
    /// code. Errors name fields and lengths only, never the key text.
    static func decode(_ raw: Data, endpoint: String) throws(BridgeError) -> CreatedLCT {
        let wire: CreateLCTWire
        do { wire = try BridgeJSON.decodeAnswer(CreateLCTWire.self, from: raw) } catch {
            throw BridgeError(kind: .invalidResponse, endpoint: endpoint, status: 200,
                              message: "unexpected answer: \(BridgeJSON.describe(error))")
        }
        let device = try keyHalf(wire.deviceKeyHalf, field: "device_key_half", endpoint: endpoint)
        let lctHalf = try keyHalf(wire.lctKeyHalf, field: "lct_key_half", endpoint: endpoint)
        return CreatedLCT(lct: wire.lct, deviceKeyHalf: device, lctKeyHalf: lctHalf)
    }

    private static func keyHalf(_ text: String?, field: String, endpoint: String) throws(BridgeError) -> KeyHalf {
        guard let text, !text.isEmpty else {
            throw BridgeError(kind: .invalidKeyMaterial, endpoint: endpoint, message: "\(field) is missing")
        }
        do { return try KeyHalf(encoded: text) } catch {
            throw BridgeError(kind: .invalidKeyMaterial, endpoint: endpoint, message: "\(field): \(error)")
        }
    }
}
