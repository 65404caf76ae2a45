internal import CModbatt
import Foundation
import Modbatt

/// The simulated flash of one device, backed by files, behind the C key
/// store's platform hooks (`mb_ks_platform`):
///
/// - `<name>.flash`: the raw key-store area (two slots, NOR semantics:
///   erased bytes read 0xFF, programming only clears bits). Every erase and
///   program goes straight to the file at its offset, so a process killed
///   mid-write leaves a half-written slot on disk exactly as a power cut
///   leaves real flash; the C two-slot scheme then boots the older record.
///   A file shorter than the area reads as erased past its end.
/// - `<name>.hwkey`: 32 random bytes standing in for the device-unique
///   hardware secret (a read-protected region or a secure element), from
///   which the storage key comes. Without it the record cannot be opened.
/// - `<name>.otp`: the monotonic counter (OTP / secure-element counter)
///   that makes boot refuse rolled-back records.
///
/// `cutAfter` models a power cut: after that many more byte operations
/// (each erased or programmed byte counts one) the flash stops changing and
/// every further hook fails, as if power went away mid-write.
/// Where the storage key of a file-backed key store comes from (issue #15:
/// the wrapping key apart from what it wraps).
public enum StorageKeySource: Sendable, Equatable {
    /// `<name>.hwkey`, 32 random bytes beside the store. For a simulated
    /// device it stands in for the hardware secret; for the app on a host it
    /// is the development option: whoever copies the folder has the key.
    case keyFile
    /// PBKDF2-HMAC-SHA256 of a passphrase; salt and iteration count in
    /// `<name>.kdf` (public), written on first use with `iterations`.
    case passphrase(String, iterations: UInt32 = 600_000)
}

final class FileFlash: @unchecked Sendable {
    static let pageSize: UInt32 = 512
    static let writeUnit: UInt32 = 8

    let flashURL: URL
    let keyURL: URL
    let counterURL: URL
    /// `<name>.kdf`: how a passphrase-protected store derives its key.
    var kdfURL: URL { keyURL.deletingPathExtension().appendingPathExtension("kdf") }
    let keySource: StorageKeySource
    /// Inspection: nothing reaches the files. The counter is not raised,
    /// writes fail, and an erase (boot clearing a stale slot) happens in
    /// memory only, so the inspected boot sees what a real boot would.
    let readOnly: Bool
    /// Ranges erased in memory by a read-only flash.
    private var erasedInMemory: [Range<UInt32>] = []
    /// Byte operations left before a simulated power cut; nil: no cut.
    var cutAfter: Int?
    private(set) var powerLost = false

    init(directory: URL, name: String, readOnly: Bool = false, keySource: StorageKeySource = .keyFile) {
        flashURL = directory.appendingPathComponent("\(name).flash")
        keyURL = directory.appendingPathComponent("\(name).hwkey")
        counterURL = directory.appendingPathComponent("\(name).otp")
        self.readOnly = readOnly
        self.keySource = keySource
    }

    init(flashURL: URL, readOnly: Bool, keySource: StorageKeySource = .keyFile) {
        self.flashURL = flashURL
        let base = flashURL.deletingPathExtension()
        keyURL = base.appendingPathExtension("hwkey")
        counterURL = base.appendingPathExtension("otp")
        self.readOnly = readOnly
        self.keySource = keySource
    }

    /// The key source of an existing store at `flashURL`, from the files
    /// beside it: a passphrase store (`.kdf`) takes MODBATT_APP_PASSPHRASE;
    /// nil when that is not set.
    static func existingKeySource(of flashURL: URL) -> StorageKeySource? {
        let kdf = flashURL.deletingPathExtension().appendingPathExtension("kdf")
        guard FileManager.default.fileExists(atPath: kdf.path) else { return .keyFile }
        guard let p = ProcessInfo.processInfo.environment["MODBATT_APP_PASSPHRASE"], !p.isEmpty else { return nil }
        return .passphrase(p)
    }

    /// How this store's key is protected, from the files beside it (for `keys show`).
    var protection: String {
        if let kdf = try? PassphraseKDF.read(kdfURL) {
            return "passphrase (PBKDF2-HMAC-SHA256, \(kdf.iterations) iterations, \(kdfURL.lastPathComponent))"
        }
        return "key file beside the store (\(keyURL.lastPathComponent)): a device's hardware secret in the "
            + "simulation; for a host, the development option"
    }

    /// The storage key: the hardware secret (created on first use, as
    /// factory programming would), or the key derived from a passphrase.
    func hardwareSecret(create: Bool) throws -> [UInt8] {
        switch keySource {
        case .keyFile:
            if FileManager.default.fileExists(atPath: kdfURL.path) {
                throw DeviceKeyStoreError.passphraseRequired(kdfURL.path)
            }
            return try keyFileSecret(create: create)
        case .passphrase(let passphrase, let iterations):
            if FileManager.default.fileExists(atPath: keyURL.path) {
                throw DeviceKeyStoreError.keyFileStore(keyURL.path)
            }
            return try PassphraseKDF.derive(passphrase, at: kdfURL, create: create, iterations: iterations)
        }
    }

    private func keyFileSecret(create: Bool) throws -> [UInt8] {
        if let data = try? Data(contentsOf: keyURL), data.count == 32 { return Array(data) }
        guard create else { throw DeviceKeyStoreError.missingHardwareKey(keyURL.path) }
        var g = SystemRandomNumberGenerator()
        let bytes = (0..<32).map { _ in UInt8.random(in: 0...255, using: &g) }
        try SecretFile.write(bytes, to: keyURL)   // 0600 from its first byte
        return bytes
    }

    // MARK: hooks

    func read(offset: UInt32, into buf: UnsafeMutablePointer<UInt8>, count: Int) -> Int32 {
        if powerLost { return MB_ERR_FLASH }
        memset(buf, 0xFF, count)
        guard let h = FileHandle(forReadingAtPath: flashURL.path) else { return MB_OK }
        defer { try? h.close() }
        do {
            try h.seek(toOffset: UInt64(offset))
            if let data = try h.read(upToCount: count) {
                data.withUnsafeBytes { raw in
                    for i in 0..<raw.count { buf[i] = raw[i] }
                }
            }
            for r in erasedInMemory {
                let lo = max(r.lowerBound, offset), hi = min(r.upperBound, offset + UInt32(count))
                if lo < hi { memset(buf + Int(lo - offset), 0xFF, Int(hi - lo)) }
            }
            return MB_OK
        } catch {
            return MB_ERR_FLASH
        }
    }

    func erase(offset: UInt32, count: Int) -> Int32 {
        if readOnly {
            erasedInMemory.append(offset..<offset + UInt32(count))
            return MB_OK
        }
        return apply(offset: offset, bytes: [UInt8](repeating: 0xFF, count: count), program: false)
    }

    func write(offset: UInt32, bytes: UnsafePointer<UInt8>, count: Int) -> Int32 {
        if readOnly { return MB_ERR_FLASH }
        return apply(offset: offset, bytes: Array(UnsafeBufferPointer(start: bytes, count: count)), program: true)
    }

    private func apply(offset: UInt32, bytes: [UInt8], program: Bool) -> Int32 {
        if powerLost { return MB_ERR_FLASH }
        var n = bytes.count
        if let left = cutAfter {
            if left < n {
                n = left
                powerLost = true
            }
            cutAfter = left - n
        }
        do {
            if !FileManager.default.fileExists(atPath: flashURL.path) {
                try FileManager.default.createDirectory(at: flashURL.deletingLastPathComponent(),
                                                        withIntermediateDirectories: true)
                FileManager.default.createFile(atPath: flashURL.path, contents: nil)
            }
            let h = try FileHandle(forUpdating: flashURL)
            defer { try? h.close() }
            let end = try h.seekToEnd()
            if end < UInt64(offset) {
                try h.write(contentsOf: Data(repeating: 0xFF, count: Int(UInt64(offset) - end)))
            }
            var current = [UInt8](repeating: 0xFF, count: n)
            try h.seek(toOffset: UInt64(offset))
            if let old = try h.read(upToCount: n) { for (i, b) in old.enumerated() { current[i] = b } }
            // NOR: erase sets bytes to 0xFF; programming can only clear bits.
            let out = program ? zip(current, bytes.prefix(n)).map { $0 & $1 } : Array(bytes.prefix(n))
            try h.seek(toOffset: UInt64(offset))
            try h.write(contentsOf: Data(out))
            try h.synchronize()
        } catch {
            return MB_ERR_FLASH
        }
        return powerLost ? MB_ERR_FLASH : MB_OK
    }

    func counterRead() -> UInt32 {
        guard let text = try? String(contentsOf: counterURL, encoding: .utf8) else { return 0 }
        return UInt32(text.trimmingCharacters(in: .whitespacesAndNewlines)) ?? 0
    }

    func counterRaise(_ value: UInt32) -> Int32 {
        if readOnly { return MB_OK }
        if powerLost { return MB_ERR_FLASH }
        guard value > counterRead() else { return MB_OK }
        do { try "\(value)\n".write(to: counterURL, atomically: true, encoding: .utf8) } catch { return MB_ERR_FLASH }
        return MB_OK
    }

    /// Power back on (a new boot): hooks work again.
    func powerOn() {
        powerLost = false
        cutAfter = nil
    }
}

/// An `mb_keystore` over a `FileFlash`: boot, read the record, write records.
final class KeyStoreDriver {
    let flash: FileFlash
    private let ks: UnsafeMutablePointer<mb_keystore>
    private let plat: UnsafeMutablePointer<mb_ks_platform>

    struct BootInfo: Sendable, Equatable {
        var slotStatus: [ModbattError?]
        var slotGeneration: [UInt32]
        var selected: Int
        var counter: UInt32
    }

    init(flash: FileFlash, uid: [UInt8], createHardwareKey: Bool) throws {
        self.flash = flash
        var secret = try flash.hardwareSecret(create: createHardwareKey)
        defer { CCore.wipe(&secret) }
        ks = .allocate(capacity: 1)
        ks.initialize(to: mb_keystore())
        plat = .allocate(capacity: 1)
        plat.initialize(to: mb_ks_platform())
        plat.pointee.read = { user, off, buf, len in
            guard let buf else { return MB_ERR_NULL }
            return Unmanaged<FileFlash>.fromOpaque(user!).takeUnretainedValue().read(offset: off, into: buf, count: len)
        }
        plat.pointee.erase = { user, off, len in
            Unmanaged<FileFlash>.fromOpaque(user!).takeUnretainedValue().erase(offset: off, count: len)
        }
        plat.pointee.write = { user, off, buf, len in
            guard let buf else { return MB_ERR_NULL }
            return Unmanaged<FileFlash>.fromOpaque(user!).takeUnretainedValue().write(offset: off, bytes: buf, count: len)
        }
        plat.pointee.counter_read = { user, value in
            value?.pointee = Unmanaged<FileFlash>.fromOpaque(user!).takeUnretainedValue().counterRead()
            return MB_OK
        }
        plat.pointee.counter_raise = { user, value in
            Unmanaged<FileFlash>.fromOpaque(user!).takeUnretainedValue().counterRaise(value)
        }
        plat.pointee.user = Unmanaged.passUnretained(flash).toOpaque()
        plat.pointee.page_size = FileFlash.pageSize
        plat.pointee.write_unit = FileFlash.writeUnit
        plat.pointee.erased = 0xFF
        var u = [UInt8](repeating: 0, count: 16)
        for (i, b) in uid.prefix(16).enumerated() { u[i] = b }
        let code = mb_keystore_init(ks, plat, secret, u)
        // On failure deinit releases the buffers (the instance is fully initialized).
        if let error = ModbattError(code: code) { throw error }
    }

    deinit {
        mb_keystore_free(ks)
        ks.deallocate()
        plat.deallocate()
    }

    var slotSize: UInt32 { mb_keystore_slot_size(ks) }

    /// mb_keystore_boot: the newest valid record, or the reason none is.
    func boot() -> (record: KeyRecord?, error: ModbattError?, info: BootInfo) {
        let rec = KeyRecord()
        var info = mb_ks_boot_info()
        let code = mb_keystore_boot(ks, rec.raw, &info)
        let bi = BootInfo(slotStatus: [ModbattError(code: info.slot_status.0), ModbattError(code: info.slot_status.1)],
                          slotGeneration: [info.slot_generation.0, info.slot_generation.1],
                          selected: Int(info.selected), counter: info.counter)
        if let error = ModbattError(code: code) { return (nil, error, bi) }
        return (rec, nil, bi)
    }

    /// mb_keystore_write (after boot).
    func write(_ rec: KeyRecord) throws(ModbattError) {
        try CCore.check(mb_keystore_write(ks, rec.raw, CCore.rng, nil))
    }

    /// The device uid for a hardware serial: SHA-256(serial)[0..16).
    static func uid(serial: String) -> [UInt8] { Array(SHA256.hash(Array(serial.utf8)).prefix(16)) }
}
