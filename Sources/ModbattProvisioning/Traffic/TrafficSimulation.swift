import ModbattCAN

/// A discrete-event model of one pack's CAN buses carrying the catalogued
/// traffic (docs/TRAFFIC.md): simulated time in integer nanoseconds, one FIFO
/// transmit queue per node, CAN arbitration by id whenever the bus goes idle,
/// frame times from `FrameTiming` (worst-case bit stuffing, interframe space
/// included). Deterministic: the seed only picks the nodes' timer phases.
public struct TrafficSimulation: Sendable {
    public struct Configuration: Sendable {
        public var modules = 32
        /// Module-bus bit rate.
        public var bitrate = 250_000
        /// Vehicle-bus bit rate.
        public var vehicleBitrate = 250_000
        public var seconds = 10.0
        public var seed: UInt64 = 1
        /// Seal a broadcast once for all modules (a group key, which the
        /// project does not have) instead of once per pair.
        public var groupBroadcast = false
        public var stuffing: FrameTiming.Stuffing = .worstCase
        /// Timer phases drawn from the seed (false: every timer starts at 0,
        /// for analytic checks).
        public var randomPhases = true
        public var catalogue: [TrafficMessage] = TrafficCatalogue.reference

        public init() {}
    }

    /// What happened to one message.
    public struct Outcome: Sendable {
        public var type: Int
        /// The module it is for or from (0: broadcast, unregistered, vehicle bus).
        public var module: Int
        public var callNs: Int64
        public var deliveredNs: Int64?
        public var frames: Int
    }

    /// One bus, one run (clear or encrypted).
    public struct BusRun: Sendable {
        public var bus: TrafficBus
        public var encrypted: Bool
        public var bitrate: Int
        public var seconds: Double
        /// Bus busy time inside the measured window (after the warm-up) over its length.
        public var load: Double
        /// Bus time of all frames of the messages called inside the window over its length (may exceed 1).
        public var offeredLoad: Double
        /// Frames that started inside the window.
        public var framesInWindow: Int
        public var outcomes: [Outcome]
    }

    public let configuration: Configuration
    public let framing: TrafficFraming

    public init(_ configuration: Configuration) throws(ModbattError) {
        self.configuration = configuration
        self.framing = try TrafficFraming(for: configuration.catalogue)
    }

    /// Frames of one message of `message` encrypted (1 for one that stays clear).
    public func framesPerMessage(_ message: TrafficMessage) -> Int { framing.chunks(of: message)?.count ?? 1 }

    public func run(bus: TrafficBus, encrypted: Bool) -> BusRun {
        var engine = Engine(sim: self, bus: bus, encrypted: encrypted)
        return engine.run()
    }

    // MARK: - Engine

    struct Frame {
        var key: UInt64      // arbitration field, lower wins
        var ns: Int64        // bus time
        var message: Int     // index into outcomes
        var last: Bool
    }

    struct Event: Comparable {
        enum Kind { case periodic(Int, module: Int), poll(Int), reply(Int, module: Int), refresh(Int, module: Int, generation: Int) }
        var ns: Int64
        var seq: Int
        var kind: Kind
        static func < (a: Event, b: Event) -> Bool { (a.ns, a.seq) < (b.ns, b.seq) }
        static func == (a: Event, b: Event) -> Bool { a.ns == b.ns && a.seq == b.seq }
    }

    struct Engine {
        let sim: TrafficSimulation
        let bus: TrafficBus
        let encrypted: Bool
        let catalogue: [TrafficMessage]
        let rate: Int
        /// The measured window is [warmup, horizon): the timers run from 0 so
        /// the poll cycle and the per-module refresh timers are in step first.
        let warmup: Int64
        let horizon: Int64
        let modules: Int
        var queues: [[Frame]]
        var heads: [Int]
        var events = TrafficEventHeap()
        var seq = 0
        var outcomes: [Outcome] = []
        var pending: [Bool]              // module still answering a poll
        var nextPoll = 0
        var refreshGeneration: [Int: [Int]] = [:]
        var tickPhase: [Int64]
        var nodePhase: [Int64]
        var offeredNs: Int64 = 0

        init(sim: TrafficSimulation, bus: TrafficBus, encrypted: Bool) {
            self.sim = sim
            self.bus = bus
            self.encrypted = encrypted
            let c = sim.configuration
            catalogue = c.catalogue
            rate = bus == .module ? c.bitrate : c.vehicleBitrate
            modules = bus == .module ? c.modules : 1
            var warm = 0.0
            for m in c.catalogue where m.bus == bus {
                switch m.trigger {
                case .poll(let p): warm += Double(modules) * p
                case .refresh(let p, _): warm += p
                default: break
                }
            }
            warmup = Int64((warm * 1e6).rounded())
            horizon = warmup + Int64((c.seconds * 1e9).rounded())
            // Node 0 is the controller (pack / VCU), 1...modules the devices.
            queues = Array(repeating: [], count: modules + 1)
            heads = Array(repeating: 0, count: modules + 1)
            pending = Array(repeating: false, count: modules + 1)
            var rng = TrafficSplitMix(seed: c.seed ^ (bus == .module ? 0x6D6F64 : 0x766568))
            let tick = Int64(TrafficCatalogue.moduleTickMs * 1e6)
            let random = c.randomPhases
            nodePhase = (0...modules).map { _ in random ? Int64(rng.next() % UInt64(tick)) : 0 }
            tickPhase = (0...modules).map { _ in random ? Int64(rng.next() % UInt64(tick)) : 0 }
            for (i, m) in catalogue.enumerated() where m.bus == bus {
                switch m.trigger {
                case .periodic:
                    if m.sender == .device && bus == .module {
                        for module in 1...modules { schedule(nodePhase[module], .periodic(i, module: module)) }
                    } else {
                        schedule(nodePhase[m.sender == .controller ? 0 : 1], .periodic(i, module: 0))
                    }
                case .poll: schedule(nodePhase[0], .poll(i))
                case .pollReply: break
                case .refresh(let p, _):
                    refreshGeneration[i] = Array(repeating: 0, count: modules + 1)
                    for module in 1...max(1, modules) {
                        let phase = random ? Int64(rng.next() % UInt64(max(1, Int64(p * 1e6)))) : 0
                        schedule(phase, .refresh(i, module: module, generation: 0))
                    }
                }
            }
        }

        mutating func schedule(_ ns: Int64, _ kind: Event.Kind) {
            seq += 1
            events.push(Event(ns: ns, seq: seq, kind: kind))
        }

        static func ns(_ ms: Double) -> Int64 { Int64((ms * 1e6).rounded()) }

        func frameNs(bits: Int) -> Int64 {
            let r = Int64(max(rate, 1))
            return (Int64(bits) * 1_000_000_000 + r / 2) / r
        }

        /// Queue message `type` for `module` (0: broadcast / unregistered / the single peer) at `now`.
        mutating func call(_ type: Int, module: Int, now: Int64) {
            guard now < horizon else { return }
            let m = catalogue[type]
            let senderNode = m.sender == .controller ? 0 : (bus == .module ? module : 1)
            if m.addressing == .broadcast && encrypted && !sim.configuration.groupBroadcast && bus == .module {
                for target in 1...modules { enqueue(type, module: target, node: senderNode, now: now) }
            } else {
                enqueue(type, module: module, node: senderNode, now: now)
            }
        }

        mutating func enqueue(_ type: Int, module: Int, node: Int, now: Int64) {
            let m = catalogue[type]
            let deviceId: UInt32 = m.addressing == .unregistered ? 0xFF : UInt32(bus == .module ? module : 0)
            let index = outcomes.count
            let chunks = encrypted ? sim.framing.chunks(of: m) : nil
            if let chunks {
                let total = UInt32(chunks.count)
                for (i, len) in chunks.enumerated() {
                    let id = UInt32(m.standardId) << 18 | 1 << 17 | UInt32(i) << 12 | (total - 1) << 8 | deviceId
                    let bits = FrameTiming.classicBits(dataBytes: len, extended: true, stuffing: sim.configuration.stuffing)
                    queues[node].append(Frame(key: Self.key(extended: id), ns: frameNs(bits: bits), message: index,
                                              last: i == chunks.count - 1))
                    if now >= warmup { offeredNs += frameNs(bits: bits) }
                }
                outcomes.append(Outcome(type: type, module: module, callNs: now, frames: chunks.count))
            } else {
                let extended = bus == .module
                let key = extended ? Self.key(extended: UInt32(m.standardId) << 18 | deviceId)
                                   : UInt64(m.standardId) << 19
                let bits = FrameTiming.classicBits(dataBytes: m.dlc, extended: extended, stuffing: sim.configuration.stuffing)
                queues[node].append(Frame(key: key, ns: frameNs(bits: bits), message: index, last: true))
                if now >= warmup { offeredNs += frameNs(bits: bits) }
                outcomes.append(Outcome(type: type, module: module, callNs: now, frames: 1))
            }
        }

        /// The arbitration field as compared on the wire: 11-bit base id, then
        /// SRR/IDE (recessive for 29-bit ids), then the 18 extension bits.
        static func key(extended id: UInt32) -> UInt64 {
            UInt64(id >> 18) << 19 | 1 << 18 | UInt64(id & 0x3FFFF)
        }

        mutating func fire(_ e: Event) {
            switch e.kind {
            case .periodic(let i, let module):
                guard case .periodic(let p) = catalogue[i].trigger else { return }
                call(i, module: module, now: e.ns)
                if e.ns + Self.ns(p) < horizon { schedule(e.ns + Self.ns(p), .periodic(i, module: module)) }
            case .poll(let i):
                guard case .poll(let p) = catalogue[i].trigger else { return }
                for step in 1...modules {
                    let module = (nextPoll + step - 1) % modules + 1
                    if !pending[module] {
                        pending[module] = true
                        nextPoll = module % modules
                        call(i, module: module, now: e.ns)
                        break
                    }
                }
                if e.ns + Self.ns(p) < horizon { schedule(e.ns + Self.ns(p), .poll(i)) }
            case .reply(let i, let module):
                call(i, module: module, now: e.ns)
            case .refresh(let i, let module, let generation):
                guard refreshGeneration[i]?[module] == generation else { return }
                sendRefresh(i, module: module, now: e.ns)
            }
        }

        mutating func sendRefresh(_ i: Int, module: Int, now: Int64) {
            guard case .refresh(let p, _) = catalogue[i].trigger, now < horizon else { return }
            refreshGeneration[i]![module] += 1
            call(i, module: module, now: now)
            schedule(now + Self.ns(p), .refresh(i, module: module, generation: refreshGeneration[i]![module]))
        }

        /// Reactions to a delivered message.
        mutating func delivered(_ o: Outcome, module: Int, now: Int64) {
            let m = catalogue[o.type]
            if case .poll = m.trigger {
                // The module answers on its next ticks.
                let tick = Self.ns(TrafficCatalogue.moduleTickMs)
                let phase = tickPhase[module]
                let first = phase + ((now - phase) / tick + 1) * tick
                var replies = 0
                for (i, r) in catalogue.enumerated() where r.bus == bus {
                    if case .pollReply(let k) = r.trigger {
                        schedule(first + Int64(k - 1) * tick, .reply(i, module: module))
                        replies += 1
                    }
                }
                if replies == 0 { pending[module] = false }
            }
            if case .pollReply(let k) = m.trigger {
                let last = catalogue.compactMap { r -> Int? in
                    if r.bus == bus, case .pollReply(let t) = r.trigger { t } else { nil }
                }.max() ?? k
                if k == last { pending[module] = false }
                for (i, r) in catalogue.enumerated() where r.bus == bus {
                    if case .refresh(_, let after) = r.trigger, after == m.name { sendRefresh(i, module: module, now: now) }
                }
            }
        }

        mutating func run() -> BusRun {
            var now: Int64 = 0
            var current: (frame: Frame, start: Int64)?
            var busyInWindow: Int64 = 0
            var framesInWindow = 0
            while true {
                let nextEvent = events.peek?.ns
                if let c = current, nextEvent == nil || c.start + c.frame.ns <= nextEvent! {
                    // The frame ends (interframe space included): receivers have it.
                    now = c.start + c.frame.ns
                    current = nil
                    if c.frame.last {
                        outcomes[c.frame.message].deliveredNs = now
                        delivered(outcomes[c.frame.message], module: outcomes[c.frame.message].module, now: now)
                    }
                } else if let t = nextEvent {
                    now = t
                } else {
                    break
                }
                // Every call due now queues its frames before the bus arbitrates.
                while let e = events.peek, e.ns <= now {
                    _ = events.pop()
                    fire(e)
                }
                if current == nil {
                    var best: Int?
                    for n in queues.indices where heads[n] < queues[n].count {
                        if best == nil || queues[n][heads[n]].key < queues[best!][heads[best!]].key { best = n }
                    }
                    if let n = best {
                        let f = queues[n][heads[n]]
                        heads[n] += 1
                        if heads[n] > 256 && heads[n] * 2 > queues[n].count {
                            queues[n].removeFirst(heads[n])
                            heads[n] = 0
                        }
                        current = (f, now)
                        if now >= warmup && now < horizon {
                            framesInWindow += 1
                            busyInWindow += min(now + f.ns, horizon) - now
                        }
                    }
                }
            }
            let window = Double(horizon - warmup)
            return BusRun(bus: bus, encrypted: encrypted, bitrate: rate, seconds: window / 1e9,
                          load: Double(busyInWindow) / window, offeredLoad: Double(offeredNs) / window,
                          framesInWindow: framesInWindow, outcomes: outcomes.filter { $0.callNs >= warmup })
        }

    }
}

/// SplitMix64: the same numbers for a seed on every platform.
struct TrafficSplitMix {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// A binary min-heap of events.
struct TrafficEventHeap {
    private var items: [TrafficSimulation.Event] = []
    var peek: TrafficSimulation.Event? { items.first }
    mutating func push(_ e: TrafficSimulation.Event) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard items[i] < items[p] else { break }
            items.swapAt(i, p)
            i = p
        }
    }
    mutating func pop() -> TrafficSimulation.Event? {
        guard !items.isEmpty else { return nil }
        let top = items[0]
        let last = items.removeLast()
        if !items.isEmpty {
            items[0] = last
            var i = 0
            while true {
                let l = 2 * i + 1, r = l + 1
                var m = i
                if l < items.count && items[l] < items[m] { m = l }
                if r < items.count && items[r] < items[m] { m = r }
                if m == i { break }
                items.swapAt(i, m)
                i = m
            }
        }
        return top
    }
}
