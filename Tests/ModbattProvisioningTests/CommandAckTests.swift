import Foundation
import Testing
@testable import ModbattProvisioning

/// Acknowledged commands (docs/PROVISIONING_FLOW.md, "Commands"): the pack
/// learns when a command was not applied (issue #14: a suppressed command
/// is noticed by its sender).
@Suite("Command acknowledgements")
struct CommandAckTests {
    @Test("the payload carries the opcode and the command's position; other lengths are refused")
    func encoding() {
        let p = CommandAck.Position(epoch: 0x0102_0304, counter: 0x1122_3344_5566_7788)
        let bytes = CommandAck.encode(op: AppMessage.cmdSetState, p)
        #expect(bytes == [0x02, 1, 2, 3, 4, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88])
        #expect(CommandAck.decode(bytes) == p)
        #expect(CommandAck.decode(Array(bytes.dropLast())) == nil)
        #expect(CommandAck.decode(bytes + [0]) == nil)
    }

    @Test("a command is overdue at the deadline, not before; an acknowledged one never")
    func deadlines() {
        var pending = CommandAck.Pending()
        let a = CommandAck.Position(epoch: 0, counter: 1), b = CommandAck.Position(epoch: 0, counter: 2)
        pending.sent(a, now: 1000)
        pending.sent(b, now: 1010)
        #expect(pending.nextDeadline == 1000 + CommandAck.deadlineMs)
        let first = pending.acknowledged(a), again = pending.acknowledged(a)
        let other = pending.acknowledged(.init(epoch: 1, counter: 2))
        #expect(first && !again && !other)                      // once only, exact position
        let early = pending.overdue(now: 1010 + CommandAck.deadlineMs - 1)
        let due = pending.overdue(now: 1010 + CommandAck.deadlineMs)
        let later = pending.overdue(now: 5000)
        #expect(early.isEmpty && due == [b] && later.isEmpty)
        #expect(pending.nextDeadline == nil)
    }

    @Test("every command a module gets is acknowledged; commands an attacker suppresses are reported")
    func suppressedCommandsAreReported() async throws {
        var config = makeConfig(modules: 2, "cmdack")
        config.faults.suppressedCommandsTo = [2]
        try await withSimulation(config) { sim in
            #expect(try await sim.provision().allEstablished)
            _ = try await sim.runTraffic(seconds: 1.2)
            let counters = await sim.world.pack.counters
            #expect(counters.commandsAcknowledged > 0)                   // module 1's
            #expect(counters.commandsUnacknowledged > 0)                 // module 2's
            let lines = try auditLines(sim).filter { $0.contains("\"event\":\"command_unacknowledged\"") }
            #expect(!lines.isEmpty)
            #expect(lines.allSatisfy { $0.contains("pack-module-02") }, "\(lines)")
        }
    }

    @Test("suppressed commands and delivery faults are one clear configuration error")
    func conflictingFaults() async throws {
        var config = makeConfig(modules: 1, "cmdack-conflict")
        config.faults.suppressedCommandsTo = [1]
        config.faults.deliveryDropRate = 0.1
        await #expect(throws: SimulationError.self) { _ = try await PackSimulation(config) }
    }
}
