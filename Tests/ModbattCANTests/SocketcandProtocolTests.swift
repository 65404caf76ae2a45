import Testing
@testable import ModbattCAN

@Suite("socketcand protocol")
struct SocketcandProtocolTests {
    typealias P = SocketcandProtocol

    @Test func parsesPythonCanSend() throws {
        // python-can writes ids as %03X / %08X, the DLC as %X and bytes as %x.
        #expect(try P.parseCommand("< send 123 3 1 2 ff >") == .send(try CANFrame(id: 0x123, data: [1, 2, 0xFF])))
        #expect(try P.parseCommand("< send 1ABCDEF0 8 0 1 2 3 4 5 6 7 >")
                == .send(try CANFrame(id: 0x1ABC_DEF0, data: [0, 1, 2, 3, 4, 5, 6, 7])))
        #expect(try P.parseCommand("< send 7FF 0  >") == .send(try CANFrame(id: 0x7FF, data: [])))
        #expect(try P.parseCommand("< send 00000001 1 AA >") == .send(try CANFrame(id: 1, extended: true, data: [0xAA])))
    }

    @Test func parsesFDSend() throws {
        let cmd = try P.parseCommand("< fdsend 123 1 12 0 1 2 3 4 5 6 7 8 9 a b >")
        #expect(cmd == .send(try CANFrame(id: 0x123, fd: true, bitRateSwitch: true, data: Array(0...11))))
        let esi = try P.parseCommand("< fdsend 1ABCDEF0 3 0 >")
        #expect(esi == .send(try CANFrame(id: 0x1ABC_DEF0, fd: true, bitRateSwitch: true, errorStateIndicator: true, data: [])))
    }

    @Test func parsesControlCommands() throws {
        #expect(try P.parseCommand("< open vcan0 >") == .open(bus: "vcan0"))
        #expect(try P.parseCommand("<open vcan0>") == .open(bus: "vcan0"))
        #expect(try P.parseCommand("< rawmode >") == .rawMode)
        #expect(try P.parseCommand("< bcmmode >") == .bcmMode)
        #expect(try P.parseCommand("< echo >") == .echo)
        #expect(try P.parseCommand("< add 1 0 123 8 11 22 33 44 55 66 77 88 >") == .unsupported("add"))
    }

    @Test(arguments: [
        ("< >", "empty command"),
        ("< frobnicate >", "unknown command"),
        ("< open >", "usage: < open BUS >"),
        ("< open a b >", "usage: < open BUS >"),
        ("< open abcdefghijklmnopq >", "bus name longer than 16 characters"),
        ("< rawmode now >", "usage: < rawmode >"),
        ("< bcmmode x >", "usage: < bcmmode >"),
        ("< send 123 >", "usage: < send ID DLC DATA… >"),
        ("< send 12G 1 00 >", "id '12G' is not hex"),
        ("< send 1234 1 00 >", "id must have 3 (11-bit) or 8 (29-bit) hex digits, got 4"),
        ("< send 800 1 00 >", "11-bit id 800 out of range"),
        ("< send 20000000 1 00 >", "29-bit id 20000000 out of range"),
        ("< send 123 9 0 0 0 0 0 0 0 0 0 >", "DLC '9' must be 0...8"),
        ("< send 123 2 00 >", "DLC 2 but 1 data bytes"),
        ("< send 123 1 100 >", "data byte '100' is not 1 or 2 hex digits"),
        ("< send 123 1 zz >", "data byte 'zz' is not 1 or 2 hex digits"),
        ("< fdsend 123 1 >", "usage: < fdsend ID FLAGS LEN DATA… >"),
        ("< fdsend 123 xyz 0 >", "flags 'xyz' must be hex"),
        ("< fdsend 123 1 65 >", "LEN '65' must be 0...64 (decimal)"),
        ("< fdsend 123 1 A >", "LEN 'A' must be 0...64 (decimal)"),
        ("< fdsend 123 1 2 00 >", "LEN 2 but 1 data bytes"),
        ("< send 123 1 \u{7F} >", "non-ASCII or control characters"),
        ("< send 123 1 é >", "non-ASCII or control characters"),
        ("send 123 0 >", "a message must be '< … >'"),
        ("< a < b >", "nested '<' or '>'"),
    ])
    func rejectsMalformedCommands(text: String, reason: String) {
        #expect(throws: SocketcandProtocolError(reason)) { try P.parseCommand(text) }
    }

    @Test func formatsRepliesLikeSocketcand() throws {
        let t = Duration.seconds(1_700_000_000) + .microseconds(42)
        #expect(P.format(reply: .frame(TimestampedFrame(timestamp: t, frame: try CANFrame(id: 0x123, data: [0x11, 0xAB]))))
                == "< frame 123 1700000000.000042 11AB >")
        #expect(P.format(reply: .frame(TimestampedFrame(timestamp: t, frame: try CANFrame(id: 0x1ABC_DEF0, data: []))))
                == "< frame 1ABCDEF0 1700000000.000042  >")
        let fd = try CANFrame(id: 0x10, fd: true, bitRateSwitch: true, data: [1, 2])
        #expect(P.format(reply: .frame(TimestampedFrame(timestamp: t, frame: fd))) == "< fdframe 010 01 1700000000.000042 0102 >")
        #expect(P.format(reply: .hi) == "< hi >")
        #expect(P.format(reply: .ok) == "< ok >")
        #expect(P.format(reply: .echo) == "< echo >")
        #expect(P.format(reply: .error("bad <thing>\n")) == "< error bad ?thing?? >")
    }

    @Test func formatsCommandsAndParsesReplies() throws {
        let classic = try CANFrame(id: 0x1ABC_DEF0, data: [0, 0xFF])
        #expect(P.format(command: .send(classic)) == "< send 1ABCDEF0 2 00 FF >")
        let fd = try CANFrame(id: 0x7, fd: true, bitRateSwitch: true, data: [UInt8](repeating: 1, count: 12))
        #expect(P.format(command: .send(fd)).hasPrefix("< fdsend 007 01 12 01 01"))
        #expect(try P.parseCommand(P.format(command: .send(fd))) == .send(fd))
        #expect(try P.parseCommand(P.format(command: .send(classic))) == .send(classic))
        for cmd: P.Command in [.open(bus: "vcan0"), .rawMode, .bcmMode, .echo] {
            #expect(try P.parseCommand(P.format(command: cmd)) == cmd)
        }
        #expect(P.format(command: .unsupported("add")) == "< add >")

        let stamped = TimestampedFrame(timestamp: .seconds(5), frame: classic)
        #expect(try P.parseReply(P.format(reply: .frame(stamped))) == .frame(stamped))
        let fdStamped = TimestampedFrame(timestamp: .seconds(5), frame: fd)
        #expect(try P.parseReply(P.format(reply: .frame(fdStamped))) == .frame(fdStamped))
        // The spaced form of the protocol document is accepted too.
        #expect(try P.parseReply("< frame 123 23.424242 11 22 33 44 >")
                == .frame(TimestampedFrame(timestamp: .seconds(23) + .microseconds(424_242),
                                           frame: try CANFrame(id: 0x123, data: [0x11, 0x22, 0x33, 0x44]))))
        #expect(try P.parseReply("< hi >") == .hi)
        #expect(try P.parseReply("< ok >") == .ok)
        #expect(try P.parseReply("< echo >") == .echo)
        #expect(try P.parseReply("< error unknown command >") == .error("unknown command"))
    }

    @Test(arguments: [
        ("< >", "empty message"),
        ("< what >", "unknown message 'what'"),
        ("< frame 123 >", "frame needs ID and timestamp"),
        ("< frame 123 x.1 00 >", "bad timestamp 'x.1'"),
        ("< frame 123 1.0 0 >", "data has an odd number of hex digits"),
        ("< frame 123 1.0 ZZ >", "data is not hex"),
        ("< frame 123 1.0 000000000000000000 >", "payload of 9 bytes exceeds the maximum of 8"),
        ("< fdframe 123 1 >", "fdframe needs ID, flags and timestamp"),
        ("< fdframe 123 QQ 1.0 >", "bad flags 'QQ'"),
        ("< fdframe 123 1 y 00 >", "bad timestamp 'y'"),
    ])
    func rejectsMalformedReplies(text: String, reason: String) {
        #expect(throws: SocketcandProtocolError(reason)) { try P.parseReply(text) }
    }

    @Test func framerSplitsCoalescedAndPartialMessages() {
        var framer = SocketcandFramer()
        #expect(framer.feed(Array("< hi >< ok >\n< fra".utf8)) == [.message("< hi >"), .message("< ok >")])
        #expect(framer.feed(Array("me 123 1.0 00 >".utf8)) == [.message("< frame 123 1.0 00 >")])
    }

    @Test func framerReportsStrayBytesOncePerRun() {
        var framer = SocketcandFramer()
        #expect(framer.feed(Array("garbage< echo >x".utf8)) == [.error("data outside a message"), .message("< echo >"),
                                                                 .error("data outside a message")])
    }

    @Test func framerBoundsMessageLength() {
        var framer = SocketcandFramer(maxLength: 16)
        let out = framer.feed(Array("< send 123 1 00 00 00 00 > < echo >".utf8))
        #expect(out == [.error("message longer than 16 bytes"), .message("< echo >")])
    }

    @Test func framerRestartsOnNestedOpen() {
        var framer = SocketcandFramer()
        #expect(framer.feed(Array("< send 1 <echo>".utf8)) == [.error("'<' inside a message"), .message("<echo>")])
    }
}
