/// An in-process CAN / CAN FD bus: many nodes, bit-accurate frame times,
/// arbitration by identifier, statistics, seeded fault injection and an
/// attacker node. The embedded default transport.
///
/// The bus is a discrete-event model. A node's `send` queues the frame in its
/// FIFO transmit queue; when the bus is idle, the head frames of all queues
/// arbitrate and the lowest arbitration field wins (11-bit ids beat 29-bit
/// ids with the same base id; equal fields go to the node attached first).
/// The winner occupies the bus for its frame time (`FrameTiming`), then every
/// other node receives it, timestamped at the end of the frame.
///
/// Two clocks:
/// - `.realTime`: bus time follows the wall clock (to within scheduler
///   latency); timestamps count from the Unix time at creation.
/// - `.virtual`: bus time jumps from event to event as fast as the CPU
///   allows; timestamps count from `epoch` (default zero). Nodes attached with
///   `clocked: true` take part in the clock: the bus only moves time forward
///   while every clocked node is waiting (in `frames` or `sleep`) or closed,
///   so a simulation of many nodes is deterministic: everything the nodes
///   send at one instant arbitrates together, whatever order the tasks ran in.
public actor VirtualBus {
    /// How bus time advances.
    public enum ClockMode: Sendable, Hashable {
        case realTime
        case virtual
    }

    public struct Configuration: Sendable {
        /// Name the bus is known by (socketcand exposes it under this name).
        public var name: String
        /// Nominal (arbitration) bit rate, bit/s.
        public var bitrate: Int
        /// CAN FD data-phase bit rate, bit/s (used by frames with bit-rate switch).
        public var dataBitrate: Int
        /// Whether CAN FD frames are allowed; a classic bus rejects them.
        public var allowsFD: Bool
        public var stuffing: FrameTiming.Stuffing
        public var clock: ClockMode
        /// Added to bus time in timestamps; `nil`: the Unix time at creation
        /// for `.realTime`, zero for `.virtual`.
        public var epoch: Duration?
        public var faults: FaultPlan
        /// Seed of the fault-injection PRNG.
        public var seed: UInt64
        /// Frames a node can hold unread before further frames overrun.
        public var receiveQueueCapacity: Int
        /// Frames a node can queue before `send` throws `.transmitQueueFull`.
        public var transmitQueueCapacity: Int
        /// Keep the last N transmissions for inspection (`transmissions()`); 0 keeps none.
        public var traceCapacity: Int

        public init(name: String = "vcan0", bitrate: Int = 500_000, dataBitrate: Int = 2_000_000,
                    allowsFD: Bool = true, stuffing: FrameTiming.Stuffing = .worstCase,
                    clock: ClockMode = .virtual, epoch: Duration? = nil, faults: FaultPlan = .none,
                    seed: UInt64 = 0, receiveQueueCapacity: Int = 4096, transmitQueueCapacity: Int = 1024,
                    traceCapacity: Int = 0) {
            self.name = name
            self.bitrate = bitrate
            self.dataBitrate = dataBitrate
            self.allowsFD = allowsFD
            self.stuffing = stuffing
            self.clock = clock
            self.epoch = epoch
            self.faults = faults
            self.seed = seed
            self.receiveQueueCapacity = receiveQueueCapacity
            self.transmitQueueCapacity = transmitQueueCapacity
            self.traceCapacity = traceCapacity
        }
    }

    /// One frame's time on the bus (kept when `traceCapacity > 0`).
    public struct Transmission: Sendable, Hashable {
        public var sender: String
        /// The frame as receivers got it (after corruption, if any).
        public var frame: CANFrame
        /// Bus time at start of frame and end of interframe space.
        public var start: Duration
        public var end: Duration
        public var faults: AppliedFaults
    }

    public nonisolated let configuration: Configuration
    public nonisolated let name: String
    private let epoch: Duration
    private let startInstant = ContinuousClock.now

    // Event-driven state.
    private var now: Duration = .zero
    private var events: [Event] = []
    private var sequence: UInt64 = 0
    private var nodes: [NodeState] = []
    private var current: (node: Int, frame: CANFrame, start: Duration, end: Duration, duplicateCopy: Bool)?
    private var busyCount = 0
    private var paused = false
    private var pumping = false
    private var rng: SplitMix64
    private var stats = Counters()
    private var trace = Ring<Transmission>()
    private var anonymousSleepers: [UInt64: CheckedContinuation<Void, Never>] = [:]
    private var tickTask: Task<Void, Never>?
    private var tickAt: Duration?

    public init(_ configuration: Configuration = Configuration()) {
        self.configuration = configuration
        self.name = configuration.name
        self.rng = SplitMix64(seed: configuration.seed)
        self.epoch = configuration.epoch ?? (configuration.clock == .realTime ? CANTime.now() : .zero)
    }

    /// A bus with the defaults except the given fields.
    public init(name: String = "vcan0", bitrate: Int = 500_000, dataBitrate: Int = 2_000_000,
                clock: ClockMode = .virtual, faults: FaultPlan = .none, seed: UInt64 = 0) {
        self.init(Configuration(name: name, bitrate: bitrate, dataBitrate: dataBitrate, clock: clock,
                                faults: faults, seed: seed))
    }

    // MARK: Nodes

    /// Connect a node.
    /// - Parameters:
    ///   - clocked: take part in the virtual clock (see the type's doc). A
    ///     clocked node starts busy: time does not move until it first waits.
    ///   - receiveOwnFrames: also receive the frames this node sends (off, as
    ///     on SocketCAN).
    public func attach(name: String, clocked: Bool = false, receiveOwnFrames: Bool = false) -> Node {
        let id = addNode(name: name, clocked: clocked, receiveOwn: receiveOwnFrames, records: false)
        return Node(bus: self, id: id, name: name)
    }

    /// Connect an attacker: a node that records every frame it sees and can
    /// replay them or forge any frame (any id, including other nodes').
    public func attachAttacker(name: String = "attacker") -> AttackerNode {
        let id = addNode(name: name, clocked: false, receiveOwn: false, records: true)
        return AttackerNode(node: Node(bus: self, id: id, name: name))
    }

    private func addNode(name: String, clocked: Bool, receiveOwn: Bool, records: Bool) -> Int {
        let state = NodeState(name: name, clocked: clocked, receiveOwn: receiveOwn, records: records,
                              receiveCapacity: configuration.receiveQueueCapacity)
        if clocked && configuration.clock == .virtual {
            state.busy = true
            busyCount += 1
        }
        nodes.append(state)
        return nodes.count - 1
    }

    /// A connection to the bus; a `CANTransport`.
    public final class Node: CANTransport {
        public let bus: VirtualBus
        let id: Int
        public let name: String

        init(bus: VirtualBus, id: Int, name: String) {
            self.bus = bus
            self.id = id
            self.name = name
        }

        public var frames: CANFrames {
            CANFrames { [bus, id] in try await bus.receive(node: id) }
        }

        public func send(_ frame: CANFrame) async throws {
            try await bus.submit(node: id, frame: frame, duplicateCopy: false)
        }

        public func close() async { await bus.close(node: id) }

        /// Sleep in bus time: virtual time in `.virtual` mode (and a clocked
        /// node counts as waiting meanwhile), the wall clock in `.realTime`.
        public func sleep(for duration: Duration) async throws {
            try await bus.sleep(node: id, for: duration)
        }

        /// This node's counters.
        public func statistics() async -> NodeStatistics { await bus.nodeStatistics(id) }

        /// Take every frame already received and not yet read, without
        /// waiting (for drivers and tests that run the bus to a point and
        /// then inspect it).
        public func drain() async -> [TimestampedFrame] { await bus.drain(node: id) }
    }

    // MARK: Clock control

    /// Current bus time (since the bus was created).
    public var time: Duration {
        syncRealTime()
        return now
    }

    /// Bus time as a timestamp (`epoch` + time).
    public var timestamp: Duration { epoch + time }

    /// Hold the bus: frames queue but nothing is transmitted and virtual time
    /// stands still until `resume()`. Lets a test queue frames on several
    /// nodes that then arbitrate together.
    public func pause() { paused = true }

    public func resume() {
        paused = false
        syncRealTime()
        pump()
    }

    /// Let `duration` of bus time pass (as a driver, not a node): in
    /// `.virtual` mode this returns as soon as the bus has processed
    /// everything up to that time; in `.realTime` it sleeps.
    public func advance(by duration: Duration) async {
        if configuration.clock == .realTime {
            try? await Task.sleep(for: duration)
            return
        }
        sequence += 1
        let token = sequence
        schedule(Event(time: now + duration, kind: .wake(node: -1, token: token)))
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            anonymousSleepers[token] = c
            pump()
        }
    }

    /// Process everything pending (`.virtual` mode; returns when the bus is
    /// idle with no queued frame or event left, or a clocked node is busy).
    public func runUntilIdle() {
        pump()
    }

    // MARK: Statistics

    public func statistics() -> BusStatistics {
        syncRealTime()
        return BusStatistics(
            elapsed: now, busyTime: stats.busy, frames: stats.frames, bits: stats.bits,
            dropped: stats.dropped, corrupted: stats.corrupted, duplicated: stats.duplicated,
            delayed: stats.delayed, nodes: nodes.map(\.stats.withName))
    }

    func nodeStatistics(_ id: Int) -> NodeStatistics { nodes[id].stats.withName }

    /// The last `traceCapacity` transmissions, oldest first.
    public func transmissions() -> [Transmission] { trace.elements }

    /// Frames recorded by an attacker node.
    func recorded(node id: Int) -> [TimestampedFrame] { nodes[id].recorded }

    // MARK: Node operations

    func submit(node id: Int, frame: CANFrame, duplicateCopy: Bool) throws(CANTransportError) {
        guard !nodes[id].closed else { throw .closed }
        if frame.isFD && !configuration.allowsFD {
            throw .unsupportedFrame("CAN FD frame on classic bus '\(name)'")
        }
        guard nodes[id].tx.count < configuration.transmitQueueCapacity else {
            nodes[id].stats.txQueueFull += 1
            throw .transmitQueueFull
        }
        syncRealTime()
        nodes[id].tx.append(Pending(frame: frame, duplicateCopy: duplicateCopy))
        pump()
    }

    func drain(node id: Int) -> [TimestampedFrame] {
        var out: [TimestampedFrame] = []
        while let frame = nodes[id].inbox.popFirst() { out.append(frame) }
        return out
    }

    func receive(node id: Int) async throws -> TimestampedFrame? {
        if let frame = nodes[id].inbox.popFirst() { return frame }
        if nodes[id].closed || Task.isCancelled { return nil }
        sequence += 1
        let token = sequence
        return await withTaskCancellationHandler {
            await withCheckedContinuation { (c: CheckedContinuation<TimestampedFrame?, Never>) in
                nodes[id].receiver = (token, c)
                setIdle(id)
                pump()
            }
        } onCancel: {
            Task { await self.cancelReceive(node: id, token: token) }
        }
    }

    private func cancelReceive(node id: Int, token: UInt64) {
        guard let waiter = nodes[id].receiver, waiter.token == token else { return }
        nodes[id].receiver = nil
        setBusy(id)
        waiter.continuation.resume(returning: nil)
    }

    func sleep(node id: Int, for duration: Duration) async throws {
        if configuration.clock == .realTime {
            try await Task.sleep(for: duration)
            return
        }
        guard !nodes[id].closed else { throw CANTransportError.closed }
        sequence += 1
        let token = sequence
        schedule(Event(time: now + max(duration, .zero), kind: .wake(node: id, token: token)))
        await withCheckedContinuation { (c: CheckedContinuation<Void, Never>) in
            nodes[id].sleeper = (token, c)
            setIdle(id)
            pump()
        }
    }

    func close(node id: Int) {
        guard !nodes[id].closed else { return }
        // Frames already queued still go out (as from a closed socket's
        // queue); nothing more is received.
        nodes[id].closed = true
        nodes[id].inbox.removeAll()
        if let waiter = nodes[id].receiver {
            nodes[id].receiver = nil
            waiter.continuation.resume(returning: nil)
        }
        if let sleeper = nodes[id].sleeper {
            nodes[id].sleeper = nil
            sleeper.continuation.resume()
        }
        setIdle(id)
        pump()
    }

    private func setIdle(_ id: Int) {
        if nodes[id].busy {
            nodes[id].busy = false
            busyCount -= 1
        }
    }

    private func setBusy(_ id: Int) {
        if nodes[id].clocked && configuration.clock == .virtual && !nodes[id].busy && !nodes[id].closed {
            nodes[id].busy = true
            busyCount += 1
        }
    }

    // MARK: The engine

    private func syncRealTime() {
        guard configuration.clock == .realTime else { return }
        let elapsed = ContinuousClock.now - startInstant
        if elapsed > now { now = elapsed }
    }

    private func schedule(_ event: Event) {
        var e = event
        sequence += 1
        e.seq = sequence
        // Sorted insert; the list is short (pending deliveries and sleepers).
        var lo = 0, hi = events.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if events[mid].precedes(e) { lo = mid + 1 } else { hi = mid }
        }
        events.insert(e, at: lo)
    }

    /// Run the model as far as it can go now.
    private func pump() {
        guard !pumping else { return }
        pumping = true
        defer { pumping = false }
        while !paused {
            if configuration.clock == .virtual && busyCount > 0 { return }
            if let first = events.first, first.time <= now {
                events.removeFirst()
                handle(first)
                continue
            }
            if current == nil, startTransmission() { continue }
            guard let first = events.first else { return }
            if configuration.clock == .realTime {
                scheduleTick(at: first.time)
                return
            }
            now = first.time
        }
    }

    private func scheduleTick(at time: Duration) {
        if let tickAt, tickAt <= time { return }
        tickTask?.cancel()
        tickAt = time
        let instant = startInstant + time
        tickTask = Task { [weak self] in
            try? await Task.sleep(until: instant, clock: .continuous)
            if Task.isCancelled { return }
            await self?.tick()
        }
    }

    private func tick() {
        tickAt = nil
        tickTask = nil
        syncRealTime()
        pump()
    }

    /// Arbitration among the head frames of all transmit queues.
    private func startTransmission() -> Bool {
        var winner = -1
        var best: UInt64 = .max
        var contenders = 0
        for i in nodes.indices {
            guard let head = nodes[i].tx.first else { continue }
            contenders += 1
            let key = Self.arbitrationKey(head.frame)
            if key < best {
                best = key
                winner = i
            }
        }
        guard winner >= 0 else { return false }
        if contenders > 1 {
            for i in nodes.indices where i != winner && nodes[i].tx.first != nil {
                nodes[i].stats.arbitrationLosses += 1
            }
        }
        let pending = nodes[winner].tx.popFirst()!
        let bits = FrameTiming.bits(for: pending.frame, stuffing: configuration.stuffing)
        let length = bits.duration(bitrate: configuration.bitrate, dataBitrate: configuration.dataBitrate)
        current = (winner, pending.frame, now, now + length, pending.duplicateCopy)
        stats.busy += length
        stats.bits += bits.totalBits
        nodes[winner].stats.txBits += bits.totalBits
        nodes[winner].stats.busTime += length
        schedule(Event(time: now + length, kind: .transmissionEnd))
        return true
    }

    /// Lower wins. Base id (11 bits), then SRR/RTR and IDE (both dominant
    /// for a standard data frame, both recessive for an extended one), then
    /// the 18 id-extension bits.
    static func arbitrationKey(_ frame: CANFrame) -> UInt64 {
        if frame.isExtended {
            let base = UInt64(frame.id >> 18) & 0x7FF
            let ext = UInt64(frame.id) & 0x3FFFF
            return base << 20 | 0b11 << 18 | ext
        }
        return UInt64(frame.id & 0x7FF) << 20
    }

    private func handle(_ event: Event) {
        switch event.kind {
        case .transmissionEnd:
            finishTransmission(at: event.time)
        case .deliver(let frame, let from):
            deliver(frame, from: from, at: event.time)
        case .wake(let id, let token):
            if id < 0 {
                anonymousSleepers.removeValue(forKey: token)?.resume()
            } else if let sleeper = nodes[id].sleeper, sleeper.token == token {
                nodes[id].sleeper = nil
                setBusy(id)
                sleeper.continuation.resume()
            }
        }
    }

    private func finishTransmission(at time: Duration) {
        guard let tx = current else { return }
        current = nil
        stats.frames += 1
        nodes[tx.node].stats.txFrames += 1
        nodes[tx.node].stats.txBytes += tx.frame.count

        var decision = FaultPlan.Decision(frame: tx.frame)
        if !tx.duplicateCopy {
            decision = configuration.faults.decide(tx.frame, rng: &rng)
        } else {
            decision.faults.insert(.isDuplicateCopy)
        }
        if decision.faults.contains(.dropped) { stats.dropped += 1 }
        if decision.faults.contains(.corrupted) { stats.corrupted += 1 }
        if decision.faults.contains(.duplicated) {
            stats.duplicated += 1
            nodes[tx.node].tx.prepend(Pending(frame: tx.frame, duplicateCopy: true))
        }
        if configuration.traceCapacity > 0 {
            trace.append(Transmission(sender: nodes[tx.node].name, frame: decision.frame, start: tx.start,
                                      end: tx.end, faults: decision.faults))
            if trace.count > configuration.traceCapacity { _ = trace.popFirst() }
        }
        guard !decision.faults.contains(.dropped) else { return }
        if decision.faults.contains(.delayed) {
            stats.delayed += 1
            schedule(Event(time: time + decision.delay, kind: .deliver(decision.frame, from: tx.node)))
        } else {
            deliver(decision.frame, from: tx.node, at: time)
        }
    }

    private func deliver(_ frame: CANFrame, from sender: Int, at time: Duration) {
        let stamped = TimestampedFrame(timestamp: epoch + time, frame: frame)
        for i in nodes.indices where !nodes[i].closed && (i != sender || nodes[i].receiveOwn) {
            nodes[i].stats.rxFrames += 1
            if nodes[i].records { nodes[i].recorded.append(stamped) }
            if let waiter = nodes[i].receiver {
                nodes[i].receiver = nil
                setBusy(i)
                waiter.continuation.resume(returning: stamped)
            } else if nodes[i].inbox.count < nodes[i].receiveCapacity {
                nodes[i].inbox.append(stamped)
            } else {
                nodes[i].stats.rxOverruns += 1
            }
        }
    }

    // MARK: Model types

    private struct Pending {
        var frame: CANFrame
        var duplicateCopy: Bool
    }

    /// A class, so the engine's many `nodes[i].field` accesses never copy
    /// the queues (which matters in debug builds).
    private final class NodeState {
        let name: String
        let clocked: Bool
        let receiveOwn: Bool
        let records: Bool
        let receiveCapacity: Int
        var tx = Ring<Pending>()
        var inbox = Ring<TimestampedFrame>()
        var receiver: (token: UInt64, continuation: CheckedContinuation<TimestampedFrame?, Never>)?
        var sleeper: (token: UInt64, continuation: CheckedContinuation<Void, Never>)?
        var busy = false
        var closed = false
        var recorded: [TimestampedFrame] = []
        var stats: NodeStatistics

        init(name: String, clocked: Bool, receiveOwn: Bool, records: Bool, receiveCapacity: Int) {
            self.name = name
            self.clocked = clocked
            self.receiveOwn = receiveOwn
            self.records = records
            self.receiveCapacity = receiveCapacity
            self.stats = NodeStatistics(name: name)
        }
    }

    private struct Event {
        enum Kind {
            case transmissionEnd
            case deliver(CANFrame, from: Int)
            case wake(node: Int, token: UInt64)

            var rank: Int {
                switch self {
                case .transmissionEnd: return 0
                case .deliver: return 1
                case .wake: return 2
                }
            }
        }
        var time: Duration
        var kind: Kind
        var seq: UInt64 = 0

        func precedes(_ other: Event) -> Bool {
            if time != other.time { return time < other.time }
            if kind.rank != other.kind.rank { return kind.rank < other.kind.rank }
            return seq < other.seq
        }
    }

    private struct Counters {
        var busy: Duration = .zero
        var frames = 0
        var bits = 0
        var dropped = 0
        var corrupted = 0
        var duplicated = 0
        var delayed = 0
    }
}

/// Bus-wide counters.
public struct BusStatistics: Sendable, Hashable {
    /// Bus time since creation.
    public var elapsed: Duration
    /// Time the bus carried frames.
    public var busyTime: Duration
    public var frames: Int
    public var bits: Int
    public var dropped: Int
    public var corrupted: Int
    public var duplicated: Int
    public var delayed: Int
    public var nodes: [NodeStatistics]

    /// busyTime / elapsed (0...1).
    public var load: Double {
        let e = elapsed.seconds
        return e > 0 ? busyTime.seconds / e : 0
    }
}

/// Per-node counters.
public struct NodeStatistics: Sendable, Hashable {
    public var name: String
    public var txFrames = 0
    public var txBytes = 0
    public var txBits = 0
    /// Bus time this node's frames took.
    public var busTime: Duration = .zero
    /// Arbitration rounds this node took part in and lost.
    public var arbitrationLosses = 0
    /// `send` calls refused because the transmit queue was full.
    public var txQueueFull = 0
    public var rxFrames = 0
    /// Frames lost because this node's receive queue was full.
    public var rxOverruns = 0

    init(name: String) { self.name = name }
    var withName: NodeStatistics { self }
}

extension Duration {
    /// The duration in seconds as a `Double`.
    public var seconds: Double {
        let (s, a) = components
        return Double(s) + Double(a) * 1e-18
    }
}

/// A node that records and replays or forges frames.
public final class AttackerNode: CANTransport {
    public let node: VirtualBus.Node

    init(node: VirtualBus.Node) { self.node = node }

    public var name: String { node.name }
    public var frames: CANFrames { node.frames }
    public func send(_ frame: CANFrame) async throws { try await node.send(frame) }
    public func close() async { await node.close() }

    /// Every frame this node has seen, in order.
    public func recorded() async -> [TimestampedFrame] { await node.bus.recorded(node: node.id) }

    /// Send again the recorded frames that match `predicate`; returns how many.
    @discardableResult
    public func replay(where predicate: (CANFrame) -> Bool = { _ in true }) async throws -> Int {
        let frames = await recorded().map(\.frame).filter(predicate)
        for frame in frames { try await node.send(frame) }
        return frames.count
    }

    /// Send any frame, typically with an id that belongs to another node.
    public func forge(_ frame: CANFrame) async throws { try await node.send(frame) }
}

/// A growable FIFO ring of values (amortised O(1), no per-element allocation).
struct Ring<Element> {
    private var storage: [Element?] = []
    private var head = 0
    private(set) var count = 0

    var first: Element? { count > 0 ? storage[head] : nil }

    mutating func append(_ element: Element) {
        grow()
        storage[(head + count) % storage.count] = element
        count += 1
    }

    mutating func prepend(_ element: Element) {
        grow()
        head = (head - 1 + storage.count) % storage.count
        storage[head] = element
        count += 1
    }

    mutating func popFirst() -> Element? {
        guard count > 0 else { return nil }
        let element = storage[head]
        storage[head] = nil
        head = (head + 1) % storage.count
        count -= 1
        return element
    }

    mutating func removeAll() {
        storage = []
        head = 0
        count = 0
    }

    var elements: [Element] { (0..<count).map { storage[(head + $0) % storage.count]! } }

    private mutating func grow() {
        guard count == storage.count else { return }
        let old = elements
        storage = Array(repeating: nil, count: max(8, storage.count * 2))
        for (i, e) in old.enumerated() { storage[i] = e }
        head = 0
    }
}
