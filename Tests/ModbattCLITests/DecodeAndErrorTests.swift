import Foundation
import Testing

@Suite("modbatt: help, errors, decode")
struct DecodeAndErrorTests {
    static let sampleLog = """
        (1700000000.000000) vcan0 0C000205#0100AABBCCDDEEFF
        (1700000000.000300) vcan0 0C001205#0011223344556677
        (1700000000.000600) vcan0 0C002205#8899AABBCCDD
        (1700000000.001000) vcan0 123#0102
        (1700000000.001200) vcan0 0C120005#00112233
        """

    @Test("--help works for every subcommand", arguments: [
        [], ["demo"], ["simulate"], ["bus", "serve"], ["decode"], ["keys", "show"], ["bridge", "serve"], ["audit", "verify"],
    ])
    func help(words: [String]) throws {
        let r = try CLIRunner.run(words + ["--help"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("USAGE:"))
    }

    @Test("an unknown flag is one line and exit status 64")
    func unknownFlag() throws {
        let r = try CLIRunner.run(["decode", "--bogus", "x.log"])
        expectOneLineError(r, status: 64, contains: "--bogus")
        #expect(r.stderr.contains("modbatt decode --help"))
    }

    @Test("an unknown subcommand is one line")
    func unknownSubcommand() throws {
        let r = try CLIRunner.run(["frobnicate"])
        expectOneLineError(r, status: 64, contains: "frobnicate")
    }

    @Test("decode of a missing file is one line")
    func missingFile() throws {
        let r = try CLIRunner.run(["decode", "/nonexistent/x.log"])
        expectOneLineError(r, status: 1, contains: "no such file: /nonexistent/x.log")
    }

    @Test("a corrupt candump line names its line number")
    func corruptLine() throws {
        let dir = try CLIRunner.tempDir()
        let file = dir.appendingPathComponent("bad.log")
        try "(1700000000.000000) vcan0 123#01\n\n(1700000000.1) vcan0 12#0102\n".write(to: file, atomically: true, encoding: .utf8)
        let r = try CLIRunner.run(["decode", file.path])
        expectOneLineError(r, status: 1, contains: "line 3:")
        let lenient = try CLIRunner.run(["decode", "--lenient", "--summary", file.path])
        #expect(lenient.status == 0)
        #expect(lenient.stderr.contains("line 3"))
        #expect(lenient.stdout.contains("1 frames"))
    }

    @Test("decode shows id fields and reassembled messages")
    func decodeFields() throws {
        let dir = try CLIRunner.tempDir()
        let file = dir.appendingPathComponent("sample.log")
        try Self.sampleLog.write(to: file, atomically: true, encoding: .utf8)
        let r = try CLIRunner.run(["decode", file.path])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("0x300 HELLO c>d"))
        #expect(r.stdout.contains("enc=0 chunk=3/3 dev=0x05"))
        #expect(r.stdout.contains("=> HELLO c>d 22 bytes (3 frames)"))
        #expect(r.stdout.contains("not a ModBatt frame (11-bit id)"))
        #expect(r.stdout.contains("enc=1 chunk=1/1 dev=0x05"))   // 0x0C120005: COMMAND, bit 17 set
        #expect(r.stdout.contains("5 frames"))

        let j = try CLIRunner.run(["decode", "--json", file.path])
        #expect(j.status == 0)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(j.stdout.utf8)) as? [String: Any])
        for key in ["pairs_established", "pairs_failed", "messages_sent", "messages_delivered", "frames",
                    "bus_load", "rejected", "crypto_ns", "frame_time_ns"] {
            #expect(doc[key] != nil, "missing \(key)")
        }
        #expect(doc["frames"] as? Int == 5)
        #expect(doc["messages_sent"] as? Int == 2)
        #expect((doc["frame_list"] as? [Any])?.count == 5)
    }

    @Test("a bad --log-level is a usage error")
    func badLogLevel() throws {
        let r = try CLIRunner.run(["decode", "--log-level", "loud", "x.log"])
        expectOneLineError(r, status: 64, contains: "log-level")
    }

    @Test("an unknown auth header name is one line: a usage error for bridge serve, a configuration error for bridge check")
    func badAuthName() throws {
        let serve = try CLIRunner.run(["bridge", "serve", "--memory", "--port", "0", "--token", "t", "--auth", "cookie"])
        expectOneLineError(serve, status: 64, contains: "--auth must be bearer, x-api-key or both")
        let check = try CLIRunner.run(["bridge", "check", "--url", "http://127.0.0.1:1", "--token", "t", "--auth", "basic"])
        expectOneLineError(check, status: 1, contains: "--auth must be \"bearer\" or \"x-api-key\", not 'basic'")
    }
}
