#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// Writes a file that holds a secret so that no one else can ever read it:
/// the bytes go to a temporary file in the same folder that is created with
/// mode 0600 (`open(O_CREAT | O_EXCL, 0600)`, whatever the umask), written,
/// fsynced, and renamed over the destination, and the folder is fsynced.
/// Writing first and restricting the mode afterwards would leave a window
/// in which the secret is readable under the usual umask 022; a power cut
/// leaves the old file or the new one, never a mix.
enum SecretFile {
    struct WriteError: Error, CustomStringConvertible {
        var path: String
        var call: String
        var code: Int32
        var description: String { "cannot write \(path): \(call): \(String(cString: strerror(code)))" }
    }

    /// `created` runs right after the temporary file exists, before any
    /// byte of the secret is in it (tests check its mode there).
    static func write(_ bytes: [UInt8], to url: URL, created: ((URL) throws -> Void)? = nil) throws {
        let folder = url.deletingLastPathComponent()
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let temporary = folder.appendingPathComponent(".\(url.lastPathComponent).\(UUID().uuidString).tmp")
        let fd = open(temporary.path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw WriteError(path: url.path, call: "open", code: errno) }
        var renamed = false
        defer { if !renamed { unlink(temporary.path) } }
        do {
            try created?(temporary)
            try writeAll(fd, bytes, path: url.path)
            guard fsync(fd) == 0 else { throw WriteError(path: url.path, call: "fsync", code: errno) }
        } catch {
            close(fd)
            throw error
        }
        close(fd)
        guard rename(temporary.path, url.path) == 0 else { throw WriteError(path: url.path, call: "rename", code: errno) }
        renamed = true
        syncFolder(folder)
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8], path: String) throws {
        var done = 0
        while done < bytes.count {
            let n = bytes[done...].withUnsafeBytes { systemWrite(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else { throw WriteError(path: path, call: "write", code: errno) }
            done += n
        }
    }

    private static func systemWrite(_ fd: Int32, _ buffer: UnsafeRawPointer?, _ count: Int) -> Int {
        #if canImport(Glibc)
        Glibc.write(fd, buffer, count)
        #else
        Darwin.write(fd, buffer, count)
        #endif
    }

    /// The rename is durable once the folder's entry is on disk.
    private static func syncFolder(_ folder: URL) {
        let fd = open(folder.path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard fd >= 0 else { return }
        _ = fsync(fd)
        close(fd)
    }
}
