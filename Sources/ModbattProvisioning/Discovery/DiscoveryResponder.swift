import Modbatt
import ModbattCAN

/// A device's side of discovery (docs/PROTOCOL.md 17.3). Its only state is
/// the time of its last answer: a query costs the device no memory per
/// asker, and it answers at most once per `Discovery.minAnswerIntervalMs`
/// whoever asks, so queries cannot make it flood the bus. A refused query
/// (malformed, oversized, another version, too soon) changes nothing.
struct DiscoveryResponder: Sendable {
    /// The id this device answers under: its address, which follows a
    /// re-enumeration (docs/PROTOCOL.md 6.7).
    var deviceId: UInt8
    /// When this device last answered (node ms); nil: never since power-on.
    private(set) var lastAnswerAt: UInt32?

    init(deviceId: UInt8) { self.deviceId = deviceId }

    /// Handle `frame` if it is a discovery query: nil when it is not one (or
    /// is for another device); the answer's frames; or why it was refused.
    mutating func handle(_ frame: CANFrame, now: UInt32,
                         identity: () -> DiscoveredDevice) -> Result<[CANFrame], DiscoveryError>? {
        guard Discovery.isQuery(frame) else { return nil }
        let target: UInt8
        do { target = try Discovery.decodeQuery(frame) } catch { return .failure(error) }
        guard target == Discovery.everyDevice || target == deviceId else { return nil }
        if let last = lastAnswerAt, now &- last < Discovery.minAnswerIntervalMs {
            return .failure(.rateLimited(sinceLastMs: now &- last))
        }
        do {
            let frames = try identity().frames()
            lastAnswerAt = now
            return .success(frames)
        } catch {
            return .failure(error)
        }
    }
}

extension DeviceStorage {
    /// What this device says about itself in a discovery answer.
    /// `address`: the id it answers under now (default: as provisioned).
    func discoveryIdentity(role: DiscoveredDevice.Role, address: UInt8? = nil) -> DiscoveredDevice {
        DiscoveredDevice(deviceId: address ?? deviceId, role: role, firmware: .reference, bindingKey: binding?.publicKey,
                         serial: serial)
    }
}

extension NodeCounters {
    /// The frames of a discovery answer to send, or none with the refusal
    /// counted; nothing else is kept (a log line per query would let a
    /// query flood fill the log).
    mutating func discoveryFrames(_ result: Result<[CANFrame], DiscoveryError>) -> [CANFrame] {
        switch result {
        case .success(let frames): return frames
        case .failure(let error):
            rejected[error.reason, default: 0] += 1
            return []
        }
    }
}
