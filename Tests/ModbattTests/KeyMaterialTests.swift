import Foundation
import Testing
@testable import Modbatt

@Suite("Key material")
struct KeyMaterialTests {
    static let hex64 = (0..<64).map { String(format: "%02x", $0) }.joined()

    @Test func parsesHexInEitherCase() throws {
        let lower = try KeyHalf(encoded: Self.hex64)
        let upper = try KeyHalf(encoded: " \(Self.hex64.uppercased())\n")
        let equal = lower.secret.constantTimeEquals(upper.secret)
        #expect(equal)
        #expect(lower.revealHex() == Self.hex64)
    }

    @Test func parsesStandardAndURLSafeBase64() throws {
        let bytes = (0..<64).map { UInt8(255 - $0) }
        let standard = Data(bytes).base64EncodedString()
        let urlSafe = standard.replacingOccurrences(of: "+", with: "-")
            .replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        let a = try KeyHalf(encoded: standard), b = try KeyHalf(encoded: urlSafe)
        let equal = a.secret.constantTimeEquals(b.secret)
        #expect(equal)
        #expect(a.revealHex() == bytes.map { String(format: "%02x", $0) }.joined())
    }

    @Test("anything but exactly 64 bytes is rejected, without echoing the input",
          arguments: ["", "zz", String(hex64.dropLast(2)), hex64 + "00",
                      Data(count: 63).base64EncodedString(), Data(count: 65).base64EncodedString(),
                      "not a key at all!", "abc=def"])
    func rejectsWrongLengthsAndGarbage(_ text: String) {
        do {
            _ = try KeyHalf(encoded: text)
            Issue.record("accepted \(text.count) characters")
        } catch {
            guard case .invalidKeyEncoding(let reason) = error else {
                Issue.record("wrong error \(error)"); return
            }
            #expect(!text.isEmpty ? !reason.contains(text) : true)
        }
    }

    @Test func saltIsExactly32Bytes() throws {
        #expect(throws: ModbattError.self) { _ = try Salt(bytes: [UInt8](repeating: 1, count: 31)) }
        let salt = try Salt(bytes: [UInt8](repeating: 1, count: 32))
        #expect(salt.revealHex() == String(repeating: "01", count: 32))
        #expect(Salt.random().revealHex() != Salt.random().revealHex())
    }

    @Test func fingerprintIsStableAndNotTheKey() throws {
        let half = try KeyHalf(encoded: Self.hex64)
        let fingerprint = half.fingerprint
        let again = try KeyHalf(encoded: Self.hex64).fingerprint
        let other = KeyHalf.random().fingerprint
        #expect(fingerprint == again)
        #expect(fingerprint.count == 16)
        #expect(!Self.hex64.contains(fingerprint))
        #expect(other != fingerprint)
    }

    @Test("deinit wipes the secret's memory before freeing it")
    func deinitZeroizes() throws {
        let observed = ObservedWipe()
        do {
            let half = try KeyHalf(encoded: Self.hex64)
            let address = half.secret.withUnsafeBytes { UInt(bitPattern: $0.baseAddress) }
            SecretBytes.wipeProbe.set { buffer in
                if UInt(bitPattern: buffer.baseAddress) == address { observed.record(Array(buffer)) }
            }
        }   // `half` ends here: deinit runs
        SecretBytes.wipeProbe.set(nil)
        let bytes = try #require(observed.bytes)
        #expect(bytes.count == 64)
        #expect(bytes.allSatisfy { $0 == 0 })
    }
}

/// Collects the bytes the wipe probe saw (the probe runs on any thread).
final class ObservedWipe: @unchecked Sendable {
    private let lock = NSLock()
    private var seen: [UInt8]?
    var bytes: [UInt8]? { lock.withLock { seen } }
    func record(_ bytes: [UInt8]) { lock.withLock { seen = bytes } }
}
