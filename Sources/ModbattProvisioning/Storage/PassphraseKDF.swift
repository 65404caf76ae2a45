import Foundation
import Modbatt

/// The key of a passphrase-protected key store (`StorageKeySource.passphrase`):
/// PBKDF2-HMAC-SHA256 of the passphrase with a random 16-byte salt. The salt
/// and the iteration count are public and live in `<name>.kdf` beside the
/// store, written (0600, atomically) when the store is created; the key
/// itself is never written anywhere.
enum PassphraseKDF {
    struct Parameters: Codable, Equatable {
        var kdf = "pbkdf2-hmac-sha256"
        var salt: String
        var iterations: UInt32
    }

    static func read(_ url: URL) throws -> Parameters {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw DeviceKeyStoreError.passphraseRequired(url.path)
        }
        guard let p = try? JSONDecoder().decode(Parameters.self, from: data), p.kdf == "pbkdf2-hmac-sha256",
              p.iterations > 0, CCore.unhex(p.salt)?.count == 16
        else { throw DeviceKeyStoreError.badKDFFile(url.path) }
        return p
    }

    /// The 32-byte storage key; with `create`, a missing `.kdf` is written first.
    static func derive(_ passphrase: String, at url: URL, create: Bool, iterations: UInt32) throws -> [UInt8] {
        let params: Parameters
        if FileManager.default.fileExists(atPath: url.path) || !create {
            params = try read(url)
        } else {
            var g = SystemRandomNumberGenerator()
            let salt = (0..<16).map { _ in UInt8.random(in: 0...255, using: &g) }
            params = Parameters(salt: CCore.hex(salt), iterations: iterations)
            try SecretFile.write(Array(try JSONEncoder().encode(params)), to: url)
        }
        let key = try PBKDF2.sha256(passphrase: SecretBytes(copying: Array(passphrase.utf8)),
                                    salt: CCore.unhex(params.salt) ?? [], iterations: params.iterations,
                                    outputCount: 32)
        return key.withUnsafeBytes { Array($0) }
    }
}
