import Foundation
import NIOHTTP1
import Testing
@testable import ModbattBridge

/// A retried `POST /api/v1/lct/create` must not leave an orphan LCT: after an
/// attempt whose outcome is unknown the client looks the pair up first.
/// The bridges here accept several LCTs per pair, as a chain may, so a blind
/// retry would show as a second LCT instead of a 409.
@Suite("LCT create recovery")
struct LCTCreateRecoveryTests {
    static let context = "pack-module"

    /// The create commits, then its answer is replaced by this.
    static func lostCreate(_ answer: ScriptedFault.Answer) -> ScriptedFault {
        ScriptedFault(method: "POST", path: "/api/v1/lct/create", when: .afterCommit, answer: answer)
    }

    /// Every lookup fails with a 500 before being handled.
    static let failingLookups = ScriptedFault(method: "GET", path: "/api/v1/components/", when: .beforeHandling,
                                              answer: .status(500), times: Int.max)

    func startChainLikeBridge(_ faults: [ScriptedFault], storage: BridgeServerConfiguration.Storage = .memory,
                              port: Int = 0) async throws -> EmbeddedBridge {
        var config = BridgeServerConfiguration.ephemeral(token: testToken)
        config.scriptedFaults = faults
        config.oneLCTPerPair = false
        config.storage = storage
        config.port = port
        config.logger = quietLogger("test.server")
        return try await EmbeddedBridge.start(config)
    }

    func request(_ a: String, _ b: String) -> CreateLCTRequest {
        CreateLCTRequest(creator: "demo-user", componentA: a, componentB: b, context: Self.context)
    }

    /// Run `body` with a chain-like bridge, a client and a registered pair.
    func withPair(_ faults: [ScriptedFault], requestTimeout: Duration = .seconds(10),
                  _ body: (EmbeddedBridge, BridgeClient, String, String) async throws -> Void) async throws {
        let bridge = try await startChainLikeBridge(faults)
        // Registered with default timeouts: a short one is for the create under test only.
        let setup = try makeClient(bridge)
        // Generous bounds: these tests share two cores with everything else.
        let client = try makeClient(bridge, retry: fastRetry(attempts: 12, total: .seconds(40)),
                                    requestTimeout: requestTimeout)
        defer { Task { await setup.shutdown(); await client.shutdown(); await bridge.stop() } }
        let (a, b) = try await registerPair(setup)
        try await body(bridge, client, a, b)
    }

    /// Two ways a committed create loses its answer.
    enum LostAnswer: String, CaseIterable, Sendable, CustomStringConvertible {
        case status503 = "a 503 after the commit"
        case pastTimeout = "an answer held past the client's timeout"

        var description: String { rawValue }
        var fault: ScriptedFault {
            LCTCreateRecoveryTests.lostCreate(self == .status503 ? .status(503) : .delay(milliseconds: 8000))
        }
        var requestTimeout: Duration { self == .status503 ? .seconds(10) : .seconds(3) }
        /// What the recovered LCT's `cause` names.
        var cause: String { self == .status503 ? "HTTP 503" : "timed out" }
    }

    @Test("a create that committed and lost its answer is found, not made again", arguments: LostAnswer.allCases)
    func lostAnswerRecovered(_ lost: LostAnswer) async throws {
        try await withPair([lost.fault], requestTimeout: lost.requestTimeout) { bridge, client, a, b in
            let outcome = try await client.createOrRecoverLCT(request(a, b))
            let onBridge = try await bridge.relationships(of: a)
            #expect(onBridge.count == 1)
            switch consume outcome {
            case .recovered(let found):
                #expect(found.lct.lctId == onBridge.first?.lctId)
                #expect(found.others.isEmpty)
                #expect(found.cause.contains(lost.cause))
            case .created:
                Issue.record("the answer was lost: expected .recovered")
            }
        }
    }

    @Test("createLCT names the recovered LCT whose halves are lost; no second LCT")
    func createLCTSaysHalvesLost() async throws {
        try await withPair([Self.lostCreate(.status(503))]) { bridge, client, a, b in
            let e = await expectBridgeError { _ = try await client.createLCT(request(a, b)) }
            let onBridge = try await bridge.relationships(of: a)
            #expect(onBridge.count == 1)
            #expect(e?.kind == .keyHalvesLost)
            #expect(e?.existingId == onBridge.first?.lctId)
            #expect(e?.description.contains("revoke it") == true)
        }
    }

    @Test("when the lookup fails too, the possible orphan is reported by pair and context")
    func lookupFailsReportsOrphan() async throws {
        try await withPair([Self.lostCreate(.status(503)), Self.failingLookups]) { bridge, client, a, b in
            let e = await expectBridgeError { _ = try await client.createOrRecoverLCT(request(a, b)) }
            #expect(e?.kind == .unresolvedLCT)
            let orphan = try #require(e?.unresolvedLCTs.first)
            #expect(e?.unresolvedLCTs.count == 1)
            #expect(orphan.componentA == a && orphan.componentB == b && orphan.context == Self.context)
            #expect(orphan.createFailure.contains("POST /api/v1/lct/create"))
            #expect(orphan.lookupFailure.contains("GET /api/v1/components/{id}/relationships"))
            let text = e?.description ?? ""
            #expect(text.contains("unresolved LCT") && text.contains(a) && text.contains(b) && text.contains(Self.context))
            // Not retried blindly: the one LCT on the bridge is the unresolved one.
            #expect(try await bridge.relationships(of: a).count == 1)
            // The report is what `--json` output would carry.
            let json = String(decoding: try BridgeJSON.encode(orphan), as: UTF8.self)
            #expect(json.contains("\"component_a\":\"\(a)\"") && json.contains("\"lookup_failure\""))
        }
    }

    @Test("a 500 before the create was handled: the lookup finds nothing and the LCT is created once")
    func notHandledCreateRetried() async throws {
        let refused = ScriptedFault(method: "POST", path: "/api/v1/lct/create", when: .beforeHandling, answer: .status(500))
        try await withPair([refused]) { bridge, client, a, b in
            let outcome = try await client.createOrRecoverLCT(request(a, b))
            let onBridge = try await bridge.relationships(of: a)
            #expect(onBridge.count == 1)
            switch consume outcome {
            case .created(let created):
                #expect(created.lct.lctId == onBridge.first?.lctId)
                #expect(created.deviceKeyHalf.revealHex().count == 128)
            case .recovered:
                Issue.record("nothing was committed: expected .created")
            }
        }
    }

    @Test("a refused connection is retried without a lookup and creates the LCT once")
    func refusedConnectionRetried() async throws {
        let path = temporaryPath("bridge.sqlite")
        // Register the pair, then take the bridge down: the port now refuses connections.
        let first = try await startChainLikeBridge([], storage: .file(path))
        let port = first.port
        let setup = try makeClient(first)
        let (a, b) = try await registerPair(setup)
        await setup.shutdown()
        await first.stop()

        let client = try BridgeClient(
            configuration: BridgeClientConfiguration(
                baseURL: "http://127.0.0.1:\(port)", token: testToken,
                retry: RetryPolicy(maxAttempts: 40, baseDelay: .milliseconds(50), maxDelay: .milliseconds(100),
                                   totalTimeout: .seconds(15), jitterSeed: 1)),
            logger: quietLogger("test.client"))
        // A Task cannot carry the non-copyable outcome: it hands back what it was and the LCT id.
        let req = request(a, b)
        let creating = Task { () async throws -> (created: Bool, lctId: String) in
            let outcome = try await client.createOrRecoverLCT(req)
            switch consume outcome {
            case .created(let created): return (true, created.lct.lctId)
            case .recovered(let found): return (false, found.lct.lctId)
            }
        }
        try await Task.sleep(for: .milliseconds(400))
        // Back on the same port; any lookup would fail, so only a retry without one succeeds.
        let second = try await startChainLikeBridge([Self.failingLookups], storage: .file(path), port: port)
        defer { Task { await client.shutdown(); await second.stop() } }
        let outcome = try await creating.value
        let onBridge = try await second.relationships(of: a)
        #expect(onBridge.count == 1)
        #expect(outcome.created, "the bridge was down: expected .created")
        #expect(outcome.lctId == onBridge.first?.lctId)
    }

    @Test("reads stay plain retries: a GET whose answer was lost is sent again")
    func idempotentReadRetried() async throws {
        let lostRead = ScriptedFault(method: "GET", path: "/api/v1/lct/", when: .afterCommit, answer: .status(503))
        try await withPair([lostRead]) { _, client, a, b in
            let created = try await client.createLCT(request(a, b))
            let read = try await client.lct(id: created.lct.lctId)
            #expect(read.lctId == created.lct.lctId)
        }
    }

    @Test("the lookup answers in the chain's shape and the client reads both spellings")
    func relationshipShapes() async throws {
        try await withPair([]) { bridge, client, a, b in
            let created = try await client.createLCT(request(a, b))
            let answer = try await raw(bridge, .GET, "/api/v1/components/\(a)/relationships")
            #expect(answer.status == 200)
            #expect(answer.json["lct_count"] as? Int == 1)
            let first = (answer.json["component_relationships"] as? [[String: Any]])?.first
            #expect(first?["component_a_id"] as? String == a && first?["pairing_status"] as? String == "active")
            #expect(first?["operational_context"] as? String == Self.context)
            #expect(try await client.lctRelationships(componentId: b).map(\.lctId) == [created.lct.lctId])
            #expect(try await raw(bridge, .GET, "/api/v1/components/comp_nope/relationships").code == "COMPONENT_NOT_FOUND")
        }
        let bridgeShape = #"{"relationships":[{"lct_id":"lct_1","component_a":"x","component_b":"y","status":"active","context":"c","created_at":"2025-07-05T14:31:51Z"}]}"#
        let decoded = try BridgeJSON.decodeAnswer(ComponentRelationships.self, from: Data(bridgeShape.utf8))
        #expect(decoded.relationships.first?.componentB == "y" && decoded.relationships.first?.context == "c")
        #expect(decoded.relationships.first?.createdAt == 1_751_725_911)
    }

    @Test("only a live LCT of the same pair, context and creator, made since the call began, is taken as ours")
    func candidateFilter() {
        let req = CreateLCTRequest(creator: "u", componentA: "a", componentB: "b", context: "c")
        func lct(_ a: String = "b", _ b: String = "a", context: String = "c", status: String = "active",
                 creator: String? = "u", at: Int64? = 1000) -> LCT {
            LCT(lctId: "l", componentA: a, componentB: b, context: context, proxyId: nil, status: status,
                createdAt: at, creator: creator, txhash: nil)
        }
        #expect(BridgeClient.isCandidate(lct(), for: req, since: 1000))
        #expect(BridgeClient.isCandidate(lct(creator: nil, at: nil), for: req, since: 1000))
        #expect(!BridgeClient.isCandidate(lct("a", "z"), for: req, since: 1000))
        #expect(!BridgeClient.isCandidate(lct(context: "other"), for: req, since: 1000))
        #expect(!BridgeClient.isCandidate(lct(status: "revoked"), for: req, since: 1000))
        #expect(!BridgeClient.isCandidate(lct(creator: "someone-else"), for: req, since: 1000))
        #expect(!BridgeClient.isCandidate(lct(at: 1000 - BridgeClient.clockSkewAllowance - 1), for: req, since: 1000))
    }
}
