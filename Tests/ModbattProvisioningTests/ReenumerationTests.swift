import Foundation
import Modbatt
import ModbattCAN
import Testing
@testable import ModbattProvisioning

/// A module that comes back under another device id keeps its pair
/// (docs/PROTOCOL.md 6.7): the id is an address, the pair is bound to the
/// pair secret. On the virtual bus, with bus time (deterministic).
@Suite("Re-enumeration: a pair follows its module to another id")
struct ReenumerationTests {
    /// Every key store file's bytes, by name: nothing may rewrite them.
    static func keyStoreFiles(_ sim: PackSimulation) throws -> [String: Data] {
        let dir = sim.keyStorePath(device: "pack").deletingLastPathComponent()
        var out: [String: Data] = [:]
        for name in try FileManager.default.contentsOfDirectory(atPath: dir.path) {
            out[name] = try Data(contentsOf: dir.appendingPathComponent(name))
        }
        return out
    }

    /// Bridge-side events the app logs when it calls the bridge or makes packages.
    static let provisioningEvents = ["component_registered", "lct_created", "package_built", "provisioning_finished"]

    static func count(_ events: [String], in lines: [String]) -> Int {
        lines.filter { line in events.contains { line.contains("\"event\":\"\($0)\"") } }.count
    }

    /// Traffic both ways over the session of module `n`'s pair after the move.
    static func expectTalking(_ sim: PackSimulation, modules: [Int]) async throws {
        let traffic = try await sim.runTraffic(seconds: 0.6)
        let from = await sim.world.pack.counters.deliveredFrom
        for n in modules {
            #expect(from.contains(World.moduleId(n)), "no telemetry from module \(n)")
            #expect(await sim.world.module(n).counters.messages.flows[.packToModule]?.delivered ?? 0 > 0,
                    "no command reached module \(n)")
        }
        #expect(traffic.rejected.isEmpty, "\(traffic.rejected)")
    }

    @Test func moduleAtAnotherIdKeepsItsPairWithoutReprovisioning() async throws {
        try await withSimulation(makeConfig(modules: 3, "reenum")) { sim in
            #expect(try await sim.provision().allEstablished)
            let stores = try Self.keyStoreFiles(sim)
            let bridge = try await sim.world.bridgeCounts()
            let provisioningLines = Self.count(Self.provisioningEvents, in: try auditLines(sim))
            let keyId = await sim.world.pack.moduleKeyId(0x02)

            // Module 2 (provisioned at 0x02) comes back as 0x07, an id nobody holds.
            #expect(try await sim.world.reenumerate([2: 0x07]))
            #expect(await sim.world.module(2).address == 0x07)
            #expect(await sim.world.pack.moduleAddress(0x02) == 0x07)
            #expect(await sim.world.pack.moduleKeyId(0x02) == keyId)   // the same pair
            try await Self.expectTalking(sim, modules: [1, 2, 3])

            // Nothing was provisioned again: no key store written, no bridge call, no package.
            #expect(try Self.keyStoreFiles(sim) == stores)
            let after = try await sim.world.bridgeCounts()
            #expect(after?.components == bridge?.components && after?.lcts == bridge?.lcts)
            let lines = try auditLines(sim)
            #expect(Self.count(Self.provisioningEvents, in: lines) == provisioningLines)
            #expect(lines.contains { $0.contains("\"event\":\"pair_moved\"") && $0.contains("\"to\":7") })
        }
    }

    @Test func twoModulesSwapIds() async throws {
        try await withSimulation(makeConfig(modules: 3, "swap")) { sim in
            #expect(try await sim.provision().allEstablished)
            let stores = try Self.keyStoreFiles(sim)
            #expect(try await sim.world.reenumerate([1: 0x03, 3: 0x01]))
            #expect(await sim.world.pack.moduleAddress(0x01) == 0x03)
            #expect(await sim.world.pack.moduleAddress(0x03) == 0x01)
            #expect(await sim.world.pack.moduleAddress(0x02) == 0x02)
            try await Self.expectTalking(sim, modules: [1, 2, 3])
            #expect(try Self.keyStoreFiles(sim) == stores)
        }
    }

    /// A stranger claims module 2 moved: a HELLO under module 2's (public)
    /// key id at another id, without the pair secret. Refused, no move
    /// started, the live session keeps working; so is a genuine HELLO
    /// replayed at an id the module has left.
    @Test func forgedAndReplayedAnnouncesAreRefused() async throws {
        try await withSimulation(makeConfig(modules: 3, "forged-move")) { sim in
            #expect(try await sim.provision().allEstablished)
            let keyId = try #require(await sim.world.pack.moduleKeyId(0x02))
            var hello = [UInt8](repeating: 0x5A, count: Segmentation.helloLength)
            hello[0] = Segmentation.protocolVersion
            hello[1] = 0
            hello.replaceSubrange(2..<6, with: keyId)
            hello[22] = 0x7F   // a huge counter
            let forged = try Segmentation.frames(of: hello, messageId: 0x310, encrypted: false, deviceId: 0x09,
                                                 profile: .classic)
            await sim.world.pack.resetCounters()
            try await sim.world.forge(forged)
            #expect(await sim.world.pack.counters.rejected["move_auth"] == 1)
            #expect(await !sim.world.pack.pairMoving(0x02))
            #expect(await sim.world.pack.moduleAddress(0x02) == 0x02)
            #expect(await sim.world.packLink(0x02) == .established)
            #expect(try auditLines(sim).contains { $0.contains("\"event\":\"pair_move_refused\"") })
            try await Self.expectTalking(sim, modules: [1, 2, 3])

            // The module really moves to 0x09 and back to 0x02: its HELLO at 0x09, replayed, is refused.
            let before = await sim.recordedFrames().count
            #expect(try await sim.world.reenumerate([2: 0x09]))
            let recorded = await sim.recordedFrames().dropFirst(before).map(\.frame)
            let genuine = recorded.filter { XferIds.messageId($0.id) == 0x310 && XferIds.deviceId($0.id) == 0x09 }
            #expect(genuine.count >= 6)
            #expect(try await sim.world.reenumerate([2: 0x02]))
            await sim.world.pack.resetCounters()
            try await sim.world.forge(Array(genuine.prefix(6)))
            #expect(await sim.world.pack.counters.rejected["move_replay"] == 1)
            #expect(await sim.world.pack.moduleAddress(0x02) == 0x02)
            try await Self.expectTalking(sim, modules: [1, 2, 3])
        }
    }

    /// A module moved onto an id where the pack still places another pair:
    /// that pair is parked (its keys end) until its own module says where it is.
    @Test func movingOntoAnOccupiedIdParksTheOtherPair() async throws {
        try await withSimulation(makeConfig(modules: 2, "park")) { sim in
            #expect(try await sim.provision().allEstablished)
            await sim.world.module(2).setSilent(true)   // module 2 is off the bus, the pack does not know yet
            #expect(try await sim.world.reenumerate([1: 0x02]))
            #expect(await sim.world.pack.moduleAddress(0x01) == 0x02)
            #expect(await sim.world.pack.moduleAddress(0x02) == nil)
            #expect(await sim.world.packLink(0x02) == .pending)
            #expect(try auditLines(sim).contains { $0.contains("\"event\":\"pair_parked\"") })
            await sim.world.module(2).setSilent(false)
            #expect(try await sim.world.reenumerate([2: 0x05]))
            #expect(await sim.world.pack.moduleAddress(0x02) == 0x05)
            try await Self.expectTalking(sim, modules: [1, 2])
        }
    }

    /// New key material later (a new package version) reaches a moved
    /// module where it is, and its new pair is set up there.
    @Test func newPackageReachesAMovedModule() async throws {
        try await withSimulation(makeConfig(modules: 2, "moved-update")) { sim in
            #expect(try await sim.provision().allEstablished)
            #expect(try await sim.world.reenumerate([2: 0x09]))
            let p = CryptoParameters(profile: .classic, rekeyAfterMs: 60_000, rekeyAfterMessages: 4096)
            let second = try await sim.updateParameters(p)
            #expect(second.allEstablished, "\(second.summary)")
            #expect(second.packageVersion == 2)
            #expect(await sim.world.pack.moduleAddress(0x02) == 0x09)
            try await Self.expectTalking(sim, modules: [1, 2])
        }
    }

    /// The pack reboots (its sessions and where its modules were are gone
    /// with its RAM) and registers its modules again, module 2 under the id
    /// it had moved to: the module's HELLO there brings its pair back.
    @Test func packRebootThenReregistration() async throws {
        try await withSimulation(makeConfig(modules: 2, "pack-reboot")) { sim in
            #expect(try await sim.provision().allEstablished)
            let stores = try Self.keyStoreFiles(sim).filter { !$0.key.hasSuffix(".boots") }
            #expect(try await sim.world.reenumerate([2: 0x09]))
            #expect(try await sim.rebootDevice("pack") == nil)
            #expect(await sim.world.pack.moduleAddress(0x02) == 0x02)   // as provisioned, after a boot
            #expect(try await sim.world.reenumerate([1: 0x01, 2: 0x09]))
            _ = try await sim.runTraffic(seconds: 0.6)
            let from = await sim.world.pack.counters.deliveredFrom
            #expect(from.contains(0x01) && from.contains(0x02), "\(from)")
            // Only the boot counter moved (written before use, PROTOCOL.md 6.5); no key store.
            #expect(try Self.keyStoreFiles(sim).filter { !$0.key.hasSuffix(".boots") } == stores)
        }
    }

    @Test func broadcastAndUnassignedAreNotAddresses() async throws {
        try await withSimulation(makeConfig(modules: 1, "bad-id")) { (sim: PackSimulation) async throws in
            #expect(try await sim.provision().allEstablished)
            for id in [DeviceAddress.broadcast, DeviceAddress.unassigned] {
                var refused: ModbattError?
                do { try await sim.world.module(1).assignAddress(id, now: 0) } catch { refused = error as? ModbattError }
                #expect(refused == .invalidArgument)
            }
            #expect(await sim.world.module(1).address == 0x01)
            #expect(await sim.world.module(1).isEstablished)
        }
    }
}

@Suite("The device-id plan")
struct DeviceAddressTests {
    @Test func planMatchesTheCCoreAndTheReferenceFirmware() {
        #expect(DeviceAddress.broadcast == 0x00 && DeviceAddress.unassigned == 0xFF)
        #expect(DeviceAddress.modules == 0x01...0x20)   // the ModBatt pack's slot + 1
        #expect(DeviceAddress.pack == 0x40 && !DeviceAddress.modules.contains(DeviceAddress.pack))
        #expect(DeviceAddress.module(1) == 0x01 && DeviceAddress.module(32) == 0x20)
        #expect(DeviceAddress.moduleNumber(0x20) == 32 && DeviceAddress.moduleNumber(0x21) == nil)
        #expect(DeviceAddress.moduleNumber(0x00) == nil)
        #expect(World.packId == DeviceAddress.pack && World.moduleId(7) == 0x07)
        #expect(PackLayout.moduleDeviceIds == DeviceAddress.modules && PackLayout.packDeviceId == DeviceAddress.pack)
        #expect(PackLayout.moduleName(deviceId: 0x07) == "module-07")
    }
}
