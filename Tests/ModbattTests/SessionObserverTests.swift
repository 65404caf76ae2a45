import Foundation
import Testing
@testable import Modbatt

@Suite("SessionObserver over the C core's mb_observer")
struct SessionObserverTests {
    typealias T = SecureSessionTests

    /// Every frame of protocol-v2.json, in order: the handshake, then each message.
    static func frames(_ s: SessionProtocolVectors.Session, fd: Bool) throws -> [(CANFrame, SessionProtocolVectors.Message?)] {
        func frame(_ f: SessionProtocolVectors.Frame) throws -> CANFrame {
            try CANFrame(id: UInt32(f.id, radix: 16)!, extended: true, fd: fd, data: T.hex(f.data))
        }
        var out = try s.handshake.map { (try frame($0), SessionProtocolVectors.Message?.none) }
        for m in s.messages {
            for (i, f) in m.frames.enumerated() { out.append((try frame(f), i == m.frames.count - 1 ? m : nil)) }
        }
        return out
    }

    @Test("protocol-v2.json: the observer follows the handshake and decrypts every message to the vector's plaintext")
    func vectors() throws {
        let v = try SessionProtocolVectors.load()
        let halves = (T.hex(v.pair.half_1), T.hex(v.pair.half_2)), salt = T.hex(v.pair.salt)
        for sv in v.sessions {
            let profile: SecureSession.Profile = sv.profile == "fd" ? .fd : .classic
            let keys = try PairKeys(halves: KeyHalf(bytes: halves.0), KeyHalf(bytes: halves.1), salt: Salt(bytes: salt),
                                    selfId: v.pair.controller_component_id, peerId: v.pair.device_component_id,
                                    lctId: v.pair.lct_id)
            var observer = try SessionObserver(profile: profile, deviceId: sv.device_id, pairKeys: keys)
            var steps: [SessionObserver.HandshakeStep] = [], decrypted = 0
            for (frame, message) in try Self.frames(sv, fd: profile == .fd) {
                let accepted = observer.accepts(frame)
                #expect(accepted)
                switch observer.observe(frame, now: 1000) {
                case .message(let m):
                    if let step = m.handshake { steps.append(step); continue }
                    let expected = try #require(message, "a message completed early in \(sv.name)")
                    #expect(m.plaintext == T.hex(expected.plaintext), "\(sv.name) type \(expected.type)")
                    #expect(m.type.rawValue == expected.type && m.epoch == expected.epoch && m.counter == expected.counter)
                    #expect(m.sender == (expected.sender == "controller" ? .controller : .device))
                    decrypted += 1
                case .chunk:
                    #expect(message == nil)
                case .refused(let why, _, _, _):
                    Issue.record("\(sv.name): refused \(why)")
                case .notThisPair:
                    Issue.record("\(sv.name): not this pair")
                }
            }
            #expect(steps == [.hello, .reply, .finish])
            #expect(decrypted == sv.messages.count)
            let observed = observer.sessionsObserved
            #expect(observed == 1)
        }
    }

    @Test("another pair's keys decrypt nothing; a replayed message is refused as a replay")
    func refusals() throws {
        var ctl = try T.session(.controller, .classic), dev = try T.session(.device, .classic)
        let otherHalves: ([UInt8], [UInt8]) = (T.testHalves.0, T.testHalves.1.map { $0 ^ 0x5A })
        var right = try SessionObserver(profile: .classic, deviceId: 0x05,
                                        pairKeys: try T.pairKeys(device: true, halves: T.testHalves, salt: T.testSalt))
        var wrong = try SessionObserver(profile: .classic, deviceId: 0x05,
                                        pairKeys: try T.pairKeys(device: false, halves: otherHalves, salt: T.testSalt))
        var hello: [CANFrame] = [], reply: [CANFrame] = [], finish: [CANFrame] = [], none: [CANFrame] = []
        try ctl.start(now: 0, output: &hello)
        _ = try T.deliver(hello, to: &dev, now: 1, answers: &reply)
        _ = try T.deliver(reply, to: &ctl, now: 2, answers: &finish)
        _ = try T.deliver(finish, to: &dev, now: 3, answers: &none)
        for f in hello + reply + finish {   // what a tap on the bus saw
            _ = right.observe(f, now: 3)
            _ = wrong.observe(f, now: 3)
        }
        var wire: [CANFrame] = []
        #expect(right.sessionsObserved == 1 && wrong.sessionsObserved == 0)
        try ctl.send(.command, payload: [2, 0], now: 2, output: &wire)
        var outcomes: [SessionObserver.Outcome] = [], wrongOutcomes: [SessionObserver.Outcome] = []
        for f in wire + wire {   // the message, then the same frames again
            outcomes.append(right.observe(f, now: 2))
            wrongOutcomes.append(wrong.observe(f, now: 2))
        }
        let messages = outcomes.compactMap { if case .message(let m) = $0 { m } else { nil } }
        #expect(messages.map(\.plaintext) == [[2, 0]])
        #expect(outcomes.last == .refused(.replay, sender: .controller, type: .command, wholeMessage: true))
        #expect(!wrongOutcomes.contains { if case .message = $0 { true } else { false } })
        #expect(wrongOutcomes.last == .refused(.invalidState, sender: .controller, type: .command, wholeMessage: true))
    }

    /// A handshake and one command between two sessions, every frame as a tap saw it.
    static func recordedSession(ephemeral: Bool) throws -> (frames: [CANFrame], delivered: [[UInt8]], helloFrames: Int) {
        var ctl = try T.session(.controller, .classic) { $0.ephemeralKeyExchange = ephemeral }
        var dev = try T.session(.device, .classic) { $0.ephemeralKeyExchange = ephemeral }
        var hello: [CANFrame] = [], reply: [CANFrame] = [], finish: [CANFrame] = [], none: [CANFrame] = []
        try ctl.start(now: 0, output: &hello)
        _ = try T.deliver(hello, to: &dev, now: 1, answers: &reply)
        _ = try T.deliver(reply, to: &ctl, now: 2, answers: &finish)
        _ = try T.deliver(finish, to: &dev, now: 3, answers: &none)
        var wire: [CANFrame] = []
        try ctl.send(.command, payload: [2, 0], now: 4, output: &wire)
        let got = try T.deliver(wire, to: &dev, now: 4, answers: &none)
        return (hello + reply + finish + wire, got.map(\.payload), hello.count)
    }

    @Test("ephemeral key exchange: the pair talks; a tap holding the pair secret follows the handshake and reads nothing",
          arguments: [false, true])
    func ephemeralSessionsAreUnreadable(ephemeral: Bool) throws {
        let (frames, delivered, helloFrames) = try Self.recordedSession(ephemeral: ephemeral)
        #expect(delivered == [[2, 0]])
        #expect(helloFrames == (ephemeral ? 14 : 6))          // 111-byte HELLO against 46 bytes
        var tap = try SessionObserver(profile: .classic, deviceId: 0x05,
                                      pairKeys: try T.pairKeys(device: true, halves: T.testHalves, salt: T.testSalt))
        let seen = frames.compactMap { f -> SessionObserver.Observation? in
            if case .message(let m) = tap.observe(f, now: 4) { m } else { nil }
        }
        #expect(seen.compactMap(\.handshake) == [.hello, .reply, ephemeral ? .ephemeralFinish : .finish])
        #expect(seen.filter(\.encrypted).compactMap(\.plaintext) == (ephemeral ? [] : [[2, 0]]))
    }

    @Test("ephemeral key exchange: ends configured differently never establish; the responder refuses by policy")
    func ephemeralMismatchIsRefused() throws {
        for controllerEphemeral in [false, true] {
            var ctl = try T.session(.controller, .classic) { $0.ephemeralKeyExchange = controllerEphemeral }
            var dev = try T.session(.device, .classic) { $0.ephemeralKeyExchange = !controllerEphemeral }
            var hello: [CANFrame] = [], reply: [CANFrame] = []
            try ctl.start(now: 0, output: &hello)
            #expect(throws: ModbattError.policy) { _ = try T.deliver(hello, to: &dev, now: 1, answers: &reply) }
            #expect(reply.isEmpty)
        }
    }
}
