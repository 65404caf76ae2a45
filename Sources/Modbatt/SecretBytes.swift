internal import CModbatt
import Synchronization

/// A fixed-size buffer of secret bytes that zeroizes itself.
///
/// `~Copyable`: there is exactly one copy of the secret in memory, handed on
/// with `consuming` methods; `deinit` wipes the whole allocation through the
/// C core's `mb_wipe` (mbedtls_platform_zeroize) before freeing it.
/// The bytes are reachable only inside this package (`withUnsafeBytes`), so
/// the public API never exposes a pointer to key material.
public struct SecretBytes: ~Copyable {
    private let storage: UnsafeMutableRawBufferPointer

    /// Number of secret bytes.
    public let count: Int

    /// `count` zero bytes, to be filled by `withUnsafeMutableBytes`.
    package init(zeroed count: Int) {
        precondition(count >= 0, "negative secret length")
        // Allocate at least one byte so the buffer always has an address.
        storage = .allocate(byteCount: max(count, 1), alignment: 16)
        storage.initializeMemory(as: UInt8.self, repeating: 0)
        self.count = count
    }

    /// Copy `bytes` into a new secret. The caller should wipe its copy.
    package init<Bytes: Collection>(copying bytes: Bytes) where Bytes.Element == UInt8 {
        self.init(zeroed: bytes.count)
        for (i, byte) in bytes.enumerated() { storage[i] = byte }
    }

    /// `count` bytes from the system CSPRNG.
    public static func random(count: Int) -> SecretBytes {
        let secret = SecretBytes(zeroed: count)
        var rng = SystemRandomNumberGenerator()
        for i in 0..<count { secret.storage[i] = rng.next() }
        return secret
    }

    deinit {
        mb_wipe(storage.baseAddress, storage.count)
        SecretBytes.wipeProbe.observe(UnsafeRawBufferPointer(storage))
        storage.deallocate()
    }

    /// Lets tests look at a secret's memory after the wipe and before it is
    /// freed, to prove that `deinit` zeroizes. Costs one lock when unset.
    package static let wipeProbe = WipeProbe()

    package func withUnsafeBytes<R, E: Error>(
        _ body: (UnsafeRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try body(UnsafeRawBufferPointer(rebasing: storage[0..<count]))
    }

    package func withUnsafeMutableBytes<R, E: Error>(
        _ body: (UnsafeMutableRawBufferPointer) throws(E) -> R
    ) throws(E) -> R {
        try body(UnsafeMutableRawBufferPointer(rebasing: storage[0..<count]))
    }

    /// Compare with another secret in constant time.
    public func constantTimeEquals(_ other: borrowing SecretBytes) -> Bool {
        guard count == other.count else { return false }
        return withUnsafeBytes { a in
            other.withUnsafeBytes { b in mb_ct_compare(a.baseAddress, b.baseAddress, count) == 0 }
        }
    }

    /// A short, non-secret name for logs: the first 8 bytes of
    /// HMAC-SHA256(key: "modbatt/fingerprint", secret), in hex.
    public var fingerprint: String {
        var digest = [UInt8](repeating: 0, count: 32)
        let label = Array("modbatt/fingerprint".utf8)
        withUnsafeBytes { raw in
            _ = mb_hmac_sha256(label, label.count, raw.bindMemory(to: UInt8.self).baseAddress, raw.count, &digest)
        }
        return digest.prefix(8).map { String(format2: $0) }.joined()
    }
}

/// Test hook: called from `SecretBytes.deinit` with the wiped buffer.
package final class WipeProbe: Sendable {
    private let observer = Mutex<(@Sendable (UnsafeRawBufferPointer) -> Void)?>(nil)

    package func set(_ body: (@Sendable (UnsafeRawBufferPointer) -> Void)?) {
        observer.withLock { $0 = body }
    }

    func observe(_ buffer: UnsafeRawBufferPointer) {
        observer.withLock { $0?(buffer) }
    }
}
