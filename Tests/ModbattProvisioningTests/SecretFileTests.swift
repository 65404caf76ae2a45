#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Testing
@testable import ModbattProvisioning

/// Files that hold secrets (the stand-in hardware keys that wrap every key
/// store, the app's root signing key among them) are 0600 from their first
/// byte and replaced atomically.
@Suite("Secret files")
struct SecretFileTests {
    static func folder() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modbatt-secret-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    static func mode(_ url: URL) throws -> Int {
        (try FileManager.default.attributesOfItem(atPath: url.path)[.posixPermissions] as? NSNumber)?.intValue ?? -1
    }

    @Test("created 0600 before any byte is written, even under umask 000; then renamed into place")
    func modeFromTheStart() throws {
        let dir = try Self.folder()
        let target = dir.appendingPathComponent("app.hwkey")
        let old = umask(0)
        defer { umask(old) }
        var seen: (mode: Int, size: Int)?
        try SecretFile.write([UInt8](repeating: 7, count: 32), to: target) { temporary in
            let size = (try FileManager.default.attributesOfItem(atPath: temporary.path)[.size] as? NSNumber)?.intValue ?? -1
            seen = (try Self.mode(temporary), size)
        }
        #expect(seen?.mode == 0o600 && seen?.size == 0)
        #expect(try Self.mode(target) == 0o600)
        #expect(try Data(contentsOf: target) == Data(repeating: 7, count: 32))
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["app.hwkey"])
    }

    @Test("replacing a readable file leaves a 0600 file with the new bytes")
    func replaces() throws {
        let dir = try Self.folder()
        let target = dir.appendingPathComponent("k")
        try Data([1, 2, 3]).write(to: target)
        try FileManager.default.setAttributes([.posixPermissions: 0o644], ofItemAtPath: target.path)
        try SecretFile.write([9, 9], to: target)
        #expect(try Self.mode(target) == 0o600)
        #expect(try Data(contentsOf: target) == Data([9, 9]))
    }

    @Test("a failed write throws, names the file and the call, keeps the old entry and leaves no temporary file")
    func failureLeavesNothing() throws {
        let dir = try Self.folder()
        let target = dir.appendingPathComponent("occupied")
        try FileManager.default.createDirectory(at: target.appendingPathComponent("inside"), withIntermediateDirectories: true)
        #expect {
            try SecretFile.write([1], to: target)
        } throws: { error in
            "\(error)".hasPrefix("cannot write \(target.path): rename: ")
        }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["occupied"])
        let aborted = dir.appendingPathComponent("aborted")
        struct Stop: Error {}
        #expect(throws: Stop.self) { try SecretFile.write([1], to: aborted) { _ in throw Stop() } }
        #expect(try FileManager.default.contentsOfDirectory(atPath: dir.path) == ["occupied"])
    }

    @Test("a device's hardware key is made 0600 and read back the same")
    func hardwareKey() throws {
        let dir = try Self.folder()
        let flash = FileFlash(directory: dir, name: "module-01")
        let first = try flash.hardwareSecret(create: true)
        #expect(first.count == 32)
        #expect(try Self.mode(flash.keyURL) == 0o600)
        #expect(try flash.hardwareSecret(create: false) == first)
    }
}
