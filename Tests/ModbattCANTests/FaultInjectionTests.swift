import Testing
@testable import ModbattCAN

@Suite("Fault injection")
struct FaultInjectionTests {
    /// Send `count` frames from one node and collect what another node sees.
    func exchange(_ faults: FaultPlan, seed: UInt64 = 1, count: Int = 20,
                  frames make: (Int) -> CANFrame = { frame(0x100 + UInt32($0), [UInt8($0), 0xA5, 0, 0, 0, 0, 0, 0]) })
        async throws -> (received: [TimestampedFrame], stats: BusStatistics, trace: [VirtualBus.Transmission]) {
        let bus = VirtualBus(VirtualBus.Configuration(faults: faults, seed: seed, traceCapacity: 1000))
        let tx = await bus.attach(name: "tx"), rx = await bus.attach(name: "rx")
        await bus.pause()
        for i in 0..<count { try await tx.send(make(i)) }
        await bus.resume()
        await bus.advance(by: .seconds(1)) // let delayed deliveries land
        let received = await rx.drain()
        return (received, await bus.statistics(), await bus.transmissions())
    }

    @Test func splitMix64KnownValues() {
        // Reference values of SplitMix64 seeded with 0 (Vigna's splitmix64.c).
        var rng = SplitMix64(seed: 0)
        #expect(rng.next() == 0xE220_A839_7B1D_CDAF)
        #expect(rng.next() == 0x6E78_9E6A_A1B9_65F4)
        var r = SplitMix64(seed: 42)
        for _ in 0..<1000 {
            let u = r.unit()
            #expect(u >= 0 && u < 1)
            #expect(r.below(10) < 10)
            #expect((3...5).contains(r.pick(3...5)))
        }
    }

    @Test func dropAll() async throws {
        let r = try await exchange(FaultPlan(drop: 1))
        #expect(r.received.isEmpty)
        #expect(r.stats.dropped == 20)
        #expect(r.stats.frames == 20) // the bus time was still spent
        #expect(r.trace.allSatisfy { $0.faults == .dropped })
    }

    @Test func corruptFlipsExactBitCount() async throws {
        let r = try await exchange(FaultPlan(corrupt: 1, corruptBits: 3...3), count: 10)
        #expect(r.received.count == 10)
        #expect(r.stats.corrupted == 10)
        for (i, got) in r.received.enumerated() {
            let sent = frame(0x100 + UInt32(i), [UInt8(i), 0xA5, 0, 0, 0, 0, 0, 0])
            #expect(got.frame.id == sent.id)
            let flipped = zip(got.frame.data, sent.data).map { ($0 ^ $1).nonzeroBitCount }.reduce(0, +)
            #expect(flipped == 3)
        }
    }

    @Test func corruptSkipsEmptyPayload() async throws {
        let r = try await exchange(FaultPlan(corrupt: 1), count: 3, frames: { frame(UInt32($0), []) })
        #expect(r.received.count == 3)
        #expect(r.stats.corrupted == 0)
    }

    @Test func duplicateSendsTwiceAndCostsBusTime() async throws {
        let clean = try await exchange(.none, count: 5)
        let r = try await exchange(FaultPlan(duplicate: 1), count: 5)
        #expect(r.received.count == 10)
        #expect(r.stats.duplicated == 5)
        // Each copy directly follows its original, and takes bus time again.
        let ids = r.received.map(\.frame.id)
        #expect(ids == [0x100, 0x100, 0x101, 0x101, 0x102, 0x102, 0x103, 0x103, 0x104, 0x104])
        #expect(r.stats.busyTime == clean.stats.busyTime * 2)
        #expect(r.trace.filter { $0.faults.contains(.isDuplicateCopy) }.count == 5)
    }

    @Test func delayReorders() async throws {
        // Only the first frame is delayed, by exactly 1 ms: the next frames overtake it.
        let plan = FaultPlan(delay: 1, delayRange: .milliseconds(1) ... .milliseconds(1),
                             applies: { $0.id == 0x100 })
        let r = try await exchange(plan, count: 5)
        #expect(r.received.map(\.frame.id) == [0x101, 0x102, 0x103, 0x100, 0x104])
        #expect(r.stats.delayed == 1)
        // Delivered at end of frame + 1 ms, timestamped at delivery.
        try #require(r.received.count == 5)
        #expect(r.received[3].timestamp == .microseconds(320) + .milliseconds(1))
    }

    @Test func sameSeedSameFaultsOtherSeedDiffers() async throws {
        let plan = FaultPlan(drop: 0.1, corrupt: 0.1, corruptBits: 1...4, duplicate: 0.1, delay: 0.1)
        let a = try await exchange(plan, seed: 7, count: 200)
        let b = try await exchange(plan, seed: 7, count: 200)
        let c = try await exchange(plan, seed: 8, count: 200)
        #expect(a.received == b.received)
        #expect(a.trace == b.trace)
        #expect(a.received != c.received)
        #expect(a.stats.dropped > 0 && a.stats.corrupted > 0 && a.stats.duplicated > 0 && a.stats.delayed > 0)
    }

    @Test func attackerRecordsReplaysAndForges() async throws {
        let bus = VirtualBus()
        let app = await bus.attach(name: "app"), pack = await bus.attach(name: "pack")
        let mallory = await bus.attachAttacker()
        try await app.send(frame(0x10, [1]))
        try await app.send(frame(0x11, [2]))
        #expect(try await pack.frames.prefix(2, timeout: .seconds(15)).count == 2)
        let recorded = await mallory.recorded()
        #expect(recorded.map(\.frame.id) == [0x10, 0x11])

        // Replay: the pack sees the old frames again, indistinguishable.
        #expect(try await mallory.replay(where: { $0.id == 0x10 }) == 1)
        #expect(try await pack.frames.next(timeout: .seconds(15))?.frame == frame(0x10, [1]))

        // Forge: a frame with the app's id.
        try await mallory.forge(frame(0x11, [0xEE]))
        #expect(try await pack.frames.next(timeout: .seconds(15))?.frame == frame(0x11, [0xEE]))
        // The app hears the forgery too.
        let appSaw = try await app.frames.prefix(2, timeout: .seconds(15)).map(\.frame.id)
        #expect(appSaw == [0x10, 0x11])
        #expect(await bus.statistics().nodes.first { $0.name == "attacker" }?.txFrames == 2)
        await mallory.close()
    }
}
