import Modbatt

/// How many classic frames, of which lengths, one sealed message takes: read
/// off real `SecureSession` seals (IV 12 + ciphertext + tag 16, segmented by
/// the C core), never from a formula. Every sealed message is also opened by
/// the peer session, so a count comes only from a message that verifies.
public struct TrafficFraming: Sendable {
    /// Data bytes of each frame of one sealed message, by (payload length, command, sender).
    public private(set) var chunkLengths: [Key: [Int]] = [:]

    public struct Key: Sendable, Hashable {
        public var payload: Int
        public var command: Bool
        public var sender: TrafficMessage.Sender
    }

    /// Seal one message of every (DLC, command, sender) the catalogue uses.
    public init(for catalogue: [TrafficMessage]) throws(ModbattError) {
        var keys: [Key] = []
        for m in catalogue where m.addressing != .unregistered {
            let k = Key(payload: m.dlc, command: m.command, sender: m.sender)
            if !keys.contains(k) { keys.append(k) }
        }
        guard !keys.isEmpty else { return }
        var ctl = try Self.session(.controller)
        var dev = try Self.session(.device)
        var hello: [CANFrame] = [], reply: [CANFrame] = [], finish: [CANFrame] = [], none: [CANFrame] = []
        try ctl.start(now: 0, output: &hello)
        for f in hello { _ = try dev.receive(f, now: 1, output: &reply) }
        for f in reply { _ = try ctl.receive(f, now: 2, output: &finish) }
        for f in finish { _ = try dev.receive(f, now: 3, output: &none) }
        var now: UInt32 = 10
        for k in keys {
            let payload = (0..<k.payload).map { UInt8(truncatingIfNeeded: $0 &+ 0x5A) }
            let type: SecureSession.MessageType = k.command ? .command
                : (k.sender == .device ? .status : .diagnostics)
            var frames: [CANFrame] = [], answers: [CANFrame] = []
            var delivered: SecureSession.Message?
            if k.sender == .controller {
                try ctl.send(type, payload: payload, now: now, output: &frames)
                for f in frames { if let m = try dev.receive(f, now: now, output: &answers) { delivered = m } }
            } else {
                try dev.send(type, payload: payload, now: now, output: &frames)
                for f in frames { if let m = try ctl.receive(f, now: now, output: &answers) { delivered = m } }
            }
            guard delivered?.payload == payload else { throw .authenticationFailed }
            chunkLengths[k] = frames.map(\.count)
            now += 10
        }
    }

    /// The frames' data lengths for `message` (nil for one that stays clear).
    public func chunks(of message: TrafficMessage) -> [Int]? {
        guard message.addressing != .unregistered else { return nil }
        return chunkLengths[Key(payload: message.dlc, command: message.command, sender: message.sender)]
    }

    private static func session(_ role: SecureSession.Role) throws(ModbattError) -> SecureSession {
        // Fixed key material and nonces: only lengths are read off these seals.
        let halves = ((0..<64).map { UInt8($0) }, (0..<64).map { UInt8(200 - $0) })
        let salt = (0..<32).map { UInt8($0 * 3) }
        let (ctlId, devId) = ("traffic_model_controller", "traffic_model_device")
        let keys = try PairKeys(halves: KeyHalf(bytes: halves.0), KeyHalf(bytes: halves.1), salt: Salt(bytes: salt),
                                selfId: role == .device ? devId : ctlId, peerId: role == .device ? ctlId : devId,
                                lctId: "lct_traffic_model")
        let nonce: [UInt8] = role == .device ? Array(repeating: 0xD1, count: 32) : Array(repeating: 0xC1, count: 32)
        let config = SecureSession.Configuration(role: role, profile: .classic, deviceId: 0x05)
        return try SecureSession(configuration: config, pairKeys: keys, random: { n in Array(nonce.prefix(n)) + Array(repeating: 0, count: max(0, n - nonce.count)) })
    }
}
