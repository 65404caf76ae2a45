import Foundation
import Modbatt
import Synchronization
import Testing
@testable import ModbattProvisioning

/// Every secret of every pair, collected through the simulation's key probe:
/// both halves, the salt, the pair secret PS and the derived direction and
/// confirmation keys.
final class SecretCollector: Sendable {
    let secrets = Mutex<[String: [[UInt8]]]>([:])

    func add(_ pair: String, _ m: PairMaterial) {
        var list: [[UInt8]] = []
        var h1: [UInt8] = [], h2: [UInt8] = [], salt: [UInt8] = []
        m.deviceHalf.withUnsafeBytes { h1 = Array($0) }
        m.lctHalf.withUnsafeBytes { h2 = Array($0) }
        m.salt.withUnsafeBytes { salt = Array($0) }
        list.append(h1)
        list.append(h2)
        if let ps = try? m.pairSecret(selfId: m.componentA, peerId: m.componentB) {
            ps.secret.withUnsafeBytes { list.append(Array($0)) }
        }
        do {
            let keys = try PairKeys(halves: KeyHalf(bytes: h1), KeyHalf(bytes: h2), salt: Salt(bytes: salt),
                                    selfId: m.componentA, peerId: m.componentB, lctId: m.lctId)
            keys.txKey.withUnsafeBytes { list.append(Array($0)) }
            keys.rxKey.withUnsafeBytes { list.append(Array($0)) }
            keys.confirmKey.withUnsafeBytes { list.append(Array($0)) }
        } catch {}
        secrets.withLock { $0[pair] = list }
    }

    var all: [[UInt8]] { secrets.withLock { $0.values.flatMap { $0 } } }
    var halvesOnly: [[UInt8]] { secrets.withLock { $0.values.flatMap { Array($0.prefix(2)) } } }
}

@Suite("Passive sniffer")
struct SnifferTests {
    static func run(mode: PackageMode) async throws -> (frames: [[UInt8]], blobs: [[UInt8]], audit: String,
                                                       secrets: SecretCollector, established: Bool) {
        var config = makeConfig(modules: 4, "sniff-\(mode.rawValue)")
        config.packageMode = mode
        let collector = SecretCollector()
        return try await withSimulation(config) { sim in
            await sim.world.setKeyProbe { pair, m in collector.add(pair, m) }
            let report = try await sim.provision()
            _ = try await sim.runTraffic(seconds: 0.3)
            let recorded = await sim.world.sniffer.recorded().map(\.frame)
            let payloads = recorded.map(\.data)
            let blobs = BusCapture.transfers(in: recorded, messageId: 0x410)
                + BusCapture.transfers(in: recorded, messageId: 0x411)
            let audit = try String(contentsOf: sim.auditLogURL, encoding: .utf8)
            return (payloads, blobs, audit, collector, report.allEstablished)
        }
    }

    /// Sealed (default) provisioning: no key half, salt-derived key or pair
    /// secret appears in any captured frame, any reassembled transfer, or
    /// the audit log.
    @Test func sniffedProvisioningLeaksNoKeys() async throws {
        let r = try await Self.run(mode: .sealed)
        #expect(r.established)
        let secrets = r.secrets.all
        #expect(secrets.count == 5 * 6)
        #expect(r.blobs.count >= 5)
        let stream = r.frames.flatMap { $0 }
        for s in secrets {
            #expect(!BusCapture.contains(stream, anyWindowOf: s))
            for f in r.frames where f.count >= 6 { #expect(!BusCapture.contains(f, anyWindowOf: s, window: 6)) }
            for b in r.blobs { #expect(!BusCapture.contains(b, anyWindowOf: s)) }
            let hex = s.map { String(format: "%02x", $0) }.joined()
            #expect(!r.audit.contains(String(hex.prefix(16))))
        }
    }

    /// Control: in factory-bootstrap mode the same search does find the
    /// halves in the reassembled packages (so the search works), and the
    /// mode is logged loudly.
    @Test func bootstrapModeExposesHalvesAndIsLogged() async throws {
        let r = try await Self.run(mode: .factoryBootstrap)
        #expect(r.established)
        let found = r.secrets.halvesOnly.filter { s in r.blobs.contains { BusCapture.contains($0, anyWindowOf: s) } }
        #expect(found.count == r.secrets.halvesOnly.count)
        #expect(r.audit.contains("\"event\":\"bootstrap_mode\""))
        #expect(r.audit.contains("\"event\":\"bootstrap_package_accepted\""))
    }
}
