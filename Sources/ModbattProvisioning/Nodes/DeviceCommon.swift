import Foundation
import Modbatt
import ModbattCAN

/// One audit event produced inside a device step, flushed to the log by the
/// node's actor afterwards.
struct AuditEntry: Sendable {
    var event: String
    var data: [String: AuditValue]
}

/// What a node step did and when it next needs to run.
struct StepResult: Sendable {
    var worked: Bool
    /// Bus time (ms) at which the node has something to do next (a timer).
    var nextDue: UInt32?
}

/// Message types of the app level over sessions (docs/PROVISIONING_FLOW.md).
enum AppMessage {
    /// Pack -> app: pair status entries.
    static let pairStatus: UInt8 = 0x8
    /// Device -> controller: telemetry.
    static let telemetry: UInt8 = 0x6
    /// Controller -> device: command.
    static let command: UInt8 = 0x4

    /// Command opcodes.
    static let cmdRekey: UInt8 = 0x01
    static let cmdSetState: UInt8 = 0x02
}

/// The key storage and identity of one device, as its firmware keeps them:
/// the C key store over the device's flash, the binding key from the
/// record, the record itself. Boot refuses damaged stores with the reason.
final class DeviceStorage: @unchecked Sendable {
    let name: String
    let serial: String
    let deviceId: UInt8
    let role: UInt8
    let driver: KeyStoreDriver
    private(set) var binding: BindingKeyPair?
    private(set) var record: KeyRecord?
    /// Why boot refused the key store (no keys are used then).
    private(set) var refused: ModbattError?

    init(directory: URL, name: String, serial: String, deviceId: UInt8, role: UInt8) throws {
        self.name = name
        self.serial = serial
        self.deviceId = deviceId
        self.role = role
        driver = try KeyStoreDriver(flash: FileFlash(directory: directory, name: name),
                                    uid: KeyStoreDriver.uid(serial: serial), createHardwareKey: true)
    }

    /// Boot: select the newest valid record; on a blank store (first boot or
    /// wiped flash) generate the binding key and write the initial record.
    func boot() -> [AuditEntry] {
        var log: [AuditEntry] = []
        driver.flash.powerOn()
        let (rec, error, info) = driver.boot()
        record = nil
        binding = nil
        refused = nil
        if let rec {
            record = rec
            binding = rec.withBindingKey { try? BindingKeyPair.restore($0) }
            log.append(AuditEntry(event: "keystore_boot", data: [
                "device": .string(name), "generation": .int(Int64(rec.generation)),
                "package_version": .int(Int64(rec.packageVersion)), "pairs": .int(Int64(rec.pairs.count)),
                "slot": .int(Int64(info.selected))]))
            return log
        }
        if error == .notFound {
            do {
                let key = try BindingKeyPair.generate()
                let initial = KeyRecord.initial(binding: key, deviceId: deviceId, role: role)
                try driver.write(initial)
                log.append(AuditEntry(event: "binding_key_generated", data: [
                    "device": .string(name), "binding_key_id": .string(CCore.hex(key.keyId))]))
                let (again, e2, _) = driver.boot()
                record = again
                binding = again?.withBindingKey { try? BindingKeyPair.restore($0) }
                refused = e2
            } catch {
                refused = error
            }
            return log
        }
        refused = error
        log.append(AuditEntry(event: "keystore_refused", data: [
            "device": .string(name), "reason": .string("\(error ?? .notFound)"),
            "slot0": .string(info.slotStatus[0].map { "\($0)" } ?? "ok"),
            "slot1": .string(info.slotStatus[1].map { "\($0)" } ?? "ok")]))
        if error == .authenticationFailed || error == .wrongDevice || error == .rollback {
            log.append(AuditEntry(event: "alert", data: [
                "kind": "keystore_tamper", "device": .string(name), "reason": .string("\(error!)"),
                "action": "device quarantined until re-provisioned"]))
        }
        return log
    }

    /// Write a new record and boot from it (as the firmware reboots after storing).
    func store(_ rec: KeyRecord) throws(ModbattError) {
        try driver.write(rec)
        _ = boot()
        if let refused { throw refused }
    }

    /// Erase the key store (service procedure for a refused store, or a test
    /// modelling a wiped flash / replaced board).
    func wipe() {
        try? FileManager.default.removeItem(at: driver.flash.flashURL)
    }

    var packageVersion: UInt32 { record?.packageVersion ?? 0 }

    /// The folder of this device's key-store files.
    var directory: URL { driver.flash.flashURL.deletingLastPathComponent() }

    /// Sequence numbers of the reports this device sends (`<name>.rseq`).
    private(set) lazy var reportSequence = ReportSequence.Sender(url: directory.appendingPathComponent("\(name).rseq"))
}

/// Per-pair tamper detection (docs/PROVISIONING_FLOW.md, "Tamper policy").
struct PairGuard {
    var authFailures: [UInt32] = []
    var regressions: [UInt32] = []
    var duplicateHandshakes: [UInt32] = []
    var quarantined = false
    var alerted: Set<String> = []

    /// Record a rejection or handshake signal; returns audit entries for
    /// alerts and whether the pair must now be quarantined.
    mutating func note(_ signal: String, now: UInt32, policy: TamperPolicy, pair: String) -> (AuditEntry?, Bool) {
        let window = UInt32(clamping: Int(policy.window.components.seconds * 1000))
        func prune(_ list: inout [UInt32]) { list.removeAll { now &- $0 > window } }
        var count = 0
        var threshold = 0
        switch signal {
        case "auth_failure_rate":
            authFailures.append(now); prune(&authFailures); count = authFailures.count
            threshold = policy.authFailureThreshold
        case "counter_regression":
            regressions.append(now); prune(&regressions); count = regressions.count; threshold = 5
        case "duplicate_handshake":
            duplicateHandshakes.append(now); prune(&duplicateHandshakes); count = duplicateHandshakes.count
            threshold = 3
        default: return (nil, false)
        }
        let first = signal != "auth_failure_rate" && !alerted.contains(signal)
        let over = count >= threshold && !quarantined
        guard first || over else { return (nil, false) }
        alerted.insert(signal)
        let quarantine = over && policy.quarantine
        if quarantine { quarantined = true }
        let entry = AuditEntry(event: "alert", data: [
            "kind": .string(signal), "pair": .string(pair), "count": .int(Int64(count)),
            "window_ms": .int(Int64(window)),
            "action": .string(quarantine ? "pair quarantined until re-provisioned" : "logged")])
        return (entry, quarantine)
    }
}

/// Name of a rejection reason for reports and the audit log.
func reasonName(_ e: ModbattError?) -> String {
    guard let e else { return "unknown" }
    switch e {
    case .authenticationFailed: return "auth"
    case .replay: return "replay"
    case .wrongEpoch: return "epoch"
    case .malformed: return "malformed"
    case .policy: return "policy"
    case .invalidState: return "no-session"
    case .handshakeFailed: return "handshake"
    case .rateLimited: return "rate-limited"
    case .noSlot: return "no-slot"
    case .unsupportedVersion: return "version"
    case .timeout: return "timeout"
    default: return "\(e)"
    }
}

/// Latency samples (ns) with percentiles.
struct Samples: Sendable {
    var values: [Int] = []
    mutating func add(_ v: Int) { values.append(v) }
    func percentile(_ p: Double) -> Int {
        guard !values.isEmpty else { return 0 }
        let s = values.sorted()
        return s[min(s.count - 1, Int(Double(s.count - 1) * p + 0.5))]
    }
}

@inline(__always)
func nanos(_ body: () throws -> Void) rethrows -> Int {
    let t0 = DispatchTime.now().uptimeNanoseconds
    try body()
    return Int(DispatchTime.now().uptimeNanoseconds - t0)
}

/// Counters every node keeps for reports.
struct NodeCounters: Sendable {
    var sent = 0
    var delivered = 0
    var rejected: [String: Int] = [:]
    var rotations = 0
    var seal = Samples()
    var open = Samples()
}
