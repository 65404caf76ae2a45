/// One CAN or CAN FD data frame as a value.
///
/// The payload lives inline in the struct (64 bytes of fixed storage), so a
/// frame is a plain value of about 72 bytes: creating, copying, queueing and
/// comparing frames never touches the heap. `data` builds an `[UInt8]` for
/// convenience; hot paths use `withUnsafeBytes` or the subscript instead.
///
/// Remote (RTR) and error frames are not modelled: ModBatt uses neither, and
/// the transports report them as unsupported rather than guessing.
public struct CANFrame: Sendable, Hashable, CustomStringConvertible {
    /// Largest classic CAN payload.
    public static let maxClassicCount = 8
    /// Largest CAN FD payload.
    public static let maxFDCount = 64
    /// Largest standard (11-bit) identifier.
    public static let maxStandardId: UInt32 = 0x7FF
    /// Largest extended (29-bit) identifier.
    public static let maxExtendedId: UInt32 = 0x1FFF_FFFF

    /// The identifier: 11 bits for a standard frame, 29 bits for an extended one.
    public let id: UInt32
    /// 29-bit identifier (CAN 2.0B / IDE set).
    public let isExtended: Bool
    /// CAN FD frame (FDF set): up to 64 bytes.
    public let isFD: Bool
    /// CAN FD bit-rate switch: the data phase runs at the data bit rate.
    public let bitRateSwitch: Bool
    /// CAN FD error-state indicator (the sender is error passive).
    public let errorStateIndicator: Bool
    /// Number of payload bytes (0...8 classic, 0...64 FD).
    public let count: Int
    private var storage: Payload

    /// A classic or CAN FD frame.
    ///
    /// - Parameters:
    ///   - id: the identifier; must fit 11 bits (standard) or 29 bits (extended).
    ///   - extended: 29-bit frame; `nil` picks extended when `id` exceeds 11 bits.
    ///   - fd: CAN FD frame (payload up to 64 bytes; any length is accepted,
    ///     the wire carries it padded to the next DLC size, see `wireCount`).
    ///   - bitRateSwitch: CAN FD only; switch to the data bit rate.
    ///   - errorStateIndicator: CAN FD only.
    ///   - data: the payload.
    /// - Throws: `CANFrameError` for an id out of range, a payload too long,
    ///   or FD flags on a classic frame.
    public init<Bytes: Collection<UInt8>>(
        id: UInt32, extended: Bool? = nil, fd: Bool = false, bitRateSwitch: Bool = false,
        errorStateIndicator: Bool = false, data: Bytes
    ) throws(CANFrameError) {
        let ext = extended ?? (id > Self.maxStandardId)
        guard id <= (ext ? Self.maxExtendedId : Self.maxStandardId) else {
            throw .idOutOfRange(id: id, extended: ext)
        }
        let max = fd ? Self.maxFDCount : Self.maxClassicCount
        let count = data.count
        guard count <= max else { throw .payloadTooLong(count: count, max: max) }
        guard fd || (!bitRateSwitch && !errorStateIndicator) else { throw .fdFlagsOnClassicFrame }
        self.id = id
        self.isExtended = ext
        self.isFD = fd
        self.bitRateSwitch = bitRateSwitch
        self.errorStateIndicator = errorStateIndicator
        self.count = count
        self.storage = Payload()
        withUnsafeMutableBytes(of: &storage) { raw in
            for (i, byte) in data.enumerated() { raw[i] = byte }
        }
    }

    /// A frame with an empty payload.
    public init(id: UInt32, extended: Bool? = nil, fd: Bool = false) throws(CANFrameError) {
        try self.init(id: id, extended: extended, fd: fd, data: EmptyCollection())
    }

    /// An extended frame whose id is the encoded ModBatt id.
    public init(modbattId: CANId, fd: Bool = false, bitRateSwitch: Bool = false, data: [UInt8]) throws {
        try self.init(id: modbattId.raw(), extended: true, fd: fd, bitRateSwitch: bitRateSwitch, data: data)
    }

    /// The payload as an array (allocates; see `withUnsafeBytes`).
    public var data: [UInt8] { withUnsafeBytes { Array($0) } }

    /// Byte `index` of the payload (0..<count).
    public subscript(index: Int) -> UInt8 {
        get {
            precondition(index >= 0 && index < count, "payload index out of range")
            return Swift.withUnsafeBytes(of: storage) { $0[index] }
        }
        set {
            precondition(index >= 0 && index < count, "payload index out of range")
            withUnsafeMutableBytes(of: &storage) { $0[index] = newValue }
        }
    }

    /// Borrow the payload bytes without copying them.
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try Swift.withUnsafeBytes(of: storage) { raw throws(E) in
            try body(UnsafeRawBufferPointer(rebasing: raw[0..<count]))
        }
    }

    /// The data length code on the wire (0...15).
    public var dlc: UInt8 { Self.dlc(forCount: count) }

    /// Payload bytes on the wire: `count` rounded up to the next CAN FD size
    /// (12, 16, 20, 24, 32, 48, 64); equal to `count` for classic frames.
    public var wireCount: Int { Self.count(forDLC: dlc) }

    /// The ModBatt fields of an extended id, if the id decodes.
    public var modbattId: CANId? {
        guard isExtended else { return nil }
        return try? CANId(raw: id)
    }

    /// The same frame with `body` applied to a copy of the payload (used for
    /// fault injection: bit flips keep the length and flags).
    public func withPayload(_ body: (UnsafeMutableRawBufferPointer) -> Void) -> CANFrame {
        var copy = self
        let count = self.count
        withUnsafeMutableBytes(of: &copy.storage) { raw in
            body(UnsafeMutableRawBufferPointer(rebasing: raw[0..<count]))
        }
        return copy
    }

    /// The frame in candump's compact form: `123#0102`, `1ABCDEF0#`, `123##1AABB`
    /// (FD: the digit after `##` holds the flags, 1 = BRS, 2 = ESI).
    public var description: String {
        var s = Self.hexId(id, extended: isExtended)
        if isFD {
            s += "##"
            s.append(Self.hexDigit(UInt8((bitRateSwitch ? 1 : 0) | (errorStateIndicator ? 2 : 0))))
        } else {
            s += "#"
        }
        withUnsafeBytes { raw in
            for byte in raw {
                s.append(Self.hexDigit(byte >> 4))
                s.append(Self.hexDigit(byte & 0xF))
            }
        }
        return s
    }

    /// Equality and hashing look at the `count` payload bytes only.
    public static func == (a: CANFrame, b: CANFrame) -> Bool {
        guard a.id == b.id, a.isExtended == b.isExtended, a.isFD == b.isFD,
              a.bitRateSwitch == b.bitRateSwitch, a.errorStateIndicator == b.errorStateIndicator,
              a.count == b.count else { return false }
        return a.withUnsafeBytes { x in b.withUnsafeBytes { y in x.elementsEqual(y) } }
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(id)
        hasher.combine(isExtended)
        hasher.combine(isFD)
        hasher.combine(count)
        withUnsafeBytes { hasher.combine(bytes: $0) }
    }

    // MARK: DLC tables (ISO 11898-1:2015, table 5)

    private static let fdSizes: [Int] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64]

    /// The smallest DLC whose size holds `count` bytes (count 0...64).
    public static func dlc(forCount count: Int) -> UInt8 {
        if count <= 8 { return UInt8(max(count, 0)) }
        return UInt8(fdSizes.firstIndex { $0 >= count } ?? 15)
    }

    /// Bytes that a CAN FD DLC stands for.
    public static func count(forDLC dlc: UInt8) -> Int { fdSizes[Int(min(dlc, 15))] }

    /// Upper-case hex id, 3 digits (standard) or 8 digits (extended), as candump and socketcand print it.
    public static func hexId(_ id: UInt32, extended: Bool) -> String {
        let digits = extended ? 8 : 3
        var out = ""
        for shift in stride(from: (digits - 1) * 4, through: 0, by: -4) {
            out.append(hexDigit(UInt8((id >> UInt32(shift)) & 0xF)))
        }
        return out
    }

    /// The upper-case hex digit of a nibble (0...15).
    public static func hexDigit(_ nibble: UInt8) -> Character {
        Character(Unicode.Scalar(nibble < 10 ? 0x30 + nibble : 0x41 + nibble - 10))
    }

    /// 64 bytes of inline payload storage.
    private struct Payload: Sendable {
        var words: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    }
}

/// Why a `CANFrame` could not be built.
public enum CANFrameError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The id does not fit 11 bits (standard) or 29 bits (extended).
    case idOutOfRange(id: UInt32, extended: Bool)
    /// More payload bytes than the frame kind carries (8 classic, 64 FD).
    case payloadTooLong(count: Int, max: Int)
    /// Bit-rate switch or error-state indicator set on a classic frame.
    case fdFlagsOnClassicFrame

    public var description: String {
        switch self {
        case .idOutOfRange(let id, let extended):
            return "CAN id 0x\(String(id, radix: 16, uppercase: true)) does not fit \(extended ? 29 : 11) bits"
        case .payloadTooLong(let count, let max):
            return "payload of \(count) bytes exceeds the maximum of \(max)"
        case .fdFlagsOnClassicFrame:
            return "bit-rate switch / error-state indicator need a CAN FD frame"
        }
    }
}
