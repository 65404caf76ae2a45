#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

/// One line of a can-utils `candump -l` log.
public struct CandumpRecord: Sendable, Hashable, CustomStringConvertible {
    /// Seconds since the Unix epoch, as logged.
    public var timestamp: Duration
    /// Interface name, e.g. `can0`.
    public var interface: String
    public var frame: CANFrame

    public init(timestamp: Duration, interface: String, frame: CANFrame) {
        self.timestamp = timestamp
        self.interface = interface
        self.frame = frame
    }

    public init(_ frame: TimestampedFrame, interface: String) {
        self.init(timestamp: frame.timestamp, interface: interface, frame: frame.frame)
    }

    /// The log line: `(1700000000.123456) can0 1ABCDEF0#0102`.
    public var description: String { "(\(CANTime.format(timestamp))) \(interface) \(frame)" }
}

/// A malformed candump line: where, and what is wrong with it.
public struct CandumpError: Error, Sendable, Equatable, CustomStringConvertible {
    /// 1-based line number.
    public var line: Int
    public var reason: String

    public var description: String { "line \(line): \(reason)" }
}

/// Reading and writing can-utils `candump -l` logs.
///
/// Format (one frame per line):
/// `(SECS.USECS) IFACE ID#DATA` for classic frames (ID: 3 hex digits =
/// 11-bit, 8 hex digits = 29-bit; DATA: 0 to 8 bytes as hex pairs, `.`
/// separators allowed) and `(SECS.USECS) IFACE ID##F DATA` for CAN FD (F: one
/// hex digit of flags, 1 = BRS, 2 = ESI; up to 64 bytes). Remote (`#R`),
/// error (`2xxxxxxx#`) and CAN XL (`###`) frames are reported as unsupported.
public enum Candump {
    /// Parse a whole log. Blank lines and lines starting with `#` are skipped.
    /// - Throws: `CandumpError` for the first bad line, with its number.
    public static func parse(_ text: String) throws(CandumpError) -> [CandumpRecord] {
        var records: [CandumpRecord] = []
        var number = 0
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            number += 1
            if let record = try parseLine(line, lineNumber: number) { records.append(record) }
        }
        return records
    }

    /// Parse a log, collecting bad lines instead of stopping at the first.
    public static func parseLenient(_ text: String) -> (records: [CandumpRecord], errors: [CandumpError]) {
        var records: [CandumpRecord] = []
        var errors: [CandumpError] = []
        var number = 0
        for line in text.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline) {
            number += 1
            do {
                if let record = try parseLine(line, lineNumber: number) { records.append(record) }
            } catch {
                errors.append(error)
            }
        }
        return (records, errors)
    }

    /// Parse one line; `nil` for a blank or comment line.
    public static func parseLine<S: StringProtocol>(_ raw: S, lineNumber: Int = 1) throws(CandumpError) -> CandumpRecord? {
        func fail(_ reason: String) -> CandumpError { CandumpError(line: lineNumber, reason: reason) }
        var line = Substring(raw)
        if line.hasSuffix("\r") { line = line.dropLast() }
        let trimmed = line.drop(while: { $0 == " " || $0 == "\t" })
        if trimmed.isEmpty || trimmed.hasPrefix("#") { return nil }
        guard line.utf8.count <= 512 else { throw fail("line longer than 512 characters") }

        let fields = line.split(whereSeparator: { $0 == " " || $0 == "\t" })
        guard fields.count >= 3 else {
            throw fail("expected '(SECS.USECS) IFACE ID#DATA', got \(fields.count) field(s)")
        }
        if fields.count > 3 {
            // candump -l may append a direction or comment; frames never contain spaces.
            if !fields[3].hasPrefix("#") && !["R", "T"].contains(fields[3]) {
                throw fail("unexpected text after the frame: '\(fields[3].prefix(20))'")
            }
        }
        let stamp = fields[0]
        guard stamp.hasPrefix("("), stamp.hasSuffix(")"), stamp.count > 2 else {
            throw fail("timestamp must look like (1700000000.123456)")
        }
        guard let timestamp = CANTime.parse(stamp.dropFirst().dropLast()) else {
            throw fail("bad timestamp '\(stamp.prefix(32))'")
        }
        let interface = String(fields[1])
        guard interface.utf8.count <= 15, interface.allSatisfy({ $0.isASCII && !$0.isWhitespace }) else {
            throw fail("bad interface name '\(interface.prefix(20))'")
        }
        do {
            let frame = try parseFrame(fields[2])
            return CandumpRecord(timestamp: timestamp, interface: interface, frame: frame)
        } catch {
            throw fail(error.reason)
        }
    }

    /// Parse cansend/candump frame syntax: `123#0102`, `1ABCDEF0#`, `123##1AABB`.
    public static func parseFrame<S: StringProtocol>(_ text: S) throws(CandumpError) -> CANFrame {
        func fail(_ reason: String) -> CandumpError { CandumpError(line: 0, reason: reason) }
        guard let hash = text.firstIndex(of: "#") else { throw fail("frame '\(text.prefix(40))' has no '#'") }
        let idText = text[..<hash]
        var rest = text[text.index(after: hash)...]
        guard idText.count == 3 || idText.count == 8 else {
            throw fail("id '\(idText.prefix(12))' must be 3 (11-bit) or 8 (29-bit) hex digits")
        }
        guard idText.allSatisfy(\.isASCIIHexChar), let id = UInt32(idText, radix: 16) else {
            throw fail("id '\(idText)' is not hex")
        }
        let extended = idText.count == 8
        if extended && id & 0x2000_0000 != 0 { throw fail("error frames (CAN_ERR_FLAG) are not supported") }
        var fd = false
        var flags: UInt8 = 0
        if rest.hasPrefix("##") { throw fail("CAN XL frames ('###') are not supported") }
        if rest.hasPrefix("#") {
            fd = true
            rest = rest.dropFirst()
            guard let flagChar = rest.first, flagChar.isASCIIHexChar, let value = UInt8(String(flagChar), radix: 16) else {
                throw fail("CAN FD frame needs a flags digit after '##'")
            }
            guard value & ~0x3 == 0 else { throw fail("unknown CAN FD flags \(flagChar) (1 = BRS, 2 = ESI)") }
            flags = value
            rest = rest.dropFirst()
        } else if rest.first == "R" || rest.first == "r" {
            throw fail("remote (RTR) frames are not supported")
        }
        var bytes: [UInt8] = []
        var hi: UInt8?
        for c in rest {
            if c == "." { guard hi == nil else { throw fail("'.' splits a byte") }; continue }
            guard c.isASCIIHexChar, let v = c.hexDigitValue else { throw fail("data has non-hex character '\(c)'") }
            if let h = hi {
                bytes.append(UInt8(h << 4) | UInt8(v))
                hi = nil
            } else {
                hi = UInt8(v)
            }
        }
        if hi != nil { throw fail("data has an odd number of hex digits") }
        do {
            return try CANFrame(id: id, extended: extended, fd: fd, bitRateSwitch: flags & 1 != 0,
                                errorStateIndicator: flags & 2 != 0, data: bytes)
        } catch {
            throw fail(error.description)
        }
    }

    /// Format records as a log (one line each, newline-terminated).
    public static func format(_ records: some Sequence<CandumpRecord>) -> String {
        var out = ""
        for record in records {
            out += record.description
            out += "\n"
        }
        return out
    }

    /// Read and parse a log file.
    public static func read(path: String) throws -> [CandumpRecord] {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        return try parse(String(decoding: data, as: UTF8.self))
    }

    /// Write records to a file (replacing it).
    public static func write(_ records: some Sequence<CandumpRecord>, to path: String) throws {
        try Data(format(records).utf8).write(to: URL(fileURLWithPath: path))
    }

    /// Record frames from a transport into `records` until the transport ends
    /// or `limit` frames were seen.
    public static func capture(from transport: some CANTransport, interface: String,
                               limit: Int = .max) async throws -> [CandumpRecord] {
        var out: [CandumpRecord] = []
        guard limit > 0 else { return out }
        for try await frame in transport.frames {
            out.append(CandumpRecord(frame, interface: interface))
            if out.count >= limit { break }
        }
        return out
    }
}

/// Replays a log onto any transport, at the original pace or faster.
public struct CandumpReplayer: Sendable {
    public enum Pace: Sendable, Hashable {
        /// Keep the logged gaps between frames.
        case original
        /// Gaps divided by the factor (2 = twice as fast).
        case accelerated(Double)
        /// No waiting between frames.
        case asFastAsPossible
    }

    /// Which clock the gaps are measured on.
    public enum Timebase: Sendable {
        /// The wall clock.
        case wallClock
        /// The virtual bus's time, waiting with this node's `sleep(for:)`
        /// (virtual time in `.virtual` mode).
        case bus(VirtualBus.Node)
    }

    public var pace: Pace
    public var timebase: Timebase

    public init(pace: Pace = .original, timebase: Timebase = .wallClock) {
        self.pace = pace
        self.timebase = timebase
    }

    /// Send every record's frame (only those of `interface`, if given) at its
    /// logged offset from the first record, scaled by `pace`. Offsets are
    /// measured from the start of the replay, so the time spent sending does
    /// not accumulate as drift. Returns the number of frames sent.
    @discardableResult
    public func replay(_ records: [CandumpRecord], onto transport: some CANTransport,
                       interface: String? = nil) async throws -> Int {
        guard let first = records.first else { return 0 }
        var sent = 0
        let wallStart = ContinuousClock.now
        var busStart = Duration.zero
        if case .bus(let node) = timebase { busStart = await node.bus.time }
        for record in records where interface == nil || record.interface == interface {
            let offset = gap(record.timestamp - first.timestamp)
            switch timebase {
            case .wallClock:
                if offset > .zero { try await Task.sleep(until: wallStart + offset, clock: .continuous) }
            case .bus(let node):
                let now = await node.bus.time
                if busStart + offset > now { try await node.sleep(for: busStart + offset - now) }
            }
            try await transport.send(record.frame)
            sent += 1
        }
        return sent
    }

    func gap(_ logged: Duration) -> Duration {
        switch pace {
        case .original: return logged
        case .accelerated(let factor): return factor > 0 ? logged / factor : .zero
        case .asFastAsPossible: return .zero
        }
    }
}
