/// Decoding of key material given as text (hex or base64). Errors say what
/// was wrong with the shape of the input, never what the input was.
enum KeyEncoding {
    /// Decode hex or base64, preferring whichever yields `count` bytes (an
    /// all-hex-digit string can be valid base64 too).
    static func decode(_ text: String, expecting count: Int, what: String) throws(ModbattError) -> [UInt8] {
        let trimmed = text.trimmingWhitespace()
        let candidates = [hex(trimmed), base64(trimmed)].compactMap { $0 }
        if let match = candidates.first(where: { $0.count == count }) { return match }
        guard let decoded = candidates.first else {
            throw .invalidKeyEncoding(reason: "\(what) is neither hex nor base64 (\(trimmed.utf8.count) characters)")
        }
        throw .invalidKeyEncoding(reason: "\(what) must be \(count) bytes, got \(decoded.count)")
    }

    static func wipe(_ bytes: inout [UInt8]) {
        for i in bytes.indices { bytes[i] = 0 }
    }

    static func hex(_ text: String) -> [UInt8]? {
        let utf8 = Array(text.utf8)
        guard !utf8.isEmpty, utf8.count % 2 == 0 else { return nil }
        var out = [UInt8]()
        out.reserveCapacity(utf8.count / 2)
        var i = 0
        while i < utf8.count {
            guard let hi = nibble(utf8[i]), let lo = nibble(utf8[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
        default: return nil
        }
    }

    /// Standard or URL-safe alphabet, padding optional.
    static func base64(_ text: String) -> [UInt8]? {
        var acc: UInt32 = 0
        var bits = 0
        var out = [UInt8]()
        var padding = 0
        for c in text.utf8 {
            if c == UInt8(ascii: "=") { padding += 1; continue }
            guard padding == 0, let v = sextet(c) else { return nil }
            acc = acc << 6 | UInt32(v)
            bits += 6
            if bits >= 8 {
                bits -= 8
                out.append(UInt8(truncatingIfNeeded: acc >> UInt32(bits)))
            }
        }
        // Leftover bits must be zero padding, and at most 2 '=' may appear.
        guard padding <= 2, bits < 6, acc & ((1 << UInt32(bits)) - 1) == 0 else { return nil }
        return out
    }

    private static func sextet(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "A")...UInt8(ascii: "Z"): return c - UInt8(ascii: "A")
        case UInt8(ascii: "a")...UInt8(ascii: "z"): return c - UInt8(ascii: "a") + 26
        case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0") + 52
        case UInt8(ascii: "+"), UInt8(ascii: "-"): return 62
        case UInt8(ascii: "/"), UInt8(ascii: "_"): return 63
        default: return nil
        }
    }
}

extension String {
    func trimmingWhitespace() -> String {
        let scalars = unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
              let last = scalars.lastIndex(where: { !$0.properties.isWhitespace }) else { return "" }
        return String(scalars[first...last])
    }
}
