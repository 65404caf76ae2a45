import Modbatt
import ModbattCAN

/// Discovery over CAN (docs/PROTOCOL.md 17): a clear, unauthenticated query
/// that every device answers with its public identity. Nothing in it is
/// secret and nothing in it is proof: the app trusts an answer only in the
/// factory step (docs/SECURITY.md, "Discovery").
public enum Discovery {
    /// Query, tool -> devices; device id 0x00 asks every device.
    public static let queryMessageId: UInt16 = 0x4C0
    /// Answer, device -> tool, under the answering device's own id.
    public static let answerMessageId: UInt16 = 0x4C1
    /// Layout version of query and answer.
    public static let version: UInt8 = 1
    /// The device id of a query for every device (as the ModBatt firmware's broadcast id).
    public static let everyDevice = DeviceAddress.broadcast
    /// A device answers at most once per this interval, whoever asks (PROTOCOL.md 17.3).
    public static let minAnswerIntervalMs: UInt32 = 1000
    /// Query payload: version, flags (0).
    static let queryLength = 2
    /// Longest answer: 8 + 65 + 1 + 48 bytes; fits 16 classic frames (128 bytes).
    public static let maxAnswerLength = 122
    static let maxSerialLength = 48

    /// The one frame of a query for `target` (`everyDevice`: all).
    public static func queryFrame(target: UInt8 = everyDevice) -> CANFrame {
        // Fields in range by construction: the id and 2 bytes always encode.
        try! CANFrame(modbattId: CANId(messageId: queryMessageId, deviceId: target), data: [version, 0])
    }

    /// Whether `frame` is a discovery query (well formed or not).
    static func isQuery(_ frame: CANFrame) -> Bool {
        frame.isExtended && XferIds.messageId(frame.id) == queryMessageId
    }

    /// Whether `frame` belongs to a discovery answer (well formed or not).
    static func isAnswer(_ frame: CANFrame) -> Bool {
        frame.isExtended && XferIds.messageId(frame.id) == answerMessageId
    }

    /// The query's target device id, after checking every field: clear,
    /// one classic frame of exactly `queryLength` bytes, known version.
    static func decodeQuery(_ frame: CANFrame) throws(DiscoveryError) -> UInt8 {
        guard let id = frame.modbattId else { throw .malformed("query id does not decode") }
        guard !frame.isFD else { throw .malformed("query on a CAN FD frame (discovery is classic CAN)") }
        guard !id.encrypted, !id.spare else { throw .malformed("query with the encryption or spare bit set") }
        guard id.chunkIndex == 1, id.chunkTotal == 1 else { throw .malformed("query in chunks \(id.chunkIndex)/\(id.chunkTotal)") }
        guard frame.count <= queryLength else { throw .oversized(bytes: frame.count, max: queryLength) }
        guard frame.count == queryLength else { throw .malformed("query of \(frame.count) bytes, expected \(queryLength)") }
        guard frame[0] == version else { throw .unsupportedVersion(frame[0]) }
        guard frame[1] == 0 else { throw .malformed("query flags \(frame[1]), expected 0") }
        return id.deviceId
    }
}

/// Why a discovery query or answer was refused. Refusing changes no state.
public enum DiscoveryError: Error, Sendable, Equatable, CustomStringConvertible {
    /// A frame or message that does not parse; the reason.
    case malformed(String)
    /// More bytes than the layout allows.
    case oversized(bytes: Int, max: Int)
    /// Another layout version.
    case unsupportedVersion(UInt8)
    /// A device that answered less than `Discovery.minAnswerIntervalMs` ago.
    case rateLimited(sinceLastMs: UInt32)

    public var description: String {
        switch self {
        case .malformed(let why): "malformed: \(why)"
        case .oversized(let bytes, let max): "oversized: \(bytes) bytes, at most \(max)"
        case .unsupportedVersion(let v): "unsupported discovery version \(v) (this side speaks \(Discovery.version))"
        case .rateLimited(let ms): "rate limited: answered \(ms) ms ago (at most one answer per \(Discovery.minAnswerIntervalMs) ms)"
        }
    }

    /// Short name for counters.
    var reason: String {
        switch self {
        case .malformed: "discovery_malformed"
        case .oversized: "discovery_oversized"
        case .unsupportedVersion: "discovery_version"
        case .rateLimited: "discovery_rate_limited"
        }
    }
}
