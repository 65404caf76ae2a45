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
        let got = try await b.frames.next(timeout: .seconds(5))
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
