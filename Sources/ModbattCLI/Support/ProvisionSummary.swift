import Foundation
import ModbattCAN
import ModbattProvisioning

/// What `modbatt provision` reports: the `RunSummary` every run command
/// prints (same JSON keys as `demo` and `simulate`) plus one result per
/// device. Figures are the app's view of the bus: the frames it sent and
/// received, its own seal/open times, the messages of its session with the pack.
struct ProvisionSummary: Encodable {
    struct DeviceResult: Encodable {
        /// `pack`, `module-NN`.
        var device: String
        var serial: String
        var deviceId: Int
        /// The pair that proves it: `app-pack`, `pack-module-NN`.
        var pair: String
        /// `provisioned` (this run), `already_provisioned` (an earlier run delivered its package), `failed`.
        var result: String
        var established: Bool
        var keyId: String?
        var lctId: String?
        var failure: String?
    }

    var run: RunSummary
    var devices: [DeviceResult]
    var componentsRegistered: Int
    var componentsReused: Int
    var lctsCreated: Int
    var lctsReused: Int
    var packageVersion: UInt32
    var transferFrames: Int
    var transferRetries: Int

    init(report: ProvisioningReport, traffic: AppTrafficReport?, layout: PackLayout, fd: Bool, bitrate: Int,
         dataBitrate: Int, wall: Duration, auditLog: String, auditEvents: Int, keyStores: String) {
        let established = report.pairs.filter(\.established).count
        let frameTime = fd
            ? FrameTiming.fdBits(dataBytes: 64, extended: true, bitRateSwitch: true, stuffing: .worstCase)
            : FrameTiming(nominalBits: FrameTiming.classicBits(dataBytes: 8, extended: true, stuffing: .worstCase),
                          dataBits: 0)
        let frameNs = Self.nanos(frameTime.duration(bitrate: bitrate, dataBitrate: dataBitrate))
        let seconds = traffic?.seconds ?? 0
        let frames = report.transferFrames + (traffic?.frames ?? 0)
        let load = seconds > 0 ? Double(traffic?.frames ?? 0) * Double(frameNs) / 1e9 / seconds : 0
        var rejected: [String: Int] = [:]
        for (k, v) in traffic?.rejected ?? [:] { rejected[FlowRunner.reasonKey(k), default: 0] += v }
        let crypto = Percentiles.of((traffic?.sealNanos ?? []) + (traffic?.openNanos ?? []))
        // Rejections are reported, not fatal: on a shared bus the app may see frames that are not for it,
        // and a loaded host can let a partial message expire (100 ms reassembly timeout).
        let ok = report.allEstablished && (traffic.map { $0.messagesSent > 0 && $0.messagesDelivered > 0 } ?? true)
        run = RunSummary(
            command: "provision", modules: layout.modules.count, fd: fd, bitrate: bitrate, dataBitrate: dataBitrate,
            simulatedSeconds: report.busSeconds + seconds, wallSeconds: Double(Self.nanos(wall)) / 1e9, seed: 0,
            pairsEstablished: established, pairsFailed: report.pairs.count - established,
            messages: traffic?.messages ?? MessageCounts(),
            duplicatesDelivered: 0, forgedDelivered: 0, frames: frames, busLoad: min(load, 1), rejected: rejected,
            cryptoNs: crypto, frameTimeNs: frameNs, faults: RunSummary.Faults(), attacks: [], auditLog: auditLog,
            auditEvents: auditEvents, keyStores: keyStores, candumpLog: nil, ignoredFrames: 0, resyncs: 0, ok: ok)
        let serials = [layout.pack.serial] + layout.modules.map(\.serial)
        devices = report.pairs.enumerated().map { i, p in
            DeviceResult(
                device: p.name == "app-pack" ? "pack" : String(p.name.dropFirst("pack-".count)),
                serial: i < serials.count ? serials[i] : "?", deviceId: Int(p.deviceId), pair: p.name,
                result: !p.established ? "failed" : (p.deliveredEarlier ? "already_provisioned" : "provisioned"),
                established: p.established, keyId: p.keyId, lctId: p.lctId, failure: p.failure)
        }
        componentsRegistered = report.componentsRegistered
        componentsReused = report.componentsReused
        lctsCreated = report.lctsCreated
        lctsReused = report.lctsReused
        packageVersion = report.packageVersion
        transferFrames = report.transferFrames
        transferRetries = report.transferRetries
    }

    private enum Keys: String, CodingKey {
        case devices, componentsRegistered, componentsReused, lctsCreated, lctsReused, packageVersion
        case transferFrames, transferRetries
    }

    /// The run summary's keys and this command's own, in one object.
    func encode(to encoder: any Encoder) throws {
        try run.encode(to: encoder)
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(devices, forKey: .devices)
        try c.encode(componentsRegistered, forKey: .componentsRegistered)
        try c.encode(componentsReused, forKey: .componentsReused)
        try c.encode(lctsCreated, forKey: .lctsCreated)
        try c.encode(lctsReused, forKey: .lctsReused)
        try c.encode(packageVersion, forKey: .packageVersion)
        try c.encode(transferFrames, forKey: .transferFrames)
        try c.encode(transferRetries, forKey: .transferRetries)
    }

    /// Per-device lines, then the run summary.
    func text(bridge: String, can: String) -> String {
        var out = ["\(Terminal.bold("modbatt provision")): pack \(devices.first?.serial ?? "?") through \(bridge) on \(can)"]
        for d in devices {
            let what = switch d.result {
            case "provisioned": Terminal.ok("provisioned")
            case "already_provisioned": Terminal.ok("already provisioned")
            default: Terminal.bad("FAILED: \(d.failure ?? "unknown")")
            }
            out.append("  " + "\(d.device) \(d.serial)".padding(toLength: 24, withPad: " ", startingAt: 0)
                       + "\(what)" + (d.established ? ", pair \(d.pair) key id \(d.keyId ?? "?")" : ""))
        }
        out.append("  registered \(componentsRegistered) component(s) (\(componentsReused) already registered), "
                   + "\(lctsCreated) LCT(s) created (\(lctsReused) reused), key packages v\(packageVersion), "
                   + "\(transferFrames) transfer frames (\(transferRetries) retries)")
        out.append(row("pairs", "\(run.pairsEstablished)/\(run.pairsEstablished + run.pairsFailed) established"))
        let up = run.messages[.appToPack], down = run.messages[.packToApp]
        out.append(row("messages", "app to pack \(up.sent) sent, \(up.delivered) acknowledged; "
                       + "pack to app \(down.sent) sent, \(down.delivered) received and verified"))
        out.append(row("frames", "\(run.frames) sent and received by the app, bus load seen "
                       + String(format: "%.1f %%", run.busLoad * 100)))
        out.append(row("crypto/message", "p50 \(Self.micros(run.cryptoNs.p50)), p99 \(Self.micros(run.cryptoNs.p99)) "
                       + "vs one frame \(Self.micros(run.frameTimeNs)) on the wire"))
        out.append(row("rejected", run.rejected.isEmpty ? "none"
                       : run.rejected.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")))
        if let log = run.auditLog { out.append(row("audit log", "\(log) (\(run.auditEvents) events)")) }
        if let stores = run.keyStores { out.append(row("app key store", stores)) }
        out.append(run.ok ? Terminal.ok("OK: every pair established, encrypted traffic verified")
                          : Terminal.bad("FAILED: " + (run.pairsFailed > 0 ? "\(run.pairsFailed) pair(s) not established"
                                                                               : "no verified traffic with the pack")))
        return out.joined(separator: "\n")
    }

    private func row(_ label: String, _ value: String) -> String {
        "  " + label.padding(toLength: 16, withPad: " ", startingAt: 0) + value
    }

    private static func micros(_ ns: Int) -> String { String(format: "%.1f µs", Double(ns) / 1000) }

    private static func nanos(_ d: Duration) -> Int {
        Int(d.components.seconds * 1_000_000_000 + d.components.attoseconds / 1_000_000_000)
    }
}
