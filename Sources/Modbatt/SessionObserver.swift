internal import CModbatt

/// A passive observer of one pair's sessions: it holds the pair's keys but
/// never sends. Fed every frame of the bus (live or from a log), it follows
/// the clear handshake to derive the session keys the two devices derive,
/// then reassembles, verifies and decrypts what both ends send — or says why
/// a message was refused, with the reason a receiving device would give.
/// A thin wrapper over the C core's `mb_observer` (`mb_observe.h`), which
/// opens messages with the session's own receive path.
///
/// ```swift
/// var observer = try SessionObserver(profile: .classic, deviceId: 0x10, pairKeys: keys)
/// for record in try Candump.parse(log) {
///     switch observer.observe(record.frame, now: ms(record.timestamp)) {
///     case .message(let m): print(m.sender, m.type, m.plaintext ?? [])
///     case .refused(let why, _, _, _): print("refused:", why)
///     case .chunk, .notThisPair: break
///     }
/// }
/// ```
///
/// Non-copyable: it owns the pair secret (wiped in `deinit`).
public struct SessionObserver: ~Copyable {
    /// A handshake message that checked out.
    public enum HandshakeStep: Sendable, Equatable {
        /// A HELLO under this pair's key id.
        case hello
        /// A REPLY whose MAC verified.
        case reply
        /// A FINISH whose MAC verified: new session keys from here on.
        case finish
        /// A FINISH whose MAC verified, of a handshake with an ephemeral
        /// exchange: its keys cannot be derived from the pair secret, so
        /// nothing after it can be read (forward secrecy, PROTOCOL.md 6.6).
        case ephemeralFinish
    }

    /// A whole message that checked out.
    public struct Observation: Sendable, Equatable {
        public var sender: SecureSession.Role
        public var type: SecureSession.MessageType
        /// The id's encryption flag (false: a handshake step or clear diagnostics).
        public var encrypted: Bool
        /// Set for a handshake message.
        public var handshake: HandshakeStep?
        /// The authentic plaintext of an encrypted message, or the bytes of
        /// clear diagnostics; nil for a handshake step.
        public var plaintext: [UInt8]?
        public var epoch: UInt32
        public var counter: UInt64
    }

    /// What one frame produced.
    public enum Outcome: Sendable, Equatable {
        /// Not this pair's frame (another device id, not a session message id).
        case notThisPair
        /// A chunk stored; the message is not complete yet.
        case chunk
        /// A whole message verified (and decrypted).
        case message(Observation)
        /// Refused: the reason, who sent it, its type, and whether a whole
        /// message was refused (false: the frame itself, during reassembly).
        case refused(ModbattError, sender: SecureSession.Role, type: SecureSession.MessageType, wholeMessage: Bool)
    }

    private let observer: UnsafeMutablePointer<mb_observer>
    private let aead: UnsafeMutablePointer<mb_aead>
    private let result: UnsafeMutablePointer<mb_observed>
    /// Partial messages dropped for age so far (a missing chunk).
    public private(set) var expiredMessages = 0

    private typealias Parts = (UnsafeMutablePointer<mb_observer>, UnsafeMutablePointer<mb_aead>,
                               UnsafeMutablePointer<mb_observed>)

    /// Observe the pair whose keys are `pairKeys` (either end's).
    public init(profile: SecureSession.Profile, deviceId: UInt8, pairKeys: borrowing PairKeys) throws(ModbattError) {
        var keys = SecureSession.cKeys(pairKeys)
        let ps = SecretBytes(zeroed: 32)   // wiped when it goes
        let code = ps.withUnsafeMutableBytes { mb_session_pair_secret(&keys, $0.bindMemory(to: UInt8.self).baseAddress) }
        mb_pair_keys_wipe(&keys)
        try ModbattError.check(code)
        let keyId = pairKeys.keyId
        let made = ps.withUnsafeBytes { Self.make(profile: profile, deviceId: deviceId, pairSecret: $0, keyId: keyId) }
        self.init(parts: try made.get())
    }

    /// Observe the pair from a stored pair secret (32 bytes, as a key store
    /// keeps it) and key id. Package-internal: key bytes never cross the
    /// package boundary.
    package init(profile: SecureSession.Profile, deviceId: UInt8, pairSecret: UnsafeRawBufferPointer,
                 keyId: [UInt8]) throws(ModbattError) {
        self.init(parts: try Self.make(profile: profile, deviceId: deviceId, pairSecret: pairSecret, keyId: keyId).get())
    }

    private init(parts: Parts) {
        observer = parts.0
        aead = parts.1
        result = parts.2
    }

    private static func make(profile: SecureSession.Profile, deviceId: UInt8, pairSecret: UnsafeRawBufferPointer,
                             keyId: [UInt8]) -> Result<Parts, ModbattError> {
        guard pairSecret.count == 32, keyId.count == 4 else { return .failure(.invalidLength) }
        let observer = UnsafeMutablePointer<mb_observer>.allocate(capacity: 1)
        let aead = UnsafeMutablePointer<mb_aead>.allocate(capacity: 1)
        let result = UnsafeMutablePointer<mb_observed>.allocate(capacity: 1)
        observer.initialize(to: mb_observer())
        result.initialize(to: mb_observed())
        mb_aead_init(aead)
        let code = keyId.withUnsafeBufferPointer { kid in
            mb_observer_init(observer, profile == .fd ? MB_PROFILE_FD : MB_PROFILE_CLASSIC, deviceId,
                             pairSecret.bindMemory(to: UInt8.self).baseAddress, kid.baseAddress, aead)
        }
        if let error = ModbattError(code: code) {
            release(observer, aead, result)
            return .failure(error)
        }
        return .success((observer, aead, result))
    }

    deinit {
        Self.release(observer, aead, result)
    }

    /// Handshakes completed (both MACs verified) so far.
    public var sessionsObserved: Int { Int(observer.pointee.sessions) }

    /// Does this observer take `frame`? (the pair's device id, a session message id).
    public func accepts(_ frame: CANFrame) -> Bool {
        frame.isExtended && mb_observer_accepts(observer, frame.id)
    }

    /// Observe one frame, in bus order; `now` in milliseconds (the log's clock).
    public mutating func observe(_ frame: CANFrame, now: UInt32) -> Outcome {
        guard frame.isExtended, frame.count <= Int(MB_FRAME_DATA_MAX) else { return .notThisPair }
        var raw = SecureSession.cFrame(frame)
        let code = mb_observer_rx(observer, &raw, now, result)
        let r = result.pointee
        expiredMessages += Int(r.expired)
        defer { withUnsafeMutableBytes(of: &result.pointee.data) { mb_wipe($0.baseAddress, $0.count) } }
        let sender: SecureSession.Role = r.sender == UInt8(MB_ROLE_CONTROLLER.rawValue) ? .controller : .device
        if let error = ModbattError(code: code) {
            if error == .canIdOutOfRange { return .notThisPair }
            let fromId = Self.senderAndType(frame.id)
            return .refused(error, sender: r.complete != 0 ? sender : fromId.sender,
                            type: SecureSession.MessageType(rawValue: r.complete != 0 ? r.type : fromId.type),
                            wholeMessage: r.complete != 0)
        }
        guard r.complete != 0 else { return .chunk }
        let step: HandshakeStep? = switch UInt32(r.handshake) {
        case MB_OBS_HS_HELLO: .hello
        case MB_OBS_HS_REPLY: .reply
        case MB_OBS_HS_FINISH: .finish
        case MB_OBS_HS_EPHEMERAL: .ephemeralFinish
        default: nil
        }
        let bytes: [UInt8]? = step == nil
            ? withUnsafeBytes(of: &result.pointee.data) { Array($0.prefix(Int(r.len))) } : nil
        return .message(Observation(sender: sender, type: SecureSession.MessageType(rawValue: r.type),
                                    encrypted: r.encrypted != 0, handshake: step, plaintext: bytes,
                                    epoch: r.epoch, counter: r.counter))
    }

    /// Sender and type from a session frame's CAN id, by the C core's parsers.
    private static func senderAndType(_ id: UInt32) -> (sender: SecureSession.Role, type: UInt8) {
        var fields = mb_canid()
        var role = MB_ROLE_CONTROLLER
        var type: UInt32 = 0
        _ = mb_canid_decode(id, &fields)            // accepted by mb_observer_rx: a valid session id
        _ = mb_msg_parse_id(fields.msg_id, &role, &type)
        return (role == MB_ROLE_CONTROLLER ? .controller : .device, UInt8(truncatingIfNeeded: type))
    }

    private static func release(_ observer: UnsafeMutablePointer<mb_observer>,
                                _ aead: UnsafeMutablePointer<mb_aead>,
                                _ result: UnsafeMutablePointer<mb_observed>) {
        mb_observer_free(observer)
        mb_aead_free(aead)
        withUnsafeMutableBytes(of: &result.pointee) { mb_wipe($0.baseAddress, $0.count) }
        observer.deallocate()
        aead.deallocate()
        result.deallocate()
    }
}

extension SessionObserver: @unchecked Sendable {}
