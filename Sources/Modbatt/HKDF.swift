internal import CModbatt

/// HKDF-SHA256 (RFC 5869) through the C core.
public enum HKDF {
    /// Derive `outputCount` bytes (1...8160) as a zeroizing secret.
    public static func sha256(
        salt: [UInt8], inputKeyMaterial ikm: borrowing SecretBytes, info: [UInt8], outputCount: Int
    ) throws(ModbattError) -> SecretBytes {
        let okm = SecretBytes(zeroed: outputCount)
        let code = ikm.withUnsafeBytes { ikmRaw in
            okm.withUnsafeMutableBytes { out in
                mb_hkdf_sha256(salt, salt.count, ikmRaw.bindMemory(to: UInt8.self).baseAddress, ikmRaw.count,
                               info, info.count, out.bindMemory(to: UInt8.self).baseAddress, outputCount)
            }
        }
        try ModbattError.check(code)
        return okm
    }
}

/// PBKDF2-HMAC-SHA256 (RFC 8018) through the C core: a key from a
/// passphrase, for the app's key store on the host.
public enum PBKDF2 {
    /// Derive `outputCount` bytes (1...256) as a zeroizing secret.
    public static func sha256(
        passphrase: borrowing SecretBytes, salt: [UInt8], iterations: UInt32, outputCount: Int
    ) throws(ModbattError) -> SecretBytes {
        let out = SecretBytes(zeroed: outputCount)
        let code = passphrase.withUnsafeBytes { pw in
            out.withUnsafeMutableBytes { dst in
                mb_pbkdf2_sha256(pw.bindMemory(to: UInt8.self).baseAddress, pw.count, salt, salt.count,
                                 iterations, dst.bindMemory(to: UInt8.self).baseAddress, outputCount)
            }
        }
        try ModbattError.check(code)
        return out
    }
}
