import Foundation
import Modbatt

/// An append-only audit log of key events as JSON lines, chained by hashes
/// so that editing, deleting or reordering a line is detected
/// (`AuditLog.verify`, `modbatt audit verify FILE`).
///
/// Each line is one JSON object whose keys are, in this order:
/// `seq`, `time`, `event`, `data`, `prev`, `hash`, where
/// `prev` is the previous line's `hash` (64 zeros for the first line) and
/// `hash` = SHA-256 over the line's bytes up to (not including) `,"hash":`.
/// Records hold no key bytes: `AuditValue` takes strings, integers and
/// booleans, and callers name keys by fingerprint or key id.
///
/// Deleting lines at the end leaves a valid shorter chain; anchor the head
/// (`headHash`) somewhere else (the demo prints it, a key store can keep it)
/// to detect that too.
public actor AuditLog {
    public static let genesis = String(repeating: "0", count: 64)

    private let handle: FileHandle?
    public private(set) var headHash: String
    public private(set) var count: Int
    public let url: URL?

    /// Open (or create) the log at `url`, continuing its chain.
    /// Refuses to append to a log whose chain does not verify.
    public init(url: URL) throws {
        let manager = FileManager.default
        try manager.createDirectory(at: url.deletingLastPathComponent(), withIntermediateDirectories: true)
        if !manager.fileExists(atPath: url.path) {
            _ = manager.createFile(atPath: url.path, contents: nil)
        }
        let check = try AuditLog.verify(url: url)
        guard check.isValid else { throw AuditError.brokenChain(check) }
        self.url = url
        self.headHash = check.headHash
        self.count = check.lines
        self.handle = try FileHandle(forWritingTo: url)
        try handle?.seekToEnd()
    }

    /// A log kept in memory only (tests, throwaway runs).
    public init() {
        url = nil
        handle = nil
        headHash = Self.genesis
        count = 0
    }

    deinit { try? handle?.close() }

    /// Append one event; returns the line written (without newline).
    @discardableResult
    public func record(_ event: String, _ data: [String: AuditValue] = [:], at time: Date = Date()) throws -> String {
        let line = try Self.line(seq: count + 1, time: time, event: event, data: data, prev: headHash)
        if let handle {
            try handle.write(contentsOf: Data((line.text + "\n").utf8))
        }
        memory.append(line.text)
        headHash = line.hash
        count += 1
        return line.text
    }

    /// Lines recorded through this instance (in-memory logs keep all of them).
    public private(set) var memory: [String] = []

    /// Flush to storage (fsync).
    public func sync() throws { try handle?.synchronize() }

    static func line(seq: Int, time: Date, event: String, data: [String: AuditValue], prev: String)
        throws -> (text: String, hash: String) {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let head = "{\"seq\":\(seq),\"time\":\(try string(encoder, Self.timestamp(time))),"
            + "\"event\":\(try string(encoder, event)),\"data\":\(try string(encoder, data)),"
            + "\"prev\":\"\(prev)\""
        let hash = SHA256.hex(Array(head.utf8))
        return (head + ",\"hash\":\"\(hash)\"}", hash)
    }

    private static func string<T: Encodable>(_ encoder: JSONEncoder, _ value: T) throws -> String {
        String(decoding: try encoder.encode(value), as: UTF8.self)
    }

    static func timestamp(_ date: Date) -> String {
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}

/// Why an audit log cannot be opened for appending.
public enum AuditError: Error, CustomStringConvertible {
    case brokenChain(AuditVerification)
    case unreadable(String)

    public var description: String {
        switch self {
        case .brokenChain(let v): return "audit log chain is broken: \(v.summary)"
        case .unreadable(let reason): return "audit log unreadable: \(reason)"
        }
    }
}
