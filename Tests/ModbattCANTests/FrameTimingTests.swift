import Testing
@testable import ModbattCAN

/// Frame times against the hand-computed figures of docs/TRANSPORTS.md
/// (from the project's can-timing reference).
@Suite("Frame timing")
struct FrameTimingTests {
    static func ext8() throws -> CANFrame { try CANFrame(id: 0x1ABC_DEF0, data: [UInt8](repeating: 0, count: 8)) }
    static func fd64(brs: Bool = true) throws -> CANFrame {
        try CANFrame(id: 0x1ABC_DEF0, fd: true, bitRateSwitch: brs, data: [UInt8](repeating: 0, count: 64))
    }

    @Test func classicExtended8Bytes() throws {
        let f = try Self.ext8()
        #expect(FrameTiming.bits(for: f, stuffing: .worstCase).totalBits == 160)
        #expect(FrameTiming.bits(for: f, stuffing: .none).totalBits == 131)
    }

    @Test(arguments: [
        (250_000, 640_000, 524_000),
        (500_000, 320_000, 262_000),
        (1_000_000, 160_000, 131_000),
    ])
    func classicExtended8BytesDurations(bitrate: Int, worstNs: Int64, noneNs: Int64) throws {
        let f = try Self.ext8()
        #expect(FrameTiming.bits(for: f).duration(bitrate: bitrate, dataBitrate: bitrate) == .nanoseconds(worstNs))
        #expect(FrameTiming.bits(for: f, stuffing: .none).duration(bitrate: bitrate, dataBitrate: bitrate) == .nanoseconds(noneNs))
    }

    @Test func classicStandardAndShortFrames() throws {
        // g = 34 for 11-bit ids: 34 + 64 + 13 + floor(97 / 4) = 135.
        #expect(FrameTiming.bits(for: try CANFrame(id: 0x123, data: [UInt8](repeating: 0, count: 8))).totalBits == 135)
        #expect(FrameTiming.classicBits(dataBytes: 8, extended: false, stuffing: .none) == 111)
        // Last chunk of a 36-byte message: 4 bytes, 29-bit id: 54 + 32 + 13 + 21 = 120.
        #expect(FrameTiming.classicBits(dataBytes: 4, extended: true, stuffing: .worstCase) == 120)
        // 36-byte encrypted message in 5 classic frames: 4 x 160 + 120 = 760 bits, 1.52 ms at 500k.
        let total = 4 * 160 + FrameTiming.classicBits(dataBytes: 4, extended: true, stuffing: .worstCase)
        #expect(total == 760)
        #expect(FrameTiming(nominalBits: total, dataBits: 0).duration(bitrate: 500_000, dataBitrate: 0) == .microseconds(1520))
        #expect(FrameTiming.classicBits(dataBytes: 0, extended: true, stuffing: .worstCase) == 80)
    }

    @Test func fd64BytesBitCounts() throws {
        let worst = FrameTiming.bits(for: try Self.fd64())
        #expect(worst.nominalBits == 57)
        #expect(worst.dataBits == 679)
        let none = FrameTiming.bits(for: try Self.fd64(), stuffing: .none)
        #expect(none.nominalBits == 49)
        #expect(none.dataBits == 549)
    }

    @Test(arguments: [
        (2_000_000, 453_500),
        (5_000_000, 249_800),
        (8_000_000, 198_875),
    ])
    func fd64BytesDurations(dataBitrate: Int, ns: Int64) throws {
        let d = FrameTiming.bits(for: try Self.fd64()).duration(bitrate: 500_000, dataBitrate: dataBitrate)
        #expect(d == .nanoseconds(ns))
    }

    @Test func fdWithoutBitRateSwitchIsAllNominal() throws {
        let t = FrameTiming.bits(for: try Self.fd64(brs: false))
        #expect(t.dataBits == 0)
        #expect(t.nominalBits == 57 + 679)
    }

    @Test func fdShortFrameUsesCRC17AndPaddedLength() throws {
        // 8 bytes, CRC-17: data phase 5 + 64 + (4 + 17 + 6) = 96 bits, plus stuffing.
        let t8 = FrameTiming.fdBits(dataBytes: 8, extended: true, bitRateSwitch: true, stuffing: .none)
        #expect(t8.dataBits == 96)
        // A 36-byte payload travels as 48 bytes.
        let f = try CANFrame(id: 0x1ABC_DEF0, fd: true, bitRateSwitch: true, data: [UInt8](repeating: 0, count: 36))
        #expect(FrameTiming.bits(for: f) == FrameTiming.fdBits(dataBytes: 48, extended: true, bitRateSwitch: true, stuffing: .worstCase))
        // 11-bit FD header is 17 bits: floor(16 / 4) = 4 stuff bits in the nominal phase.
        let std = FrameTiming.fdBits(dataBytes: 0, extended: false, bitRateSwitch: true, stuffing: .worstCase)
        #expect(std.nominalBits == 17 + 13 + 4)
    }
}
