import Foundation
import Modbatt
import Testing
@testable import ModbattProvisioning

/// Report sequence numbers survive a restart of either end: a rebooted pack
/// is not refused as a replay, a restarted app refuses what it saw before.
@Suite("Report sequence numbers across restarts")
struct ReportSequenceTests {
    static func folder() throws -> URL {
        let dir = tempDataDirectory("rseq")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test("the sender reserves a block on disk before its first number, and a reboot continues above it")
    func senderReserves() throws {
        let url = try Self.folder().appendingPathComponent("pack.rseq")
        let first = ReportSequence.Sender(url: url, block: 4)
        #expect(try (0..<5).map { _ in try first.next() } == [1, 2, 3, 4, 5])
        #expect(ReportSequence.read(url) == .success(8))          // 1-4 reserved, then 5-8
        let rebooted = ReportSequence.Sender(url: url, block: 4)   // numbers 6-8 may have been used: skipped
        #expect(try rebooted.next() == 9)
        #expect(ReportSequence.read(url) == .success(12))
    }

    @Test("a damaged sequence file is an error naming it, on both ends, never a restart at 1")
    func damagedFile() throws {
        let dir = try Self.folder()
        let url = dir.appendingPathComponent("pack.rseq")
        try "seven\n".write(to: url, atomically: true, encoding: .utf8)
        #expect(throws: ReportSequence.Unreadable(path: url.path)) { _ = try ReportSequence.Sender(url: url).next() }
        let device = try BindingKeyPair.generate()
        let receiver = ReportSequence.Receiver(directory: dir, devicePub: device.publicKey)
        try "x".write(to: receiver.url, atomically: true, encoding: .utf8)
        let reopened = ReportSequence.Receiver(directory: dir, devicePub: device.publicKey)
        #expect(reopened.highest == UInt32.max)                   // fails closed: nothing is above it
        #expect(throws: ReportSequence.Unreadable.self) { try reopened.accept(1) }
    }

    @Test("HELLO counter bases grow by one build per session and survive a restart; a damaged file builds no session")
    func helloCounterBases() throws {
        let dir = try Self.folder()
        let storage = try DeviceStorage(directory: dir, name: "module-01", serial: "SN-1", deviceId: 0x10, role: 1)
        var log: [AuditEntry] = []
        #expect(storage.helloCounterBase(log: &log) == 1 << 32)
        #expect(storage.helloCounterBase(log: &log) == 2 << 32)
        let restarted = try DeviceStorage(directory: dir, name: "module-01", serial: "SN-1", deviceId: 0x10, role: 1)
        #expect(restarted.helloCounterBase(log: &log) == 3 << 32)
        #expect(log.isEmpty)
        try "three\n".write(to: dir.appendingPathComponent("module-01.boots"), atomically: true, encoding: .utf8)
        let damaged = try DeviceStorage(directory: dir, name: "module-01", serial: "SN-1", deviceId: 0x10, role: 1)
        #expect(damaged.helloCounterBase(log: &log) == nil)      // never a restart at 1: old HELLOs would win
        #expect(log.map(\.event) == ["session_refused"])
    }

    @Test("sealed reports across a pack reboot and an app restart: new ones accepted, recorded ones refused")
    func acrossRestarts() throws {
        let dir = try Self.folder()
        let pack = try BindingKeyPair.generate(), app = try BindingKeyPair.generate()
        let rseq = dir.appendingPathComponent("pack.rseq")
        func seal(_ sender: ReportSequence.Sender, _ text: String) throws -> [UInt8] {
            try SealedReport.seal(kind: .alert, deviceId: 0x01, sequence: sender.next(), payload: Array(text.utf8),
                                  appPub: app.publicKey, device: pack)
        }
        func open(_ receiver: ReportSequence.Receiver, _ report: [UInt8]) throws -> String {
            let (info, payload) = try SealedReport.open(report, devicePub: pack.publicKey, app: app,
                                                        minSequence: receiver.highest)
            try receiver.accept(info.sequence)
            return String(decoding: payload, as: UTF8.self)
        }

        var sender = ReportSequence.Sender(url: rseq)
        var receiver = ReportSequence.Receiver(directory: dir, devicePub: pack.publicKey)
        let recorded = try seal(sender, "tamper alert 1")
        #expect(try open(receiver, recorded) == "tamper alert 1")
        #expect(try open(receiver, seal(sender, "tamper alert 2")) == "tamper alert 2")

        sender = ReportSequence.Sender(url: rseq)                 // the pack reboots
        #expect(try open(receiver, seal(sender, "after reboot")) == "after reboot")

        receiver = ReportSequence.Receiver(directory: dir, devicePub: pack.publicKey)   // the app restarts
        #expect(throws: ModbattError.self) { _ = try open(receiver, recorded) }       // a replay of what it saw
        #expect(try open(receiver, seal(sender, "after restart")) == "after restart")

        // Another pack (another binding key) has its own record.
        let other = try BindingKeyPair.generate()
        #expect(ReportSequence.Receiver(directory: dir, devicePub: other.publicKey).highest == 0)
    }
}
