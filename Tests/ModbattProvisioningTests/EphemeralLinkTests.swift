import Foundation
import Testing
@testable import ModbattProvisioning

/// The app-pack pair's optional ephemeral key exchange (docs/PROTOCOL.md 6.6,
/// issue #15 item 6): chosen by the app at provisioning, carried in the
/// pack's key package as a pair flag, kept in both key stores, used by both
/// ends' sessions. The C tests (test_ephemeral.c) prove the crypto; this
/// proves the setting reaches both ends and the pack still pairs and talks.
@Suite("Ephemeral key exchange on the app-pack link")
struct EphemeralLinkTests {
    @Test("recorded per pair in every key store (the app-pack pair only) and used: the pack pairs and talks",
          arguments: [false, true])
    func chosenAtProvisioning(ephemeral: Bool) async throws {
        var config = makeConfig(modules: 2, "ephemeral")
        config.ephemeralAppLink = ephemeral
        try await withSimulation(config) { sim in
            #expect(try await sim.provision().allEstablished)
            let traffic = try await sim.runTraffic(seconds: 0.5)
            #expect(traffic.messagesDelivered > 0)
            let stores = try DeviceKeyStore.list(in: sim.keyStoreDirectory).map(DeviceKeyStore.inspect)
            var flags: [String: [UInt8: Bool]] = [:]
            for s in stores {
                flags[s.device] = Dictionary(uniqueKeysWithValues: s.pairs.map { ($0.peerId, $0.ephemeral) })
            }
            #expect(flags["app"].map { Array($0.values) } == [ephemeral])               // its pair with the pack
            #expect(flags["pack"]?[0] == ephemeral)                                      // its pair with the app
            #expect(flags["pack"]?.filter { $0.key != 0 }.values.allSatisfy { !$0 } == true)   // module pairs
            #expect(flags["pack"]?.count == 3)
            #expect(stores.filter { $0.device.hasPrefix("module") }.allSatisfy { $0.pairs.allSatisfy { !$0.ephemeral } })
        }
    }
}
