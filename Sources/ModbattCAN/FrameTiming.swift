/// How long a frame occupies the bus (docs/TRANSPORTS.md, "Timing model").
/// All counts include the 3-bit interframe space.
public struct FrameTiming: Sendable, Hashable {
    /// Bit stuffing assumption.
    public enum Stuffing: Sendable, Hashable {
        /// The most stuff bits the frame can need (Davis et al. 2007 for classic
        /// CAN; ISO 11898-1:2015 with CRC-17/21 and fixed stuff bits for CAN FD).
        case worstCase
        /// No dynamic stuff bits (CAN FD fixed stuff bits still count).
        case none
    }

    /// Bits sent at the nominal (arbitration) rate.
    public var nominalBits: Int
    /// Bits sent at the data rate (CAN FD with bit-rate switch); 0 otherwise.
    public var dataBits: Int

    public init(nominalBits: Int, dataBits: Int) {
        self.nominalBits = nominalBits
        self.dataBits = dataBits
    }

    /// All bits of the frame.
    public var totalBits: Int { nominalBits + dataBits }

    /// The bit counts of `frame` under `stuffing`.
    ///
    /// Classic CAN (s data bytes, g = 54 for 29-bit ids, 34 for 11-bit ids):
    /// `g + 8s + 13 + floor((g + 8s - 1) / 4)` worst case, `g + 8s + 13` without stuffing.
    ///
    /// CAN FD (n = padded data bytes, H = 36 header bits for 29-bit ids, 17
    /// for 11-bit ids, SOF through BRS): nominal phase `H + 13` (CRC delimiter,
    /// ACK, EOF, IFS); data phase `5 + 8n` (ESI, DLC, data) plus the CRC field
    /// (4-bit stuff count + CRC-17 for n <= 16 or CRC-21, plus one fixed stuff
    /// bit per 4 bits: 6 or 7). Worst-case dynamic stuff bits cover SOF through
    /// the data field, `floor((H + 5 + 8n - 1) / 4)`, of which
    /// `floor((H - 1) / 4)` fall in the nominal phase. Without bit-rate switch
    /// every bit is nominal.
    public static func bits(for frame: CANFrame, stuffing: Stuffing = .worstCase) -> FrameTiming {
        if frame.isFD {
            return fdBits(dataBytes: frame.wireCount, extended: frame.isExtended,
                          bitRateSwitch: frame.bitRateSwitch, stuffing: stuffing)
        }
        return FrameTiming(nominalBits: classicBits(dataBytes: frame.count, extended: frame.isExtended,
                                                    stuffing: stuffing), dataBits: 0)
    }

    /// Classic CAN frame bits.
    public static func classicBits(dataBytes s: Int, extended: Bool, stuffing: Stuffing) -> Int {
        let g = extended ? 54 : 34
        let base = g + 8 * s + 13
        switch stuffing {
        case .worstCase: return base + (g + 8 * s - 1) / 4
        case .none: return base
        }
    }

    /// CAN FD frame bits for `n` data bytes on the wire (a DLC size).
    public static func fdBits(dataBytes n: Int, extended: Bool, bitRateSwitch: Bool,
                              stuffing: Stuffing) -> FrameTiming {
        let header = extended ? 36 : 17
        let tail = 13
        let crcBits = n <= 16 ? 17 : 21
        let fixedStuffBits = (4 + crcBits + 3) / 4
        let crcField = 4 + crcBits + fixedStuffBits
        var nominal = header + tail
        var data = 5 + 8 * n + crcField
        if stuffing == .worstCase {
            let total = (header + 5 + 8 * n - 1) / 4
            let inHeader = (header - 1) / 4
            nominal += inHeader
            data += total - inHeader
        }
        return bitRateSwitch ? FrameTiming(nominalBits: nominal, dataBits: data)
                             : FrameTiming(nominalBits: nominal + data, dataBits: 0)
    }

    /// Bus time at `bitrate` (nominal) and `dataBitrate` (data phase), to the
    /// nanosecond (rounded to nearest).
    public func duration(bitrate: Int, dataBitrate: Int) -> Duration {
        .nanoseconds(Self.nanoseconds(bits: nominalBits, rate: bitrate)
                     + Self.nanoseconds(bits: dataBits, rate: dataBitrate))
    }

    static func nanoseconds(bits: Int, rate: Int) -> Int64 {
        guard bits > 0 else { return 0 }
        let b = Int64(bits), r = Int64(max(rate, 1))
        return (b * 1_000_000_000 + r / 2) / r
    }
}
