import Foundation
import Testing
@testable import ModbattBridge

/// The embedded bridge under a production-line burst: a thousand devices
/// registered and a thousand LCTs created at once, on a file-backed SQLite
/// store, and the provisioning client against a bridge failing 30% of calls.
/// Figures (wall time on the CI machine) are in docs/SECURITY.md, not here.
@Suite("Bridge under load")
struct BridgeLoadTests {
    static let devices = 1_000

    @Test("1,000 concurrent registrations, then 1,000 concurrent LCT creations: nothing lost, nothing duplicated, no half stored")
    func thousandConcurrent() async throws {
        let dbPath = temporaryPath("bridge.sqlite")
        let folder = URL(fileURLWithPath: dbPath).deletingLastPathComponent()
        defer { try? FileManager.default.removeItem(at: folder) }
        let bridge = try await startBridge(storage: .file(dbPath))
        // Ten clients of 8 connections each: 80 connections at once, 1,000
        // requests in flight. A request waits for a free connection, so the
        // pool wait (the connect timeout) must cover the burst.
        let clients = try (0..<10).map { _ in
            try BridgeClient(configuration: BridgeClientConfiguration(
                baseURL: bridge.baseURL, token: testToken, connectTimeout: .seconds(120), requestTimeout: .seconds(120),
                retry: fastRetry(attempts: 4, total: .seconds(240))), logger: quietLogger("test.load"))
        }
        do {
            let components = try await registerAll(clients, serials: (0..<Self.devices).map { "LOAD-\($0)" })
            #expect(components.count == Self.devices)
            #expect(Set(components.values).count == Self.devices, "every registration got its own id")

            // Module i pairs with module i+1 (a ring): 1,000 distinct pairs.
            let ids = (0..<Self.devices).map { components["LOAD-\($0)"]! }
            let pairs = (0..<Self.devices).map { (ids[$0], ids[($0 + 1) % Self.devices]) }
            let created = try await createAll(clients, pairs: pairs)
            #expect(created.lctIds.count == Self.devices)
            #expect(Set(created.lctIds).count == Self.devices, "every LCT got its own id")
            #expect(Set(created.halfFingerprints).count == 2 * Self.devices, "no key half was handed out twice")

            let counts = try await bridge.counts()
            #expect(counts.components == Self.devices)
            #expect(counts.lcts == Self.devices)
            // Read back a sample through the API: what was acknowledged is there.
            for index in stride(from: 0, to: Self.devices, by: 97) {
                let lct = try await clients[0].lct(id: created.lctIds[index])
                #expect(Set([lct.componentA, lct.componentB]) == Set([pairs[index].0, pairs[index].1]))
            }
            for client in clients { await client.shutdown() }
            await bridge.stop()
            try expectNoHalves(created.halvesHex, inFilesUnder: folder)
        } catch {
            for client in clients { await client.shutdown() }
            await bridge.stop()
            throw error
        }
    }

    @Test("the provisioner completes 200 devices concurrently against a bridge failing 30% of requests, twice, registering each once")
    func provisioningThroughThirtyPercentFailures() async throws {
        let faults = FaultConfiguration(failRate: 0.3, seed: 2026)
        try await withBridge(faults: faults, retry: fastRetry(attempts: 16, total: .seconds(120)),
                             requestTimeout: .seconds(60)) { bridge, client in
            let provisioner = Provisioner(client: client, registry: try ProvisioningRegistry(path: nil),
                                          creator: "demo-user")
            let serials = (0..<200).map { "FLAKY-\($0)" }
            var firstRun: [String: String] = [:]
            for run in 0..<2 {
                let ids = try await withThrowingTaskGroup(of: (String, String).self) { group in
                    for serial in serials {
                        group.addTask { (serial, try await provisioner.ensureComponent(hardwareSerial: serial).componentId) }
                    }
                    return try await group.reduce(into: [String: String]()) { $0[$1.0] = $1.1 }
                }
                if run == 0 { firstRun = ids } else { #expect(ids == firstRun, "a re-run finds the same ids") }
                let newLCTs = try await withThrowingTaskGroup(of: Int.self) { group in
                    for index in 0..<serials.count where index % 2 == 0 {
                        let (a, b) = (ids[serials[index]]!, ids[serials[index + 1]]!)
                        group.addTask {
                            let outcome = try await provisioner.ensureLCT(componentA: a, componentB: b)
                            switch consume outcome {
                            case .created: return 1
                            case .alreadyProvisioned: return 0
                            }
                        }
                    }
                    return try await group.reduce(0, +)
                }
                #expect(newLCTs == (run == 0 ? 100 : 0))
            }
            let counts = try await bridge.counts()
            #expect(counts.components == 200)
            #expect(counts.lcts == 100)
        }
    }

    // MARK: Helpers

    private func registerAll(_ clients: [BridgeClient], serials: [String]) async throws -> [String: String] {
        try await withThrowingTaskGroup(of: (String, String).self) { group in
            for (index, serial) in serials.enumerated() {
                let client = clients[index % clients.count]
                group.addTask {
                    let request = RegisterComponentRequest(creator: "demo-user", componentData: serial, context: "module")
                    return (serial, try await client.registerComponent(request).componentId)
                }
            }
            return try await group.reduce(into: [String: String]()) { $0[$1.0] = $1.1 }
        }
    }

    private struct Created: Sendable {
        var lctIds: [String] = []
        var halfFingerprints: [String] = []
        var halvesHex: [String] = []
    }

    private func createAll(_ clients: [BridgeClient], pairs: [(String, String)]) async throws -> Created {
        try await withThrowingTaskGroup(of: (Int, String, [String], [String]).self) { group in
            for (index, pair) in pairs.enumerated() {
                let client = clients[index % clients.count]
                group.addTask {
                    let request = CreateLCTRequest(creator: "demo-user", componentA: pair.0, componentB: pair.1,
                                                   context: "pack")
                    let lct = try await client.createLCT(request)
                    return (index, lct.lct.lctId, [lct.deviceKeyHalf.fingerprint, lct.lctKeyHalf.fingerprint],
                            [lct.deviceKeyHalf.revealHex(), lct.lctKeyHalf.revealHex()])
                }
            }
            var rows = try await group.reduce(into: [(Int, String, [String], [String])]()) { $0.append($1) }
            rows.sort { $0.0 < $1.0 }
            return Created(lctIds: rows.map(\.1), halfFingerprints: rows.flatMap(\.2), halvesHex: rows.flatMap(\.3))
        }
    }

    /// The bridge keeps only fingerprints: no half, as hex text or as raw
    /// bytes, may appear in the database or its WAL.
    private func expectNoHalves(_ halvesHex: [String], inFilesUnder folder: URL) throws {
        let files = try FileManager.default.contentsOfDirectory(at: folder, includingPropertiesForKeys: nil)
        #expect(!files.isEmpty)
        let contents = try files.map { try Data(contentsOf: $0) }
        for hex in halvesHex {
            let raw = Data(hexBytes(hex).prefix(16))
            let text = Data(hex.prefix(32).utf8)
            for data in contents {
                #expect(data.range(of: raw) == nil && data.range(of: text) == nil, "a key half reached the bridge database")
            }
        }
    }

    private func hexBytes(_ hex: String) -> [UInt8] {
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        return bytes
    }
}
