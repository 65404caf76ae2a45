import Foundation
import Testing
@testable import ModbattProvisioning

@Suite("Provisioning flow, in process")
struct ProvisioningFlowTests {
    /// The whole flow: embedded API-Bridge over loopback HTTP, virtual CAN
    /// bus, app, pack controller and 32 modules; every pair key-confirmed,
    /// telemetry flowing, attacks rejected, audit chain intact.
    @Test func thirtyTwoModules() async throws {
        try await withSimulation(makeConfig(modules: 32, "full")) { sim in
            let report = try await sim.provision()
            #expect(report.pairs.count == 33)
            #expect(report.allEstablished, "\(report.summary)")
            #expect(report.componentsRegistered == 34)
            #expect(report.lctsCreated == 33)
            #expect(report.reportsVerified >= 1)
            #expect(report.packageMode == .sealed)
            #expect(Set(report.pairs.compactMap(\.keyId)).count == 33)
            let counts = try await sim.world.bridgeCounts()
            #expect(counts?.components == 34)
            #expect(counts?.lcts == 33)

            // Both ends of every pair hold the same key id.
            let pack = try DeviceKeyStore.inspect(path: sim.keyStorePath(device: "pack"))
            #expect(pack.status == "ok")
            #expect(pack.pairs.count == 33)
            #expect(pack.packageVersion == 1)
            for n in 1...32 {
                let name = World.moduleName(n)
                let m = try DeviceKeyStore.inspect(path: sim.keyStorePath(device: name))
                #expect(m.pairs.count == 1)
                let reported = report.pairs.first { $0.name == "pack-\(name)" }?.keyId
                #expect(m.pairs.first?.keyId == reported)
                #expect(pack.pairs.contains { $0.peerId == m.deviceId && $0.keyId == reported && $0.controller })
                #expect(m.pairs.first?.fingerprint == pack.pairs.first { $0.peerId == m.deviceId }?.fingerprint)
            }
            let app = try DeviceKeyStore.inspect(path: sim.keyStorePath(device: "app"))
            #expect(app.pairs.first?.keyId == report.pairs.first?.keyId)
            #expect(pack.appKeyId == app.bindingKeyId)

            let traffic = try await sim.runTraffic(seconds: 1)
            #expect(traffic.messagesSent > 32 * 5)
            #expect(traffic.messagesDelivered >= traffic.messagesSent - 40)
            #expect(traffic.rejected.isEmpty, "\(traffic.rejected)")
            #expect(traffic.busLoad > 0 && traffic.busLoad < 1)
            #expect(traffic.sealNanosP50 > 0 && traffic.openNanosP99 >= traffic.openNanosP50)

            let verification = try AuditLog.verify(url: sim.auditLogURL)
            #expect(verification.isValid)
            let lines = try auditLines(sim)
            for event in ["component_registered", "lct_created", "package_built", "package_delivered",
                          "package_installed", "pair_derived", "handshake_done", "report_received", "pair_verified"] {
                #expect(lines.contains { $0.contains("\"event\":\"\(event)\"") }, "missing \(event)")
            }
        }
    }

    @Test func attacksAreRejectedAndLogged() async throws {
        try await withSimulation(makeConfig(modules: 3, "attacks")) { sim in
            #expect(try await sim.provision().allEstablished)
            _ = try await sim.runTraffic(seconds: 0.5)
            let report = try await sim.runAttacks()
            #expect(report.attacks.map(\.name) == ["replay", "tamper", "forge", "package-replay", "delayed-command",
                                                     "hello-flood", "lockout"])
            for a in report.attacks {
                #expect(a.framesSent > 0, "\(a.name) sent nothing")
                #expect(a.accepted == 0, "\(a.name) got \(a.accepted) messages accepted")
                #expect(a.auditLines > 0, "\(a.name) left no audit trace")
            }
            #expect(report.attacks[0].rejected["replay", default: 0] > 0, "\(report.attacks[0])")
            #expect(report.attacks[1].rejected["auth", default: 0] > 0, "\(report.attacks[1])")
            // The replayed suppressed command is stale; forged HELLOs fail their
            // MAC (protocol v2); nothing gets quarantined.
            #expect(report.attacks[4].rejected["stale", default: 0] == 1, "\(report.attacks[4])")
            #expect(report.attacks[5].rejected["auth", default: 0] > 0, "\(report.attacks[5])")
            #expect((try auditLines(sim)).contains { $0.contains("\"event\":\"command_unacknowledged\"") })
            for id in (1...3).map(World.moduleId) { #expect(!(await sim.world.pack.pairQuarantined(id))) }
            let lines = try auditLines(sim)
            #expect(lines.contains { $0.contains("\"event\":\"package_rejected\"") && $0.contains("older") || $0.contains("rollback") })
            #expect(report.allRejected)
        }
    }

    @Test func canFDProfile() async throws {
        var config = makeConfig(modules: 2, "fd")
        config.profile = .fd
        config.parameters = CryptoParameters(profile: .fd)
        try await withSimulation(config) { sim in
            let report = try await sim.provision()
            #expect(report.allEstablished, "\(report.summary)")
            let traffic = try await sim.runTraffic(seconds: 0.5)
            #expect(traffic.messagesDelivered > 0)
            #expect(traffic.rejected.isEmpty)
        }
    }

    @Test func provisionIsIdempotent() async throws {
        try await withSimulation(makeConfig(modules: 2, "again")) { sim in
            #expect(try await sim.provision().allEstablished)
            let second = try await sim.provision()
            #expect(second.componentsRegistered == 0)
            #expect(second.lctsCreated == 0)
            #expect(second.allEstablished, "\(second.summary)")
            let counts = try await sim.world.bridgeCounts()
            #expect(counts?.components == 4)
            #expect(counts?.lcts == 3)
        }
    }

    @Test func invalidModuleCountIsRefused() async throws {
        await #expect(throws: SimulationError.self) {
            _ = try await PackSimulation(makeConfig(modules: 0))
        }
        await #expect(throws: SimulationError.self) {
            _ = try await PackSimulation(makeConfig(modules: 33))
        }
    }

    @Test func trafficBeforeProvisioningIsRefused() async throws {
        try await withSimulation(makeConfig(modules: 1, "early")) { sim in
            await #expect(throws: SimulationError.notProvisioned) { _ = try await sim.runTraffic(seconds: 0.1) }
            await #expect(throws: SimulationError.notProvisioned) { _ = try await sim.runAttacks() }
            await #expect(throws: SimulationError.notProvisioned) { _ = try await sim.rotateSessionKeys() }
        }
    }
}
