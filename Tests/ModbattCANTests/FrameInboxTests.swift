import Testing
@testable import ModbattCAN

@Suite("Frame inbox")
struct FrameInboxTests {
    func stamped(_ id: UInt32) -> TimestampedFrame {
        TimestampedFrame(timestamp: .seconds(Int64(id)), frame: frame(id, [], extended: false))
    }

    struct Boom: Error, Equatable {}

    @Test func fifoAndOverrun() async throws {
        let inbox = FrameInbox(capacity: 2)
        #expect(inbox.push(stamped(1)))
        #expect(inbox.push(stamped(2)))
        #expect(!inbox.push(stamped(3)))
        #expect(inbox.overruns == 1)
        #expect(try await inbox.next()?.frame.id == 1)
        #expect(try await inbox.next()?.frame.id == 2)
    }

    @Test func waiterGetsPushedFrame() async throws {
        let inbox = FrameInbox()
        let waiter = Task { try await inbox.next() }
        try await Task.sleep(for: .milliseconds(20))
        inbox.push(stamped(9))
        #expect(try await waiter.value?.frame.id == 9)
    }

    @Test func finishDeliversBufferedThenThrowsOnce() async throws {
        let inbox = FrameInbox()
        inbox.push(stamped(1))
        inbox.finish(throwing: Boom())
        #expect(!inbox.push(stamped(2)))
        #expect(try await inbox.next()?.frame.id == 1)
        await #expect(throws: Boom()) { try await inbox.next() }
        #expect(try await inbox.next() == nil)
        inbox.finish() // again: no effect
    }

    @Test func finishWakesWaiterWithError() async throws {
        let inbox = FrameInbox()
        let waiter = Task { try await inbox.next() }
        try await Task.sleep(for: .milliseconds(20))
        inbox.finish(throwing: Boom())
        await #expect(throws: Boom()) { try await waiter.value }
        #expect(try await inbox.next() == nil)
    }

    @Test func cancelledWaitReturnsNilAndInboxStaysOpen() async throws {
        let inbox = FrameInbox()
        #expect(try await inbox.frames.next(timeout: .milliseconds(10)) == nil)
        let cancelled = Task { try await inbox.next() }
        cancelled.cancel()
        #expect(try await cancelled.value == nil)
        inbox.push(stamped(4))
        #expect(try await inbox.frames.next(timeout: .seconds(15))?.frame.id == 4)
    }
}
