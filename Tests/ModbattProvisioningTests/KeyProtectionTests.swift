import Foundation
import Testing
@testable import ModbattProvisioning

/// Issue #15 item 4: the app's signing key is wrapped by a key kept apart
/// from it: derived from a passphrase (PBKDF2), with the key file beside the
/// store only as the explicit development option.
@Suite("Key store protection at rest")
struct KeyProtectionTests {
    static func store(_ dir: URL, _ source: StorageKeySource) throws -> DeviceStorage {
        try DeviceStorage(directory: dir, name: "app", serial: "modbatt-app-host", deviceId: 0, role: 2,
                          keySource: source)
    }

    @Test("a passphrase store opens with its passphrase only; no key file is written; each kind refuses the other")
    func passphraseStore() throws {
        let dir = tempDataDirectory("protect")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let first = try Self.store(dir, .passphrase("s3cret", iterations: 1000))
        _ = first.boot()
        let key = try #require(first.binding?.publicKey)
        #expect(!FileManager.default.fileExists(atPath: dir.appendingPathComponent("app.hwkey").path))
        let kdf = try PassphraseKDF.read(dir.appendingPathComponent("app.kdf"))
        #expect(kdf.iterations == 1000)
        let perms = try FileManager.default.attributesOfItem(atPath: dir.appendingPathComponent("app.kdf").path)
        #expect((perms[.posixPermissions] as? NSNumber)?.intValue == 0o600)

        let again = try Self.store(dir, .passphrase("s3cret"))     // iterations come from the .kdf file
        _ = again.boot()
        #expect(again.binding?.publicKey == key)

        let wrong = try Self.store(dir, .passphrase("guess"))
        _ = wrong.boot()
        #expect(wrong.refused == .authenticationFailed)
        #expect(wrong.binding == nil)

        #expect(throws: DeviceKeyStoreError.passphraseRequired(dir.appendingPathComponent("app.kdf").path)) {
            _ = try Self.store(dir, .keyFile)
        }
        #expect(FileFlash(directory: dir, name: "app").protection.hasPrefix("passphrase (PBKDF2-HMAC-SHA256, 1000 iterations"))
    }

    @Test("a key-file store refuses a passphrase; a damaged .kdf is named")
    func mismatchesAndDamage() throws {
        let dir = tempDataDirectory("protect-kf")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        _ = try Self.store(dir, .keyFile).boot()
        #expect(FileFlash(directory: dir, name: "app").protection.hasPrefix("key file beside the store"))
        #expect(throws: DeviceKeyStoreError.keyFileStore(dir.appendingPathComponent("app.hwkey").path)) {
            _ = try Self.store(dir, .passphrase("x"))
        }
        let other = tempDataDirectory("protect-bad")
        try FileManager.default.createDirectory(at: other, withIntermediateDirectories: true)
        try Data("{\"kdf\":\"pbkdf2-hmac-sha256\",\"salt\":\"00\",\"iterations\":1}".utf8)
            .write(to: other.appendingPathComponent("app.kdf"))
        #expect(throws: DeviceKeyStoreError.badKDFFile(other.appendingPathComponent("app.kdf").path)) {
            _ = try Self.store(other, .passphrase("x"))
        }
    }
}
