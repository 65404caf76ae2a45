import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
@testable import ModbattBridge

/// Retries, backoff, Retry-After and bounded time, against injected faults.
@Suite("Client retries")
struct ClientRetryTests {
    @Test("with 500s, 429 bursts and latency, provisioning completes and registers nothing twice")
    func provisioningUnderFaults() async throws {
        let faults = FaultConfiguration(latencyMilliseconds: 5, failRate: 0.3, burst429Length: 2, burst429Chance: 0.2,
                                        retryAfterSeconds: 0, seed: 42)
        let capture = LogCapture()
        try await withBridge(faults: faults, retry: fastRetry(attempts: 12, total: .seconds(20)),
                             clientLogger: capture.logger("client")) { bridge, client in
            let registry = try ProvisioningRegistry(path: nil)
            let provisioner = Provisioner(client: client, registry: registry, creator: "demo-user")
            var ids: [String] = []
            for run in 0..<2 {  // the second run is a re-run: it must change nothing
                ids = []
                let host = try await provisioner.ensureHostRegistered()
                ids.append(host.componentId)
                for serial in ["PACK-1", "MOD-1", "MOD-2", "MOD-3"] {
                    ids.append(try await provisioner.ensureComponent(hardwareSerial: serial).componentId)
                }
                for module in ids[2...] {
                    let outcome = try await provisioner.ensureLCT(componentA: ids[1], componentB: module)
                    switch consume outcome {
                    case .created: #expect(run == 0)
                    case .alreadyProvisioned: #expect(run == 1)
                    }
                }
            }
            let counts = try await bridge.counts()
            #expect(counts.components == 5)
            #expect(counts.lcts == 3)
            #expect(Set(ids).count == 5)
            // The faults did hit: some calls were retried after a 500 and after a 429.
            let retries = capture.all.filter { $0.contains("retrying") }
            #expect(retries.contains { $0.contains("status=500") })
            #expect(retries.contains { $0.contains("status=429") })
        }
    }

    @Test("a lost answer to a registration is recovered through 409 and the existing id")
    func lostAnswerAdopted() async throws {
        try await withBridge { bridge, client in
            // Registered "earlier" (the answer never reached the registry).
            let earlier = try await client.registerComponent(.init(creator: "demo-user", componentData: "SN-LOST", context: "modbatt"))
            let provisioner = Provisioner(client: client, registry: try ProvisioningRegistry(path: nil), creator: "demo-user")
            let adopted = try await provisioner.ensureComponent(hardwareSerial: "SN-LOST")
            #expect(adopted.componentId == earlier.componentId)
            #expect(try await bridge.counts().components == 1)
        }
    }

    @Test("an LCT the registry does not know fails with a clear 409")
    func unknownLCTConflict() async throws {
        try await withBridge { _, client in
            let (a, b) = try await registerPair(client)
            _ = try await client.createLCT(.init(creator: "demo-user", componentA: a, componentB: b))
            let provisioner = Provisioner(client: client, registry: try ProvisioningRegistry(path: nil), creator: "demo-user")
            let e = await expectBridgeError { _ = try await provisioner.ensureLCT(componentA: a, componentB: b) }
            #expect(e?.status == 409 && e?.code == "LCT_EXISTS")
            #expect(e?.description.contains("revoke it") == true)
        }
    }

    @Test("concurrent provisioning of the same serial and pair registers once")
    func concurrentSameSerial() async throws {
        try await withBridge(faults: FaultConfiguration(failRate: 0.2, seed: 3)) { bridge, client in
            let provisioner = Provisioner(client: client, registry: try ProvisioningRegistry(path: nil), creator: "demo-user")
            let ids = try await withThrowingTaskGroup(of: String.self) { group in
                for _ in 0..<40 {
                    group.addTask { try await provisioner.ensureComponent(hardwareSerial: "SN-SAME").componentId }
                }
                return try await group.reduce(into: Set<String>()) { $0.insert($1) }
            }
            #expect(ids.count == 1)
            let other = try await provisioner.ensureComponent(hardwareSerial: "SN-OTHER").componentId
            let created = try await withThrowingTaskGroup(of: Bool.self) { group in
                for _ in 0..<20 {
                    group.addTask {
                        let outcome = try await provisioner.ensureLCT(componentA: ids.first!, componentB: other)
                        switch consume outcome {
                        case .created: return true
                        case .alreadyProvisioned: return false
                        }
                    }
                }
                return try await group.reduce(0) { $0 + ($1 ? 1 : 0) }
            }
            #expect(created == 1)
            let counts = try await bridge.counts()
            #expect(counts.components == 2 && counts.lcts == 1)
        }
    }

    @Test("Retry-After is honoured")
    func retryAfterHonoured() async throws {
        // Every call starts a burst of one 429 (Retry-After: 1), the next passes.
        let faults = FaultConfiguration(burst429Length: 1, burst429Chance: 1.0, retryAfterSeconds: 1, seed: 1)
        let bridge = try await startBridge(faults: faults)
        let client = try makeClient(bridge, retry: fastRetry(attempts: 2, total: .seconds(5)))
        let start = ContinuousClock.now
        let e = await expectBridgeError { _ = try await client.registerComponent(.init(creator: "u", componentData: "x")) }
        let elapsed = ContinuousClock.now - start
        // Both attempts hit a burst start; the wait between them honoured the 1 s.
        #expect(e?.status == 429 && e?.code == "RATE_LIMIT_EXCEEDED" && e?.attempts == 2)
        #expect(elapsed >= .milliseconds(950))
        await client.shutdown()
        await bridge.stop()
    }

    @Test("a Retry-After beyond the time left ends the call at once")
    func retryAfterBeyondBudget() async throws {
        let faults = FaultConfiguration(burst429Length: 5, burst429Chance: 1.0, retryAfterSeconds: 30, seed: 1)
        let bridge = try await startBridge(faults: faults)
        let client = try makeClient(bridge, retry: fastRetry(attempts: 5, total: .seconds(6)))
        let start = ContinuousClock.now
        let e = await expectBridgeError { _ = try await client.registerComponent(.init(creator: "u", componentData: "x")) }
        // Far below the 30 s the server asked for; loose enough for a loaded CI machine.
        #expect(ContinuousClock.now - start < .seconds(15))
        #expect(e?.status == 429 && e?.attempts == 1)
        #expect(e?.message.contains("no time left") == true)
        await client.shutdown()
        await bridge.stop()
    }

    @Test("a dead server fails with a clear transport error in bounded time")
    func deadServer() async throws {
        // Bind and release a port so nothing listens on it.
        let bridge = try await startBridge()
        let url = bridge.baseURL
        await bridge.stop()
        let config = BridgeClientConfiguration(baseURL: url, token: testToken, connectTimeout: .seconds(1),
                                               requestTimeout: .seconds(1),
                                               retry: fastRetry(attempts: 3, total: .seconds(10)))
        let client = try BridgeClient(configuration: config)
        let start = ContinuousClock.now
        let e = await expectBridgeError { _ = try await client.registerComponent(.init(creator: "u", componentData: "x")) }
        // Only a hang fails this bound; the attempts show the retries and
        // their end (pass/fail must not depend on the machine's speed).
        #expect(ContinuousClock.now - start < .seconds(30))
        #expect(e?.kind == .transport || e?.kind == .timeout)
        #expect(e?.status == nil)
        #expect(e?.description.hasPrefix("POST /api/v1/components/register:") == true)
        #expect(e?.attempts == 3)
        await client.shutdown()
    }

    @Test("a server that never answers hits the attempt timeout, retried within the total bound")
    func slowServer() async throws {
        let bridge = try await startBridge(faults: FaultConfiguration(latencyMilliseconds: 3000))
        let config = BridgeClientConfiguration(baseURL: bridge.baseURL, token: testToken,
                                               requestTimeout: .milliseconds(200),
                                               retry: fastRetry(attempts: 3, total: .seconds(20)))
        let client = try BridgeClient(configuration: config)
        let start = ContinuousClock.now
        let e = await expectBridgeError { _ = try await client.component(id: "comp_x") }
        #expect(e?.kind == .timeout)
        #expect(ContinuousClock.now - start < .seconds(30))   // a hang guard, not a speed test
        #expect(e?.attempts == 3)
        await client.shutdown()
        await bridge.stop()
    }

    @Test("cancelling the calling task ends the call with a cancelled error")
    func cancellation() async throws {
        let bridge = try await startBridge(faults: FaultConfiguration(latencyMilliseconds: 3000))
        let client = try makeClient(bridge, retry: fastRetry(attempts: 5, total: .seconds(10)))
        let call = Task { try await client.component(id: "comp_x") }
        try await Task.sleep(for: .milliseconds(200))
        let start = ContinuousClock.now
        call.cancel()
        let result = await call.result
        #expect(ContinuousClock.now - start < .seconds(30))   // a hang guard; kind and attempts prove it
        guard case .failure(let error) = result, let e = error as? BridgeError else {
            Issue.record("expected a BridgeError, got \(result)")
            return
        }
        #expect(e.kind == .cancelled)
        #expect(e.attempts == 1)
        await client.shutdown()
        await bridge.stop()
    }

    @Test("backoff: full jitter under an exponential ceiling, capped")
    func backoffShape() {
        let policy = RetryPolicy(maxAttempts: 10, baseDelay: .milliseconds(100), maxDelay: .seconds(1))
        #expect(policy.ceiling(afterAttempt: 1) == .milliseconds(100))
        #expect(policy.ceiling(afterAttempt: 2) == .milliseconds(200))
        #expect(policy.ceiling(afterAttempt: 4) == .milliseconds(800))
        #expect(policy.ceiling(afterAttempt: 5) == .seconds(1))
        #expect(policy.ceiling(afterAttempt: 60) == .seconds(1))
        var rng = SeededRandom(seed: 9)
        for attempt in 1...8 {
            let d = policy.delay(afterAttempt: attempt, retryAfter: nil, using: &rng)
            #expect(d >= .zero && d <= policy.ceiling(afterAttempt: attempt))
        }
        #expect(policy.delay(afterAttempt: 1, retryAfter: .seconds(3), using: &rng) == .seconds(3))
        #expect(RetryPolicy.parseRetryAfter("7") == .seconds(7))
        let now = Date(timeIntervalSince1970: 1_700_000_000)
        #expect(RetryPolicy.parseRetryAfter("Tue, 14 Nov 2023 22:13:30 GMT", now: now) == .seconds(10))
        #expect(RetryPolicy.parseRetryAfter("soon") == nil)
        #expect(RetryPolicy.isRetryable(status: 503) && RetryPolicy.isRetryable(status: 429))
        #expect(!RetryPolicy.isRetryable(status: 404) && !RetryPolicy.isRetryable(status: 409))
    }

    @Test("fault injection is deterministic for a seed")
    func deterministicFaults() {
        let config = FaultConfiguration(failRate: 0.3, burst429Length: 3, burst429Chance: 0.1, seed: 1234)
        let one = FaultInjector(config), two = FaultInjector(config)
        let a = (0..<200).map { _ in one.decide() }
        let b = (0..<200).map { _ in two.decide() }
        #expect(a == b)
        #expect(a.contains(.fail) && a.contains(.tooManyRequests) && a.contains(.pass))
        let other = FaultInjector(FaultConfiguration(failRate: 0.3, burst429Length: 3, burst429Chance: 0.1, seed: 99))
        #expect((0..<200).map { _ in other.decide() } != a)
    }
}
