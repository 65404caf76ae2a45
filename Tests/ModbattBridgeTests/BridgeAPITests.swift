import Foundation
import Modbatt
import Testing
@testable import ModbattBridge

/// Every call's happy path through `BridgeClient` against the embedded bridge.
@Suite("API-Bridge calls")
struct BridgeAPITests {
    @Test("health answers without a token")
    func health() async throws {
        try await withBridge { bridge, _ in
            let open = try makeClient(bridge, token: nil)
            defer { Task { await open.shutdown() } }
            #expect(try await open.health().status == "ok")
        }
    }

    @Test("with authentication disabled, calls need no token")
    func noAuth() async throws {
        try await withBridge(token: nil) { _, client in
            let c = try await client.registerComponent(.init(creator: "u", componentData: "SN-OPEN"))
            #expect(try await client.component(id: c.componentId).componentId == c.componentId)
        }
    }

    @Test("register and get a component")
    func registerAndGetComponent() async throws {
        try await withBridge { _, client in
            let c = try await client.registerComponent(.init(creator: "demo-user", componentData: "SN-0001", context: "pack"))
            #expect(c.componentId.hasPrefix("comp_"))
            #expect(c.lctId == "lct_" + c.componentId)
            #expect(c.status == "registered")
            #expect(c.txhash?.count == 64)
            let fetched = try await client.component(id: c.componentId)
            #expect(fetched == c)
        }
    }

    @Test("create an LCT: two 64-byte halves, distinct, fingerprints stored server-side only")
    func createAndGetLCT() async throws {
        try await withBridge { bridge, client in
            let (a, b) = try await registerPair(client)
            let created = try await client.createLCT(.init(creator: "demo-user", componentA: a, componentB: b,
                                                           context: "pack-module", proxyId: "proxy_001"))
            #expect(created.lct.componentA == a && created.lct.componentB == b)
            #expect(created.lct.status == "active")
            #expect(created.lct.proxyId == "proxy_001")
            #expect(created.deviceKeyHalf.revealHex().count == 128)
            #expect(created.lctKeyHalf.revealHex().count == 128)
            #expect(created.deviceKeyHalf.revealHex() != created.lctKeyHalf.revealHex())
            let stored = try #require(try await bridge.store.lctFingerprints(created.lct.lctId))
            #expect(stored.device == created.deviceKeyHalf.fingerprint)
            #expect(stored.lct == created.lctKeyHalf.fingerprint)

            let fetched = try await client.lct(id: created.lct.lctId)
            #expect(fetched.lctId == created.lct.lctId && fetched.status == "active")
            // The GET answer carries no key material.
            let answer = try await raw(bridge, .GET, "/api/v1/lct/\(created.lct.lctId)")
            #expect(answer.json["device_key_half"] == nil && answer.json["lct_key_half"] == nil)
        }
    }

    @Test("the halves feed the pair key derivation")
    func halvesDerivePairKeys() async throws {
        try await withBridge { _, client in
            let (a, b) = try await registerPair(client)
            let created = try await client.createLCT(.init(creator: "demo-user", componentA: a, componentB: b))
            let salt = Salt.random()
            let one = try PairKeys(halves: created.deviceKeyHalf, created.lctKeyHalf, salt: salt,
                                   selfId: a, peerId: b, lctId: created.lct.lctId)
            let two = try PairKeys(halves: created.lctKeyHalf, created.deviceKeyHalf, salt: salt,
                                   selfId: b, peerId: a, lctId: created.lct.lctId)
            #expect(one.keyId == two.keyId)
        }
    }

    @Test("update LCT status")
    func updateStatus() async throws {
        try await withBridge { _, client in
            let (a, b) = try await registerPair(client)
            let created = try await client.createLCT(.init(creator: "demo-user", componentA: a, componentB: b))
            let id = created.lct.lctId
            let updated = try await client.updateLCTStatus(
                id: id, .init(creator: "demo-user", lctId: id, status: "maintenance", context: "scheduled"))
            #expect(updated.status == "maintenance")
            #expect(updated.context == "scheduled")
            #expect(updated.updatedAt != nil)
            #expect(try await client.lct(id: id).status == "maintenance")
        }
    }

    @Test("pairing: initiate, status, complete, revoke")
    func pairingFlow() async throws {
        try await withBridge { _, client in
            let (a, b) = try await registerPair(client)
            let created = try await client.createLCT(.init(creator: "demo-user", componentA: a, componentB: b))
            let challenge = try await client.initiatePairing(
                .init(creator: "demo-user", componentA: a, componentB: b, operationalContext: "race", proxyId: "p1"))
            #expect(challenge.challengeId.hasPrefix("challenge_"))
            #expect(challenge.status == "pending")
            #expect(challenge.expiresAt! > challenge.createdAt!)
            #expect(try await client.pairingStatus(challengeId: challenge.challengeId).status == "pending")

            let done = try await client.completePairing(
                .init(creator: "demo-user", challengeId: challenge.challengeId, componentAAuth: "a-auth",
                      componentBAuth: "b-auth", sessionContext: "session-1"))
            #expect(done.status == "completed")
            #expect(done.lctId == created.lct.lctId)
            let after = try await client.pairingStatus(challengeId: challenge.challengeId)
            #expect(after.status == "completed" && after.lctId == created.lct.lctId)

            let revoked = try await client.revokePairing(
                .init(creator: "demo-user", lctId: created.lct.lctId, reason: "component-replacement", notifyOffline: true))
            #expect(revoked.status == "revoked")
            #expect(try await client.lct(id: created.lct.lctId).status == "revoked")
            #expect(try await client.pairingStatus(challengeId: challenge.challengeId).status == "revoked")

            // A revoked pair may get a new LCT.
            let again = try await client.createLCT(.init(creator: "demo-user", componentA: b, componentB: a))
            #expect(again.lct.lctId != created.lct.lctId)
        }
    }

    @Test("revoke a single pending challenge")
    func revokeChallenge() async throws {
        try await withBridge { _, client in
            let (a, b) = try await registerPair(client)
            let challenge = try await client.initiatePairing(.init(creator: "demo-user", componentA: a, componentB: b))
            let revoked = try await client.revokePairing(.init(creator: "demo-user", challengeId: challenge.challengeId,
                                                               reason: "operator"))
            #expect(revoked.challengeId == challenge.challengeId && revoked.status == "revoked")
            #expect(try await client.pairingStatus(challengeId: challenge.challengeId).status == "revoked")
        }
    }

    @Test("force_immediate replaces a pending challenge")
    func forceImmediate() async throws {
        try await withBridge { _, client in
            let (a, b) = try await registerPair(client)
            let first = try await client.initiatePairing(.init(creator: "demo-user", componentA: a, componentB: b))
            let second = try await client.initiatePairing(
                .init(creator: "demo-user", componentA: a, componentB: b, forceImmediate: true))
            #expect(second.challengeId != first.challengeId)
            #expect(try await client.pairingStatus(challengeId: first.challengeId).status == "cancelled")
            let e = await expectBridgeError { _ = try await client.completePairing(.init(creator: "u", challengeId: first.challengeId)) }
            #expect(e?.status == 410 && e?.code == "CHALLENGE_CANCELLED")
        }
    }
}
