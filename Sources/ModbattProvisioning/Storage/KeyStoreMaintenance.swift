internal import CModbatt
import Foundation
import Modbatt

/// Rotation and revocation of pair secrets in stores at rest.
///
/// Rotation replaces each selected entry's pair secret PS and key id by
/// their successor (`mb_ks_pair_rotate`: one HKDF step, the same on both
/// ends), so two ends rotated once each agree again without talking to each
/// other or to the API-Bridge. Revocation deletes, from the peers' stores,
/// the entries of every pair a device is an end of: the secret is gone from
/// them, and a peer that no longer holds the pair refuses the device's frames
/// (no session for its id).
extension KeyStoreSet {
    /// What changed in one store.
    public struct Change: Sendable, Equatable, Codable {
        public var device: String
        /// The record generation after the write.
        public var generation: UInt32
        public var pairs: [PairChange]
    }

    public struct PairChange: Sendable, Equatable, Codable {
        /// The pair, `0xCC>0xDD` (controller > device).
        public var pair: String
        public var oldKeyId: String
        /// The key id after rotation; nil when the entry was revoked (deleted).
        public var newKeyId: String?
        /// Fingerprint of the new pair secret (never the secret).
        public var newFingerprint: String?
    }

    /// Rotate every pair (or those `device` is an end of). With
    /// `bothEnds`, every selected pair must have its other end in the set
    /// with the same key id, and both ends are rotated: they stay in step.
    /// Without it (one store on its own) the other end must be rotated
    /// the same way separately.
    public func rotate(device: UInt8? = nil, bothEnds: Bool = true) throws -> [Change] {
        let selected = selection { device == nil || $0.involves(device!) }
        if let device, selected.allSatisfy({ $0.indices.isEmpty }) { throw KeyStoreSetError.unknownDevice(device) }
        if bothEnds { try checkBothEnds(selected) }
        var changes: [Change] = []
        for (store, indices) in selected where !indices.isEmpty {
            var pairs: [PairChange] = []
            for i in indices {
                let name = store.pairName(i)
                let old = store.record.pairs[i].keyId
                do { try store.record.rotatePair(i) } catch {
                    throw KeyStoreSetError.writeFailed(store: store.name, reason: "\(error)")
                }
                let new = store.record.pairs[i]
                pairs.append(PairChange(pair: name.description, oldKeyId: CCore.hex(old), newKeyId: CCore.hex(new.keyId),
                                        newFingerprint: new.fingerprint))
            }
            changes.append(Change(device: store.name, generation: try write(store), pairs: pairs))
        }
        return changes
    }

    /// Revoke device `id`: its peers delete their entries of every pair it
    /// is an end of. The device's own store is left alone: a revoked device
    /// is assumed out of the operator's hands, and whatever it still holds
    /// is refused by its peers.
    public func revoke(device id: UInt8) throws -> [Change] {
        let selected = selection { $0.involves(id) }.map { s in (store: s.store, indices: s.store.deviceId == id ? [] : s.indices) }
        guard !selected.allSatisfy({ $0.indices.isEmpty }) else { throw KeyStoreSetError.unknownDevice(id) }
        var changes: [Change] = []
        for (store, indices) in selected where !indices.isEmpty {
            let pairs = indices.map { i in
                PairChange(pair: store.pairName(i).description, oldKeyId: CCore.hex(store.record.pairs[i].keyId),
                           newKeyId: nil, newFingerprint: nil)
            }
            store.record.removePairs(Set(indices))
            changes.append(Change(device: store.name, generation: try write(store), pairs: pairs))
        }
        return changes
    }

    /// Per store, the indices of the entries whose pair passes `keep`.
    private func selection(_ keep: (PairName) -> Bool) -> [(store: Store, indices: [Int])] {
        stores.map { s in (s, (0..<s.pairCount).filter { keep(s.pairName($0)) }) }
    }

    private func checkBothEnds(_ selected: [(store: Store, indices: [Int])]) throws {
        var ends: [PairName: [(store: String, keyId: String)]] = [:]
        for (store, indices) in selected {
            for i in indices {
                ends[store.pairName(i), default: []].append((store.name, CCore.hex(store.record.pairs[i].keyId)))
            }
        }
        for (pair, held) in ends.sorted(by: { $0.key < $1.key }) {
            if held.count < 2 { throw KeyStoreSetError.otherEndMissing(pair: pair.description, store: held[0].store) }
            let ids = Set(held.map(\.keyId))
            if ids.count > 1 { throw KeyStoreSetError.endsDisagree(pair: pair.description, keyIds: ids.sorted()) }
        }
    }

    /// One power-cut-safe write of the store's record; the new generation.
    private func write(_ store: Store) throws -> UInt32 {
        do {
            try store.driver.write(store.record)
        } catch {
            throw KeyStoreSetError.writeFailed(store: store.name, reason: "\(error)")
        }
        return store.record.generation
    }
}

extension KeyRecord {
    /// Advance entry `i` to the next generation of its pair secret (C core).
    func rotatePair(_ i: Int) throws(ModbattError) {
        let code = withEntries { mb_ks_pair_rotate($0.baseAddress! + i) }
        try CCore.check(code)
    }

    /// Delete the entries at `indices`, keeping the others in order; the
    /// freed entries are wiped.
    func removePairs(_ indices: Set<Int>) {
        let count = Int(raw.pointee.pair_count)
        withEntries { entries in
            var kept = 0
            for i in 0..<count where !indices.contains(i) {
                if kept != i { entries[kept] = entries[i] }
                kept += 1
            }
            for i in kept..<count { mb_wipe(entries.baseAddress! + i, MemoryLayout<mb_ks_pair>.size) }
            raw.pointee.pair_count = UInt8(kept)
        }
    }

    /// The entry array in place.
    private func withEntries<R>(_ body: (UnsafeMutableBufferPointer<mb_ks_pair>) -> R) -> R {
        withUnsafeMutableBytes(of: &raw.pointee.pairs) { all in
            body(all.bindMemory(to: mb_ks_pair.self))
        }
    }
}
