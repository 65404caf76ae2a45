/// Device key-store files: read-only inspection for tools (`modbatt keys`).
///
/// ```swift
/// for url in try DeviceKeyStore.list(in: simulation.keyStoreDirectory) {
///     let info = DeviceKeyStore.inspect(path: url)
///     print(info.device, info.status, info.generation, info.pairs.map(\.keyId))
/// }
/// ```
///
/// A simulated device keeps its key store in `<name>.flash` (the raw
/// two-slot flash area of the C key store, `mb_keystore`), next to
/// `<name>.hwkey` (the stand-in for its hardware secret) and `<name>.otp`
/// (its monotonic counter). `inspect` boots the store through the C core
/// exactly as the device would (without raising the counter) and returns
/// only public facts: generation, package version, per-slot status, key
/// ids, peer ids and fingerprints. Key bytes are never returned.
import Foundation
import Modbatt

public enum DeviceKeyStore {
    /// What a key store holds, without secrets.
    public struct Inspection: Sendable, Equatable, Codable {
        /// The flash file.
        public var path: String
        /// Device name (file name without extension): `pack`, `module-07`, `app`.
        public var device: String
        /// "ok", or the reason boot refuses the store ("integrity check failed", ...).
        public var status: String
        /// The boot error as a `ModbattError` description, nil when it booted.
        public var bootError: String?
        /// Per slot: "ok" or why that slot was refused.
        public var slots: [String]
        /// Slot the device boots from (-1: none).
        public var selectedSlot: Int
        /// Record generation (write count) and the monotonic counter.
        public var generation: UInt32
        public var counter: UInt32
        /// Version of the key package the record came from (0: not provisioned yet).
        public var packageVersion: UInt32
        public var deviceId: UInt8
        /// "pack-controller", "battery-module" or "app".
        public var role: String
        /// The record came from a clear factory-bootstrap package.
        public var bootstrapped: Bool
        /// SHA-256(binding public key)[0..8), hex: the device's registered key.
        public var bindingKeyId: String?
        /// Key id of the pinned app key, hex.
        public var appKeyId: String?
        /// How the store's key is protected at rest (key file or passphrase).
        public var protection: String
        public var parameters: CryptoParameters?
        public var pairs: [Pair]

        public struct Pair: Sendable, Equatable, Codable {
            /// CAN device id of the peer.
            public var peerId: UInt8
            /// This device is the controller end of the pair.
            public var controller: Bool
            /// Its handshakes add an ephemeral key exchange (PROTOCOL.md 6.6).
            public var ephemeral: Bool
            /// The pair key id (4 bytes, hex), the same on both ends.
            public var keyId: String
            /// Non-secret fingerprint of the stored pair secret.
            public var fingerprint: String
        }
    }

    /// Every `*.flash` key store in `directory`, sorted by name.
    public static func list(in directory: URL) throws -> [URL] {
        try FileManager.default.contentsOfDirectory(at: directory, includingPropertiesForKeys: nil)
            .filter { $0.pathExtension == "flash" }
            .sorted { $0.lastPathComponent < $1.lastPathComponent }
    }

    /// Boot the key store at `path` read-only and describe it. Never throws
    /// for a damaged store: the reason is in `status`; throws only when the
    /// files cannot be read at all (missing hardware key).
    public static func inspect(path: URL) throws -> Inspection {
        let device = path.deletingPathExtension().lastPathComponent
        guard let source = FileFlash.existingKeySource(of: path) else {
            let locked = "locked: protected by a passphrase (set MODBATT_APP_PASSPHRASE to open it)"
            return Inspection(
                path: path.path, device: device, status: locked, bootError: nil, slots: [], selectedSlot: -1,
                generation: 0, counter: 0, packageVersion: 0, deviceId: 0, role: "unknown", bootstrapped: false,
                bindingKeyId: nil, appKeyId: nil, protection: FileFlash(flashURL: path, readOnly: true).protection,
                parameters: nil, pairs: [])
        }
        let flash = FileFlash(flashURL: path, readOnly: true, keySource: source)
        let uid = recordUID(flash) ?? [UInt8](repeating: 0, count: 16)
        let driver = try KeyStoreDriver(flash: flash, uid: uid, createHardwareKey: false)
        let (record, error, info) = driver.boot()
        func text(_ e: ModbattError?) -> String { e.map { "\($0)" } ?? "ok" }
        var out = Inspection(
            path: path.path, device: device, status: text(error), bootError: error.map { "\($0)" },
            slots: info.slotStatus.map(text), selectedSlot: info.selected, generation: 0, counter: info.counter,
            packageVersion: 0, deviceId: 0, role: "unknown", bootstrapped: false, bindingKeyId: nil,
            appKeyId: nil, protection: flash.protection, parameters: nil, pairs: [])
        guard let record else { return out }
        out.generation = record.generation
        out.packageVersion = record.packageVersion
        out.deviceId = record.deviceId
        out.role = roleName(record.role)
        out.bootstrapped = record.bootstrapped
        out.parameters = record.packageVersion > 0 ? record.params : nil
        out.bindingKeyId = record.withBindingKey { raw in
            (try? BindingKeyPair.restore(raw)).map { CCore.hex($0.keyId) }
        }
        out.appKeyId = record.appPub.map { CCore.hex(BindingKeyPair.keyId(of: $0)) }
        out.pairs = record.pairs.map {
            Inspection.Pair(peerId: $0.peerId, controller: $0.controller, ephemeral: $0.ephemeral,
                            keyId: CCore.hex($0.keyId), fingerprint: $0.fingerprint)
        }
        return out
    }

    static func roleName(_ role: UInt8) -> String {
        switch role {
        case 0: return "pack-controller"
        case 1: return "battery-module"
        case 2: return "app"
        default: return "role-\(role)"
        }
    }

    /// The uid bound into the record (public, in the record header at
    /// offset 12), from whichever slot carries the magic.
    static func recordUID(_ flash: FileFlash) -> [UInt8]? {
        guard let data = try? Data(contentsOf: flash.flashURL) else { return nil }
        let bytes = [UInt8](data)
        let slot = Int(DeviceKeyStore.slotSize)
        for base in [0, slot] where bytes.count >= base + 28 {
            if Array(bytes[base..<base + 4]) == [0x4D, 0x42, 0x4B, 0x53] {
                return Array(bytes[base + 12..<base + 28])
            }
        }
        return nil
    }

    /// Bytes of one slot with this build's settings (512-byte pages).
    static var slotSize: UInt32 { 1536 }
}

/// Failures of the key-store files.
public enum DeviceKeyStoreError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The hardware-secret file next to the flash file is missing or unreadable.
    case missingHardwareKey(String)
    /// The store is protected by a passphrase (its `.kdf` file) and none was given.
    case passphraseRequired(String)
    /// A passphrase was given for a store protected by a key file.
    case keyFileStore(String)
    /// The `.kdf` file does not parse.
    case badKDFFile(String)

    public var description: String {
        switch self {
        case .missingHardwareKey(let p): return "no hardware key at \(p): the store cannot be opened without it"
        case .passphraseRequired(let p): return "the key store is protected by a passphrase (\(p)): give it"
        case .keyFileStore(let p):
            return "the key store is protected by a key file (\(p)), not a passphrase; use the development key file option"
        case .badKDFFile(let p): return "\(p) is damaged (expected salt and iterations of PBKDF2-HMAC-SHA256)"
        }
    }
}
