import Foundation
import Testing
import Modbatt
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

    @Test("an ephemeral pair waits 2 s for each handshake step (the pack's 0.82 s of P-256), a pre-shared one 250 ms",
          arguments: [false, true])
    func handshakeStepTimeout(ephemeral: Bool) throws {
        let secret = [UInt8](repeating: 0x5A, count: 32)
        let s = try secret.withUnsafeBytes { raw throws(ModbattError) in
            try PairSession(role: .controller, profile: .classic, deviceId: 0x01, secret: raw, keyId: [1, 2, 3, 4],
                            params: CryptoParameters(), ephemeral: ephemeral)
        }
        try s.start(now: 0)
        let waits: UInt32 = ephemeral ? PairSession.ephemeralHandshakeTimeoutMs : 250
        #expect(s.poll(now: waits) == nil)                 // still waiting for the REPLY
        #expect(s.poll(now: waits + 1) == .timeout)
        #expect(PairSession.ephemeralHandshakeTimeoutMs >= 1500)   // above the measured 0.82 s, with margin
    }
}
