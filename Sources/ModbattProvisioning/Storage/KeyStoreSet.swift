/// Key stores opened together for bench work on stores at rest: rotate the
/// pair secrets, revoke a device, check that both ends of every pair still
/// handshake, observe recorded traffic (`modbatt keys`, `modbatt decode --keys`).
///
/// ```swift
/// let set = try KeyStoreSet.open(URL(filePath: "run/keystores"), writable: true)
/// let changes = try set.rotate()             // every pair, both ends together
/// for check in set.checkPairs() { print(check.pair, check.result) }
/// ```
///
/// Each store is booted through the C key store exactly as its device would
/// boot it, and every change is written with `mb_keystore_write` (the other
/// slot, then read back: a power cut leaves the old or the new record, never
/// neither). Key bytes never leave this module: results carry key ids and
/// fingerprints only.
internal import CModbatt
import Foundation
import Modbatt

public final class KeyStoreSet: @unchecked Sendable {
    /// A pair as the protocol names it: its controller end and its device end
    /// (the device id is the one in the pair's CAN ids).
    public struct PairName: Hashable, Sendable, Comparable, CustomStringConvertible {
        public var controllerId: UInt8
        public var deviceId: UInt8

        public func involves(_ id: UInt8) -> Bool { controllerId == id || deviceId == id }

        public var description: String { String(format: "0x%02x>0x%02x", controllerId, deviceId) }

        public static func < (a: PairName, b: PairName) -> Bool {
            (a.deviceId, a.controllerId) < (b.deviceId, b.controllerId)
        }
    }

    /// One booted store.
    final class Store {
        let url: URL
        let name: String
        let driver: KeyStoreDriver
        let record: KeyRecord

        init(url: URL, driver: KeyStoreDriver, record: KeyRecord) {
            self.url = url
            name = url.deletingPathExtension().lastPathComponent
            self.driver = driver
            self.record = record
        }

        var deviceId: UInt8 { record.deviceId }
        var pairCount: Int { Int(record.raw.pointee.pair_count) }

        /// The pair of entry `i`: this device is its controller when the entry says so.
        func pairName(_ i: Int) -> PairName {
            let (peer, controller) = record.withPair(i) { p, _ in (p.peer_id, p.flags & 1 != 0) }
            return controller ? PairName(controllerId: deviceId, deviceId: peer)
                              : PairName(controllerId: peer, deviceId: deviceId)
        }
    }

    let stores: [Store]

    init(stores: [Store]) { self.stores = stores }

    /// Device names of the stores, in file-name order.
    public var deviceNames: [String] { stores.map(\.name) }

    /// The device id of the store named `name` (`pack`, `module-03`), if it is in the set.
    public func deviceId(named name: String) -> UInt8? { stores.first { $0.name == name }?.deviceId }

    /// The store of device `id`, if it is in the set.
    func store(deviceId id: UInt8) -> Store? { stores.first { $0.deviceId == id } }

    /// Open `path`: a `<device>.flash` store (its `.hwkey` next to it) or a
    /// folder of them. `writable`: the stores will be written (boot may then
    /// raise each device's monotonic counter, as the device's own boot does).
    /// Throws `KeyStoreSetError` for a missing path, a file that is not a key
    /// store, a folder without one, and a store that does not boot (with the
    /// C key store's reason).
    public static func open(_ path: URL, writable: Bool) throws -> KeyStoreSet {
        var isDir: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path.path, isDirectory: &isDir) else {
            throw KeyStoreSetError.noSuchPath(path.path)
        }
        let files = isDir.boolValue ? try DeviceKeyStore.list(in: path) : [path]
        guard !files.isEmpty else { throw KeyStoreSetError.noKeyStore(path.path) }
        return KeyStoreSet(stores: try files.map { try boot($0, writable: writable) })
    }

    static func boot(_ url: URL, writable: Bool) throws -> Store {
        guard let source = FileFlash.existingKeySource(of: url) else {
            throw DeviceKeyStoreError.passphraseRequired(url.deletingPathExtension().appendingPathExtension("kdf").path)
        }
        let flash = FileFlash(flashURL: url, readOnly: !writable, keySource: source)
        guard url.pathExtension == "flash",
              FileManager.default.fileExists(atPath: source == .keyFile ? flash.keyURL.path : flash.kdfURL.path) else {
            throw KeyStoreSetError.notAKeyStore(url.path)
        }
        let uid = DeviceKeyStore.recordUID(flash) ?? [UInt8](repeating: 0, count: 16)
        let driver = try KeyStoreDriver(flash: flash, uid: uid, createHardwareKey: false)
        let (record, error, _) = driver.boot()
        guard let record else {
            throw KeyStoreSetError.refused(store: url.deletingPathExtension().lastPathComponent,
                                           reason: error.map { "\($0)" } ?? "no record")
        }
        return Store(url: url, driver: driver, record: record)
    }
}

/// Why a key-store operation could not run. Descriptions are one line and
/// name files and device ids only.
public enum KeyStoreSetError: Error, Sendable, Equatable, CustomStringConvertible {
    case noSuchPath(String)
    case notAKeyStore(String)
    case noKeyStore(String)
    case refused(store: String, reason: String)
    /// No pair in the stores involves this device id.
    case unknownDevice(UInt8)
    /// A pair to rotate whose other end is not among the stores.
    case otherEndMissing(pair: String, store: String)
    /// The two ends of a pair hold different key ids already.
    case endsDisagree(pair: String, keyIds: [String])
    case writeFailed(store: String, reason: String)

    public var description: String {
        switch self {
        case .noSuchPath(let p): return "no such file or folder: \(p)"
        case .notAKeyStore(let p):
            return "not a key store: \(p) (expected a <device>.flash with its <device>.hwkey next to it, or a folder of them)"
        case .noKeyStore(let p): return "no key store (*.flash) in \(p)"
        case .refused(let s, let r): return "\(s): the key store does not boot: \(r)"
        case .unknownDevice(let id):
            return String(format: "no pair with device id 0x%02x in these key stores (other than its own store)", id)
        case .otherEndMissing(let pair, let store):
            return "pair \(pair) of \(store): its other end is not among these stores; rotate both ends together"
                + " (a folder holding both) or one store with --one-end"
        case .endsDisagree(let pair, let ids):
            return "pair \(pair): the two ends hold different key ids (\(ids.joined(separator: " / "))); "
                + "they no longer share a secret: re-provision the pair"
        case .writeFailed(let s, let r): return "\(s): writing the key store failed: \(r) (the previous record is still the valid one)"
        }
    }
}
