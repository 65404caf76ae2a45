internal import CModbatt

/// The decoded ModBatt 29-bit extended CAN id (`mb_canid`).
public struct CANId: Hashable, Sendable, CustomStringConvertible {
    /// Bits 28..18, 0...2047.
    public var messageId: UInt16
    /// Bit 17: the payload is encrypted.
    public var encrypted: Bool
    /// Bit 16.
    public var spare: Bool
    /// 1...16 (bits 15..12 carry index - 1).
    public var chunkIndex: UInt8
    /// 1...16 (bits 11..8 carry total - 1).
    public var chunkTotal: UInt8
    /// Bits 7..0.
    public var deviceId: UInt8

    public init(messageId: UInt16, encrypted: Bool = false, spare: Bool = false,
                chunkIndex: UInt8 = 1, chunkTotal: UInt8 = 1, deviceId: UInt8) {
        self.messageId = messageId
        self.encrypted = encrypted
        self.spare = spare
        self.chunkIndex = chunkIndex
        self.chunkTotal = chunkTotal
        self.deviceId = deviceId
    }

    /// Decode a raw 29-bit id.
    public init(raw: UInt32) throws(ModbattError) {
        var f = mb_canid()
        try ModbattError.check(mb_canid_decode(raw, &f))
        self.init(messageId: f.msg_id, encrypted: f.encrypted, spare: f.spare,
                  chunkIndex: f.chunk_index, chunkTotal: f.chunk_total, deviceId: f.device_id)
    }

    /// The raw 29-bit id; throws for fields out of range.
    public func raw() throws(ModbattError) -> UInt32 {
        var f = mb_canid(msg_id: messageId, encrypted: encrypted, spare: spare,
                         chunk_index: chunkIndex, chunk_total: chunkTotal, device_id: deviceId)
        let id = mb_canid_encode(&f)
        if id == MB_CANID_INVALID {
            throw messageId > UInt16(MB_CANID_MSG_MAX) ? .canIdOutOfRange : .chunkOutOfRange
        }
        return id
    }

    public var description: String {
        "msg=0x\(String(messageId, radix: 16)) enc=\(encrypted ? 1 : 0) chunk=\(chunkIndex)/\(chunkTotal) dev=\(deviceId)"
    }
}
