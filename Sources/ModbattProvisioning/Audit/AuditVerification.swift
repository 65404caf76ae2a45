import Foundation
import Modbatt

/// The result of checking an audit log's hash chain.
public struct AuditVerification: Sendable, Equatable {
    /// Lines that verified before the first problem (all of them if valid).
    public var lines: Int
    /// Hash of the last verified line (the chain head).
    public var headHash: String
    /// 1-based line number of the first bad line, and why.
    public var failure: (line: Int, reason: String)?

    public var isValid: Bool { failure == nil }

    public var summary: String {
        if let failure { return "line \(failure.line): \(failure.reason) (\(lines) lines verified before it)" }
        return "\(lines) lines verified, head \(headHash)"
    }

    public static func == (a: Self, b: Self) -> Bool {
        a.lines == b.lines && a.headHash == b.headHash && a.failure?.line == b.failure?.line
            && a.failure?.reason == b.failure?.reason
    }
}

extension AuditLog {
    /// Check every line of the log at `url`: each line's hash covers its own
    /// bytes, its `prev` is the previous line's hash, and `seq` counts up
    /// from 1. Detects edited, deleted, inserted and reordered lines.
    public static func verify(url: URL) throws -> AuditVerification {
        guard let data = FileManager.default.contents(atPath: url.path) else {
            throw AuditError.unreadable("cannot read \(url.path)")
        }
        return verify(text: String(decoding: data, as: UTF8.self))
    }

    /// As `verify(url:)`, on the log's text.
    public static func verify(text: String) -> AuditVerification {
        var result = AuditVerification(lines: 0, headHash: genesis, failure: nil)
        var lines = text.split(separator: "\n", omittingEmptySubsequences: false)
        if lines.last == "" { lines.removeLast() }
        for (index, line) in lines.enumerated() {
            if let reason = problem(with: line, expectedSeq: index + 1, prev: result.headHash) {
                result.failure = (index + 1, reason)
                return result
            }
            result.headHash = String(line.suffix(66).prefix(64))
            result.lines += 1
        }
        return result
    }

    private struct Fields: Decodable {
        var seq: Int
        var prev: String
        var hash: String
    }

    private static func problem(with line: Substring, expectedSeq: Int, prev: String) -> String? {
        let marker = ",\"hash\":\""
        guard line.hasSuffix("\"}"), line.count > 66 + marker.count,
              line.dropLast(66).hasSuffix(marker) else { return "not an audit record" }
        guard let fields = try? JSONDecoder().decode(Fields.self, from: Data(line.utf8)) else {
            return "not valid JSON"
        }
        let body = line.dropLast(66 + marker.count)
        if SHA256.hex(Array(body.utf8)) != fields.hash { return "hash does not match the line (edited)" }
        if fields.prev != prev { return "previous-hash link broken (line deleted, inserted or reordered)" }
        if fields.seq != expectedSeq { return "sequence number \(fields.seq), expected \(expectedSeq)" }
        return nil
    }
}
