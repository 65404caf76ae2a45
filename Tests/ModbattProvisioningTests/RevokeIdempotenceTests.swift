import Foundation
import ModbattBridge
import Testing
@testable import ModbattProvisioning

@Suite("Revocation on a renewal")
struct RevokeIdempotenceTests {
    /// A retried DELETE whose first attempt went through answers 410 LCT_REVOKED:
    /// the LCT is in the state the renewal wants, so the renewal goes on.
    @Test func renewalToleratesAnLCTTheBridgeAlreadyRevoked() async throws {
        try await withSimulation(makeConfig(modules: 1, "revoked")) { sim in
            #expect(try await sim.provision().allEstablished)
            let lct = try #require(await sim.world.appState.lcts["app-pack"])
            let url = try #require(await sim.world.bridgeURL)
            let client = try BridgeClient(configuration: BridgeClientConfiguration(baseURL: url, token: "modbatt-sim-token"))
            _ = try await client.revokePairing(RevokePairingRequest(creator: "modbatt-app", lctId: lct, reason: "test"))
            // The bridge refuses a second revocation: that is what the renewal meets.
            await #expect(throws: BridgeError.self) {
                _ = try await client.revokePairing(RevokePairingRequest(creator: "modbatt-app", lctId: lct, reason: "again"))
            }
            await client.shutdown()
            let renewed = try await sim.updateParameters(CryptoParameters())
            #expect(renewed.allEstablished, "\(renewed.summary)")
            #expect(renewed.packageVersion == 2)
        }
    }
}
