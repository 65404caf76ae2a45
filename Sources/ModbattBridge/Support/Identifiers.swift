import Modbatt

/// Ids and hashes the embedded bridge hands out.
enum Identifiers {
    /// `prefix` + 12 lower-case hex digits from the CSPRNG (`comp_3f9a0c2e71b4`).
    static func make(_ prefix: String) -> String {
        prefix + hex(randomBytes(6))
    }

    /// A transaction-hash look-alike: 64 upper-case hex digits.
    static func txHash() -> String {
        hex(randomBytes(32)).uppercased()
    }

    static func randomBytes(_ count: Int) -> [UInt8] {
        var rng = SystemRandomNumberGenerator()
        return (0..<count).map { _ in rng.next() }
    }

    static func hex(_ bytes: some Sequence<UInt8>) -> String {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
