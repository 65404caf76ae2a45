import Foundation
import Testing
@testable import Modbatt

/// Tests/Vectors/protocol-v2.json, as written by the C generator.
struct SessionProtocolVectors: Decodable {
    struct Pair: Decodable {
        let half_1, half_2, salt: String
        let controller_component_id, device_component_id, lct_id, key_id: String
    }
    struct Frame: Decodable {
        let sender, id, data: String
    }
    struct Message: Decodable {
        let sender: String
        let type: UInt8
        let epoch: UInt32
        let counter: UInt64
        let at_ms: UInt32
        let plaintext: String
        let frames: [Frame]
    }
    struct Session: Decodable {
        let name, profile: String
        let device_id: UInt8
        let controller_nonce, device_nonce: String
        let hello_counter: UInt64
        let handshake: [Frame]
        let messages: [Message]
    }
    let version: Int
    let pair: Pair
    let sessions: [Session]

    static func load() throws -> SessionProtocolVectors {
        let url = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("Vectors/protocol-v2.json")
        return try JSONDecoder().decode(SessionProtocolVectors.self, from: Data(contentsOf: url))
    }
}

/// Collects audit events from the session's callback.
final class SessionEventLog: @unchecked Sendable {
    private let lock = NSLock()
    private var stored: [SecureSession.Event] = []
    func append(_ e: SecureSession.Event) { lock.lock(); stored.append(e); lock.unlock() }
    var events: [SecureSession.Event] { lock.lock(); defer { lock.unlock() }; return stored }
}

@Suite("SecureSession over the C core's mb_session")
struct SecureSessionTests {
    static func hex(_ s: String) -> [UInt8] {
        var out = [UInt8](); var it = s.makeIterator()
        while let h = it.next(), let l = it.next() { out.append(UInt8(String([h, l]), radix: 16)!) }
        return out
    }

    static let controllerId = "comp_1751725111", deviceId = "comp_1751725222", lctId = "lct_comp_1751725111"

    static func pairKeys(device: Bool, halves: ([UInt8], [UInt8]), salt: [UInt8]) throws -> PairKeys {
        try PairKeys(halves: KeyHalf(bytes: halves.0), KeyHalf(bytes: halves.1), salt: Salt(bytes: salt),
                     selfId: device ? deviceId : controllerId, peerId: device ? controllerId : deviceId,
                     lctId: lctId)
    }

    static let testHalves: ([UInt8], [UInt8]) = ((0..<64).map { UInt8($0) }, (0..<64).map { UInt8(200 - $0) })
    static let testSalt: [UInt8] = (0..<32).map { UInt8($0 * 3) }

    static func session(_ role: SecureSession.Role, _ profile: SecureSession.Profile,
                        halves: ([UInt8], [UInt8]) = testHalves,
                        nonce: [UInt8]? = nil, log: SessionEventLog? = nil,
                        tweak: (inout SecureSession.Configuration) -> Void = { _ in }) throws -> SecureSession {
        var config = SecureSession.Configuration(role: role, profile: profile, deviceId: 0x05)
        tweak(&config)
        let keys = try pairKeys(device: role == .device, halves: halves, salt: testSalt)
        var random = SecureSession.systemRandom
        if let fixed = nonce {
            random = { _ in fixed }
        }
        var handler: (@Sendable (SecureSession.Event) -> Void)? = nil
        if let log {
            handler = { log.append($0) }
        }
        return try SecureSession(configuration: config, pairKeys: keys, random: random, onEvent: handler)
    }

    /// Feed frames to `to`; collect delivered messages and `to`'s answers.
    static func deliver(_ frames: [CANFrame], to: inout SecureSession, now: UInt32,
                        answers: inout [CANFrame]) throws -> [SecureSession.Message] {
        var got: [SecureSession.Message] = []
        for f in frames {
            if let m = try to.receive(f, now: now, output: &answers) { got.append(m) }
        }
        return got
    }

    static func connect(_ ctl: inout SecureSession, _ dev: inout SecureSession) throws {
        var hello: [CANFrame] = [], reply: [CANFrame] = [], finish: [CANFrame] = [], none: [CANFrame] = []
        try ctl.start(now: 0, output: &hello)
        _ = try deliver(hello, to: &dev, now: 1, answers: &reply)
        _ = try deliver(reply, to: &ctl, now: 2, answers: &finish)
        _ = try deliver(finish, to: &dev, now: 3, answers: &none)
    }

    static func same(_ frames: [CANFrame], _ expected: [SessionProtocolVectors.Frame], fd: Bool) -> Bool {
        frames.count == expected.count && zip(frames, expected).allSatisfy { f, e in
            f.id == UInt32(e.id, radix: 16) && f.data == hex(e.data) && f.isExtended && f.isFD == fd
        }
    }

    @Test("protocol-v2.json: every handshake and message frame byte for byte")
    func protocolVectors() throws {
        let v = try SessionProtocolVectors.load()
        #expect(v.version == 2)
        #expect(v.sessions.count == 2)
        let halves = (Self.hex(v.pair.half_1), Self.hex(v.pair.half_2)), salt = Self.hex(v.pair.salt)
        for sv in v.sessions {
            let profile: SecureSession.Profile = sv.profile == "fd" ? .fd : .classic
            let fd = profile == .fd
            func make(_ role: SecureSession.Role, _ nonce: String) throws -> SecureSession {
                var config = SecureSession.Configuration(role: role, profile: profile, deviceId: sv.device_id)
                config.helloCounterBase = sv.hello_counter - 1
                let keys = try PairKeys(halves: KeyHalf(bytes: halves.0), KeyHalf(bytes: halves.1),
                                        salt: Salt(bytes: salt),
                                        selfId: role == .device ? v.pair.device_component_id : v.pair.controller_component_id,
                                        peerId: role == .device ? v.pair.controller_component_id : v.pair.device_component_id,
                                        lctId: v.pair.lct_id)
                let n = Self.hex(nonce)
                return try SecureSession(configuration: config, pairKeys: keys, random: { _ in n })
            }
            var ctl = try make(.controller, sv.controller_nonce)
            var dev = try make(.device, sv.device_nonce)
            let hs = sv.handshake
            let hello = hs.prefix { $0.sender == "controller" }
            let reply = hs.dropFirst(hello.count).prefix { $0.sender == "device" }
            let finish = hs.dropFirst(hello.count + reply.count)

            var out: [CANFrame] = [], answers: [CANFrame] = []
            try ctl.start(now: 1000, output: &out)
            #expect(Self.same(out, Array(hello), fd: fd), "HELLO of \(sv.name)")
            _ = try Self.deliver(out, to: &dev, now: 1001, answers: &answers)
            #expect(Self.same(answers, Array(reply), fd: fd), "REPLY of \(sv.name)")
            out.removeAll(keepingCapacity: true)
            _ = try Self.deliver(answers, to: &ctl, now: 1002, answers: &out)
            #expect(Self.same(out, Array(finish), fd: fd), "FINISH of \(sv.name)")
            answers.removeAll(keepingCapacity: true)
            _ = try Self.deliver(out, to: &dev, now: 1003, answers: &answers)
            let both = ctl.info.established && dev.info.established
            #expect(both)

            for m in sv.messages {
                out.removeAll(keepingCapacity: true)
                answers.removeAll(keepingCapacity: true)
                let pt = Self.hex(m.plaintext)
                var got: [SecureSession.Message]
                if m.sender == "controller" {
                    if m.type == 3 { try ctl.rekey(now: m.at_ms, output: &out) }
                    else { try ctl.send(.init(rawValue: m.type), payload: pt, now: m.at_ms, output: &out) }
                    got = try Self.deliver(out, to: &dev, now: m.at_ms, answers: &answers)
                } else {
                    try dev.send(.init(rawValue: m.type), payload: pt, now: m.at_ms, output: &out)
                    got = try Self.deliver(out, to: &ctl, now: m.at_ms, answers: &answers)
                }
                #expect(Self.same(out, m.frames, fd: fd), "\(sv.name): type \(m.type) epoch \(m.epoch) counter \(m.counter)")
                if m.type == 3 {
                    #expect(got.isEmpty)
                } else {
                    #expect(got == [SecureSession.Message(type: .init(rawValue: m.type), payload: pt, encrypted: true,
                                                          epoch: m.epoch, counter: m.counter)])
                }
            }
        }
    }

    @Test("round trip of every payload length", arguments: [SecureSession.Profile.classic, .fd])
    func roundTrip(profile: SecureSession.Profile) throws {
        var ctl = try Self.session(.controller, profile)
        var dev = try Self.session(.device, profile)
        try Self.connect(&ctl, &dev)
        var out: [CANFrame] = [], none: [CANFrame] = []
        // Data (an application type) up to the profile's limit; a command has
        // 4 bytes less, for its freshness value.
        for (type, command) in [(SecureSession.MessageType.application(0), false), (.command, true)] {
            let max = SecureSession.maxPayload(profile, command: command)
            #expect(max == SecureSession.maxPayload(profile) - (command ? 4 : 0))
            for len in 0...max {
                let pt = (0..<len).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ len) }
                out.removeAll(keepingCapacity: true)
                try ctl.send(type, payload: pt, now: 10, output: &out)
                let got = try Self.deliver(out, to: &dev, now: 11, answers: &none)
                #expect(got.count == 1 && got.first?.payload == pt && got.first?.type == type)
            }
            #expect(throws: ModbattError.invalidLength) {
                try ctl.send(type, payload: [UInt8](repeating: 0, count: max + 1), now: 12, output: &out)
            }
        }
        #expect(none.isEmpty)
    }

    /// Protocol v2 freshness: a command overtaken by a newer one, or delayed
    /// past the age bound, is refused as stale; data is not held to it.
    @Test func staleCommandsAreRefused() throws {
        var ctl = try Self.session(.controller, .classic)
        var dev = try Self.session(.device, .classic)
        try Self.connect(&ctl, &dev)          // anchored at 2 (controller) and 3 (device)
        var first: [CANFrame] = [], second: [CANFrame] = [], late: [CANFrame] = [], none: [CANFrame] = []
        try ctl.send(.command, payload: [3, 0], now: 10, output: &first)
        try ctl.send(.command, payload: [0, 0], now: 11, output: &second)
        #expect(try Self.deliver(second, to: &dev, now: 12, answers: &none).count == 1)
        #expect(throws: ModbattError.stale) { _ = try Self.deliver(first, to: &dev, now: 13, answers: &none) }
        try ctl.send(.limits, payload: [1, 2, 3, 4, 5, 6, 7, 8], now: 20, output: &late)
        #expect(throws: ModbattError.stale) { _ = try Self.deliver(late, to: &dev, now: 20 + 1001, answers: &none) }
        late.removeAll()
        try ctl.send(.application(0), payload: [9], now: 30, output: &late)
        #expect(try Self.deliver(late, to: &dev, now: 30 + 60_000, answers: &none).count == 1)
        #expect(none.isEmpty)
    }

    @Test func tamperedAndReplayedFramesAreRejected() throws {
        var ctl = try Self.session(.controller, .classic)
        var dev = try Self.session(.device, .classic)
        try Self.connect(&ctl, &dev)
        var out: [CANFrame] = [], none: [CANFrame] = []
        try ctl.send(.limits, payload: [1, 2, 3, 4, 5, 6, 7, 8], now: 5, output: &out)
        #expect(out.count == 5)
        let tampered = out.enumerated().map { i, f in i == 2 ? f.withPayload { $0[3] ^= 0x10 } : f }
        #expect(throws: ModbattError.authenticationFailed) {
            _ = try Self.deliver(tampered, to: &dev, now: 6, answers: &none)
        }
        #expect(try Self.deliver(out, to: &dev, now: 7, answers: &none).count == 1)
        #expect(throws: ModbattError.replay) { _ = try Self.deliver(out, to: &dev, now: 8, answers: &none) }
        let elsewhere = try CANFrame(id: (0x316 << 18) | 0x06, extended: true, data: [UInt8](repeating: 0, count: 8))
        let accepted = dev.accepts(elsewhere)
        #expect(!accepted)
        #expect(throws: ModbattError.canIdOutOfRange) { _ = try dev.receive(elsewhere, now: 9, output: &none) }
    }

    @Test func wrongPairKeyAndTimeout() throws {
        let log = SessionEventLog()
        var ctl = try Self.session(.controller, .classic, log: log)
        var dev = try Self.session(.device, .classic, halves: (Self.testHalves.0, Self.testHalves.0.map { $0 ^ 0xFF }))
        var hello: [CANFrame] = [], reply: [CANFrame] = []
        try ctl.start(now: 0, output: &hello)
        #expect(throws: ModbattError.handshakeFailed) { _ = try Self.deliver(hello, to: &dev, now: 1, answers: &reply) }
        #expect(reply.isEmpty)
        try ctl.poll(now: 250)
        #expect(throws: ModbattError.timeout) { try ctl.poll(now: 251) }
        let established = ctl.info.established
        #expect(!established)
        let kinds = log.events.map(\.kind)
        #expect(kinds == [.handshakeStarted, .handshakeFailed])
        #expect(log.events.last?.error == .timeout)
    }

    @Test func rotationKeepsMessagesFlowingAndReportsEvents() throws {
        let log = SessionEventLog()
        var ctl = try Self.session(.controller, .fd, log: log) { $0.rekeyAfterMessages = 3 }
        var dev = try Self.session(.device, .fd)
        try Self.connect(&ctl, &dev)
        var out: [CANFrame] = [], none: [CANFrame] = []
        var delivered = 0
        for i in 0..<60 {
            out.removeAll(keepingCapacity: true)
            try ctl.send(.command, payload: [UInt8(i), 0], now: UInt32(10 + i), output: &out)
            delivered += try Self.deliver(out, to: &dev, now: UInt32(10 + i), answers: &none).count
        }
        #expect(delivered == 60)
        let sendingEpoch = ctl.info.sendingEpoch, receivingEpoch = dev.info.receivingEpoch
        #expect(sendingEpoch == 19)
        #expect(receivingEpoch == 19)
        #expect(log.events.filter { $0.kind == .rekeySending }.count == 19)
        out.removeAll(keepingCapacity: true)
        try ctl.rekey(now: 100, output: &out)
        #expect(try Self.deliver(out, to: &dev, now: 100, answers: &none).isEmpty)
        let afterRekey = dev.info.receivingEpoch
        #expect(afterRekey == 20)
    }

    @Test func clearDiagnosticsFollowThePolicy() throws {
        var ctl = try Self.session(.controller, .classic)
        var dev = try Self.session(.device, .classic) { $0.allowClearDiagnostics = true }
        var out: [CANFrame] = [], none: [CANFrame] = []
        #expect(throws: ModbattError.policy) { try ctl.sendClearDiagnostics(payload: [1, 0], output: &out) }
        try dev.sendClearDiagnostics(payload: [1, 0], output: &out)
        #expect(throws: ModbattError.policy) { _ = try Self.deliver(out, to: &ctl, now: 1, answers: &none) }
        var ctl2 = try Self.session(.controller, .classic) { $0.allowClearDiagnostics = true }
        let got = try Self.deliver(out, to: &ctl2, now: 1, answers: &none)
        #expect(got == [SecureSession.Message(type: .diagnostics, payload: [1, 0], encrypted: false, epoch: 0, counter: 0)])
    }

    @Test func sessionIsSendable() async throws {
        func requireSendable<T: Sendable & ~Copyable>(_: borrowing T) {}
        let s = try Self.session(.device, .classic)
        requireSendable(s)
        let established = try await Task.detached {
            var ctl = try Self.session(.controller, .classic)
            var dev = try Self.session(.device, .classic)
            try Self.connect(&ctl, &dev)
            return ctl.info.established && dev.info.established
        }.value
        #expect(established)
    }
}
