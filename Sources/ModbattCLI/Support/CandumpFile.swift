import Foundation
import ModbattCAN

/// A candump log being written: created (and checked writable) before a run
/// starts, filled with complete lines at the end.
struct CandumpFile {
    let path: String

    /// Create (truncate) the file now, so a bad path fails before the run.
    static func create(_ path: String) throws -> CandumpFile {
        let folder = URL(fileURLWithPath: path).deletingLastPathComponent()
        try? FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        guard FileManager.default.createFile(atPath: path, contents: nil) else {
            throw CLIError("cannot create the candump log \(path)")
        }
        return CandumpFile(path: path)
    }

    /// Write every frame as a `candump -l` line on interface vcan0.
    func write(_ frames: [TimestampedFrame]) throws {
        var text = ""
        text.reserveCapacity(frames.count * 40)
        for f in frames { text += "\(CandumpRecord(f, interface: "vcan0"))\n" }
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: path))
        } catch {
            throw CLIError("cannot write the candump log \(path)", detail: "\(error)")
        }
    }
}
