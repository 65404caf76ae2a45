import Foundation
import Modbatt

/// Sequence numbers of sealed reports (docs/PROVISIONING.md 5) that survive
/// restarts on both ends.
///
/// A report carries a sequence number the receiver requires to grow, so a
/// recorded report cannot be replayed. Kept in RAM only, a rebooted pack
/// would start again at 1 and see every report it sends (its tamper alerts
/// included) refused as a replay, and a restarted app would accept reports
/// recorded before the restart. Both numbers therefore live in small files
/// beside the key store, written atomically and durably (`SecretFile`).
enum ReportSequence {
    /// The sending device: numbers are handed out from blocks reserved on
    /// disk before their first use, in the spirit of the key store's
    /// monotonic counter. The file holds the highest number reserved; after a
    /// reboot or a power cut the device continues above it, so no number is
    /// ever used twice, at one write per `block` reports.
    final class Sender: @unchecked Sendable {
        let url: URL
        let block: UInt32
        private var last: UInt32
        private var reserved: UInt32
        private let unreadable: ReportSequence.Unreadable?

        init(url: URL, block: UInt32 = 64) {
            self.url = url
            self.block = max(block, 1)
            switch ReportSequence.read(url) {
            case .success(let value): (reserved, unreadable) = (value, nil)
            case .failure(let error): (reserved, unreadable) = (0, error)
            }
            last = reserved
        }

        /// The next number; throws when it cannot be reserved on disk first,
        /// when the file is damaged (starting again at 1 would make every
        /// report a replay), or when the 32-bit space is used up (the device
        /// then needs a new binding key, which the app tracks separately).
        func next() throws -> UInt32 {
            if let unreadable { throw unreadable }
            guard last < UInt32.max else { throw ReportSequence.Exhausted() }
            if last + 1 > reserved {
                let ceiling = last > UInt32.max - block ? UInt32.max : last + block
                try ReportSequence.write(ceiling, to: url)
                reserved = ceiling
            }
            last += 1
            return last
        }
    }

    /// The receiving app: the highest number accepted from one device
    /// (named by its binding public key), recorded before the report is
    /// acted on, so a restart does not reopen the window for replays.
    final class Receiver: @unchecked Sendable {
        let url: URL
        private(set) var highest: UInt32
        private let unreadable: ReportSequence.Unreadable?

        /// `directory/reports-<key id>.seq` for the device with public key `devicePub`.
        init(directory: URL, devicePub: [UInt8]) {
            let id = SHA256.hash(devicePub).prefix(8).map { String(format: "%02x", $0) }.joined()
            url = directory.appendingPathComponent("reports-\(id).seq")
            switch ReportSequence.read(url) {
            case .success(let value): (highest, unreadable) = (value, nil)
            case .failure(let error): (highest, unreadable) = (UInt32.max, error)   // fail closed
            }
        }

        /// Record `sequence` (above `highest`) as accepted; throws when it
        /// cannot be recorded (the report must not be acted on then).
        func accept(_ sequence: UInt32) throws {
            if let unreadable { throw unreadable }
            try ReportSequence.write(sequence, to: url)
            highest = sequence
        }
    }

    struct Exhausted: Error, CustomStringConvertible {
        var description: String { "report sequence numbers used up" }
    }

    struct Unreadable: Error, Equatable, CustomStringConvertible {
        var path: String
        var description: String { "report sequence file \(path) is damaged (expected one decimal number)" }
    }

    /// 0 when the file does not exist yet (a device's first report).
    static func read(_ url: URL) -> Result<UInt32, Unreadable> {
        guard FileManager.default.fileExists(atPath: url.path) else { return .success(0) }
        guard let text = try? String(contentsOf: url, encoding: .utf8),
              let value = UInt32(text.trimmingCharacters(in: .whitespacesAndNewlines))
        else { return .failure(Unreadable(path: url.path)) }
        return .success(value)
    }

    static func write(_ value: UInt32, to url: URL) throws {
        try SecretFile.write(Array("\(value)\n".utf8), to: url)
    }
}
