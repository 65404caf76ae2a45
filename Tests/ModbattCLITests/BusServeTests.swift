import Foundation
import ModbattCAN
import Testing

@Suite("modbatt bus serve")
struct BusServeTests {
    static func port(from output: String) throws -> Int {
        // "... serving socketcand on 127.0.0.1:PORT; Ctrl-C stops"
        guard let range = output.range(of: "serving socketcand on 127.0.0.1:") else {
            throw CLIRunner.RunnerError("no listening line in: \(output)")
        }
        let digits = output[range.upperBound...].prefix { $0.isNumber }
        return try #require(Int(digits))
    }

    @Test("clients exchange frames; Ctrl-C stops it cleanly with a complete record")
    func serveAndStop() async throws {
        let dir = try CLIRunner.tempDir()
        let record = dir.appendingPathComponent("bus.log").path
        let running = try CLIRunner.start(["bus", "serve", "--port", "0", "--name", "vcan9", "--record", record])
        let port = try Self.port(from: running.waitForOutput("Ctrl-C stops"))
        let a = try await SocketcandClient.connect(host: "127.0.0.1", port: port, bus: "vcan9")
        let b = try await SocketcandClient.connect(host: "127.0.0.1", port: port, bus: "vcan9")
        try await Task.sleep(for: .milliseconds(100))   // rawmode grace
        let frame = try CANFrame(id: 0x0C00_0005, extended: true, data: [1, 2, 3])
        try await a.send(frame)
        let got = try await b.frames.next(timeout: .seconds(30))
        #expect(got?.frame == frame)
        await a.close()
        await b.close()
        running.interrupt()
        let r = try running.wait(timeout: 10)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("modbatt bus stopped: 1 frames"))
        let log = try String(contentsOfFile: record, encoding: .utf8)
        #expect(log.hasSuffix("\n"))
        #expect(log.contains("vcan9 0C000005#010203"))
    }

    @Test("a port in use is one clear line")
    func portInUse() async throws {
        let running = try CLIRunner.start(["bus", "serve", "--port", "0"])
        let port = try Self.port(from: running.waitForOutput("Ctrl-C stops"))
        let r = try CLIRunner.run(["bus", "serve", "--port", "\(port)"], timeout: 10)
        running.interrupt()
        _ = try running.wait(timeout: 10)
        expectOneLineError(r, status: 1, contains: "cannot listen on 127.0.0.1:\(port)")
    }
}

@Suite("modbatt simulate --socketcand")
struct SimulateSocketcandTests {
    @Test("an outside client sees the simulated bus, and a frame it injects is judged by the devices")
    func injectIsJudged() async throws {
        let running = try CLIRunner.start(["simulate", "--modules", "1", "--seconds", "8", "--socketcand", "127.0.0.1:0"])
        let out = try running.waitForOutput("while the simulation runs", timeout: 30)
        guard let range = out.range(of: "on 127.0.0.1:") else { throw CLIRunner.RunnerError(out) }
        let port = try #require(Int(out[range.upperBound...].prefix { $0.isNumber }))
        let client = try await SocketcandClient.connect(host: "127.0.0.1", port: port, bus: "vcan0")
        // An encrypted STATUS from module 1 (message id 0x316, bit 17, chunk 1/1, device id 1), 3 bytes:
        // the pack's session for module 1 takes it and rejects it (a sealed message is at least 28 bytes).
        let id = try CANId(messageId: 0x316, encrypted: true, deviceId: 1).raw()
        try await client.send(try CANFrame(id: id, extended: true, data: [1, 2, 3]))
        let seen = try await client.frames.prefix(1, timeout: .seconds(20))
        #expect(seen.count == 1)
        await client.close()
        let r = try running.wait(timeout: 30)
        #expect(r.status == 0, "\(r.stderr)")
        // At least the injected frame; if it landed between the chunks of a genuine STATUS under the same
        // id, it also cut that message short (its later chunks are malformed too): docs/PROTOCOL.md 5.2.
        #expect(r.stdout.contains("  rejected        malformed "), "\(r.stdout)")
        #expect(!r.stdout.contains("FAILED"))
    }
}
