import Foundation
import Testing
@testable import ModbattBridge

/// Every error code of the embedded bridge, through a raw HTTP client (the
/// exact bytes on the wire) and through `BridgeClient` (how it surfaces).
@Suite("API-Bridge errors")
struct BridgeErrorTests {
    @Test("400 for malformed JSON, wrong types, missing or empty fields, always with a JSON body",
          arguments: [
            ("/api/v1/components/register", "{not json", "MALFORMED_JSON"),
            ("/api/v1/components/register", "", "MALFORMED_JSON"),
            ("/api/v1/components/register", "[1,2]", "MALFORMED_JSON"),
            ("/api/v1/components/register", #"{"creator": 5, "component_data": "x"}"#, "MALFORMED_JSON"),
            ("/api/v1/components/register", #"{"creator": "u"}"#, "MALFORMED_JSON"),
            ("/api/v1/components/register", #"{"creator": null, "component_data": "x"}"#, "MALFORMED_JSON"),
            ("/api/v1/components/register", #"{"creator": "", "component_data": "x"}"#, "INVALID_REQUEST"),
            ("/api/v1/components/register", #"{"creator": "u", "component_data": "x", "context": ["a"]}"#, "MALFORMED_JSON"),
            ("/api/v1/lct/create", #"{"creator": "u", "component_a": "c1"}"#, "MALFORMED_JSON"),
            ("/api/v1/lct/create", #"{"creator": "u", "component_a": "c1", "component_b": "c1"}"#, "INVALID_REQUEST"),
            ("/api/v1/lct/create", #"{"creator": "u", "component_a": "c1", "component_b": 2}"#, "MALFORMED_JSON"),
            ("/api/v1/pairing/initiate", #"{"creator": "u", "component_a": "c1", "component_b": "c1"}"#, "INVALID_REQUEST"),
            ("/api/v1/pairing/initiate", #"{"creator": "u", "component_a": "a", "component_b": "b", "force_immediate": "yes"}"#, "MALFORMED_JSON"),
            ("/api/v1/pairing/complete", #"{"creator": "u"}"#, "MALFORMED_JSON"),
            ("/api/v1/pairing/complete", #"{"creator": "u", "challenge_id": ""}"#, "INVALID_REQUEST"),
          ])
    func badRequests(path: String, body: String, code: String) async throws {
        try await withBridge { bridge, _ in
            let answer = try await raw(bridge, .POST, path, body: body)
            #expect(answer.status == 400)
            #expect(answer.header("content-type") == "application/json")
            #expect(answer.code == code)
            #expect((answer.json["error"] as? String)?.isEmpty == false)
        }
    }

    @Test("400 names the offending field without echoing its value")
    func fieldNamedNotValue() async throws {
        try await withBridge { bridge, _ in
            let answer = try await raw(bridge, .POST, "/api/v1/components/register",
                                       body: #"{"creator": "u", "component_data": 12345678}"#)
            let details = try #require(answer.json["details"] as? String)
            #expect(details.contains("component_data"))
            #expect(!details.contains("12345678"))
        }
    }

    @Test("400 for bad status updates and revokes")
    func badUpdates() async throws {
        try await withBridge { bridge, client in
            let (a, b) = try await registerPair(client)
            let lct = try await client.createLCT(.init(creator: "u", componentA: a, componentB: b)).lct
            let unknown = try await raw(bridge, .PUT, "/api/v1/lct/\(lct.lctId)/status",
                                        body: #"{"creator": "u", "status": "exploded"}"#)
            #expect(unknown.status == 400 && unknown.code == "INVALID_REQUEST")
            let mismatch = try await raw(bridge, .PUT, "/api/v1/lct/\(lct.lctId)/status",
                                         body: #"{"creator": "u", "lct_id": "lct_other", "status": "active"}"#)
            #expect(mismatch.status == 400)
            let neither = try await raw(bridge, .DELETE, "/api/v1/pairing/revoke", body: #"{"creator": "u", "reason": "x"}"#)
            #expect(neither.status == 400 && neither.code == "INVALID_REQUEST")

            // Through the client: surfaced at once, not retried.
            let error = await expectBridgeError {
                _ = try await client.updateLCTStatus(id: lct.lctId, .init(creator: "u", status: "exploded"))
            }
            #expect(error?.status == 400 && error?.code == "INVALID_REQUEST" && error?.attempts == 1)
            #expect(error?.endpoint == "PUT /api/v1/lct/{id}/status")
        }
    }

    @Test("401 without, with a wrong, or with a non-bearer token; never retried")
    func unauthorized() async throws {
        try await withBridge { bridge, _ in
            for token in [nil, "wrong-token"] as [String?] {
                let answer = try await raw(bridge, .GET, "/api/v1/components/comp_x", token: token)
                #expect(answer.status == 401 && answer.code == "UNAUTHORIZED")
                #expect(answer.header("www-authenticate") == "Bearer")
            }
            var request = try await raw(bridge, .GET, "/api/v1/lct/x", token: nil)
            #expect(request.status == 401)
            request = try await raw(bridge, .GET, "/health", token: nil)
            #expect(request.status == 200)

            let wrong = try makeClient(bridge, token: "nope")
            defer { Task { await wrong.shutdown() } }
            let error = await expectBridgeError {
                _ = try await wrong.registerComponent(.init(creator: "u", componentData: "x"))
            }
            #expect(error?.status == 401 && error?.code == "UNAUTHORIZED" && error?.attempts == 1)
            #expect(error?.description.contains("POST /api/v1/components/register: HTTP 401 UNAUTHORIZED") == true)
            #expect(error?.description.contains("nope") == false)
        }
    }

    @Test("404 for unknown ids and endpoints")
    func notFound() async throws {
        try await withBridge { bridge, client in
            var e = await expectBridgeError { _ = try await client.component(id: "comp_missing") }
            #expect(e?.status == 404 && e?.code == "COMPONENT_NOT_FOUND" && e?.attempts == 1)
            #expect(e?.endpoint == "GET /api/v1/components/{id}")
            e = await expectBridgeError { _ = try await client.lct(id: "lct_missing") }
            #expect(e?.code == "LCT_NOT_FOUND")
            e = await expectBridgeError {
                _ = try await client.updateLCTStatus(id: "lct_missing", .init(creator: "u", status: "active"))
            }
            #expect(e?.code == "LCT_NOT_FOUND")
            e = await expectBridgeError { _ = try await client.pairingStatus(challengeId: "challenge_missing") }
            #expect(e?.code == "CHALLENGE_NOT_FOUND")
            e = await expectBridgeError {
                _ = try await client.completePairing(.init(creator: "u", challengeId: "challenge_missing"))
            }
            #expect(e?.code == "CHALLENGE_NOT_FOUND")
            e = await expectBridgeError { _ = try await client.revokePairing(.init(creator: "u", lctId: "lct_missing")) }
            #expect(e?.code == "LCT_NOT_FOUND")
            e = await expectBridgeError {
                _ = try await client.revokePairing(.init(creator: "u", challengeId: "challenge_missing"))
            }
            #expect(e?.code == "CHALLENGE_NOT_FOUND")

            let (a, _) = try await registerPair(client)
            e = await expectBridgeError { _ = try await client.createLCT(.init(creator: "u", componentA: a, componentB: "comp_nope")) }
            #expect(e?.status == 404 && e?.code == "COMPONENT_NOT_FOUND")
            #expect(e?.details?.contains("comp_nope") == true)
            e = await expectBridgeError {
                _ = try await client.initiatePairing(.init(creator: "u", componentA: "comp_nope", componentB: a))
            }
            #expect(e?.code == "COMPONENT_NOT_FOUND")

            let route = try await raw(bridge, .GET, "/api/v1/nothing-here")
            #expect(route.status == 404 && route.code == "NOT_FOUND")
            let method = try await raw(bridge, .PATCH, "/api/v1/components/register", body: "{}")
            #expect(method.status == 404 && method.code == "NOT_FOUND")
        }
    }

    @Test("409 for duplicates, with the existing id")
    func conflicts() async throws {
        try await withBridge { _, client in
            let first = try await client.registerComponent(.init(creator: "u", componentData: "SN-DUP"))
            var e = await expectBridgeError { _ = try await client.registerComponent(.init(creator: "u", componentData: "SN-DUP")) }
            #expect(e?.status == 409 && e?.code == "COMPONENT_EXISTS" && e?.existingId == first.componentId)
            #expect(e?.attempts == 1)

            let (a, b) = try await registerPair(client)
            let lct = try await client.createLCT(.init(creator: "u", componentA: a, componentB: b)).lct
            e = await expectBridgeError { _ = try await client.createLCT(.init(creator: "u", componentA: b, componentB: a)) }
            #expect(e?.status == 409 && e?.code == "LCT_EXISTS" && e?.existingId == lct.lctId)

            let challenge = try await client.initiatePairing(.init(creator: "u", componentA: a, componentB: b))
            e = await expectBridgeError { _ = try await client.initiatePairing(.init(creator: "u", componentA: b, componentB: a)) }
            #expect(e?.status == 409 && e?.code == "PAIRING_IN_PROGRESS" && e?.existingId == challenge.challengeId)

            _ = try await client.completePairing(.init(creator: "u", challengeId: challenge.challengeId))
            e = await expectBridgeError { _ = try await client.completePairing(.init(creator: "u", challengeId: challenge.challengeId)) }
            #expect(e?.status == 409 && e?.code == "PAIRING_ALREADY_COMPLETED")
        }
    }

    @Test("410 for expired or revoked challenges and revoked LCTs")
    func gone() async throws {
        let bridge = try await startBridge(challengeLifetime: 1)
        let client = try makeClient(bridge)
        defer { Task { await client.shutdown(); await bridge.stop() } }
        let (a, b) = try await registerPair(client)
        let expiring = try await client.initiatePairing(.init(creator: "u", componentA: a, componentB: b))
        try await Task.sleep(for: .milliseconds(1100))
        #expect(try await client.pairingStatus(challengeId: expiring.challengeId).status == "expired")
        var e = await expectBridgeError { _ = try await client.completePairing(.init(creator: "u", challengeId: expiring.challengeId)) }
        #expect(e?.status == 410 && e?.code == "CHALLENGE_EXPIRED")

        let revokedChallenge = try await client.initiatePairing(.init(creator: "u", componentA: a, componentB: b))
        _ = try await client.revokePairing(.init(creator: "u", challengeId: revokedChallenge.challengeId))
        e = await expectBridgeError { _ = try await client.completePairing(.init(creator: "u", challengeId: revokedChallenge.challengeId)) }
        #expect(e?.status == 410 && e?.code == "CHALLENGE_REVOKED")
        e = await expectBridgeError { _ = try await client.revokePairing(.init(creator: "u", challengeId: revokedChallenge.challengeId)) }
        #expect(e?.status == 410)

        let lct = try await client.createLCT(.init(creator: "u", componentA: a, componentB: b)).lct
        _ = try await client.revokePairing(.init(creator: "u", lctId: lct.lctId))
        e = await expectBridgeError { _ = try await client.revokePairing(.init(creator: "u", lctId: lct.lctId)) }
        #expect(e?.status == 410 && e?.code == "LCT_REVOKED")
        e = await expectBridgeError { _ = try await client.updateLCTStatus(id: lct.lctId, .init(creator: "u", status: "active")) }
        #expect(e?.status == 410 && e?.code == "LCT_REVOKED")
    }

    @Test("413 for an oversized body")
    func tooLarge() async throws {
        try await withBridge { bridge, _ in
            let big = #"{"creator": "u", "component_data": ""# + String(repeating: "x", count: 100_000) + #""}"#
            let answer = try await raw(bridge, .POST, "/api/v1/components/register", body: big)
            #expect(answer.status == 413 && answer.code == "PAYLOAD_TOO_LARGE")
        }
    }

    @Test("429 over the configured rate, with Retry-After")
    func rateLimited() async throws {
        // 0.01/s: the bucket's one token is gone after the first call and
        // does not come back within the test, however slow the machine.
        let bridge = try await startBridge(rateLimit: 0.01)
        defer { Task { await bridge.stop() } }
        var statuses: [Int] = []
        var retryAfter: String?
        for _ in 0..<6 {
            let answer = try await raw(bridge, .GET, "/api/v1/components/comp_x")
            statuses.append(answer.status)
            if answer.status == 429 {
                #expect(answer.code == "RATE_LIMIT_EXCEEDED")
                retryAfter = answer.header("retry-after")
            }
        }
        #expect(statuses == [404, 429, 429, 429, 429, 429])
        #expect(retryAfter == "1")
        // Health is never limited.
        #expect(try await raw(bridge, .GET, "/health").status == 200)
    }

    @Test("500 from fault injection carries a JSON body; the client gives up after its attempts")
    func injectedFailure() async throws {
        try await withBridge(faults: FaultConfiguration(failRate: 1.0), retry: fastRetry(attempts: 3)) { bridge, client in
            let answer = try await raw(bridge, .GET, "/api/v1/components/comp_x")
            #expect(answer.status == 500 && answer.code == "INTERNAL_ERROR")
            let e = await expectBridgeError { _ = try await client.registerComponent(.init(creator: "u", componentData: "x")) }
            #expect(e?.status == 500 && e?.attempts == 3 && e?.code == "INTERNAL_ERROR")
            #expect(e?.description.contains("[after 3 attempts]") == true)
            #expect(try await bridge.counts().components == 0)
        }
    }
}
