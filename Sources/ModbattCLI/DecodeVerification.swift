import Foundation
import Modbatt
import ModbattCAN
import ModbattProvisioning

/// `modbatt decode --keys`: passive observers built from device key stores
/// follow each pair's handshakes in the log and verify and decrypt its
/// messages (`SessionObserver`, the C core's `mb_observer`), or say why a
/// message was refused.
final class MessageVerifier {
    private let observers: [UInt8: PairObserver]
    private let keyStores: String
    private let conflicts: [String]
    private var t0: Duration?
    private var decrypted = 0
    private var handshakesVerified = 0
    private var failed: [String: Int] = [:]
    private(set) var messages: [MessageEntry] = []

    /// One complete session message and what the keys made of it.
    struct MessageEntry: Encodable {
        var line: Int
        var deviceId: Int
        var name: String
        /// "decrypted", "verified" (a handshake step), "refused" or "not_verified" (no key for the pair).
        var result: String
        var reason: String?
        var epoch: UInt32?
        var counter: UInt64?
        var plaintext: String?
    }

    struct Summary: Encodable {
        var keyStores: String
        var pairs: [PairInfo]
        var decrypted: Int
        var handshakesVerified: Int
        var failed: [String: Int]
        var conflicts: [String]
    }

    struct PairInfo: Encodable {
        var deviceId: Int
        var keyId: String
        var stores: [String]
        var sessionsObserved: Int
    }

    init(keyStores path: String) throws {
        let set = try KeyStoreCLI.open(path, writable: false)
        let (list, conflicts) = try KeyStoreCLI.run { try set.observers() }
        observers = Dictionary(uniqueKeysWithValues: list.map { ($0.deviceId, $0) })
        keyStores = path
        self.conflicts = conflicts
    }

    var summary: Summary {
        Summary(keyStores: keyStores,
                pairs: observers.values.sorted { $0.deviceId < $1.deviceId }.map {
                    PairInfo(deviceId: Int($0.deviceId), keyId: $0.keyId, stores: $0.stores,
                             sessionsObserved: $0.sessionsObserved)
                },
                decrypted: decrypted, handshakesVerified: handshakesVerified, failed: failed, conflicts: conflicts)
    }

    /// Feed one session frame; the '=>' text for it when it completed or refused a message.
    func observe(_ record: CandumpRecord, line: Int, name: String, deviceId: UInt8, completesMessage: Bool) -> String? {
        let start = t0 ?? record.timestamp
        t0 = start
        let ms = UInt32(truncatingIfNeeded: (record.timestamp - start).components.seconds * 1000
                        + (record.timestamp - start).components.attoseconds / 1_000_000_000_000_000)
        guard let observer = observers[deviceId] else {
            guard completesMessage else { return nil }
            return note(MessageEntry(line: line, deviceId: Int(deviceId), name: name, result: "not_verified",
                                     reason: "unknown_pair"),
                        text: "not verified: no key for the pair of device \(String(format: "0x%02x", deviceId)) (unknown pair)")
        }
        switch observer.observe(record.frame, now: ms) {
        case .notThisPair, .chunk:
            return nil
        case .refused(let error, _, _, let whole):
            guard whole else { return nil }   // a frame out of order: the reassembly line says so
            let (key, why) = Self.reason(error)
            return note(MessageEntry(line: line, deviceId: Int(deviceId), name: name, result: "refused", reason: key),
                        text: "REFUSED \(name): \(why)")
        case .message(let m):
            if let step = m.handshake {
                if step == .finish || step == .ephemeralFinish { handshakesVerified += 1 }
                let what = switch step {
                case .hello: "key id \(observer.keyId)"
                case .reply: "MAC verified"
                case .finish: "MAC verified, session keys derived"
                case .ephemeralFinish:
                    "MAC verified; ephemeral key exchange: the session that follows cannot be read with the pair secret"
                }
                return note(MessageEntry(line: line, deviceId: Int(deviceId), name: name, result: "verified"),
                            text: "verified \(name): \(what)")
            }
            let hex = (m.plaintext ?? []).map { String(format: "%02x", $0) }.joined()
            if m.encrypted { decrypted += 1 }
            return note(MessageEntry(line: line, deviceId: Int(deviceId), name: name,
                                     result: m.encrypted ? "decrypted" : "clear", epoch: m.epoch,
                                     counter: m.encrypted ? m.counter : nil, plaintext: hex),
                        text: "\(m.encrypted ? "decrypted" : "clear") \(name) epoch \(m.epoch) counter \(m.counter): "
                            + (hex.isEmpty ? "(empty)" : hex) + " (\(m.plaintext?.count ?? 0) bytes)")
        }
    }

    private func note(_ entry: MessageEntry, text: String) -> String {
        messages.append(entry)
        if let reason = entry.reason { failed[reason, default: 0] += 1 }
        return text
    }

    /// A JSON key and a sentence for each refusal.
    static func reason(_ error: ModbattError) -> (key: String, text: String) {
        switch error {
        case .authenticationFailed: return ("authentication_failed", "authentication failed (tag or MAC mismatch)")
        case .replay: return ("replay", "replay (counter already seen)")
        case .wrongEpoch: return ("wrong_epoch", "no known key epoch for its fixed field")
        case .invalidState: return ("no_session", "no session keys: no verified handshake for this pair earlier in the log")
        case .handshakeFailed: return ("other_pair_key", "handshake under another key id: the keys given are not this pair's")
        case .unsupportedVersion: return ("version", "another protocol version")
        case .policy: return ("clear_data_refused", "clear data message (only diagnostics may be clear)")
        case .malformed: return ("malformed", "malformed message")
        default: return (FlowRunner.reasonKey("\(error)"), "\(error)")
        }
    }

    /// The summary lines of the text output.
    func summaryLines() -> [String] {
        let s = summary
        var out = ["  verified with \(s.pairs.count) pair key\(s.pairs.count == 1 ? "" : "s") from \(s.keyStores): "
                   + "\(s.decrypted) messages decrypted, \(s.handshakesVerified) handshakes verified"]
        if !s.failed.isEmpty {
            out.append("  refused: " + s.failed.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
                .joined(separator: ", "))
        }
        for c in s.conflicts { out.append("  warning: \(c)") }
        return out
    }
}
