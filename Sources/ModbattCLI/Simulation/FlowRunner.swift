import Foundation
import Logging
import Modbatt
import ModbattCAN
import ModbattProvisioning

/// `modbatt demo` over the full provisioning flow of `ModbattProvisioning`
/// (`PackSimulation`): key packages sealed to each device's binding key and
/// delivered over the virtual CAN bus, device key stores, pairing from the
/// key stores, traffic and attacks.
enum FlowRunner {
    static func run(settings: SimulationSettings, logger: Logger, progress: Progress) async throws -> RunSummary {
        let started = ContinuousClock.now
        var config = SimulationConfiguration(dataDirectory: settings.workDir, moduleCount: settings.modules,
                                             profile: settings.fd ? .fd : .classic)
        config.bitrate = settings.bitrate
        config.dataBitrate = settings.dataBitrate
        config.seed = settings.seed
        config.ephemeralAppLink = settings.ephemeralAppLink
        var simLogger = logger
        simLogger.logLevel = max(logger.logLevel, .warning)
        config.logger = simLogger
        let candump = try settings.candumpPath.map(CandumpFile.create)
        progress.update("booting \(settings.modules + 2) devices (binding keys, key stores) ...")
        let sim = try await PackSimulation(config)
        do {
            progress.update("provisioning: API-Bridge, LCTs, key packages over CAN, pairing ...")
            let prov = try await sim.provision()
            let established = prov.pairs.filter(\.established).count
            progress.step("provisioned \(prov.pairs.count) pairs: \(established) established"
                          + " (key packages v\(prov.packageVersion), \(prov.transferFrames) transfer frames,"
                          + String(format: " %.2f s of bus time)", prov.busSeconds))
            for p in prov.failed { progress.step("  \(p.name): FAILED: \(p.failure ?? "unknown")") }
            var traffic: TrafficReport?
            var attackReport: AttackReport?
            if prov.allEstablished && !Task.isCancelled {
                progress.update("traffic: \(settings.seconds) s of bus time ...")
                let t = try await sim.runTraffic(seconds: settings.seconds)
                traffic = t
                progress.step("traffic: \(t.messagesSent) messages sent, \(t.messagesDelivered) delivered,"
                              + " \(t.frames) frames")
                if settings.attacks && !Task.isCancelled {
                    progress.update("attacks: replay, tamper, forge ...")
                    let a = try await sim.runAttacks()
                    attackReport = a
                    for x in a.attacks {
                        // A replayed package is refused whole by the device (no frame counts).
                        let why = x.rejected.isEmpty ? "refused"
                            : "rejected " + x.rejected.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                                .joined(separator: ", ")
                        progress.step("attack: \(x.name): \(x.accepted) accepted, \(why)")
                    }
                }
            }
            if let candump { try candump.write(await sim.recordedFrames()) }
            let stats = await sim.bus.statistics()
            let auditCount = await sim.audit.count
            try? await sim.audit.sync()
            await sim.shutdown()
            let wall = ContinuousClock.now - started
            let attacks = (attackReport?.attacks ?? []).map { a -> RunSummary.Attack in
                var reasons: [String: Int] = [:]
                for (k, v) in a.rejected { reasons[reasonKey(k), default: 0] += v }
                return RunSummary.Attack(kind: a.name, attempted: a.framesSent, unit: "frames",
                                         rejected: a.rejected.values.reduce(0, +), accepted: a.accepted,
                                         reasons: reasons, logged: a.auditLines > 0)
            }
            var rejected: [String: Int] = [:]
            for (k, v) in traffic?.rejected ?? [:] { rejected[reasonKey(k), default: 0] += v }
            for a in attackReport?.attacks ?? [] {
                for (k, v) in a.rejected { rejected[reasonKey(k), default: 0] += v }
            }
            let frameTime = settings.fd
                ? FrameTiming.fdBits(dataBytes: 64, extended: true, bitRateSwitch: true, stuffing: .worstCase)
                : FrameTiming(nominalBits: FrameTiming.classicBits(dataBytes: 8, extended: true, stuffing: .worstCase),
                              dataBits: 0)
            let frameNs = frameTime.duration(bitrate: settings.bitrate, dataBitrate: settings.dataBitrate)
            let crypto = traffic.map { Percentiles(p50: max($0.sealNanosP50, $0.openNanosP50),
                                                   p99: max($0.sealNanosP99, $0.openNanosP99)) }
                ?? Percentiles(p50: 0, p99: 0)
            let attacksOK = (attackReport?.allRejected ?? !settings.attacks) && attacks.allSatisfy(\.passed)
            return RunSummary(
                command: "demo", modules: settings.modules, fd: settings.fd, bitrate: settings.bitrate,
                dataBitrate: settings.dataBitrate, simulatedSeconds: prov.busSeconds + (traffic?.busSeconds ?? 0),
                wallSeconds: Double(wall.components.seconds) + Double(wall.components.attoseconds) * 1e-18,
                seed: settings.seed, pairsEstablished: established, pairsFailed: prov.pairs.count - established,
                messages: traffic?.messages ?? MessageCounts(),
                duplicatesDelivered: 0, forgedDelivered: attacks.reduce(0) { $0 + $1.accepted },
                frames: stats.frames, busLoad: traffic?.busLoad ?? 0, rejected: rejected, cryptoNs: crypto,
                frameTimeNs: Int(frameNs.components.seconds * 1_000_000_000 + frameNs.components.attoseconds / 1_000_000_000),
                faults: RunSummary.Faults(dropped: stats.dropped, corrupted: stats.corrupted,
                                          duplicated: stats.duplicated, delayed: stats.delayed),
                attacks: attacks, auditLog: sim.auditLogURL.path, auditEvents: auditCount,
                keyStores: sim.keyStoreDirectory.path, candumpLog: settings.candumpPath, ignoredFrames: 0, resyncs: 0,
                ok: prov.allEstablished && attacksOK && traffic != nil)
        } catch {
            await sim.shutdown()
            throw error
        }
    }

    /// `ModbattError` descriptions as snake_case JSON keys.
    static func reasonKey(_ text: String) -> String {
        let lowered = text.lowercased()
        var out = ""
        var lastUnderscore = false
        for ch in lowered {
            if ch.isLetter || ch.isNumber {
                out.append(ch)
                lastUnderscore = false
            } else if !lastUnderscore && !out.isEmpty {
                out.append("_")
                lastUnderscore = true
            }
        }
        while out.hasSuffix("_") { out.removeLast() }
        return out.isEmpty ? "other" : out
    }
}
