internal import CModbatt

/// A 64-byte key half as the API-Bridge hands it out (`device_key_half`,
/// `lct_key_half`). Zeroized on `deinit`; never printed.
public struct KeyHalf: ~Copyable {
    /// Length every key half must have.
    public static let byteCount = Int(MB_KEY_HALF_LEN)

    package let secret: SecretBytes

    /// Parse hex (upper or lower case) or standard/URL-safe base64, as the
    /// bridge returns it. Anything that does not decode to exactly 64 bytes
    /// is rejected; the error never repeats the input.
    public init(encoded text: String) throws(ModbattError) {
        var bytes = try KeyEncoding.decode(text, expecting: Self.byteCount, what: "key half")
        defer { KeyEncoding.wipe(&bytes) }
        try self.init(bytes: bytes)
    }

    /// Take raw bytes (exactly 64). The caller should wipe its array.
    public init(bytes: [UInt8]) throws(ModbattError) {
        guard bytes.count == Self.byteCount else {
            throw .invalidKeyEncoding(reason: "key half must be \(Self.byteCount) bytes, got \(bytes.count)")
        }
        secret = SecretBytes(copying: bytes)
    }

    /// A random key half (for the embedded API-Bridge and tests).
    public static func random() -> KeyHalf {
        KeyHalf(secret: .random(count: byteCount))
    }

    package init(secret: consuming SecretBytes) {
        self.secret = secret
    }

    /// A short, non-secret name for logs: the first 8 bytes of
    /// HMAC-SHA256(key: "modbatt/fingerprint", half), in hex.
    public var fingerprint: String { secret.fingerprint }

    /// Lower-case hex of the secret, for building a key package or a test
    /// vector. Callers own the wiping of the returned string's memory.
    package func revealHex() -> String {
        secret.withUnsafeBytes { raw in raw.map { String(format2: $0) }.joined() }
    }
}

/// The app-generated 32-byte HKDF salt of a pair.
public struct Salt: ~Copyable {
    public static let byteCount = Int(MB_SALT_LEN)
    package let secret: SecretBytes

    /// A fresh salt from the system CSPRNG.
    public static func random() -> Salt { Salt(secret: .random(count: byteCount)) }

    /// Parse hex or base64; exactly 32 bytes.
    public init(encoded text: String) throws(ModbattError) {
        var bytes = try KeyEncoding.decode(text, expecting: Self.byteCount, what: "salt")
        defer { KeyEncoding.wipe(&bytes) }
        try self.init(bytes: bytes)
    }

    public init(bytes: [UInt8]) throws(ModbattError) {
        guard bytes.count == Self.byteCount else {
            throw .invalidKeyEncoding(reason: "salt must be \(Self.byteCount) bytes, got \(bytes.count)")
        }
        secret = SecretBytes(copying: bytes)
    }

    package init(secret: consuming SecretBytes) { self.secret = secret }

    /// Lower-case hex (a salt is not secret on its own, but it is not logged either).
    package func revealHex() -> String {
        secret.withUnsafeBytes { raw in raw.map { String(format2: $0) }.joined() }
    }
}

extension String {
    /// Two lower-case hex digits.
    init(format2 byte: UInt8) {
        let digits: [Character] = Array("0123456789abcdef")
        self.init([digits[Int(byte >> 4)], digits[Int(byte & 0xF)]])
    }
}
