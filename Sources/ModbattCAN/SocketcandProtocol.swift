/// The ASCII protocol of linux-can/socketcand (doc/protocol.md), the subset
/// this package speaks: `< hi >`, `< open BUS >`, `< rawmode >`,
/// `< bcmmode >`, `< echo >`, `< send ID DLC B… >`, `< fdsend ID FLAGS LEN B… >`,
/// `< frame ID SECS.USECS DATA >`, `< fdframe ID FLAGS SECS.USECS DATA >`,
/// `< ok >`, `< error TEXT >`.
///
/// Ids are hex: 8 digits mean a 29-bit id, 1 to 3 digits an 11-bit id (as
/// socketcand decides by length). In `send` the DLC is a hex digit 0...8 and
/// each data byte one or two hex digits; in `fdsend`, FLAGS is hex (1 = BRS,
/// 2 = ESI; other bits ignored) and LEN decimal 0...64, as socketcand reads
/// them. Received data is one unspaced upper-case hex string, as socketcand
/// sends it (python-can parses nothing else); spaced bytes are accepted too.
public enum SocketcandProtocol {
    /// Longest `< … >` message accepted (an `fdsend` of 64 spaced bytes is under 230).
    public static let maxMessageLength = 1024

    /// A message a client sends.
    public enum Command: Sendable, Equatable {
        case open(bus: String)
        case rawMode
        case bcmMode
        case echo
        case send(CANFrame)
        /// A socketcand command this implementation does not offer (BCM jobs,
        /// ISO-TP, control mode).
        case unsupported(String)
    }

    /// A message the server sends.
    public enum Reply: Sendable, Equatable {
        case hi
        case ok
        case echo
        case frame(TimestampedFrame)
        case error(String)
    }

    static let unsupportedVerbs: Set<String> = [
        "add", "update", "delete", "filter", "muxfilter", "subscribe", "unsubscribe", "sendrtr",
        "controlmode", "statistics", "isotpmode", "isotpconf", "sendpdu",
    ]

    /// Parse one client message (the text between and including `<` and `>`).
    public static func parseCommand(_ message: String) throws(SocketcandProtocolError) -> Command {
        let tokens = try tokenize(message)
        guard let verb = tokens.first else { throw .init("empty command") }
        let args = tokens.dropFirst()
        switch verb {
        case "open":
            guard args.count == 1, let bus = args.first else { throw .init("usage: < open BUS >") }
            guard bus.count <= 16 else { throw .init("bus name longer than 16 characters") }
            return .open(bus: String(bus))
        case "rawmode":
            guard args.isEmpty else { throw .init("usage: < rawmode >") }
            return .rawMode
        case "bcmmode":
            guard args.isEmpty else { throw .init("usage: < bcmmode >") }
            return .bcmMode
        case "echo":
            return .echo
        case "send":
            return .send(try parseSend(Array(args)))
        case "fdsend":
            return .send(try parseFDSend(Array(args)))
        default:
            if unsupportedVerbs.contains(String(verb)) { return .unsupported(String(verb)) }
            throw .init("unknown command")
        }
    }

    /// Parse one server message.
    public static func parseReply(_ message: String) throws(SocketcandProtocolError) -> Reply {
        let tokens = try tokenize(message)
        guard let verb = tokens.first else { throw .init("empty message") }
        let args = Array(tokens.dropFirst())
        switch verb {
        case "hi": return .hi
        case "ok": return .ok
        case "echo": return .echo
        case "error": return .error(args.joined(separator: " "))
        case "frame":
            guard args.count >= 2 else { throw .init("frame needs ID and timestamp") }
            let (id, extended) = try parseId(args[0])
            guard let time = CANTime.parse(args[1]) else { throw .init("bad timestamp '\(clip(args[1]))'") }
            let data = try parseHexRun(args[2...].joined())
            let frame = try makeFrame(id: id, extended: extended, fd: false, flags: 0, data: data)
            return .frame(TimestampedFrame(timestamp: time, frame: frame))
        case "fdframe":
            guard args.count >= 3 else { throw .init("fdframe needs ID, flags and timestamp") }
            let (id, extended) = try parseId(args[0])
            guard let flags = UInt8(args[1], radix: 16) else { throw .init("bad flags '\(clip(args[1]))'") }
            guard let time = CANTime.parse(args[2]) else { throw .init("bad timestamp '\(clip(args[2]))'") }
            let data = try parseHexRun(args[3...].joined())
            let frame = try makeFrame(id: id, extended: extended, fd: true, flags: flags, data: data)
            return .frame(TimestampedFrame(timestamp: time, frame: frame))
        default:
            throw .init("unknown message '\(clip(verb))'")
        }
    }

    /// `< send ID DLC B… >` for classic frames, `< fdsend ID FLAGS LEN B… >` for FD.
    public static func format(command: Command) -> String {
        switch command {
        case .open(let bus): return "< open \(bus) >"
        case .rawMode: return "< rawmode >"
        case .bcmMode: return "< bcmmode >"
        case .echo: return "< echo >"
        case .unsupported(let verb): return "< \(verb) >"
        case .send(let frame):
            var s = frame.isFD
                ? "< fdsend \(CANFrame.hexId(frame.id, extended: frame.isExtended)) \(hexByte(fdFlags(frame))) \(frame.count) "
                : "< send \(CANFrame.hexId(frame.id, extended: frame.isExtended)) \(frame.count) "
            frame.withUnsafeBytes { raw in
                for byte in raw { s += hexByte(byte); s += " " }
            }
            return s + ">"
        }
    }

    /// The server's replies, exactly as socketcand writes them.
    public static func format(reply: Reply) -> String {
        switch reply {
        case .hi: return "< hi >"
        case .ok: return "< ok >"
        case .echo: return "< echo >"
        case .error(let text): return "< error \(sanitize(text)) >"
        case .frame(let stamped):
            let f = stamped.frame
            var s = f.isFD
                ? "< fdframe \(CANFrame.hexId(f.id, extended: f.isExtended)) \(hexByte(fdFlags(f))) \(CANTime.format(stamped.timestamp)) "
                : "< frame \(CANFrame.hexId(f.id, extended: f.isExtended)) \(CANTime.format(stamped.timestamp)) "
            f.withUnsafeBytes { raw in for byte in raw { s += hexByte(byte) } }
            return s + " >"
        }
    }

    // MARK: Pieces

    static func tokenize(_ message: String) throws(SocketcandProtocolError) -> [Substring] {
        guard message.utf8.allSatisfy({ $0 >= 0x20 && $0 < 0x7F || $0 == 0x09 }) else {
            throw .init("non-ASCII or control characters")
        }
        guard message.hasPrefix("<"), message.hasSuffix(">"), message.count >= 2 else {
            throw .init("a message must be '< … >'")
        }
        let inner = message.dropFirst().dropLast()
        guard !inner.contains("<"), !inner.contains(">") else { throw .init("nested '<' or '>'") }
        return inner.split(whereSeparator: { $0 == " " || $0 == "\t" })
    }

    static func parseId(_ token: Substring) throws(SocketcandProtocolError) -> (UInt32, Bool) {
        guard token.allSatisfy(\.isASCIIHexChar), let id = UInt32(token, radix: 16) else {
            throw .init("id '\(clip(token))' is not hex")
        }
        switch token.count {
        case 8:
            guard id <= CANFrame.maxExtendedId else { throw .init("29-bit id \(token) out of range") }
            return (id, true)
        case 1...3:
            guard id <= CANFrame.maxStandardId else { throw .init("11-bit id \(token) out of range") }
            return (id, false)
        default:
            throw .init("id must have 3 (11-bit) or 8 (29-bit) hex digits, got \(token.count)")
        }
    }

    static func parseSend(_ args: [Substring]) throws(SocketcandProtocolError) -> CANFrame {
        guard args.count >= 2 else { throw .init("usage: < send ID DLC DATA… >") }
        let (id, extended) = try parseId(args[0])
        guard args[1].count == 1, let dlc = Int(args[1], radix: 16), dlc <= 8 else {
            throw .init("DLC '\(clip(args[1]))' must be 0...8")
        }
        let data = try parseBytes(args[2...])
        guard data.count == dlc else { throw .init("DLC \(dlc) but \(data.count) data bytes") }
        return try makeFrame(id: id, extended: extended, fd: false, flags: 0, data: data)
    }

    static func parseFDSend(_ args: [Substring]) throws(SocketcandProtocolError) -> CANFrame {
        guard args.count >= 3 else { throw .init("usage: < fdsend ID FLAGS LEN DATA… >") }
        let (id, extended) = try parseId(args[0])
        guard args[1].count <= 2, let flags = UInt8(args[1], radix: 16) else {
            throw .init("flags '\(clip(args[1]))' must be hex")
        }
        guard args[2].count <= 2, args[2].allSatisfy(\.isASCIIDigitChar), let len = Int(args[2]), len <= 64 else {
            throw .init("LEN '\(clip(args[2]))' must be 0...64 (decimal)")
        }
        let data = try parseBytes(args[3...])
        guard data.count == len else { throw .init("LEN \(len) but \(data.count) data bytes") }
        return try makeFrame(id: id, extended: extended, fd: true, flags: flags, data: data)
    }

    static func parseBytes(_ tokens: ArraySlice<Substring>) throws(SocketcandProtocolError) -> [UInt8] {
        var out: [UInt8] = []
        for token in tokens {
            guard (1...2).contains(token.count), token.allSatisfy(\.isASCIIHexChar), let v = UInt8(token, radix: 16) else {
                throw .init("data byte '\(clip(token))' is not 1 or 2 hex digits")
            }
            out.append(v)
        }
        return out
    }

    static func parseHexRun(_ text: String) throws(SocketcandProtocolError) -> [UInt8] {
        guard text.count % 2 == 0 else { throw .init("data has an odd number of hex digits") }
        var out: [UInt8] = []
        var hi: Int?
        for c in text {
            guard c.isASCIIHexChar, let v = c.hexDigitValue else { throw .init("data is not hex") }
            if let h = hi { out.append(UInt8(h << 4 | v)); hi = nil } else { hi = v }
        }
        return out
    }

    static func makeFrame(id: UInt32, extended: Bool, fd: Bool, flags: UInt8, data: [UInt8]) throws(SocketcandProtocolError) -> CANFrame {
        do {
            return try CANFrame(id: id, extended: extended, fd: fd, bitRateSwitch: fd && flags & 1 != 0,
                                errorStateIndicator: fd && flags & 2 != 0, data: data)
        } catch {
            throw .init(error.description)
        }
    }

    static func fdFlags(_ frame: CANFrame) -> UInt8 {
        (frame.bitRateSwitch ? 1 : 0) | (frame.errorStateIndicator ? 2 : 0)
    }

    static func hexByte(_ b: UInt8) -> String {
        String([CANFrame.hexDigit(b >> 4), CANFrame.hexDigit(b & 0xF)])
    }

    /// Error text safe to put inside `< error … >`: printable ASCII, no brackets, at most 120 characters.
    /// Printable ASCII without '<' '>', single spaces, at most 120
    /// characters: the form a parsed error text has, so formatting what was
    /// parsed gives the same line again.
    static func sanitize(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars.prefix(120) {
            if scalar == "<" || scalar == ">" || !(0x20..<0x7F).contains(scalar.value) { out += "?" } else { out.unicodeScalars.append(scalar) }
        }
        return out.split(separator: " ").joined(separator: " ")
    }

    static func clip<S: StringProtocol>(_ s: S) -> String { sanitize(String(s.prefix(20))) }
}

/// A socketcand message that could not be understood.
public struct SocketcandProtocolError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}

/// Splits a byte stream into `< … >` messages. Whitespace between messages
/// is skipped; any other byte outside a message, or a message longer than
/// `maxLength`, yields an error and is discarded (up to the next `>` for an
/// over-long message), so one bad message never desynchronises the stream.
public struct SocketcandFramer: Sendable {
    public enum Output: Sendable, Equatable {
        case message(String)
        case error(String)
    }

    private var buffer: [UInt8] = []
    private var inMessage = false
    private var discarding = false
    private var strayReported = false
    public let maxLength: Int

    public init(maxLength: Int = SocketcandProtocol.maxMessageLength) { self.maxLength = maxLength }

    public mutating func feed<Bytes: Sequence<UInt8>>(_ bytes: Bytes) -> [Output] {
        var out: [Output] = []
        for byte in bytes {
            if discarding {
                if byte == UInt8(ascii: ">") { discarding = false }
                continue
            }
            if !inMessage {
                switch byte {
                case UInt8(ascii: "<"):
                    inMessage = true
                    strayReported = false
                    buffer.removeAll(keepingCapacity: true)
                    buffer.append(byte)
                case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"):
                    continue
                default:
                    // Report once per run of stray bytes.
                    if !strayReported {
                        out.append(.error("data outside a message"))
                        strayReported = true
                    }
                }
                continue
            }
            if byte == UInt8(ascii: "<") {
                out.append(.error("'<' inside a message"))
                buffer.removeAll(keepingCapacity: true)
                buffer.append(byte)
                continue
            }
            if byte >= 0x80 {
                // The protocol is ASCII. Decoding other bytes would swap each
                // for a 3-byte U+FFFD (past maxLength) or join a mark to '<'.
                out.append(.error("non-ASCII or control characters"))
                buffer.removeAll(keepingCapacity: true)
                inMessage = false
                discarding = true
                continue
            }
            buffer.append(byte)
            if byte == UInt8(ascii: ">") {
                out.append(.message(String(decoding: buffer, as: UTF8.self)))
                buffer.removeAll(keepingCapacity: true)
                inMessage = false
            } else if buffer.count >= maxLength {
                out.append(.error("message longer than \(maxLength) bytes"))
                buffer.removeAll(keepingCapacity: true)
                inMessage = false
                discarding = true
            }
        }
        return out
    }
}
