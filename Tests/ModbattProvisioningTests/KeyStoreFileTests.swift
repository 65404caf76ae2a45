import Foundation
import Modbatt
import Testing
@testable import ModbattProvisioning

@Suite("File-backed key store")
struct KeyStoreFileTests {
    static func storage(_ dir: URL, _ name: String = "module-01", serial: String = "BM-0001") throws -> DeviceStorage {
        try DeviceStorage(directory: dir, name: name, serial: serial, deviceId: 0x10, role: 1)
    }

    /// A record with `n` pairs of fresh random secrets.
    static func record(_ s: DeviceStorage, version: UInt32, pairs n: Int) throws -> KeyRecord {
        let binding = try #require(s.binding)
        var list: [(peer: UInt8, controller: Bool, ephemeral: Bool, secret: PairSecret)] = []
        for i in 0..<n {
            list.append((UInt8(0x10 + i), false, i == 0,
                         PairSecret(keyId: [UInt8](repeating: UInt8(version), count: 3) + [UInt8(i)],
                                    secret: SecretBytes.random(count: 32))))
        }
        return KeyRecord.build(binding: binding, deviceId: 0x10, role: 1, version: version,
                               params: CryptoParameters(), pairs: list)
    }

    static func snapshot(_ s: DeviceStorage) -> [String] {
        (s.record?.pairs ?? []).map { "\(CCore.hex($0.keyId)):\($0.fingerprint)" }
    }

    /// Cut the power after every byte operation of a record write through
    /// the file-backed flash: every reboot finds the old or the new record,
    /// complete, never neither and never a mix.
    @Test func interruptedWriteAtEveryByteBootsOldOrNew() throws {
        let dir = tempDataDirectory("cut")
        let s = try Self.storage(dir)
        _ = s.boot()
        try s.store(Self.record(s, version: 1, pairs: 1))
        let old = Self.snapshot(s)
        let oldVersion = s.packageVersion
        let flash = s.driver.flash
        let saved = try Data(contentsOf: flash.flashURL)
        let savedCounter = try? Data(contentsOf: flash.counterURL)
        let newRecord = try Self.record(s, version: 2, pairs: 1)
        var cut = 0
        var sawOld = 0, sawNew = 0
        while true {
            try saved.write(to: flash.flashURL)
            if let savedCounter { try savedCounter.write(to: flash.counterURL) }
            _ = s.boot()
            flash.cutAfter = cut
            var completed = true
            do { try s.driver.write(newRecord) } catch { completed = false }
            let powerWasCut = flash.powerLost
            _ = s.boot()                                 // power back on, reboot
            #expect(s.refused == nil, "cut at \(cut): \(String(describing: s.refused))")
            let now = Self.snapshot(s)
            if s.packageVersion == oldVersion {
                #expect(now == old, "cut at \(cut): old version with other pairs")
                sawOld += 1
            } else {
                #expect(s.packageVersion == 2, "cut at \(cut)")
                #expect(now != old)
                sawNew += 1
            }
            if completed && !powerWasCut { break }
            cut += 1
            if cut > 20_000 { Issue.record("write never completed"); break }
        }
        #expect(cut > 1_500)             // erase + program of one slot, byte by byte
        #expect(sawOld > 0 && sawNew > 0)
    }

    /// A store holding two generations (written before the older slot was
    /// erased, or cut before that last step): inspection changes nothing on
    /// disk and shows what a boot selects; a real boot erases the older slot.
    @Test func inspectionLeavesTwoGenerationsAsTheyAre() throws {
        let dir = tempDataDirectory("two-generations")
        let s = try Self.storage(dir)
        _ = s.boot()
        try s.store(Self.record(s, version: 1, pairs: 1))
        let flash = s.driver.flash
        let first = try Data(contentsOf: flash.flashURL)
        try s.store(Self.record(s, version: 2, pairs: 1))
        var both = try Data(contentsOf: flash.flashURL)
        let slot = Int(DeviceKeyStore.slotSize)
        let olderSlot = first.prefix(slot).contains { $0 != 0xFF } ? 0 : 1
        #expect(both[olderSlot * slot ..< (olderSlot + 1) * slot].allSatisfy { $0 == 0xFF })   // the write erased it
        let older = first[olderSlot * slot ..< min(first.count, (olderSlot + 1) * slot)]
        both.replaceSubrange(olderSlot * slot ..< olderSlot * slot + older.count, with: older)
        try both.write(to: flash.flashURL)

        let seen = try DeviceKeyStore.inspect(path: flash.flashURL)
        #expect(seen.status == "ok" && seen.packageVersion == 2 && seen.selectedSlot == 1 - olderSlot)
        #expect(try Data(contentsOf: flash.flashURL) == both)   // nothing written by inspecting

        _ = s.boot()
        #expect(s.packageVersion == 2)
        let after = try Data(contentsOf: flash.flashURL)
        #expect(after[olderSlot * slot ..< (olderSlot + 1) * slot].allSatisfy { $0 == 0xFF })
    }

    @Test func blankStoreGeneratesBindingKeyOnce() throws {
        let dir = tempDataDirectory("blank")
        let s = try Self.storage(dir)
        _ = s.boot()
        let id = try #require(s.binding).keyId
        _ = s.boot()
        #expect(s.binding?.keyId == id)
        let info = try DeviceKeyStore.inspect(path: s.driver.flash.flashURL)
        #expect(info.status == "ok")
        #expect(info.bindingKeyId == CCore.hex(id))
        #expect(info.packageVersion == 0)
        #expect(info.pairs.isEmpty)
    }

    /// Corrupted, truncated, rolled-back, swapped and tampered stores are
    /// refused at boot, each with its reason.
    @Test func bootRefusesDamagedStores() throws {
        let dir = tempDataDirectory("refuse")
        let s = try Self.storage(dir)
        _ = s.boot()
        try s.store(Self.record(s, version: 1, pairs: 2))
        let url = s.driver.flash.flashURL
        let good = try Data(contentsOf: url)
        try s.store(Self.record(s, version: 2, pairs: 2))
        let newer = try Data(contentsOf: url)
        let slot = Int(DeviceKeyStore.slotSize)

        func refusal(_ data: Data) throws -> ModbattError? {
            try data.write(to: url)
            _ = s.boot()
            return s.refused
        }
        // Corrupted: a flipped byte in the secret section of both slots.
        var corrupt = [UInt8](newer)
        corrupt[140] ^= 0x40
        corrupt[slot + 140] ^= 0x40
        #expect(try refusal(Data(corrupt)) == .integrity)
        // Truncated: the file ends inside the first record, second slot blank.
        #expect(try refusal(newer.prefix(100)) == .truncated)
        // Rolled back: an older genuine image after the counter moved on.
        #expect(try refusal(good) == .rollback)
        // Swapped: another device's store (other uid and storage key).
        let other = try Self.storage(dir, "module-02", serial: "BM-0002")
        _ = other.boot()
        try other.store(Self.record(other, version: 1, pairs: 1))
        #expect(try refusal(try Data(contentsOf: other.driver.flash.flashURL)) == .wrongDevice)
        // Tampered: a byte of the clear part changed and the CRC fixed up: the MAC fails.
        var tampered = [UInt8](newer)
        for base in [0, slot] where tampered[base] == 0x4D {
            let len = Int(tampered[base + 6]) << 8 | Int(tampered[base + 7])
            tampered[base + 51] ^= 0x01          // profile byte
            let crc = mb_crc32_swift(Array(tampered[base..<base + len - 4]))
            tampered[base + len - 4] = UInt8(crc >> 24)
            tampered[base + len - 3] = UInt8((crc >> 16) & 0xFF)
            tampered[base + len - 2] = UInt8((crc >> 8) & 0xFF)
            tampered[base + len - 1] = UInt8(crc & 0xFF)
        }
        #expect(try refusal(Data(tampered)) == .authenticationFailed)
        let info = try DeviceKeyStore.inspect(path: url)
        #expect(info.status != "ok")
        #expect(info.bootError != nil)
        // The genuine newest image boots again.
        #expect(try refusal(newer) == nil)
        #expect(s.packageVersion == 2)
    }

    @Test func inspectWithoutHardwareKeyThrows() throws {
        let dir = tempDataDirectory("nokey")
        let s = try Self.storage(dir)
        _ = s.boot()
        try FileManager.default.removeItem(at: s.driver.flash.keyURL)
        #expect(throws: DeviceKeyStoreError.self) { _ = try DeviceKeyStore.inspect(path: s.driver.flash.flashURL) }
    }

    @Test func listFindsFlashFiles() throws {
        let dir = tempDataDirectory("list")
        _ = try Self.storage(dir, "module-02", serial: "x").boot()
        _ = try Self.storage(dir, "module-01", serial: "y").boot()
        #expect(try DeviceKeyStore.list(in: dir).map(\.lastPathComponent) == ["module-01.flash", "module-02.flash"])
    }
}

/// CRC-32 (zlib) for the tamper test's CRC fix-up, independent of the C core.
func mb_crc32_swift(_ bytes: [UInt8]) -> UInt32 {
    var crc: UInt32 = 0xFFFF_FFFF
    for b in bytes {
        crc ^= UInt32(b)
        for _ in 0..<8 { crc = (crc >> 1) ^ (0xEDB8_8320 & (0 &- (crc & 1))) }
    }
    return ~crc
}
