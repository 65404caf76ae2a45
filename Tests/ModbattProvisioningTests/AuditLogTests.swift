import Foundation
import Testing
@testable import ModbattProvisioning

@Suite("Audit log hash chain")
struct AuditLogTests {
    static func tempURL() -> URL {
        FileManager.default.temporaryDirectory
            .appendingPathComponent("modbatt-audit-\(UUID().uuidString)/audit.jsonl")
    }

    /// A log of five events on disk; returns its URL and lines.
    static func writeLog() async throws -> (URL, [String]) {
        let url = tempURL()
        let log = try AuditLog(url: url)
        try await log.record("component_registered", ["component_id": "comp_1", "serial": "PC-0001"])
        try await log.record("lct_created", ["lct_id": "lct_comp_1", "key_fingerprint": "0a1b2c3d4e5f6071"])
        try await log.record("handshake_done", ["pair": "pack-module-3", "epoch": 0])
        try await log.record("frame_rejected", ["reason": "replay", "device": 3, "counter": 17])
        try await log.record("rotation", ["pair": "pack-module-3", "epoch": 1, "scheduled": true])
        try await log.sync()
        let text = try String(contentsOf: url, encoding: .utf8)
        return (url, text.split(separator: "\n").map(String.init))
    }

    static func verify(_ lines: [String]) -> AuditVerification {
        AuditLog.verify(text: lines.joined(separator: "\n") + "\n")
    }

    @Test func intactLogVerifies() async throws {
        let (url, lines) = try await Self.writeLog()
        let result = try AuditLog.verify(url: url)
        #expect(result.isValid)
        #expect(result.lines == 5)
        #expect(lines.count == 5)
        #expect(lines[0].hasPrefix("{\"seq\":1,"))
        #expect(lines[0].contains("\"prev\":\"\(AuditLog.genesis)\""))
    }

    @Test func editedLineIsDetected() async throws {
        var (_, lines) = try await Self.writeLog()
        lines[3] = lines[3].replacingOccurrences(of: "\"replay\"", with: "\"timeout\"")
        let result = Self.verify(lines)
        #expect(result.failure?.line == 4)
        #expect(result.failure?.reason.contains("edited") == true)
        #expect(result.lines == 3)
    }

    @Test func deletedLineIsDetected() async throws {
        var (_, lines) = try await Self.writeLog()
        lines.remove(at: 1)
        #expect(Self.verify(lines).failure?.line == 2)
    }

    @Test func reorderedLinesAreDetected() async throws {
        var (_, lines) = try await Self.writeLog()
        lines.swapAt(2, 3)
        #expect(Self.verify(lines).failure?.line == 3)
    }

    @Test func insertedCopyIsDetected() async throws {
        var (_, lines) = try await Self.writeLog()
        lines.insert(lines[1], at: 2)
        #expect(Self.verify(lines).failure?.line == 3)
    }

    @Test("garbage and truncated lines are reported with their line number",
          arguments: ["not json", "{\"seq\":1}", ""])
    func garbageIsDetected(_ bad: String) async throws {
        var (_, lines) = try await Self.writeLog()
        lines[4] = bad
        let result = Self.verify(lines)
        #expect(result.failure?.line == 5)
        #expect(result.lines == 4)
    }

    @Test func reopeningContinuesTheChain() async throws {
        let (url, _) = try await Self.writeLog()
        let reopened = try AuditLog(url: url)
        #expect(await reopened.count == 5)
        try await reopened.record("revoked", ["pair": "pack-module-3"])
        let result = try AuditLog.verify(url: url)
        #expect(result.isValid)
        #expect(result.lines == 6)
    }

    @Test func brokenLogIsNotAppendedTo() async throws {
        let (url, lines) = try await Self.writeLog()
        try (lines.dropFirst().joined(separator: "\n") + "\n").write(to: url, atomically: true, encoding: .utf8)
        #expect(throws: AuditError.self) { _ = try AuditLog(url: url) }
    }

    @Test func inMemoryLogChainsToo() async throws {
        let log = AuditLog()
        try await log.record("a")
        try await log.record("b", ["n": 1])
        let lines = await log.memory
        #expect(Self.verify(lines).isValid)
        #expect(await log.headHash == String(lines[1].suffix(66).prefix(64)))
    }
}
