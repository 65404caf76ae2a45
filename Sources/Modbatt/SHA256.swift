internal import CModbatt

/// SHA-256 through the C core (`mb_sha256`), for hash chains and public
/// fingerprints. Not for secrets: use `HKDF` / `PairKeys` for key material.
public enum SHA256 {
    /// The 32-byte digest of `bytes`.
    public static func hash<Bytes: Collection>(_ bytes: Bytes) -> [UInt8] where Bytes.Element == UInt8 {
        var digest = [UInt8](repeating: 0, count: 32)
        let input = Array(bytes)
        let code = mb_sha256(input, input.count, &digest)
        precondition(code == MB_OK, "mb_sha256 cannot fail on valid buffers")
        return digest
    }

    /// Lower-case hex of the digest.
    public static func hex<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        hash(bytes).map { String(format2: $0) }.joined()
    }
}
