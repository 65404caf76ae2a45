import Foundation
import Testing
@testable import ModbattBridge

@Suite("Persistence and concurrency")
struct PersistenceTests {
    @Test("components, LCTs and pairings survive a server restart")
    func survivesRestart() async throws {
        let path = temporaryPath("bridge.sqlite")
        var bridge = try await startBridge(storage: .file(path))
        var client = try makeClient(bridge)
        let (a, b) = try await registerPair(client)
        let lct = try await client.createLCT(.init(creator: "u", componentA: a, componentB: b)).lct
        let challenge = try await client.initiatePairing(.init(creator: "u", componentA: a, componentB: b))
        await client.shutdown()
        await bridge.stop()

        bridge = try await startBridge(storage: .file(path))
        client = try makeClient(bridge)
        #expect(try await client.component(id: a).componentData == "SN-A")
        #expect(try await client.lct(id: lct.lctId) == lct)
        #expect(try await client.pairingStatus(challengeId: challenge.challengeId).status == "pending")
        // Still one LCT per pair after the restart.
        let e = await expectBridgeError { _ = try await client.createLCT(.init(creator: "u", componentA: a, componentB: b)) }
        #expect(e?.code == "LCT_EXISTS")
        await client.shutdown()
        await bridge.stop()
    }

    @Test("the database stores no key halves")
    func noHalvesOnDisk() async throws {
        let path = temporaryPath("bridge.sqlite")
        let bridge = try await startBridge(storage: .file(path))
        let client = try makeClient(bridge)
        let (a, b) = try await registerPair(client)
        let created = try await client.createLCT(.init(creator: "u", componentA: a, componentB: b))
        let device = created.deviceKeyHalf.revealHex(), lct = created.lctKeyHalf.revealHex()
        await client.shutdown()
        await bridge.stop()
        var bytes = Data()
        for suffix in ["", "-wal", "-journal"] {
            if let d = FileManager.default.contents(atPath: path + suffix) { bytes.append(d) }
        }
        let text = String(decoding: bytes, as: UTF8.self).lowercased()
        #expect(!bytes.isEmpty)
        #expect(!text.contains(device) && !text.contains(lct))
        #expect(!text.contains(String(device.prefix(32))))
    }

    @Test("hundreds of concurrent registrations: nothing lost, nothing duplicated")
    func concurrentRegistrations() async throws {
        // Generous time limits: this checks correctness under concurrency, and
        // CI runs every suite in parallel on 2 cores (a timed-out request
        // that is retried could register twice, which is not what is tested).
        try await withBridge(retry: fastRetry(total: .seconds(180)), requestTimeout: .seconds(90)) { bridge, client in
            let count = 300
            let ids = try await withThrowingTaskGroup(of: String.self) { group in
                for i in 0..<count {
                    group.addTask {
                        try await client.registerComponent(.init(creator: "u", componentData: "SN-\(i)")).componentId
                    }
                }
                return try await group.reduce(into: [String]()) { $0.append($1) }
            }
            #expect(ids.count == count)
            #expect(Set(ids).count == count)
            #expect(try await bridge.counts().components == count)
            // And the same 300 again: every one a 409, nothing added.
            let conflicts = try await withThrowingTaskGroup(of: Int?.self) { group in
                for i in 0..<count {
                    group.addTask {
                        do {
                            _ = try await client.registerComponent(.init(creator: "u", componentData: "SN-\(i)"))
                            return nil
                        } catch let e as BridgeError { return e.status }
                    }
                }
                return try await group.reduce(into: [Int?]()) { $0.append($1) }
            }
            #expect(conflicts.allSatisfy { $0 == 409 })
            #expect(try await bridge.counts().components == count)
        }
    }

    @Test("the provisioning registry and Host ID survive reopening")
    func registryPersists() async throws {
        let path = temporaryPath("registry.sqlite")
        let bridge = try await startBridge()
        let client = try makeClient(bridge)
        var registry = try ProvisioningRegistry(path: path)
        let host1 = try registry.hostIdentity(machineId: "machine-1")
        var provisioner = Provisioner(client: client, registry: registry, creator: "u")
        let first = try await provisioner.ensureComponent(hardwareSerial: "SN-PERSIST")

        registry = try ProvisioningRegistry(path: path)
        let host2 = try registry.hostIdentity(machineId: "machine-1")
        #expect(host2.hostId == host1.hostId)
        #expect(host2.machineMatches == true)
        #expect(host1.hostId.hasPrefix("host-") && host1.hostId.count == 41)
        provisioner = Provisioner(client: client, registry: registry, creator: "u")
        #expect(try await provisioner.ensureComponent(hardwareSerial: "SN-PERSIST") == first)
        #expect(try await bridge.counts().components == 1)

        // Copied to another machine: same Host ID, flagged.
        let moved = try registry.hostIdentity(machineId: "machine-2")
        #expect(moved.hostId == host1.hostId && moved.machineMatches == false)
        // A fresh registry gets a different Host ID.
        #expect(try ProvisioningRegistry(path: nil).hostIdentity().hostId != host1.hostId)
        await client.shutdown()
        await bridge.stop()
    }

    @Test("a second bridge on a taken port fails to start with a clear error")
    func portInUse() async throws {
        let bridge = try await startBridge()
        var config = BridgeServerConfiguration.ephemeral(token: testToken)
        config.port = bridge.port
        await #expect(throws: (any Error).self) { _ = try await EmbeddedBridge.start(config) }
        await bridge.stop()
    }
}
