import Foundation
import Testing
@testable import ModbattProvisioning

/// One vocabulary for the message figures (issue #16): per direction a
/// message is sent once by its sender and delivered once by its receiver,
/// so nothing is delivered that was not sent, and the totals are sums.
@Suite("Message figures")
struct MessageCountsTests {
    @Test("totals are the directions added up; merging adds each end's half")
    func totalsAndMerge() {
        var sender = MessageCounts(), receiver = MessageCounts()
        sender.recordSent(.appToPack, count: 3)
        sender.recordSent(.packToModule, count: 5)
        receiver.recordDelivered(.appToPack, count: 3)
        receiver.recordDelivered(.packToModule, count: 4)
        let both = sender + receiver
        #expect(both[.appToPack] == .init(sent: 3, delivered: 3))
        #expect(both[.packToModule] == .init(sent: 5, delivered: 4))
        #expect(both.sent == 8 && both.delivered == 7)
        #expect(both.inconsistent.isEmpty)
        #expect(receiver.inconsistent == [.appToPack, .packToModule])   // one end's count alone is no figure
    }

    @Test("the sender's span bounds what it sent from the positions seen, per epoch")
    func senderSpan() {
        var span = SenderSpan()
        #expect(span.sent == 0)
        for c: UInt64 in [4, 5, 7] { span.saw(epoch: 1, counter: c) }   // 6 lost in between
        span.saw(epoch: 2, counter: 0)
        #expect(span.sent == 4 + 1)
    }

    @Test("the app's view over a transport: acknowledgements and counters, never more delivered than sent")
    func appView() {
        var c = NodeCounters()
        c.messages.recordSent(.appToPack, count: 10)
        c.commandsAcknowledged = 9
        c.messages.recordDelivered(.packToApp, count: 12)   // the pack's telemetry, pair status and acknowledgements
        for n: UInt64 in 0..<13 where n != 6 { c.peerSpan.saw(epoch: 0, counter: n) }
        let m = TransportProvisioning.appView(c)
        #expect(m[.appToPack] == .init(sent: 10, delivered: 9))
        #expect(m[.packToApp] == .init(sent: 13, delivered: 12))
        #expect(m.inconsistent.isEmpty)
    }

    /// The demo's flow (`PackSimulation`): every node counts its own half, the
    /// run adds them up. A key rotation commanded by the app lands in the
    /// window: its command is a message like any other, counted at both ends.
    @Test("demo flow: every direction carries traffic, delivered <= sent, totals are the sums")
    func demoFlow() async throws {
        try await withSimulation(makeConfig(modules: 3, "figures")) { sim in
            let report = try await sim.provision()
            #expect(report.allEstablished, "\(report.summary)")
            await sim.world.app.commandRekey()   // sent on the app's first step of the traffic window
            let t = try await sim.runTraffic(seconds: 1)
            for d in MessageCounts.Direction.allCases {
                #expect(t.messages[d].sent > 0, "\(d)")
                #expect(t.messages[d].delivered > 0, "\(d)")
            }
            #expect(t.messages.inconsistent.isEmpty, "\(t.messages)")
            #expect(t.messagesSent == MessageCounts.Direction.allCases.reduce(0) { $0 + t.messages[$1].sent })
            #expect(t.messagesDelivered == MessageCounts.Direction.allCases.reduce(0) { $0 + t.messages[$1].delivered })
            #expect(t.rotations > 0)
            // The pack acknowledges the app's commands, the rotation's included.
            #expect(await sim.world.app.counters.commandsAcknowledged == t.messages[.appToPack].sent)
        }
    }
}
