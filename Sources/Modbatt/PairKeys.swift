internal import CModbatt

/// Everything one device pair derives from its two key halves and the app's
/// salt (`mb_pair_derive`, docs/KEY_DERIVATION.md), from this device's side.
public struct PairKeys: ~Copyable {
    /// AES-256 key for frames this device sends.
    public let txKey: SecretBytes
    /// AES-256 key for frames it receives.
    public let rxKey: SecretBytes
    /// HMAC key for key confirmation in the handshake.
    public let confirmKey: SecretBytes
    /// Nonce fixed field of the sending direction (not secret).
    public let txFixed: [UInt8]
    /// Nonce fixed field of the receiving direction (not secret).
    public let rxFixed: [UInt8]
    /// Public 4-byte name of the pair key, the same on both devices.
    public let keyId: [UInt8]
    /// True if this device's id sorts before the peer's.
    public let selfIsLow: Bool

    /// Derive from the two halves (any order), the salt, both component ids
    /// and the LCT id (each 1...64 bytes of UTF-8).
    public init(halves first: borrowing KeyHalf, _ second: borrowing KeyHalf, salt: borrowing Salt,
                selfId: String, peerId: String, lctId: String) throws(ModbattError) {
        var keys = mb_pair_keys()
        defer { mb_pair_keys_wipe(&keys) }
        // One buffer for the three ids, so a single pointer outlives the call.
        let selfBytes = Array(selfId.utf8), peerBytes = Array(peerId.utf8), lctBytes = Array(lctId.utf8)
        let ids = selfBytes + peerBytes + lctBytes
        let code = first.secret.withUnsafeBytes { h1 in
            second.secret.withUnsafeBytes { h2 in
                salt.secret.withUnsafeBytes { s in
                    ids.withUnsafeBufferPointer { idBuf in
                        let base = idBuf.baseAddress
                        var params = mb_pair_params(
                            half_1: h1.bindMemory(to: UInt8.self).baseAddress,
                            half_2: h2.bindMemory(to: UInt8.self).baseAddress,
                            salt: s.bindMemory(to: UInt8.self).baseAddress,
                            self_id: base, self_id_len: selfBytes.count,
                            peer_id: base.map { $0 + selfBytes.count }, peer_id_len: peerBytes.count,
                            lct_id: base.map { $0 + selfBytes.count + peerBytes.count }, lct_id_len: lctBytes.count)
                        return mb_pair_derive(&params, &keys)
                    }
                }
            }
        }
        try ModbattError.check(code)
        txKey = withUnsafeBytes(of: keys.tx_key) { SecretBytes(copying: $0) }
        rxKey = withUnsafeBytes(of: keys.rx_key) { SecretBytes(copying: $0) }
        confirmKey = withUnsafeBytes(of: keys.confirm_key) { SecretBytes(copying: $0) }
        txFixed = withUnsafeBytes(of: keys.tx_fixed) { Array($0) }
        rxFixed = withUnsafeBytes(of: keys.rx_fixed) { Array($0) }
        keyId = withUnsafeBytes(of: keys.key_id) { Array($0) }
        selfIsLow = keys.self_is_low != 0
    }
}
