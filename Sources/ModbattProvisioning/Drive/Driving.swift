import Foundation
import ModbattCAN

/// A node with a firmware main loop: take the received frames, run the C
/// state machines and timers, send what they produced.
protocol FirmwareNode: Actor {
    func step(now: UInt32) async -> StepResult
}

extension AppNode: FirmwareNode {}
extension PackControllerNode: FirmwareNode {}
extension BatteryModuleNode: FirmwareNode {}

/// The time base the nodes run on and how a driver waits when nobody has work.
protocol DriveClock: Sendable {
    /// Time since the clock's start.
    func elapsed() async -> Duration
    /// What an idle driver does for up to `ms`: the virtual bus jumps its
    /// clock; a wall-clock driver waits for a frame or the timeout.
    func idle(ms: UInt32) async
}

extension DriveClock {
    /// `elapsed()` in whole milliseconds, wrapping: the nodes' timer base.
    func nowMs() async -> UInt32 {
        let t = await elapsed()
        return UInt32(truncatingIfNeeded: t.components.seconds * 1000 + t.components.attoseconds / 1_000_000_000_000_000)
    }
}

/// The simulation's clock: the virtual bus's; idling advances it.
struct VirtualBusClock: DriveClock {
    let bus: VirtualBus
    func elapsed() async -> Duration { await bus.time }
    func idle(ms: UInt32) async { await bus.advance(by: .milliseconds(Int64(ms))) }
}

/// Wall-clock time for nodes on real transports; idling sleeps until a
/// port rings the doorbell (a frame arrived) or the timer is due.
struct WallClock: DriveClock {
    let start: ContinuousClock.Instant
    let doorbell: Doorbell

    init(doorbell: Doorbell) {
        start = .now
        self.doorbell = doorbell
    }

    func elapsed() async -> Duration { .now - start }
    func idle(ms: UInt32) async { await doorbell.wait(timeout: .milliseconds(Int64(ms))) }
}

/// Run `round` until `done` or `limit` of clock time passed; when no node
/// worked, idle until the earliest timer (at most `maxIdleMs`, so the C
/// timers get polled).
func driveRounds(clock: any DriveClock, limit: Duration, maxIdleMs: UInt32,
                 isolation: isolated (any Actor)? = #isolation,
                 round: () async -> (worked: Bool, nextDue: UInt32?),
                 done: () async throws -> Bool) async throws {
    let start = await clock.elapsed()
    while true {
        let (worked, due) = await round()
        if try await done() { return }
        if await clock.elapsed() - start >= limit { return }
        try Task.checkCancellation()
        if !worked {
            let now = await clock.nowMs()
            var wait = maxIdleMs
            if let due {
                let d = due &- now
                if d < 0x8000_0000 { wait = min(max(d, 1), maxIdleMs) }
            }
            await clock.idle(ms: wait)
        }
    }
}

/// One round over `nodes` in order, each stepped at the clock's current
/// time; whether any worked and the earliest timer due.
func stepAll(_ nodes: [any FirmwareNode], clock: any DriveClock) async -> (worked: Bool, nextDue: UInt32?) {
    var worked = false
    var due: [UInt32] = []
    for n in nodes {
        let r = await n.step(now: await clock.nowMs())
        worked = worked || r.worked
        if let d = r.nextDue { due.append(d) }
    }
    let now = await clock.nowMs()
    return (worked, due.min { ($0 &- now) < ($1 &- now) })
}
