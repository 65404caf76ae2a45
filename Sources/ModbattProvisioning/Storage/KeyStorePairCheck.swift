import Foundation
import Modbatt

/// Do both ends of every pair still handshake? Each pair found in the
/// stores runs the real session handshake (C `mb_session`, from the stored
/// pair secrets) between its two ends in memory, then one message each way.
extension KeyStoreSet {
    public struct PairCheck: Sendable, Equatable, Codable {
        /// `0xCC>0xDD` (controller > device).
        public var pair: String
        /// Store names of the controller end and the device end (nil: not in the set).
        public var controller: String?
        public var device: String?
        /// Key ids each end holds for the pair (nil: that end holds none).
        public var controllerKeyId: String?
        public var deviceKeyId: String?
        /// "established", "refused" or "unchecked" (an end's store is not in the set).
        public var result: String
        /// Why it was refused or not checked.
        public var reason: String?

        public var established: Bool { result == "established" }
    }

    /// One check per pair any store names, in device-id order.
    public func checkPairs() -> [PairCheck] {
        var names = Set<PairName>()
        for s in stores { for i in 0..<s.pairCount { names.insert(s.pairName(i)) } }
        return names.sorted().map(check)
    }

    private func check(_ pair: PairName) -> PairCheck {
        let ctl = end(of: pair, at: pair.controllerId)
        let dev = end(of: pair, at: pair.deviceId)
        var out = PairCheck(pair: pair.description, controller: ctl.store?.name, device: dev.store?.name,
                            controllerKeyId: ctl.index.map { CCore.hex(ctl.store!.record.pairs[$0].keyId) },
                            deviceKeyId: dev.index.map { CCore.hex(dev.store!.record.pairs[$0].keyId) },
                            result: "refused", reason: nil)
        switch (ctl.store, ctl.index, dev.store, dev.index) {
        case (nil, _, _, _), (_, _, nil, _):
            out.result = "unchecked"
            out.reason = "the other end's key store is not here"
        case (let c?, nil, _, _):
            out.reason = "\(c.name) holds no pair with device \(String(format: "0x%02x", pair.deviceId)) (revoked?): it refuses that device's frames"
        case (_, _, let d?, nil):
            out.reason = "\(d.name) holds no pair with controller \(String(format: "0x%02x", pair.controllerId)) (revoked?): it refuses that controller's frames"
        case (let c?, let ci?, let d?, let di?):
            if let why = handshake(pair, controller: (c, ci), device: (d, di)) {
                out.reason = why
            } else {
                out.result = "established"
            }
        }
        return out
    }

    /// The store of device `id` and its entry for `pair`, if any.
    private func end(of pair: PairName, at id: UInt8) -> (store: Store?, index: Int?) {
        guard let s = store(deviceId: id) else { return (nil, nil) }
        return (s, (0..<s.pairCount).first { s.pairName($0) == pair })
    }

    /// Handshake and one message each way; nil when all of it worked, else why not.
    private func handshake(_ pair: PairName, controller: (Store, Int), device: (Store, Int)) -> String? {
        do {
            let ctl = try session(pair, controller, .controller)
            let dev = try session(pair, device, .device)
            try ctl.start(now: 1)
            _ = try exchange(ctl, dev, now: 2)
            guard ctl.established && dev.established else { return "the handshake did not complete" }
            try ctl.send(type: 0x4, payload: [1, 0], now: 3)
            try dev.send(type: 0x6, payload: [0, 0, 0, 0, 0, 0, 0, 0, 1, 0], now: 3)
            let delivered = try exchange(ctl, dev, now: 3)
            return delivered == 2 ? nil : "messages did not get through (\(delivered) of 2)"
        } catch {
            return "\(error)"
        }
    }

    /// Pass frames both ways until nobody has anything to send; messages delivered.
    private func exchange(_ ctl: PairSession, _ dev: PairSession, now: UInt32) throws(ModbattError) -> Int {
        var delivered = 0
        for _ in 0..<8 {
            let down = ctl.takeFrames(), up = dev.takeFrames()
            if down.isEmpty && up.isEmpty { break }
            for f in down where dev.accepts(f) { if try dev.receive(f, now: now) != nil { delivered += 1 } }
            for f in up where ctl.accepts(f) { if try ctl.receive(f, now: now) != nil { delivered += 1 } }
        }
        return delivered
    }

    /// A session of one end, from its stored pair secret.
    private func session(_ pair: PairName, _ end: (Store, Int), _ role: SecureSession.Role) throws(ModbattError) -> PairSession {
        let (store, i) = end
        let params = store.record.params
        let keyId = store.record.pairs[i].keyId
        let ephemeral = store.record.pairs[i].ephemeral
        let made: Result<PairSession, ModbattError> = store.record.withPair(i) { _, secret in
            Result { () throws(ModbattError) in
                try PairSession(role: role, profile: params.profile, deviceId: pair.deviceId, secret: secret,
                                keyId: keyId, params: params, ephemeral: ephemeral)
            }
        }
        return try made.get()
    }
}
