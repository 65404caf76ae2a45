#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif
import Testing
@testable import ModbattCAN

@Suite("candump logs")
struct CandumpTests {
    static let sample = """
    (1700000000.123456) can0 1ABCDEF0#0102030405060708
    (1700000000.123789) can0 123#
    (1700000000.200000) vcan0 7FF#DE.AD.BE.EF

    # a comment
    (1700000001.000001) can1 00000123##1000102030405060708090A0B
    (1700000001.500000) can1 010##3
    """

    @Test func parsesClassicAndFD() throws {
        let records = try Candump.parse(Self.sample)
        #expect(records.count == 5)
        #expect(records[0].timestamp == .seconds(1_700_000_000) + .microseconds(123_456))
        #expect(records[0].interface == "can0")
        #expect(records[0].frame == (try CANFrame(id: 0x1ABC_DEF0, data: [1, 2, 3, 4, 5, 6, 7, 8])))
        #expect(records[1].frame == (try CANFrame(id: 0x123, data: [])))
        #expect(records[2].frame.data == [0xDE, 0xAD, 0xBE, 0xEF])
        #expect(!records[2].frame.isExtended)
        let fd = records[3].frame
        #expect(fd.isFD && fd.bitRateSwitch && !fd.errorStateIndicator && fd.isExtended)
        #expect(fd.id == 0x123)
        #expect(fd.count == 12)
        #expect(records[4].frame.isFD && records[4].frame.bitRateSwitch && records[4].frame.errorStateIndicator)
        #expect(records[4].frame.count == 0)
    }

    @Test func writeParseRoundTrip() throws {
        let records = try Candump.parse(Self.sample)
        let text = Candump.format(records)
        #expect(text.hasPrefix("(1700000000.123456) can0 1ABCDEF0#0102030405060708\n"))
        #expect(text.contains("(1700000000.200000) vcan0 7FF#DEADBEEF\n"))
        #expect(text.contains("can1 00000123##1000102030405060708090A0B\n"))
        #expect(try Candump.parse(text) == records)
        // Every FD length and flag combination survives.
        var many: [CandumpRecord] = []
        for n in [0, 1, 8, 12, 20, 48, 64] {
            for flags in 0..<4 {
                let f = try CANFrame(id: UInt32(n), extended: flags % 2 == 0, fd: true, bitRateSwitch: flags & 1 != 0,
                                     errorStateIndicator: flags & 2 != 0, data: (0..<n).map { UInt8($0) })
                many.append(CandumpRecord(timestamp: .seconds(n) + .microseconds(flags), interface: "can0", frame: f))
            }
        }
        #expect(try Candump.parse(Candump.format(many)) == many)
    }

    @Test func fileRoundTrip() throws {
        let path = "/tmp/modbatt-candump-\(UInt32.random(in: 0...UInt32.max)).log"
        defer { unlink(path) }
        let records = try Candump.parse(Self.sample)
        try Candump.write(records, to: path)
        #expect(try Candump.read(path: path) == records)
        #expect(throws: (any Error).self) { try Candump.read(path: "/nonexistent/dir/x.log") }
    }

    @Test(arguments: [
        ("1700000000.1 can0 123#00", "timestamp must look like (1700000000.123456)"),
        ("(17000x.1) can0 123#00", "bad timestamp '(17000x.1)'"),
        ("(1.0) can0", "expected '(SECS.USECS) IFACE ID#DATA', got 2 field(s)"),
        ("(1.0) can0 12#00", "id '12' must be 3 (11-bit) or 8 (29-bit) hex digits"),
        ("(1.0) can0 12G#00", "id '12G' is not hex"),
        ("(1.0) can0 123#0", "data has an odd number of hex digits"),
        ("(1.0) can0 123#0X", "data has non-hex character 'X'"),
        ("(1.0) can0 123#000000000000000000", "payload of 9 bytes exceeds the maximum of 8"),
        ("(1.0) can0 123#R", "remote (RTR) frames are not supported"),
        ("(1.0) can0 20000004#0004000000000000", "error frames (CAN_ERR_FLAG) are not supported"),
        ("(1.0) can0 123###00", "CAN XL frames ('###') are not supported"),
        ("(1.0) can0 123##", "CAN FD frame needs a flags digit after '##'"),
        ("(1.0) can0 123##400", "unknown CAN FD flags 4 (1 = BRS, 2 = ESI)"),
        ("(1.0) can0 123", "frame '123' has no '#'"),
        ("(1.0) can0 1234#00", "id '1234' must be 3 (11-bit) or 8 (29-bit) hex digits"),
        ("(1.0) can0 900#00", "CAN id 0x900 does not fit 11 bits"),
        ("(1.0) can0 123#00 junk", "unexpected text after the frame: 'junk'"),
        ("(1.0) can0 123#0.0", "'.' splits a byte"),
        ("(1.0) averyveryverylongifname 123#00", "bad interface name 'averyveryverylongifn'"),
    ])
    func malformedLineErrors(line: String, reason: String) {
        let text = "(1.0) can0 123#00\n" + line + "\n"
        #expect(throws: CandumpError(line: 2, reason: reason)) { try Candump.parse(text) }
    }

    @Test func errorMessageHasLineNumber() {
        let error = CandumpError(line: 7, reason: "bad timestamp 'x'")
        #expect(error.description == "line 7: bad timestamp 'x'")
    }

    @Test func overlongLineRejected() {
        let line = "(1.0) can0 123#" + String(repeating: "0", count: 600)
        #expect(throws: CandumpError(line: 1, reason: "line longer than 512 characters")) { try Candump.parse(line) }
    }

    @Test func lenientParsingCollectsErrors() {
        let (records, errors) = Candump.parseLenient("(1.0) can0 123#00\nbogus\n(2.0) can0 124#01\r\n(x) can0 1#\n")
        #expect(records.count == 2)
        #expect(errors.map(\.line) == [2, 4])
    }

    @Test func directionSuffixAccepted() throws {
        let r = try Candump.parseLine("(1.000000) can0 123#11 R", lineNumber: 1)
        #expect(r?.frame.data == [0x11])
    }

    @Test func replayOriginalTimingInBusTime() async throws {
        let records = try Candump.parse("""
        (1000.000000) can0 100#01
        (1000.010000) can0 101#02
        (1000.030000) can1 102#03
        """)
        let bus = VirtualBus()
        let player = await bus.attach(name: "player"), rx = await bus.attach(name: "rx")
        let replayer = CandumpReplayer(pace: .original, timebase: .bus(player))
        #expect(try await replayer.replay(records, onto: player) == 3)
        // Generous timeout for a loaded CI machine; require all three before indexing.
        let got = try await rx.frames.prefix(3, timeout: .seconds(30))
        try #require(got.count == 3)
        let t0 = got[0].timestamp
        #expect(got.map(\.frame.id) == [0x100, 0x101, 0x102])
        #expect(got[1].timestamp - t0 == .milliseconds(10))
        #expect(got[2].timestamp - t0 == .milliseconds(30))
    }

    @Test func replayAcceleratedAndFiltered() async throws {
        let records = try Candump.parse("""
        (1000.000000) can0 100#01
        (1000.100000) can0 101#02
        (1000.200000) can1 102#03
        """)
        let bus = VirtualBus()
        let player = await bus.attach(name: "player"), rx = await bus.attach(name: "rx")
        let fast = CandumpReplayer(pace: .accelerated(10), timebase: .bus(player))
        #expect(try await fast.replay(records, onto: player, interface: "can0") == 2)
        let got = try await rx.frames.prefix(2, timeout: .seconds(15))
        #expect(got[1].timestamp - got[0].timestamp == .milliseconds(10))
        #expect(fast.gap(.seconds(1)) == .milliseconds(100))
        #expect(CandumpReplayer(pace: .asFastAsPossible).gap(.seconds(1)) == .zero)
        #expect(CandumpReplayer(pace: .accelerated(0)).gap(.seconds(1)) == .zero)
        #expect(try await fast.replay([], onto: player) == 0)
    }

    @Test func replayWallClockAndCapture() async throws {
        let records = try Candump.parse("(5.000000) can0 100#01\n(5.020000) can0 101#02\n")
        let bus = VirtualBus(VirtualBus.Configuration(clock: .realTime))
        let player = await bus.attach(name: "player"), rx = await bus.attach(name: "rx")
        let start = ContinuousClock.now
        try await CandumpReplayer().replay(records, onto: player)
        #expect(ContinuousClock.now - start >= .milliseconds(19))
        let captured = try await Candump.capture(from: rx, interface: "vcan0", limit: 2)
        #expect(captured.map(\.frame) == records.map(\.frame))
        #expect(captured.allSatisfy { $0.interface == "vcan0" })
    }
}
