import Testing
@testable import ModbattCAN

func frame(_ id: UInt32, _ bytes: [UInt8] = [0, 0, 0, 0, 0, 0, 0, 0], extended: Bool = true) -> CANFrame {
    try! CANFrame(id: id, extended: extended, data: bytes)
}

@Suite("Virtual bus")
struct VirtualBusTests {
    @Test func fewLinesExchange() async throws {
        let bus = VirtualBus()
        let app = await bus.attach(name: "app"), pack = await bus.attach(name: "pack")
        try await app.send(CANFrame(id: 0x123, data: [1, 2, 3]))
        let got = try await pack.frames.next(timeout: .seconds(30))
        #expect(got?.frame == (try CANFrame(id: 0x123, data: [1, 2, 3])))
        // 11-bit id, 3 bytes: 34 + 24 + 13 + floor(57 / 4) = 85 bits = 170 us at 500k.
        #expect(got?.timestamp == .microseconds(170))
        // The sender does not hear itself.
        #expect(try await app.frames.next(timeout: .milliseconds(20)) == nil)
    }

    @Test func arbitrationByIdPriority() async throws {
        let bus = VirtualBus(VirtualBus.Configuration(traceCapacity: 100))
        let a = await bus.attach(name: "a"), b = await bus.attach(name: "b"), c = await bus.attach(name: "c")
        let rx = await bus.attach(name: "rx")
        await bus.pause()
        try await a.send(frame(0x300, extended: false))
        try await a.send(frame(0x050, extended: false)) // behind 0x300 in a's FIFO
        try await b.send(frame(0x100, extended: false))
        try await c.send(frame(0x100 << 18 | 0x5)) // extended, same base id as 0x100: loses to it
        try await c.send(frame(0x001, extended: false))
        await bus.resume()
        let got = try await rx.frames.prefix(5, timeout: .seconds(30)).map(\.frame.id)
        // Round 1: heads 0x300 (a), 0x100 (b), ext 0x100.. (c) -> b. Round 2: 0x300, ext -> ext (base 0x100).
        // Round 3: 0x300 vs 0x001 -> 0x001. Then a's FIFO: 0x300, 0x050.
        #expect(got == [0x100, 0x100 << 18 | 0x5, 0x001, 0x300, 0x050])
        let trace = await bus.transmissions()
        #expect(trace.map(\.sender) == ["b", "c", "c", "a", "a"])
        // Back to back: each frame starts where the previous one ended.
        for (prev, next) in zip(trace, trace.dropFirst()) { #expect(prev.end == next.start) }
        #expect(trace.first?.start == .zero)
        let stats = await bus.statistics()
        #expect(stats.nodes.first { $0.name == "a" }?.arbitrationLosses == 3)
        #expect(stats.nodes.first { $0.name == "b" }?.arbitrationLosses == 0)
        #expect(stats.nodes.first { $0.name == "c" }?.arbitrationLosses == 1)
    }

    @Test func arbitrationKeyOrdersStandardBeforeExtended() {
        let std = VirtualBus.arbitrationKey(frame(0x123, extended: false))
        let ext = VirtualBus.arbitrationKey(frame(0x123 << 18))
        let extLower = VirtualBus.arbitrationKey(frame(0x122 << 18 | 0x3FFFF))
        #expect(std < ext)
        #expect(extLower < std)
    }

    @Test func timingAndBusLoad() async throws {
        let bus = VirtualBus(VirtualBus.Configuration(bitrate: 500_000, traceCapacity: 10))
        let tx = await bus.attach(name: "tx"), rx = await bus.attach(name: "rx")
        await bus.pause()
        for i in 0..<4 { try await tx.send(frame(0x1000 + UInt32(i))) }
        try await tx.send(CANFrame(id: 0x1ABC_DEF0, fd: true, bitRateSwitch: true, data: [UInt8](repeating: 0, count: 64)))
        await bus.resume()
        let got = try await rx.frames.prefix(5, timeout: .seconds(30))
        #expect(got.map(\.timestamp) == [
            .microseconds(320), .microseconds(640), .microseconds(960), .microseconds(1280),
            .microseconds(1280) + .nanoseconds(453_500),
        ])
        var stats = await bus.statistics()
        #expect(stats.frames == 5)
        #expect(stats.bits == 4 * 160 + 57 + 679)
        #expect(stats.load == 1.0)
        #expect(stats.nodes.first { $0.name == "tx" }?.txFrames == 5)
        #expect(stats.nodes.first { $0.name == "rx" }?.rxFrames == 5)
        // Let the same time pass idle: load halves.
        await bus.advance(by: stats.elapsed)
        stats = await bus.statistics()
        #expect(abs(stats.load - 0.5) < 1e-9)
    }

    @Test func noStuffingModel() async throws {
        let bus = VirtualBus(VirtualBus.Configuration(bitrate: 250_000, stuffing: .none))
        let tx = await bus.attach(name: "tx"), rx = await bus.attach(name: "rx")
        try await tx.send(frame(0x1ABC_DEF0))
        #expect(try await rx.frames.next(timeout: .seconds(30))?.timestamp == .microseconds(524))
    }

    @Test func clockedNodesAreDeterministic() async throws {
        func run() async throws -> [String] {
            let bus = VirtualBus(VirtualBus.Configuration(epoch: .seconds(100)))
            let sink = await bus.attach(name: "sink", clocked: true)
            var nodes: [VirtualBus.Node] = []
            for i in 0..<8 { nodes.append(await bus.attach(name: "m\(i)", clocked: true)) }
            let collector = Task {
                var seen: [String] = []
                for try await f in sink.frames {
                    seen.append("\(CANTime.format(f.timestamp)) \(f.frame)")
                    if seen.count == 8 * 5 { break }
                }
                await sink.close()
                return seen
            }
            for (i, node) in nodes.enumerated() {
                Task {
                    for round in 0..<5 {
                        // Every module sends at the same instants; ids decide the order.
                        try await node.send(frame(UInt32(0x200 - i), [UInt8(round)], extended: false))
                        try await node.sleep(for: .milliseconds(1))
                    }
                    await node.close()
                }
            }
            return try await collector.value
        }
        let first = try await run()
        let second = try await run()
        #expect(first.count == 40)
        #expect(first == second)
        // Within each round the lowest id (the last module) goes first.
        #expect(first[0].hasSuffix("1F9#00"))
        #expect(first[0].hasPrefix("100.000"))
        #expect(first[8].hasPrefix("100.001"))
    }

    @Test func realTimeModeFollowsWallClock() async throws {
        let bus = VirtualBus(VirtualBus.Configuration(bitrate: 125_000, clock: .realTime))
        let tx = await bus.attach(name: "tx"), rx = await bus.attach(name: "rx")
        let start = ContinuousClock.now
        for i in 0..<10 { try await tx.send(frame(0x100 + UInt32(i))) }
        // A generous timeout: CI runs all suites in parallel on 2 cores.
        let got = try await rx.frames.prefix(10, timeout: .seconds(60))
        let elapsed = ContinuousClock.now - start
        #expect(got.count == 10)
        // 10 x 160 bits at 125 kbit/s = 12.8 ms of bus time.
        #expect(elapsed >= .milliseconds(12))
        let wall = CANTime.now()
        #expect(got.allSatisfy { abs(($0.timestamp - wall).seconds) < 120 })
    }

    @Test func receiveOwnFramesOption() async throws {
        let bus = VirtualBus()
        let me = await bus.attach(name: "me", receiveOwnFrames: true)
        try await me.send(frame(0x10))
        #expect(try await me.frames.next(timeout: .seconds(15))?.frame.id == 0x10)
    }

    @Test func sendAfterCloseThrows() async throws {
        let bus = VirtualBus()
        let node = await bus.attach(name: "n")
        await node.close()
        await node.close() // twice is fine
        await #expect(throws: CANTransportError.closed) { try await node.send(frame(1)) }
        #expect(try await node.frames.next(timeout: .seconds(1)) == nil)
        await #expect(throws: CANTransportError.closed) { try await node.sleep(for: .milliseconds(1)) }
    }

    @Test func closeStillTransmitsQueuedFrames() async throws {
        let bus = VirtualBus()
        let tx = await bus.attach(name: "tx"), rx = await bus.attach(name: "rx")
        await bus.pause()
        try await tx.send(frame(1))
        try await tx.send(frame(2))
        await tx.close()
        await bus.resume()
        #expect(await rx.drain().map(\.frame.id) == [1, 2])
    }

    @Test func closeWakesWaitingReceiver() async throws {
        let bus = VirtualBus()
        let node = await bus.attach(name: "n")
        let waiter = Task { try await node.frames.first { _ in true } }
        try await Task.sleep(for: .milliseconds(20))
        await node.close()
        #expect(try await waiter.value == nil)
    }

    @Test func transmitQueueFull() async throws {
        let bus = VirtualBus(VirtualBus.Configuration(transmitQueueCapacity: 2))
        let node = await bus.attach(name: "n")
        await bus.pause()
        try await node.send(frame(1))
        try await node.send(frame(2))
        await #expect(throws: CANTransportError.transmitQueueFull) { try await node.send(frame(3)) }
        #expect(await node.statistics().txQueueFull == 1)
    }

    @Test func fdRejectedOnClassicBus() async throws {
        let bus = VirtualBus(VirtualBus.Configuration(allowsFD: false))
        let node = await bus.attach(name: "n")
        let fd = try CANFrame(id: 1, fd: true, data: [1])
        await #expect(throws: CANTransportError.unsupportedFrame("CAN FD frame on classic bus 'vcan0'")) {
            try await node.send(fd)
        }
    }

    @Test func receiveOverrunCounted() async throws {
        let bus = VirtualBus(VirtualBus.Configuration(receiveQueueCapacity: 2))
        let tx = await bus.attach(name: "tx"), rx = await bus.attach(name: "rx")
        for i in 0..<5 { try await tx.send(frame(UInt32(i))) }
        await bus.runUntilIdle()
        #expect(await rx.drain().count == 2)
        #expect(await rx.statistics().rxOverruns == 3)
    }

    @Test func cancelledReceiveKeepsNodeOpen() async throws {
        let bus = VirtualBus()
        let tx = await bus.attach(name: "tx"), rx = await bus.attach(name: "rx")
        #expect(try await rx.frames.next(timeout: .milliseconds(10)) == nil)
        try await tx.send(frame(7))
        #expect(try await rx.frames.next(timeout: .seconds(15))?.frame.id == 7)
    }

    /// The shape of the pack simulation: 1 controller + 32 modules on clocked
    /// nodes, 3 s of simulated time, run twice: identical traces, far faster
    /// than real time.
    @Test func packOf32ModulesIsDeterministicAndFast() async throws {
        func run() async throws -> (trace: [TimestampedFrame], stats: BusStatistics, wall: Duration) {
            let started = ContinuousClock.now
            // 1% of telemetry frames (message 0x300) are dropped; the "done" frames (0x301) never are.
            let faults = FaultPlan(drop: 0.01, applies: { $0.modbattId?.messageId == 0x300 })
            let bus = VirtualBus(VirtualBus.Configuration(bitrate: 500_000, faults: faults, seed: 3))
            let controller = await bus.attach(name: "pack", clocked: true)
            var modules: [VirtualBus.Node] = []
            for i in 0..<32 { modules.append(await bus.attach(name: "module-\(i)", clocked: true)) }
            let rounds = 30
            let pack = Task {
                var trace: [TimestampedFrame] = []
                var done = 0
                for try await f in controller.frames {
                    trace.append(f)
                    // Acknowledge each chunk on id + 0xA0 (message id field), as the key transfer does.
                    if let id = f.frame.modbattId {
                        var ack = id
                        ack.messageId += 0xA0
                        try await controller.send(CANFrame(modbattId: ack, data: [1, id.chunkIndex, 0, 0]))
                    }
                    if f.frame.modbattId?.messageId == 0x301 { done += 1 }
                    if done == 32 { break }
                }
                await controller.close()
                return trace
            }
            for (i, module) in modules.enumerated() {
                Task {
                    for round in 0..<rounds {
                        for chunk in 1...2 {
                            let id = CANId(messageId: 0x300, chunkIndex: UInt8(chunk), chunkTotal: 2, deviceId: UInt8(i))
                            try await module.send(CANFrame(modbattId: id, data: [UInt8(round), UInt8(i), 0, 0, 0, 0, 0, 0]))
                        }
                        try await module.sleep(for: .milliseconds(100))
                    }
                    try await module.send(CANFrame(modbattId: CANId(messageId: 0x301, deviceId: UInt8(i)), data: []))
                    await module.close()
                }
            }
            let trace = try await pack.value
            return (trace, await bus.statistics(), ContinuousClock.now - started)
        }
        let a = try await run()
        let b = try await run()
        #expect(a.trace == b.trace)
        #expect(a.stats == b.stats)
        #expect(a.trace.count > 1800)        // 32 x 2 x 30 telemetry frames minus ~1% dropped
        #expect(a.stats.dropped > 0)
        #expect(a.stats.load > 0.3 && a.stats.load < 0.6)
        // 3 s of bus time take about 0.4 s of CPU in a debug build: this bound
        // only catches a hang (virtual time that stopped advancing).
        #expect(a.wall < .seconds(120))
    }
}
