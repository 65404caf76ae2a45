import Foundation
import Testing
@testable import ModbattCAN

#if canImport(Glibc)
import Glibc
#endif

/// A blocking raw TCP client for poking the server with arbitrary bytes.
final class RawTCP: @unchecked Sendable {
    let fd: Int32
    var received = ""

    init(port: Int) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let rc = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard rc == 0 else { throw CANTransportError.connectionFailed("connect: errno \(errno)") }
        var tv = timeval(tv_sec: 0, tv_usec: 50_000)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ text: String) { send(Array(text.utf8)) }

    func send(_ bytes: [UInt8]) {
        _ = bytes.withUnsafeBytes { Glibc.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Read until `text` has appeared `count` times in everything received (or time out).
    @discardableResult
    func await(_ text: String, count: Int = 1, timeout: Duration = .seconds(15)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if received.components(separatedBy: text).count - 1 >= count { return true }
            var buf = [UInt8](repeating: 0, count: 4096)
            let n = recv(fd, &buf, buf.count, 0)
            if n > 0 { received += String(decoding: buf[0..<n], as: UTF8.self) }
            if n == 0 { break }
        }
        return received.components(separatedBy: text).count - 1 >= count
    }
}

@Suite("socketcand server and client", .serialized)
struct SocketcandServerTests {
    @Test func swiftClientRoundTrip() async throws {
        let bus = VirtualBus(VirtualBus.Configuration(clock: .realTime))
        let local = await bus.attach(name: "local")
        let server = try await SocketcandServer.start(bus: bus)
        #expect(server.port > 0)
        #expect(server.busNames == ["vcan0"])
        let client = try await SocketcandClient.connect(host: "127.0.0.1", port: server.port, bus: "vcan0")
        #expect(server.clientCount == 1)

        // Client -> bus, classic and FD.
        let fd = try CANFrame(id: 0x1ABC_DEF0, fd: true, bitRateSwitch: true, data: [UInt8](0..<48))
        try await client.send(CANFrame(id: 0x123, data: [1, 2, 3]))
        try await client.send(fd)
        let atLocal = try await local.frames.prefix(2, timeout: .seconds(15)).map(\.frame)
        #expect(atLocal == [try CANFrame(id: 0x123, data: [1, 2, 3]), fd])

        // Bus -> client (after the raw-mode grace period), classic and FD.
        try await local.send(CANFrame(id: 0x18FF_50E5, extended: true, data: [9]))
        try await local.send(fd)
        let atClient = try await client.frames.prefix(2, timeout: .seconds(15))
        #expect(atClient.map(\.frame) == [try CANFrame(id: 0x18FF_50E5, extended: true, data: [9]), fd])
        #expect(atClient.allSatisfy { $0.timestamp > .seconds(1_600_000_000) })
        #expect(client.serverErrors().isEmpty)

        // A bad command reaches serverErrors, the connection survives.
        try await client.sendRaw("< bogus >")
        try await client.send(CANFrame(id: 0x7, data: []))
        #expect(try await local.frames.next(timeout: .seconds(15))?.frame.id == 0x7)
        // The error reply travels back on its own; wait for the client to read it.
        let deadline = ContinuousClock.now + .seconds(30)   // ends as soon as the error arrives
        while client.serverErrors().isEmpty && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(client.serverErrors() == ["unknown command"])

        await client.close()
        await #expect(throws: CANTransportError.closed) { try await client.send(CANFrame(id: 1, data: [])) }
        await server.close()
    }

    @Test func clientErrors() async throws {
        // Nobody listening.
        await #expect(throws: (any Error).self) {
            _ = try await SocketcandClient.connect(host: "127.0.0.1", port: 1, bus: "vcan0", timeout: .seconds(1))
        }
        // Unknown bus: the server refuses the open.
        let bus = VirtualBus()
        let server = try await SocketcandServer.start(bus: bus)
        do {
            _ = try await SocketcandClient.connect(host: "127.0.0.1", port: server.port, bus: "can9")
            Issue.record("open of an unknown bus must fail")
        } catch let error as CANTransportError {
            #expect(error == .protocolViolation("server refused to open can9: unknown bus 'can9'"))
        }
        await server.close()
    }

    @Test func clientTimesOutOnSilentServer() async throws {
        // A TCP listener that accepts (in the kernel backlog) but never greets.
        let listener = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(listener, $0, len) } }
        listen(listener, 4)
        _ = withUnsafeMutablePointer(to: &addr) { $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(listener, $0, &len) } }
        let port = Int(UInt16(bigEndian: addr.sin_port))
        await #expect(throws: CANTransportError.self) {
            _ = try await SocketcandClient.connect(host: "127.0.0.1", port: port, bus: "vcan0", timeout: .milliseconds(300))
        }
    }

    @Test func malformedInputGetsErrorsAndOthersUnaffected() async throws {
        let bus = VirtualBus(VirtualBus.Configuration(clock: .realTime))
        let local = await bus.attach(name: "local")
        let server = try await SocketcandServer.start(bus: bus)

        let good = try RawTCP(port: server.port)
        #expect(good.await("< hi >"))
        good.send("< open vcan0 >< rawmode >")
        #expect(good.await("< ok >", count: 2))

        let bad = try RawTCP(port: server.port)
        #expect(bad.await("< hi >"))
        bad.send("< send 123 1 00 >")                       // before open
        #expect(bad.await("< error open a bus first >"))
        bad.send("< open nosuchbus >")
        #expect(bad.await("< error unknown bus 'nosuchbus' >"))
        bad.send("< open vcan0 >")
        #expect(bad.await("< ok >"))
        bad.send("< open vcan0 >")
        #expect(bad.await("< error a bus is already open >"))
        bad.send("hello")
        #expect(bad.await("< error data outside a message >"))
        bad.send("< send 12345 1 00 >")
        #expect(bad.await("< error id must have 3 (11-bit) or 8 (29-bit) hex digits, got 5 >"))
        bad.send("< send 123 2 00 >")
        #expect(bad.await("< error DLC 2 but 1 data bytes >"))
        bad.send("< subscribe 0 0 123 >")
        #expect(bad.await("< error unsupported command 'subscribe' >"))
        bad.send("< zap >")
        #expect(bad.await("< error unknown command >"))
        bad.send("<" + String(repeating: "A", count: 5000) + ">")
        #expect(bad.await("< error message longer than 1024 bytes >"))
        bad.send([0x3C, 0xFF, 0x00, 0xFE, 0x3E]) // "<\xff\0\xfe>"
        #expect(bad.await("< error non-ASCII or control characters >"))
        bad.send("< echo >")
        #expect(bad.await("< echo >", count: 1))
        bad.send("< bcmmode >")
        #expect(bad.await("< ok >", count: 2))

        // The well-behaved client still works both ways.
        good.send("< send 321 2 de ad >")
        let got = try await local.frames.next(timeout: .seconds(15))
        #expect(got?.frame == (try CANFrame(id: 0x321, data: [0xDE, 0xAD])))
        try await local.send(CANFrame(id: 0x1ABC_DEF0, data: [0xCA, 0xFE]))
        #expect(good.await("< frame 1ABCDEF0 "))
        #expect(good.received.contains(" CAFE >"))
        // The bad client is in BCM mode: it gets no frames.
        #expect(!bad.received.contains("< frame"))
        #expect(server.clientCount == 2)

        // A client that disconnects mid-message does not disturb the others.
        let quitter = try RawTCP(port: server.port)
        quitter.send("< open vcan0 >< send 1")
        _ = quitter.await("< ok >")
        shutdown(quitter.fd, Int32(SHUT_RDWR))
        good.send("< send 322 0 >")
        #expect(try await local.frames.next(timeout: .seconds(15))?.frame.id == 0x322)
        await server.close()
    }

    @Test func serverReportsFactoryAndSendFailures() async throws {
        struct NoHardware: Error, CustomStringConvertible { var description: String { "no hardware" } }
        let bus = VirtualBus()
        let server = try await SocketcandServer.start(buses: [
            "can0": { _ in throw NoHardware() },
            // A transport that is already closed: every send fails.
            "dead0": { name in
                let node = await bus.attach(name: name)
                await node.close()
                return node
            },
        ])
        #expect(server.busNames == ["can0", "dead0"])
        let raw = try RawTCP(port: server.port)
        #expect(raw.await("< hi >"))
        raw.send("< open can0 >")
        #expect(raw.await("< error cannot open 'can0': no hardware >"))
        raw.send("< open dead0 >")
        #expect(raw.await("< ok >"))
        raw.send("< send 123 0 >")
        #expect(raw.await("< error send failed: transport is closed >"))
        await server.close()
    }

    @Test func portInUseIsReported() async throws {
        let first = try await SocketcandServer.start(bus: VirtualBus())
        await #expect(throws: CANTransportError.self) {
            _ = try await SocketcandServer.start(bus: VirtualBus(), port: first.port)
        }
        await first.close()
    }

    @Test func pythonScriptHintsWhenPythonCanIsMissing() throws {
        // `python3 -I -S` skips site-packages and ignores PYTHONPATH, so python-can cannot be imported.
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Python/socketcand_roundtrip.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", "-I", "-S", script, "127.0.0.1", "1", "vcan0"]
        let stderr = Pipe()
        process.standardError = stderr
        process.standardOutput = Pipe()
        do { try process.run() } catch {
            Issue.record("could not start python3: \(error)")
            return
        }
        process.waitUntilExit()
        let err = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        #expect(process.terminationStatus == 3)
        #expect(err.contains("pip install python-can"))
    }

    @Test func pythonCanTalksToVirtualBus() async throws {
        let bus = VirtualBus(VirtualBus.Configuration(name: "vcan0", clock: .realTime))
        let swiftNode = await bus.attach(name: "swift")
        let server = try await SocketcandServer.start(bus: bus)
        defer { Task { await server.close() } }

        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .appendingPathComponent("Python/socketcand_roundtrip.py").path
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = ["python3", script, "127.0.0.1", String(server.port), "vcan0"]
        let stdout = Pipe(), stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        do {
            try process.run()
        } catch {
            Issue.record("could not start python3 (\(error)); install Python 3 and `python3 -m pip install python-can`")
            return
        }

        // Wait for python-can's three frames, then answer.
        let fromPython = try await swiftNode.frames.prefix(3, timeout: .seconds(20))
        #expect(fromPython.map(\.frame) == [
            try CANFrame(id: 0x123, data: [1, 2, 3]),
            try CANFrame(id: 0x1ABC_DEF0, data: [0, 1, 2, 3, 4, 5, 6, 7]),
            try CANFrame(id: 0x7FF, data: []),
        ])
        try await swiftNode.send(CANFrame(id: 0x456, data: [0xCA, 0xFE]))
        // python-can's socketcand client cannot parse `< fdframe … >`: it logs and skips it.
        try await swiftNode.send(CANFrame(id: 0x456, fd: true, bitRateSwitch: true, data: [UInt8](repeating: 0xEE, count: 16)))
        try await swiftNode.send(CANFrame(id: 0x18FF_50E5, extended: true, data: [0x00, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77]))
        try await swiftNode.send(CANFrame(id: 0x321, data: [0xFF]))

        let deadline = ContinuousClock.now + .seconds(30)
        while process.isRunning && ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(50)) }
        if process.isRunning { process.terminate() }
        process.waitUntilExit()   // terminationStatus of a running process traps
        let out = String(decoding: stdout.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let err = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        if process.terminationStatus == 3 {
            Issue.record("python-can is not installed: run `python3 -m pip install python-can` (CI installs it). \(err)")
            return
        }
        #expect(process.terminationStatus == 0, "python-can round trip failed:\nstdout: \(out)\nstderr: \(err)")
        #expect(out.contains("\"failures\": []"))
    }
}
