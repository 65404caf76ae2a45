import Modbatt
import ModbattCAN

/// What a discovery round heard (docs/PROTOCOL.md 17.4).
public struct DiscoveryReport: Sendable, Equatable {
    /// One answer per device id, by device id. A device id whose answers
    /// disagreed is not here but in `conflicts`.
    public var devices: [DiscoveredDevice] = []
    /// Device ids that answered with different contents (two boards on one
    /// address, or someone answering for a device): every version heard.
    public var conflicts: [UInt8: [DiscoveredDevice]] = [:]
    /// Answers refused, with the sending device id and the reason.
    public var rejected: [Rejection] = []

    public struct Rejection: Sendable, Equatable {
        public var deviceId: UInt8
        public var reason: DiscoveryError
    }
}

/// The tool's side: reassembles answers per device id from the frames it
/// hears and checks them. Memory is bounded: one partial answer of at most
/// 128 bytes per device id.
struct DiscoveryCollector {
    private struct Partial {
        var total: UInt8
        var body: [UInt8]
        var next: UInt8
    }

    private var partial: [UInt8: Partial] = [:]
    private var heard: [UInt8: [DiscoveredDevice]] = [:]
    private var rejected: [DiscoveryReport.Rejection] = []

    /// Take one frame; anything but an answer frame is ignored.
    mutating func take(_ frame: CANFrame) {
        guard Discovery.isAnswer(frame) else { return }
        let sender = XferIds.deviceId(frame.id)
        do {
            if let body = try assemble(frame) {
                note(try DiscoveredDevice.decode(body, sender: sender))
            }
        } catch {
            partial[sender] = nil
            rejected.append(.init(deviceId: sender, reason: error))
        }
    }

    /// In-order chunks of one classic message per device id (PROTOCOL.md 4.1, 5.2):
    /// a first chunk restarts, anything else out of line drops the partial answer.
    private mutating func assemble(_ frame: CANFrame) throws(DiscoveryError) -> [UInt8]? {
        guard let id = frame.modbattId else { throw .malformed("answer id does not decode") }
        guard !frame.isFD, frame.count <= CANFrame.maxClassicCount else {
            throw .malformed("answer on a CAN FD frame (discovery is classic CAN)")
        }
        guard !id.encrypted, !id.spare else { throw .malformed("answer with the encryption or spare bit set") }
        let isLast = id.chunkIndex == id.chunkTotal
        guard id.chunkIndex <= id.chunkTotal else { throw .malformed("chunk \(id.chunkIndex) of \(id.chunkTotal)") }
        guard isLast ? (frame.count > 0 || id.chunkTotal == 1) : frame.count == CANFrame.maxClassicCount else {
            throw .malformed(isLast ? "empty last chunk" : "chunk \(id.chunkIndex) not full (\(frame.count) bytes)")
        }
        if id.chunkIndex == 1 { partial[id.deviceId] = Partial(total: id.chunkTotal, body: [], next: 1) }
        guard var p = partial[id.deviceId], p.next == id.chunkIndex, p.total == id.chunkTotal else {
            throw .malformed("chunk \(id.chunkIndex)/\(id.chunkTotal) out of order")
        }
        p.body += frame.data
        p.next += 1
        guard isLast else {
            partial[id.deviceId] = p
            return nil
        }
        partial[id.deviceId] = nil
        return p.body
    }

    /// Keep each different answer of a device id once; repeats are not news.
    private mutating func note(_ device: DiscoveredDevice) {
        var seen = heard[device.deviceId, default: []]
        if !seen.contains(device) { seen.append(device) }
        heard[device.deviceId] = seen
    }

    /// Everything heard so far; answers still incomplete are reported as such.
    var report: DiscoveryReport {
        var r = DiscoveryReport(rejected: rejected)
        for id in heard.keys.sorted() {
            let answers = heard[id]!
            if answers.count == 1 { r.devices.append(answers[0]) } else { r.conflicts[id] = answers }
        }
        for id in partial.keys.sorted() {
            r.rejected.append(.init(deviceId: id, reason: .malformed("answer incomplete when the wait ended")))
        }
        return r
    }
}
