internal import CModbatt

/// AES-256-GCM with the key schedule kept between calls (the C core's
/// `mb_aead`). Non-copyable: the context holds the key and is wiped in
/// `deinit`. Seal/open write into caller-provided arrays so the hot path
/// does not allocate.
public struct AESGCMContext: ~Copyable {
    public static let nonceCount = Int(MB_AEAD_NONCE_LEN)
    private let ctx: UnsafeMutablePointer<mb_aead>

    /// Install a 32-byte key.
    public init(key: borrowing SecretBytes) throws(ModbattError) {
        guard key.count == Int(MB_AEAD_KEY_LEN) else { throw .invalidLength }
        let ctx = UnsafeMutablePointer<mb_aead>.allocate(capacity: 1)
        mb_aead_init(ctx)
        let code = key.withUnsafeBytes { raw in mb_aead_setkey(ctx, raw.bindMemory(to: UInt8.self).baseAddress) }
        if let error = ModbattError(code: code) {
            mb_aead_free(ctx)
            ctx.deallocate()
            throw error
        }
        self.ctx = ctx
    }

    deinit {
        mb_aead_free(ctx)
        ctx.deallocate()
    }

    /// Encrypt `plaintext`; returns ciphertext and a tag of `tagCount` bytes
    /// (4, 8 or 12...16). The nonce must never repeat under this key.
    public func seal(nonce: [UInt8], aad: [UInt8] = [], plaintext: [UInt8], tagCount: Int = 16)
        throws(ModbattError) -> (ciphertext: [UInt8], tag: [UInt8]) {
        guard nonce.count == Self.nonceCount else { throw .invalidLength }
        var ct = [UInt8](repeating: 0, count: plaintext.count)
        var tag = [UInt8](repeating: 0, count: max(tagCount, 0))
        let code = ct.withUnsafeMutableBufferPointer { ctBuf in
            tag.withUnsafeMutableBufferPointer { tagBuf in
                mb_aead_seal(ctx, nonce, aad, aad.count, plaintext, plaintext.count,
                             ctBuf.baseAddress, tagBuf.baseAddress, tagCount)
            }
        }
        try ModbattError.check(code)
        return (ct, tag)
    }

    /// Verify and decrypt; throws `.authenticationFailed` on a bad tag.
    public func open(nonce: [UInt8], aad: [UInt8] = [], ciphertext: [UInt8], tag: [UInt8])
        throws(ModbattError) -> [UInt8] {
        guard nonce.count == Self.nonceCount else { throw .invalidLength }
        var pt = [UInt8](repeating: 0, count: ciphertext.count)
        let code = pt.withUnsafeMutableBufferPointer { ptBuf in
            mb_aead_open(ctx, nonce, aad, aad.count, ciphertext, ciphertext.count,
                         tag, tag.count, ptBuf.baseAddress)
        }
        try ModbattError.check(code)
        return pt
    }
}
