import Foundation
import Modbatt

/// Passive observers built from stored pair secrets, for decoding recorded
/// traffic (`modbatt decode --keys`). One per pair (by the pair's device id,
/// the id its frames carry); the pair secret goes straight from the booted
/// record into the C observer and is never copied out.
public final class PairObserver: @unchecked Sendable {
    /// The pair's device id (CAN id bits 7...0).
    public let deviceId: UInt8
    /// The pair's key id, hex.
    public let keyId: String
    /// Stores that hold this pair (one or both ends).
    public private(set) var stores: [String]
    private var observer: SessionObserver

    init(deviceId: UInt8, keyId: String, store: String, observer: consuming SessionObserver) {
        self.deviceId = deviceId
        self.keyId = keyId
        stores = [store]
        self.observer = observer
    }

    /// Feed one frame (in log order; `now` in ms of the log's clock).
    public func observe(_ frame: CANFrame, now: UInt32) -> SessionObserver.Outcome {
        observer.observe(frame, now: now)
    }

    public func accepts(_ frame: CANFrame) -> Bool { observer.accepts(frame) }

    /// Handshakes seen complete (both MACs verified).
    public var sessionsObserved: Int { observer.sessionsObserved }

    /// Partial messages dropped for age (a missing chunk).
    public var expiredMessages: Int { observer.expiredMessages }

    func addStore(_ name: String) { if !stores.contains(name) { stores.append(name) } }
}

extension KeyStoreSet {
    /// Observers for every pair in the stores, one per pair device id, and
    /// a note for each pair whose ends disagree (the first store's key is used).
    public func observers() throws -> (observers: [PairObserver], conflicts: [String]) {
        var byDevice: [UInt8: PairObserver] = [:]
        var conflicts: [String] = []
        for store in stores {
            let profile = store.record.params.profile
            for i in 0..<store.pairCount {
                let name = store.pairName(i)
                let keyId = store.record.pairs[i].keyId
                let hex = CCore.hex(keyId)
                if let existing = byDevice[name.deviceId] {
                    if existing.keyId == hex {
                        existing.addStore(store.name)
                    } else {
                        conflicts.append("pair \(name): \(store.name) holds key id \(hex), "
                                         + "\(existing.stores.joined(separator: ", ")) \(existing.keyId); using \(existing.keyId)")
                    }
                    continue
                }
                let made: Result<PairObserver, ModbattError> = store.record.withPair(i) { _, secret in
                    Result { () throws(ModbattError) in
                        PairObserver(deviceId: name.deviceId, keyId: hex, store: store.name,
                                     observer: try SessionObserver(profile: profile, deviceId: name.deviceId,
                                                                   pairSecret: secret, keyId: keyId))
                    }
                }
                byDevice[name.deviceId] = try made.get()
            }
        }
        return (byDevice.values.sorted { $0.deviceId < $1.deviceId }, conflicts)
    }
}
