import Foundation
import ModbattProvisioning

/// What `demo`, `simulate` and `provision` report: printed for a person, or
/// as one JSON document (`--json`, snake_case keys).
struct RunSummary: Encodable {
    struct Attack: Encodable {
        var kind: String
        /// Messages (or frames, see `unit`) the attacker sent.
        var attempted: Int
        var unit = "messages"
        /// Rejections the victims reported.
        var rejected: Int
        /// Messages the victims accepted from the attacker (must be 0).
        var accepted: Int
        var reasons: [String: Int] = [:]
        /// The audit log has entries for it.
        var logged = true

        /// Every attempt rejected and logged, nothing accepted.
        var passed: Bool {
            accepted == 0 && logged && (unit == "messages" ? rejected == attempted : true)
        }
    }

    struct Faults: Encodable {
        var dropped = 0
        var corrupted = 0
        var duplicated = 0
        var delayed = 0
    }

    var command: String
    var modules: Int
    var fd: Bool
    var bitrate: Int
    var dataBitrate: Int
    var simulatedSeconds: Double
    var wallSeconds: Double
    var seed: UInt64

    var pairsEstablished: Int
    var pairsFailed: Int
    /// Per direction: sent by the sender, delivered when the receiver
    /// accepted it (`MessageCounts`); the totals below are derived.
    var messages: MessageCounts
    var messagesSent: Int { messages.sent }
    var messagesDelivered: Int { messages.delivered }
    /// Delivered more than once (must be 0).
    var duplicatesDelivered: Int
    /// Forged, tampered or replayed messages delivered (must be 0).
    var forgedDelivered: Int
    var frames: Int
    var busLoad: Double
    var rejected: [String: Int]
    var cryptoNs: Percentiles
    var frameTimeNs: Int
    var faults: Faults
    var attacks: [Attack]
    var auditLog: String?
    var auditEvents: Int
    var keyStores: String?
    var candumpLog: String?
    /// Frames no device's session takes (other ids, other buses' tools).
    var ignoredFrames: Int
    /// Handshakes restarted after a run of failures.
    var resyncs: Int
    var ok: Bool

    /// The one-screen text summary.
    func text(title: String) -> String {
        func n(_ v: Int) -> String {
            let f = NumberFormatter()
            f.numberStyle = .decimal
            f.groupingSeparator = ","
            f.usesGroupingSeparator = true
            return f.string(from: NSNumber(value: v)) ?? "\(v)"
        }
        func us(_ ns: Int) -> String { String(format: ns < 10_000 ? "%.1f µs" : "%.0f µs", Double(ns) / 1000) }
        let profile = fd ? "CAN FD \(BitRate.format(bitrate)) / \(BitRate.format(dataBitrate)) data"
            : "classic CAN \(BitRate.format(bitrate))"
        var out: [String] = []
        out.append(Terminal.bold(title) + ": app + pack controller + \(modules) module\(modules == 1 ? "" : "s"), \(profile), "
                   + String(format: "%.1f s of bus time (%.1f s wall), seed %llu", simulatedSeconds, wallSeconds, seed))
        let totalPairs = pairsEstablished + pairsFailed
        let pairMark = pairsFailed == 0 ? Terminal.ok("all established") : Terminal.bad("\(pairsFailed) FAILED")
        out.append(row("pairs", "\(pairsEstablished)/\(totalPairs) \(pairMark)"))
        var msg = "\(n(messagesSent)) sent, \(n(messagesDelivered)) delivered"
        if messagesSent != messagesDelivered { msg += " (\(n(messagesSent - messagesDelivered)) lost)" }
        if duplicatesDelivered > 0 { msg += ", " + Terminal.bad("\(duplicatesDelivered) delivered twice") }
        out.append(row("messages", msg))
        if !messages.flows.isEmpty { out.append(row("", directionsText(n))) }
        out.append(row("frames", "\(n(frames)) on the bus, bus load " + String(format: "%.1f %%", busLoad * 100)))
        let ratio = cryptoNs.p99 > 0 ? Double(frameTimeNs) / Double(cryptoNs.p99) : 0
        out.append(row("crypto/message", "p50 \(us(cryptoNs.p50)), p99 \(us(cryptoNs.p99))  vs one frame "
                       + "\(us(frameTimeNs)) on the wire" + (ratio >= 1 ? String(format: " (%.0fx headroom)", ratio) : "")))
        let f = faults
        if f.dropped + f.corrupted + f.duplicated + f.delayed > 0 {
            out.append(row("faults injected", "\(f.dropped) dropped, \(f.corrupted) corrupted, "
                           + "\(f.duplicated) duplicated, \(f.delayed) delayed"))
        }
        if !attacks.isEmpty {
            if attacks.allSatisfy({ $0.unit == "messages" }) {
                let parts = attacks.map { a in
                    let text = "\(a.kind) \(a.rejected)/\(a.attempted) rejected"
                    return a.passed ? Terminal.ok(text) : Terminal.bad(text + " (\(a.accepted) ACCEPTED)")
                }
                out.append(row("attacks", parts.joined(separator: ", ")))
            } else {
                for (i, a) in attacks.enumerated() {
                    let why = a.reasons.isEmpty ? "refused" : a.reasons.sorted { $0.key < $1.key }
                        .map { "\($0.key) \($0.value)" }.joined(separator: ", ")
                    let text = "\(a.kind): \(a.attempted) \(a.unit) sent, \(a.accepted) accepted (\(why))"
                        + (a.logged ? ", logged" : ", NOT LOGGED")
                    out.append(row(i == 0 ? "attacks" : "", a.passed ? Terminal.ok(text) : Terminal.bad(text)))
                }
            }
        }
        if !rejected.isEmpty {
            out.append(row("rejected", rejected.sorted { $0.value != $1.value ? $0.value > $1.value : $0.key < $1.key }
                .map { "\($0.key) \(n($0.value))" }.joined(separator: ", ")))
        } else {
            out.append(row("rejected", "none"))
        }
        if forgedDelivered > 0 { out.append(row("FORGED DELIVERED", Terminal.bad("\(forgedDelivered)"))) }
        if let auditLog {
            out.append(row("audit log", "\(auditLog) (\(n(auditEvents)) events; check: modbatt audit verify \(auditLog))"))
        }
        if let keyStores { out.append(row("key stores", "\(keyStores) (inspect: modbatt keys show \(keyStores))")) }
        if let candumpLog { out.append(row("candump log", "\(candumpLog) (modbatt decode \(candumpLog))")) }
        let okText = attacks.isEmpty ? "OK: every pair established, nothing forged or duplicated delivered"
            : "OK: every pair established, every attack rejected"
        out.append(ok ? Terminal.ok(okText)
                      : Terminal.bad("FAILED: " + failureReasons().joined(separator: "; ")))
        return out.joined(separator: "\n")
    }

    /// `app → pack 30/30, pack → app 41/41, ...`: delivered/sent per direction.
    private func directionsText(_ n: (Int) -> String) -> String {
        MessageCounts.Direction.allCases.compactMap { d in
            messages.flows[d].map { d.rawValue.replacingOccurrences(of: "_to_", with: " → ") + " \(n($0.delivered))/\(n($0.sent))" }
        }.joined(separator: ", ") + " delivered/sent"
    }

    func failureReasons() -> [String] {
        var r: [String] = []
        if pairsFailed > 0 { r.append("\(pairsFailed) pair(s) not established") }
        for a in attacks where !a.passed {
            r.append("\(a.kind): \(a.accepted) accepted" + (a.logged ? "" : ", not logged"))
        }
        if forgedDelivered > 0 { r.append("\(forgedDelivered) forged message(s) delivered") }
        if duplicatesDelivered > 0 { r.append("\(duplicatesDelivered) message(s) delivered twice") }
        return r
    }

    private func row(_ label: String, _ value: String) -> String {
        "  " + label.padding(toLength: 16, withPad: " ", startingAt: 0) + value
    }
}
