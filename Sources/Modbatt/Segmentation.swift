internal import CModbatt

/// Wire messages as CAN frames, the way a session sends them
/// (docs/PROTOCOL.md 4): the C core's segmentation, for tools that put
/// whole messages on a bus themselves: test benches, decoders, the
/// simulation's attacker.
public enum Segmentation {
    /// Bytes of a HELLO in protocol v2 (version, flags, key id, nonce,
    /// counter, MAC).
    public static let helloLength = Int(MB_SESSION_HELLO_LEN)
    /// The protocol version carried in handshakes and bound in every AAD.
    public static let protocolVersion = UInt8(MB_PROTO_VERSION)

    /// The frames of `wire` sent under the 11-bit `messageId` for `deviceId`.
    /// Throws `.invalidLength` when the message is longer than the profile carries.
    public static func frames(of wire: [UInt8], messageId: UInt16, encrypted: Bool, deviceId: UInt8,
                              profile: SecureSession.Profile) throws(ModbattError) -> [CANFrame] {
        let p = profile == .fd ? MB_PROFILE_FD : MB_PROFILE_CLASSIC
        let key = mb_seg_message_id(p, messageId, encrypted, deviceId, wire.count)
        guard key != MB_CANID_INVALID else { throw .invalidLength }
        var out: [CANFrame] = []
        for i in 1...max(1, mb_seg_frame_count(p, wire.count)) {
            var raw = mb_frame()
            let code = wire.withUnsafeBufferPointer { mb_seg_frame(p, key, $0.baseAddress, $0.count, UInt32(i), &raw) }
            try ModbattError.check(code)
            let len = Int(raw.len)
            let frame = withUnsafeBytes(of: &raw.data) { bytes in
                try? CANFrame(id: raw.id, extended: true, fd: profile == .fd,
                              data: UnsafeRawBufferPointer(rebasing: bytes[0..<len]))
            }
            guard let frame else { throw .invalidLength }
            out.append(frame)
        }
        return out
    }
}
