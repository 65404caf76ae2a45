import Foundation
import ModbattCAN

/// What `modbatt simulate --traffic reference` reports (docs/TRAFFIC.md):
/// per bus, the same catalogued traffic in clear (one frame per message,
/// the firmware's own ids) and encrypted (the seed format, sealed by real
/// sessions, segmented into classic frames).
public struct ReferenceTrafficReport: Sendable, Codable, Equatable {
    public struct Latency: Sendable, Codable, Equatable {
        public var p50Us: Double
        public var p99Us: Double
        public var maxUs: Double
    }

    public struct MessageFigures: Sendable, Codable, Equatable {
        public var name: String
        /// The firmware's standard id, "0x502".
        public var id: String
        public var direction: String
        public var dlc: Int
        public var command: Bool
        /// Classic frames of one encrypted message (1: stays clear).
        public var framesPerMessage: Int
        /// Messages sealed per call: the module count for a broadcast sealed once per pair.
        public var messagesPerCall: Int
        public var deadlineMs: Double
        /// Messages called inside the window (encrypted run).
        public var messages: Int
        public var messagesClear: Int
        public var latency: Latency
        public var latencyClear: Latency
        public var deadlineMisses: Int
        public var deadlineMissesClear: Int
    }

    public struct BusFigures: Sendable, Codable, Equatable {
        public var bitrate: Int
        /// Busy time inside the window over the window, encrypted.
        public var busLoad: Double
        public var busLoadClear: Double
        /// Bus time of all frames called inside the window over the window (may exceed 1).
        public var offeredLoad: Double
        public var offeredLoadClear: Double
        public var framesPerSecond: Double
        public var framesPerSecondClear: Double
        public var deadlineMisses: Int
        public var deadlineMissesClear: Int
        public var worstP99Us: Double
        public var worstP99UsClear: Double
        public var messages: [MessageFigures]
    }

    public var traffic: String
    public var modules: Int
    public var seconds: Double
    public var seed: UInt64
    /// "seed": IV(12) + ciphertext + tag(16), classic CAN.
    public var profile: String
    public var stuffing: String
    /// "per_pair" or "group".
    public var broadcast: String
    /// Arbitration: the firmware's standard id in bits 28..18, bit 17 = encrypted.
    public var idLayout: String
    public var frameTimeNs: Int
    public var busLoad: [String: Double]
    public var busLoadClear: [String: Double]
    /// Lower-case message name -> classic frames of one encrypted message.
    public var framesPerMessage: [String: Int]
    public var deadlineMisses: Int
    public var buses: [String: BusFigures]

    /// Run both buses, clear and encrypted.
    public static func run(_ configuration: TrafficSimulation.Configuration) throws(ModbattError) -> ReferenceTrafficReport {
        let sim = try TrafficSimulation(configuration)
        let c = configuration
        var buses: [String: BusFigures] = [:]
        var fpm: [String: Int] = [:]
        for bus in TrafficBus.allCases where c.catalogue.contains(where: { $0.bus == bus }) {
            let clear = sim.run(bus: bus, encrypted: false)
            let enc = sim.run(bus: bus, encrypted: true)
            var figures: [MessageFigures] = []
            for (i, m) in c.catalogue.enumerated() where m.bus == bus {
                let e = enc.outcomes.filter { $0.type == i }, k = clear.outcomes.filter { $0.type == i }
                let perCall = (m.addressing == .broadcast && bus == .module && !c.groupBroadcast) ? c.modules : 1
                let f = MessageFigures(
                    name: m.name, id: "0x" + String(m.standardId, radix: 16, uppercase: true), direction: m.direction,
                    dlc: m.dlc, command: m.command, framesPerMessage: sim.framesPerMessage(m),
                    messagesPerCall: perCall, deadlineMs: m.deadlineMs,
                    messages: e.count, messagesClear: k.count,
                    latency: latency(e), latencyClear: latency(k),
                    deadlineMisses: misses(e, m), deadlineMissesClear: misses(k, m))
                figures.append(f)
                fpm[m.name.lowercased()] = f.framesPerMessage
            }
            buses[bus.rawValue] = BusFigures(
                bitrate: enc.bitrate, busLoad: enc.load, busLoadClear: clear.load,
                offeredLoad: enc.offeredLoad, offeredLoadClear: clear.offeredLoad,
                framesPerSecond: Double(enc.framesInWindow) / enc.seconds,
                framesPerSecondClear: Double(clear.framesInWindow) / clear.seconds,
                deadlineMisses: figures.reduce(0) { $0 + $1.deadlineMisses },
                deadlineMissesClear: figures.reduce(0) { $0 + $1.deadlineMissesClear },
                worstP99Us: figures.map(\.latency.p99Us).max() ?? 0,
                worstP99UsClear: figures.map(\.latencyClear.p99Us).max() ?? 0,
                messages: figures)
        }
        let frameNs = FrameTiming(nominalBits: FrameTiming.classicBits(dataBytes: 8, extended: true, stuffing: c.stuffing),
                                  dataBits: 0).duration(bitrate: c.bitrate, dataBitrate: c.bitrate)
        return ReferenceTrafficReport(
            traffic: "reference", modules: c.modules, seconds: c.seconds, seed: c.seed, profile: "seed",
            stuffing: c.stuffing == .worstCase ? "worst_case" : "none",
            broadcast: c.groupBroadcast ? "group" : "per_pair",
            idLayout: "standard id in bits 28..18, bit 17 encrypted",
            frameTimeNs: Int(frameNs.components.attoseconds / 1_000_000_000 + frameNs.components.seconds * 1_000_000_000),
            busLoad: buses.mapValues(\.busLoad), busLoadClear: buses.mapValues(\.busLoadClear),
            framesPerMessage: fpm,
            deadlineMisses: buses.values.reduce(0) { $0 + $1.deadlineMisses },
            buses: buses)
    }

    /// Nearest-rank percentiles of delivered messages (µs); undelivered ones count as misses, not here.
    static func latency(_ outcomes: [TrafficSimulation.Outcome]) -> Latency {
        let ns = outcomes.compactMap { o in o.deliveredNs.map { $0 - o.callNs } }.sorted()
        guard !ns.isEmpty else { return Latency(p50Us: 0, p99Us: 0, maxUs: 0) }
        func rank(_ p: Double) -> Double {
            let i = max(0, Int((p * Double(ns.count)).rounded(.up)) - 1)
            return Double(ns[min(i, ns.count - 1)]) / 1000
        }
        return Latency(p50Us: rank(0.5), p99Us: rank(0.99), maxUs: Double(ns.last!) / 1000)
    }

    /// Messages not delivered before their next period.
    static func misses(_ outcomes: [TrafficSimulation.Outcome], _ m: TrafficMessage) -> Int {
        let deadline = Int64((m.deadlineMs * 1e6).rounded())
        return outcomes.filter { o in
            guard let d = o.deliveredNs else { return true }
            return d - o.callNs >= deadline
        }.count
    }

    /// The human summary.
    public func text(title: String) -> String {
        var lines: [String] = []
        let vb = buses["vehicle"]?.bitrate, mb = buses["module"]?.bitrate
        lines.append("\(title): reference traffic, \(modules) modules, \(Self.rate(mb ?? 0)) module bus, "
                     + "\(Self.rate(vb ?? 0)) vehicle bus, \(Self.num(seconds)) s simulated, seed \(seed)")
        lines.append("  encrypted: seed format IV(12)+ciphertext+tag(16), classic frames; ids: standard id in bits 28..18, "
                     + "bit 17 = encrypted; broadcasts sealed \(broadcast == "group" ? "once (group key assumed)" : "once per pair")")
        for name in ["module", "vehicle"] {
            guard let b = buses[name] else { continue }
            lines.append("")
            lines.append("  \(name) bus (\(Self.rate(b.bitrate))): load clear \(Self.pct(b.busLoadClear)), encrypted \(Self.pct(b.busLoad))"
                         + (b.offeredLoad > 1 ? " (offered \(Self.pct(b.offeredLoad)): overloaded)" : "")
                         + "; frames/s \(Self.num(b.framesPerSecondClear)) -> \(Self.num(b.framesPerSecond))"
                         + "; deadline misses \(b.deadlineMissesClear) -> \(b.deadlineMisses)")
            lines.append("    " + Self.pad("message", 26) + Self.pad("id", 7) + Self.pad("dlc", 5) + Self.pad("frames", 8)
                         + Self.pad("msgs", 7) + Self.pad("clear p99", 11) + Self.pad("enc p50", 11) + Self.pad("enc p99", 11)
                         + Self.pad("enc max", 11) + "misses")
            for m in b.messages {
                let frames = m.messagesPerCall > 1 ? "\(m.framesPerMessage)x\(m.messagesPerCall)" : "\(m.framesPerMessage)"
                lines.append("    " + Self.pad(m.name, 26) + Self.pad(m.id, 7) + Self.pad("\(m.dlc)", 5) + Self.pad(frames, 8)
                             + Self.pad("\(m.messages)", 7) + Self.pad(Self.ms(m.latencyClear.p99Us), 11)
                             + Self.pad(Self.ms(m.latency.p50Us), 11) + Self.pad(Self.ms(m.latency.p99Us), 11)
                             + Self.pad(Self.ms(m.latency.maxUs), 11) + "\(m.deadlineMisses)")
            }
        }
        lines.append("")
        lines.append(deadlineMisses == 0 ? "OK: no encrypted message missed its deadline"
                                         : "\(deadlineMisses) encrypted messages missed their deadline")
        return lines.joined(separator: "\n")
    }

    static func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s + " " : s + String(repeating: " ", count: n - s.count) }
    static func pct(_ x: Double) -> String { String(format: "%.1f %%", x * 100) }
    static func num(_ x: Double) -> String { x == x.rounded() ? String(Int(x)) : String(format: "%.1f", x) }
    static func ms(_ us: Double) -> String { String(format: "%.2f ms", us / 1000) }
    static func rate(_ r: Int) -> String { r % 1000 == 0 ? "\(r / 1000) kbit/s" : "\(r) bit/s" }
}
