import Foundation
import Logging
import ModbattCAN
import Synchronization
import Testing
@testable import ModbattProvisioning

/// Key extraction by reading what a run leaves behind: the demo's engine runs
/// a pack (embedded bridge database, provisioning registry, audit log, key
/// stores, all in its data directory), every log line at trace level is
/// kept, and the bus is written out as a candump capture. Then every one of
/// those bytes is searched for every secret of every pair (both halves, the
/// pair secret, the direction and confirmation keys), raw and as hex or
/// base64. Only the stand-in hardware secret (`*.hwkey`) is excluded: it is
/// the storage key itself, the thing a real device keeps in secure flash.
@Suite("Key extraction scan")
struct KeyExtractionScanTests {
    @Test("nothing a run writes (files, logs, candump capture) holds a key byte sequence")
    func nothingWrittenHoldsKeys() async throws {
        let run = try await Self.runPack()
        defer { try? FileManager.default.removeItem(at: run.directory) }
        #expect(run.secrets.count == 3 * 6, "3 pairs, 6 secrets each")
        #expect(run.logLines >= 10, "the trace-level log was captured")
        #expect(run.log.contains("LCT created"), "the bridge's and the client's lines are in it")
        let files = try Self.artifacts(in: run.directory)
        let names = Set(files.map(\.lastPathComponent))
        #expect(names.contains { $0.hasSuffix(".sqlite") }, "the bridge database is scanned")
        #expect(names.contains { $0.hasSuffix(".flash") }, "the key stores are scanned")
        #expect(names.contains("capture.log"), "the candump capture is scanned")
        for file in files {
            let leaked = SecretScanner(secrets: run.secrets).findings(in: try Data(contentsOf: file))
            #expect(leaked.isEmpty, "\(file.lastPathComponent): \(leaked.joined(separator: ", "))")
        }
        let logLeaks = SecretScanner(secrets: run.secrets).findings(in: Data(run.log.utf8))
        #expect(logLeaks.isEmpty, "log: \(logLeaks.joined(separator: ", "))")
    }

    @Test("control: the scanner finds a pair secret planted as hex, as base64 and raw")
    func scannerFindsPlantedSecrets() {
        let secret: [UInt8] = (0..<32).map { UInt8(($0 * 37 + 11) & 0xff) }
        let scanner = SecretScanner(secrets: [secret])
        let hex = secret.map { String(format: "%02X", $0) }.joined()
        #expect(!scanner.findings(in: Data("note: key=\(hex) end".utf8)).isEmpty)
        #expect(!scanner.findings(in: Data("k=\(Data(secret).base64EncodedString())".utf8)).isEmpty)
        #expect(!scanner.findings(in: Data([0, 1, 2] + secret[5..<20] + [9])).isEmpty)
        #expect(scanner.findings(in: Data("nothing to see here".utf8)).isEmpty)
    }

    // MARK: The run

    struct Run {
        var directory: URL
        var secrets: [[UInt8]]
        var log: String
        var logLines: Int
    }

    static func runPack() async throws -> Run {
        var config = makeConfig(modules: 2, "scan")
        let lines = LineCollector()
        var logger = Logger(label: "modbatt.scan") { label in CollectingHandler(label: label, lines: lines) }
        logger.logLevel = .trace
        config.logger = logger
        let collector = SecretCollector()
        try await withSimulation(config) { sim in
            await sim.world.setKeyProbe { pair, m in collector.add(pair, m) }
            let report = try await sim.provision()
            #expect(report.allEstablished)
            _ = try await sim.runTraffic(seconds: 0.5)
            _ = try await sim.runAttacks()
            let records = await sim.recordedFrames().map { CandumpRecord($0, interface: "vcan0") }
            try Candump.write(records, to: config.dataDirectory.appendingPathComponent("capture.log").path)
        }
        let log = lines.text
        return Run(directory: config.dataDirectory, secrets: collector.all, log: log,
                   logLines: log.split(separator: "\n").count)
    }

    /// Every regular file under the data directory except the hardware secrets.
    static func artifacts(in directory: URL) throws -> [URL] {
        guard let walker = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: [.isRegularFileKey])
        else { return [] }
        return walker.compactMap { $0 as? URL }.filter { url in
            let regular = (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) ?? false
            return regular && url.pathExtension != "hwkey"
        }
    }
}

/// Finds any 8-byte window of a secret in a byte string: raw, as hex (any
/// case, so candump's upper-case payloads count) or in the base64 of the
/// whole secret.
struct SecretScanner {
    private var raw: Set<[UInt8]> = []
    private var hex: Set<String> = []
    private var base64: [String] = []

    init(secrets: [[UInt8]], window: Int = 8) {
        for s in secrets where s.count >= window {
            for start in 0...(s.count - window) {
                let w = Array(s[start..<start + window])
                raw.insert(w)
                hex.insert(w.map { String(format: "%02x", $0) }.joined())
            }
            base64.append(String(Data(s).base64EncodedString().prefix(16)))
        }
    }

    func findings(in data: Data) -> [String] {
        let bytes = [UInt8](data)
        var found: [String] = []
        if bytes.count >= 8, (0...(bytes.count - 8)).contains(where: { raw.contains(Array(bytes[$0..<$0 + 8])) }) {
            found.append("raw key bytes")
        }
        let text = String(decoding: bytes, as: UTF8.self)
        let lower = Array(text.lowercased().utf8)
        if lower.count >= 16,
           (0...(lower.count - 16)).contains(where: { hex.contains(String(decoding: lower[$0..<$0 + 16], as: UTF8.self)) }) {
            found.append("key bytes as hex")
        }
        if base64.contains(where: { text.contains($0) }) { found.append("key bytes as base64") }
        return found
    }
}

/// Every log line, level and metadata included.
final class LineCollector: Sendable {
    private let lines = Mutex<[String]>([])
    func append(_ line: String) { lines.withLock { $0.append(line) } }
    var text: String { lines.withLock { $0.joined(separator: "\n") } }
}

struct CollectingHandler: LogHandler {
    let label: String
    let lines: LineCollector
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let fields = metadata.merging(event.metadata ?? [:]) { $1 }.map { "\($0.key)=\($0.value)" }.sorted()
        lines.append("\(event.level) \(label) \(event.message) \(fields.joined(separator: " "))")
    }
}
