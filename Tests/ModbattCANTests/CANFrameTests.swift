import Modbatt
import Testing
@testable import ModbattCAN

@Suite("CANFrame")
struct CANFrameTests {
    @Test func classicExtendedFrame() throws {
        let f = try CANFrame(id: 0x1ABC_DEF0, data: [1, 2, 3])
        #expect(f.isExtended)
        #expect(!f.isFD)
        #expect(f.count == 3)
        #expect(f.data == [1, 2, 3])
        #expect(f[1] == 2)
        #expect(f.dlc == 3)
        #expect(f.description == "1ABCDEF0#010203")
    }

    @Test func standardIdChosenAutomatically() throws {
        let f = try CANFrame(id: 0x123, data: [])
        #expect(!f.isExtended)
        #expect(f.description == "123#")
        let forced = try CANFrame(id: 0x123, extended: true, data: [0xFF])
        #expect(forced.isExtended)
        #expect(forced.description == "00000123#FF")
        #expect(f != forced)
    }

    @Test func fdFrameDLCAndPadding() throws {
        let f = try CANFrame(id: 0x10, fd: true, bitRateSwitch: true, data: [UInt8](repeating: 0xAB, count: 36))
        #expect(f.dlc == 14)
        #expect(f.wireCount == 48)
        #expect(f.description.hasPrefix("010##1ABAB"))
        #expect(CANFrame.dlc(forCount: 64) == 15)
        #expect(CANFrame.dlc(forCount: 9) == 9)
        #expect(CANFrame.count(forDLC: 9) == 12)
        #expect(CANFrame.count(forDLC: 15) == 64)
    }

    @Test func equalityIgnoresUnusedStorage() throws {
        var a = try CANFrame(id: 1, data: [1, 2])
        let b = try CANFrame(id: 1, data: [1, 2])
        #expect(a == b)
        #expect(a.hashValue == b.hashValue)
        a[0] = 9
        #expect(a != b)
        #expect(a.data == [9, 2])
    }

    @Test func payloadIsInline() {
        // 64 bytes of payload plus id, flags and count: no heap storage.
        #expect(MemoryLayout<CANFrame>.size <= 88)
        #expect(_isPOD(CANFrame.self))
    }

    @Test func withPayloadFlipsBits() throws {
        let f = try CANFrame(id: 1, data: [0x00, 0xFF])
        let g = f.withPayload { $0[0] ^= 0x80 }
        #expect(g.data == [0x80, 0xFF])
        #expect(f.data == [0x00, 0xFF])
    }

    @Test func modbattIdDecodes() throws {
        let id = CANId(messageId: 0x407, encrypted: true, chunkIndex: 2, chunkTotal: 8, deviceId: 5)
        let f = try CANFrame(modbattId: id, data: [1])
        #expect(f.isExtended)
        #expect(f.modbattId == id)
        #expect(try CANFrame(id: 0x7, data: []).modbattId == nil)
    }

    @Test func rejectsIdOutOfRange() {
        #expect(throws: CANFrameError.idOutOfRange(id: 0x800, extended: false)) {
            try CANFrame(id: 0x800, extended: false, data: [])
        }
        #expect(throws: CANFrameError.idOutOfRange(id: 0x2000_0000, extended: true)) {
            try CANFrame(id: 0x2000_0000, data: [])
        }
    }

    @Test func rejectsPayloadTooLong() {
        #expect(throws: CANFrameError.payloadTooLong(count: 9, max: 8)) {
            try CANFrame(id: 1, data: [UInt8](repeating: 0, count: 9))
        }
        #expect(throws: CANFrameError.payloadTooLong(count: 65, max: 64)) {
            try CANFrame(id: 1, fd: true, data: [UInt8](repeating: 0, count: 65))
        }
    }

    @Test func rejectsFDFlagsOnClassic() {
        #expect(throws: CANFrameError.fdFlagsOnClassicFrame) {
            try CANFrame(id: 1, bitRateSwitch: true, data: [])
        }
        #expect(throws: CANFrameError.fdFlagsOnClassicFrame) {
            try CANFrame(id: 1, errorStateIndicator: true, data: [])
        }
    }

    @Test func errorDescriptions() {
        #expect(CANFrameError.idOutOfRange(id: 0x800, extended: false).description == "CAN id 0x800 does not fit 11 bits")
        #expect(CANFrameError.payloadTooLong(count: 9, max: 8).description.contains("9 bytes"))
        #expect(CANFrameError.fdFlagsOnClassicFrame.description.contains("CAN FD"))
    }

    @Test func timestampFormatting() {
        #expect(CANTime.format(.seconds(1_700_000_000) + .microseconds(123_456)) == "1700000000.123456")
        #expect(CANTime.format(.microseconds(5)) == "0.000005")
        #expect(CANTime.parse("1700000000.123456") == .seconds(1_700_000_000) + .microseconds(123_456))
        #expect(CANTime.parse("12") == .seconds(12))
        #expect(CANTime.parse("1.5") == .milliseconds(1500))
        #expect(CANTime.parse("1.") == nil)
        #expect(CANTime.parse("x.1") == nil)
        #expect(CANTime.parse("-1.0") == nil)
        #expect(CANTime.parse("1.1234567890") == nil)
    }
}
