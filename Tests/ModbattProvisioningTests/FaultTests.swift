import Foundation
import Testing
@testable import ModbattProvisioning
import ModbattBridge

@Suite("Provisioning with faults")
struct FaultTests {
    /// Dropped and corrupted transfer frames: the chunk transfer retries and
    /// every package still arrives intact.
    @Test func droppedAndCorruptedChunks() async throws {
        var config = makeConfig(modules: 6, "lossy")
        config.faults.deliveryDropRate = 0.03
        config.faults.deliveryCorruptRate = 0.03
        config.seed = 42
        try await withSimulation(config) { sim in
            let report = try await sim.provision()
            #expect(report.allEstablished, "\(report.summary)")
            #expect(report.transferRetries > 0)
            let stats = await sim.bus.statistics()
            #expect(stats.dropped > 0 && stats.corrupted > 0)
        }
    }

    /// The bridge answers 500 to a share of calls: the client retries.
    @Test func bridgeFailsTransiently() async throws {
        var config = makeConfig(modules: 3, "flaky-bridge")
        config.faults.bridgeFailRate = 0.3
        try await withSimulation(config) { sim in
            let report = try await sim.provision()
            #expect(report.allEstablished, "\(report.summary)")
            let counts = try await sim.world.bridgeCounts()
            #expect(counts?.components == 5)
            #expect(counts?.lcts == 4)
        }
    }

    /// The app stops in the middle of delivery; after a restart it resumes
    /// from its files, registers nothing twice and finishes.
    @Test func appRestartedInTheMiddle() async throws {
        var config = makeConfig(modules: 4, "restart")
        config.faults.appCrashAfterFrames = 120
        try await withSimulation(config) { sim in
            await #expect(throws: SimulationError.self) { _ = try await sim.provision() }
            try await sim.restartApp()
            let report = try await sim.provision()
            #expect(report.allEstablished, "\(report.summary)")
            #expect(report.componentsRegistered == 0)
            #expect(report.componentsReused == 6)
            #expect(report.lctsCreated == 0)
            let counts = try await sim.world.bridgeCounts()
            #expect(counts?.components == 6)
            #expect(counts?.lcts == 5)
            // The pack's package (about 220 chunks) was resumed, not sent again from the start:
            // the restarted app sends the rest of it and the four module packages (about 80 chunks each).
            #expect(report.transferFrames > 0 && report.transferFrames < 220 - 120 + 4 * 85 + 20)
            let lines = try auditLines(sim)
            #expect(lines.contains { $0.contains("\"event\":\"app_restarted\"") })
            #expect(try AuditLog.verify(url: sim.auditLogURL).isValid)
        }
    }

    /// A module that never answers is reported with the reason; the others pair.
    @Test func silentModuleIsReported() async throws {
        var config = makeConfig(modules: 4, "silent")
        config.faults.silentModules = [3]
        try await withSimulation(config) { sim in
            let report = try await sim.provision()
            #expect(report.failed.map(\.name) == ["pack-module-03"], "\(report.summary)")
            let failure = report.failed.first?.failure ?? ""
            #expect(failure.contains("delivery"), "\(failure)")
            #expect(failure.contains("retries") || failure.contains("acknowledgement"), "\(failure)")
            #expect(report.pairs.filter(\.established).count == 4)
            let lines = try auditLines(sim)
            #expect(lines.contains { $0.contains("\"event\":\"pair_failed\"") })
        }
    }

    /// An unreachable bridge is a clear error, not a hang.
    @Test func unreachableBridgeFails() async throws {
        var config = makeConfig(modules: 1, "nobridge")
        config.bridge = .remote(.init(baseURL: "http://127.0.0.1:9", requestTimeout: .seconds(1),
                                      retry: .init(maxAttempts: 2, baseDelay: .milliseconds(5),
                                                   maxDelay: .milliseconds(10), totalTimeout: .seconds(3))))
        try await withSimulation(config) { sim in
            await #expect(throws: SimulationError.self) { _ = try await sim.provision() }
        }
    }

    /// A module that refuses its package (here: a clear bootstrap package on
    /// a device whose policy forbids it) never answers the handshake: the
    /// pair is reported failed with the handshake reason, the refusal is in
    /// the audit log, and the other pairs are established.
    @Test func refusedPackageFailsTheHandshake() async throws {
        var config = makeConfig(modules: 2, "refused")
        config.packageMode = .factoryBootstrap
        try await withSimulation(config) { sim in
            await sim.world.module(2).setAllowBootstrap(false)
            let report = try await sim.provision()
            #expect(report.failed.map(\.name) == ["pack-module-02"], "\(report.summary)")
            #expect(report.failed.first?.failure?.contains("handshake") == true, "\(report.summary)")
            let lines = try auditLines(sim)
            #expect(lines.contains { $0.contains("\"event\":\"package_rejected\"") && $0.contains("refused by policy") })
        }
    }
}
