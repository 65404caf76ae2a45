import Foundation
import Modbatt
import ModbattCAN
import Testing
@testable import ModbattProvisioning

@Suite("Rotation, update, revocation, recovery, tamper detection")
struct LifecycleTests {
    @Test func scheduledAndCommandedRotation() async throws {
        var config = makeConfig(modules: 2, "rotate")
        config.parameters = CryptoParameters(profile: .classic, rekeyAfterMs: 300, rekeyAfterMessages: 1 << 20)
        try await withSimulation(config) { sim in
            #expect(try await sim.provision().allEstablished)
            let traffic = try await sim.runTraffic(seconds: 1.2)
            #expect(traffic.rotations > 0)
            #expect(traffic.rejected.isEmpty, "\(traffic.rejected)")
            let commanded = try await sim.rotateSessionKeys()
            #expect(commanded > 0)
            let after = try await sim.runTraffic(seconds: 0.4)
            #expect(after.messagesDelivered > 0)
            #expect(after.rejected.isEmpty, "\(after.rejected)")
            let lines = try auditLines(sim)
            #expect(lines.contains { $0.contains("\"event\":\"rotation_commanded\"") })
            #expect(lines.contains { $0.contains("\"event\":\"rotation\"") })
        }
    }

    /// New parameters travel as a new package version; every device replaces
    /// its record and pairs again.
    @Test func parameterUpdateOverCAN() async throws {
        try await withSimulation(makeConfig(modules: 2, "update")) { sim in
            let first = try await sim.provision()
            #expect(first.allEstablished)
            let p = CryptoParameters(profile: .classic, rekeyAfterMs: 60_000, rekeyAfterMessages: 4096)
            let second = try await sim.updateParameters(p)
            #expect(second.allEstablished, "\(second.summary)")
            #expect(second.packageVersion == 2)
            #expect(second.componentsRegistered == 0)
            #expect(Set(second.pairs.compactMap(\.keyId)).isDisjoint(with: Set(first.pairs.compactMap(\.keyId))))
            let pack = try DeviceKeyStore.inspect(path: sim.keyStorePath(device: "pack"))
            #expect(pack.packageVersion == 2)
            #expect(pack.parameters == p)
            let traffic = try await sim.runTraffic(seconds: 0.3)
            #expect(traffic.messagesDelivered > 0 && traffic.rejected.isEmpty)
        }
    }

    /// A revoked module's old keys are refused by the pack.
    @Test func revokedModuleIsRefused() async throws {
        try await withSimulation(makeConfig(modules: 3, "revoke")) { sim in
            #expect(try await sim.provision().allEstablished)
            let report = try await sim.revokeModule(2)
            #expect(report.pairs.map(\.name) == ["app-pack", "pack-module-01", "pack-module-03"])
            #expect(report.allEstablished, "\(report.summary)")
            let pack = try DeviceKeyStore.inspect(path: sim.keyStorePath(device: "pack"))
            #expect(!pack.pairs.contains { $0.peerId == World.moduleId(2) })
            // The revoked module still has its old keys and keeps talking: refused.
            let traffic = try await sim.runTraffic(seconds: 0.5)
            #expect(traffic.rejected["no-pair", default: 0] > 0)
            let lines = try auditLines(sim)
            #expect(lines.contains { $0.contains("\"event\":\"pair_revoked\"") })
            #expect(lines.contains { $0.contains("no-pair (revoked or unknown)") })
        }
    }

    /// Key loss: a module's flash is wiped; the app re-provisions without
    /// registering anything again.
    @Test func wipedModuleIsRecovered() async throws {
        try await withSimulation(makeConfig(modules: 3, "recover")) { sim in
            #expect(try await sim.provision().allEstablished)
            let report = try await sim.recoverDevice("module-02")
            #expect(report.allEstablished, "\(report.summary)")
            #expect(report.componentsRegistered == 0)
            let counts = try await sim.world.bridgeCounts()
            #expect(counts?.components == 5)
            let traffic = try await sim.runTraffic(seconds: 0.3)
            #expect(traffic.rejected.isEmpty, "\(traffic.rejected)")
        }
    }

    /// Issue #15: a device whose flash was wiped after it held keys does not
    /// bind anew on its own (whoever wins the race would pin itself); only
    /// the audited service mode of a recovery lets it.
    @Test func wipedDeviceWaitsForServiceMode() async throws {
        try await withSimulation(makeConfig(modules: 2, "wiped")) { sim in
            #expect(try await sim.provision().allEstablished)
            try await sim.world.wipeKeys(device: "module-01")
            let reason = try await sim.rebootDevice("module-01")
            #expect(reason == "\(ModbattError.rollback)")
            var lines = try auditLines(sim)
            #expect(lines.contains { $0.contains("\"kind\":\"keystore_wiped\"") })
            #expect(!lines.contains { $0.contains("\"event\":\"service_rebind\"") })
            let report = try await sim.recoverDevice("module-01", wipe: false)
            #expect(report.allEstablished, "\(report.summary)")
            lines = try auditLines(sim)
            #expect(lines.contains { $0.contains("\"event\":\"service_mode\"") && $0.contains("module-01") })
            #expect(lines.contains { $0.contains("\"event\":\"service_rebind\"") })
            // The service mode is used up: wiped again, the device refuses again.
            try await sim.world.wipeKeys(device: "module-01")
            #expect(try await sim.rebootDevice("module-01") == "\(ModbattError.rollback)")
        }
    }

    @Test func wipedPackIsRecovered() async throws {
        try await withSimulation(makeConfig(modules: 2, "recover-pack")) { sim in
            #expect(try await sim.provision().allEstablished)
            let report = try await sim.recoverDevice("pack")
            #expect(report.allEstablished, "\(report.summary)")
            #expect(report.componentsRegistered == 0)
        }
    }

    @Test func replacedModuleIsRepaired() async throws {
        try await withSimulation(makeConfig(modules: 2, "replace")) { sim in
            let first = try await sim.provision()
            #expect(first.allEstablished)
            let report = try await sim.replaceModule(1)
            #expect(report.allEstablished, "\(report.summary)")
            #expect(report.componentsRegistered == 1)       // only the new board
            let counts = try await sim.world.bridgeCounts()
            #expect(counts?.components == 5)
        }
    }

    /// A tampered key store (MAC mismatch) is refused at boot and raises an alert.
    @Test func tamperedKeyStoreRaisesAlert() async throws {
        try await withSimulation(makeConfig(modules: 1, "ks-tamper")) { sim in
            #expect(try await sim.provision().allEstablished)
            let url = sim.keyStorePath(device: "module-01")
            var bytes = [UInt8](try Data(contentsOf: url))
            let slot = Int(DeviceKeyStore.slotSize)
            for base in [0, slot] where bytes.count > base + 8 && bytes[base] == 0x4D {
                let len = Int(bytes[base + 6]) << 8 | Int(bytes[base + 7])
                bytes[base + 52] ^= 0x01
                let crc = mb_crc32_swift(Array(bytes[base..<base + len - 4]))
                for i in 0..<4 { bytes[base + len - 4 + i] = UInt8((crc >> (24 - 8 * UInt32(i))) & 0xFF) }
            }
            try Data(bytes).write(to: url)
            let reason = try await sim.rebootDevice("module-01")
            #expect(reason == "\(ModbattError.authenticationFailed)")
            let lines = try auditLines(sim)
            #expect(lines.contains { $0.contains("\"event\":\"keystore_refused\"") })
            #expect(lines.contains { $0.contains("\"kind\":\"keystore_tamper\"") })
            await #expect(throws: SimulationError.self) { _ = try await sim.rebootDevice("module-09") }
        }
    }

    /// A burst of forged frames on one pair (authentication failures) raises
    /// one rate-limited alert, never a quarantine: a node without keys can
    /// send them (protocol v2, no lockout by strangers). The pair keeps
    /// delivering, and nothing is reported to the app as quarantined.
    @Test func authFailuresAlertButNeverQuarantine() async throws {
        var config = makeConfig(modules: 2, "noquarantine")
        config.tamperPolicy = TamperPolicy(authFailureThreshold: 8, window: .seconds(10), quarantine: true)
        try await withSimulation(config) { sim in
            #expect(try await sim.provision().allEstablished)
            _ = try await sim.runTraffic(seconds: 0.3)
            let captured = await sim.world.sniffer.recorded().map(\.frame).filter {
                World.isSessionFrame($0) && XferIds.deviceId($0.id) == World.moduleId(1) && XferIds.messageId($0.id) == 0x316
            }
            let message = World.lastMessage(captured)
            #expect(!message.isEmpty)
            for _ in 0..<12 {
                for f in World.tampered(message) { try await sim.world.sniffer.forge(f) }
                _ = try await sim.runTraffic(seconds: 0.01)
            }
            #expect(!(await sim.world.pack.pairQuarantined(World.moduleId(1))))
            let lines = try auditLines(sim)
            let alerts = lines.filter { $0.contains("\"kind\":\"auth_failure_rate\"") }
            #expect(alerts.count == 1, "one alert per window, not one per frame")
            #expect(alerts.allSatisfy { $0.contains("never a lockout") })
            #expect(!lines.contains { $0.contains("\"event\":\"pair_quarantined\"") })
            let traffic = try await sim.runTraffic(seconds: 0.3)
            #expect(traffic.rejected["quarantined", default: 0] == 0)
            #expect(traffic.messagesDelivered > 0)
        }
    }

    /// Issue #14, scenario 3: on a provisioned pack, 3 forged HELLOs, 5
    /// replayed messages and 20 garbage frames per device, in both
    /// directions; every pair still delivers traffic afterwards and no pair
    /// is quarantined (v1 locked pairs out after 3 HELLOs or 5 replays).
    @Test func strangersCannotLockAPairOut() async throws {
        try await withSimulation(makeConfig(modules: 3, "lockout")) { sim in
            #expect(try await sim.provision().allEstablished)
            _ = try await sim.runTraffic(seconds: 0.3)
            let attack = try await sim.world.runLockoutAttempt()
            #expect(attack.framesSent > 0)
            #expect(attack.accepted == 0, "\(attack)")
            // Every kind was seen and refused: forged HELLOs and garbage fail
            // authentication, replays the replay window.
            #expect(attack.rejected["auth", default: 0] >= 3 * 2 * 3, "\(attack.rejected)")
            #expect(attack.rejected["replay", default: 0] > 0, "\(attack.rejected)")
            let ids: [UInt8] = (1...3).map(World.moduleId)
            for id in ids { #expect(!(await sim.world.pack.pairQuarantined(id)), "pair \(id)") }
            let lines = try auditLines(sim)
            #expect(!lines.contains { $0.contains("\"event\":\"pair_quarantined\"") })
            _ = try await sim.runTraffic(seconds: 0.5)
            let delivered = await sim.world.pack.counters.deliveredFrom
            for id in ids { #expect(delivered.contains(id), "pair \(id) delivered nothing after the attack") }
            let app = await sim.world.app.isEstablished
            #expect(app)
        }
    }

    /// A replayed message (counter going backwards) raises a counter-regression alert.
    @Test func replayRaisesCounterRegressionAlert() async throws {
        try await withSimulation(makeConfig(modules: 1, "regress")) { sim in
            #expect(try await sim.provision().allEstablished)
            let attacks = try await sim.runAttacks()
            #expect(attacks.attacks.first?.rejected["replay", default: 0] ?? 0 > 0)
            let lines = try auditLines(sim)
            #expect(lines.contains { $0.contains("\"kind\":\"counter_regression\"") })
        }
    }
}
