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

    /// Device -> controller: a command applied (`CommandAck`).
    static let commandAck: UInt8 = 0x9

    /// Command opcodes.
    static let cmdRekey: UInt8 = 0x01
    static let cmdSetState: UInt8 = 0x02
}

/// Acknowledged commands (docs/PROVISIONING_FLOW.md, "Commands"): a device
/// answers every command it applied with the command's position; the
/// controller reports a command left unanswered past the deadline, so a
/// command an attacker suppressed (or the bus lost) is noticed. Whether to
/// resend is the application's decision; these nodes resend on their next
/// period anyway.
enum CommandAck {
    struct Position: Sendable, Equatable {
        var epoch: UInt32
        var counter: UInt64
    }

    /// How long the controller waits for an acknowledgement.
    static let deadlineMs: UInt32 = 500

    /// Payload: opcode (1) | epoch BE32 | counter BE64.
    static func encode(op: UInt8, _ p: Position) -> [UInt8] {
        [op] + withUnsafeBytes(of: p.epoch.bigEndian, Array.init) + withUnsafeBytes(of: p.counter.bigEndian, Array.init)
    }

    static func decode(_ payload: [UInt8]) -> Position? {
        guard payload.count == 13 else { return nil }
        let epoch = payload[1..<5].reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
        let counter = payload[5..<13].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
        return Position(epoch: epoch, counter: counter)
    }

    /// The controller's side for one pair: commands sent and not yet acknowledged.
    struct Pending: Sendable {
        private(set) var waiting: [(position: Position, sentAt: UInt32)] = []

        mutating func sent(_ p: Position, now: UInt32) {
            waiting.append((p, now))
            if waiting.count > 16 { waiting.removeFirst() }
        }

        /// True when `p` was waiting (now acknowledged).
        mutating func acknowledged(_ p: Position) -> Bool {
            guard let i = waiting.firstIndex(where: { $0.position == p }) else { return false }
            waiting.remove(at: i)
            return true
        }

        /// When the oldest waiting command's deadline passes.
        var nextDeadline: UInt32? { waiting.first.map { $0.sentAt &+ CommandAck.deadlineMs } }

        /// Commands whose deadline has passed, removed from the list.
        mutating func overdue(now: UInt32) -> [Position] {
            func late(_ w: (position: Position, sentAt: UInt32)) -> Bool {
                let age = now &- w.sentAt
                return age >= CommandAck.deadlineMs && age < 0x8000_0000
            }
            defer { waiting.removeAll(where: late) }
            return waiting.filter(late).map(\.position)
        }
    }
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
    /// Authorised service mode (issue #15): the next boot of a blank store
    /// may bind anew although the device used a key store before. Entered
    /// only by the service procedure, which audits it; used up by that boot.
    private(set) var serviceMode = false

    func enterServiceMode() { serviceMode = true }

    /// The app's public key, installed by the factory step (issue #15): the
    /// first record pins it, so the device only ever accepts packages the
    /// app signed. Nil: no factory step ran.
    let factoryAppKey: [UInt8]?
    /// Accept the signer of the first package as the app (trust on first
    /// use). Off for devices in the field; the bench (`pack serve`) turns it
    /// on explicitly, and the factory bootstrap line implies it.
    let allowFirstUsePinning: Bool

    init(directory: URL, name: String, serial: String, deviceId: UInt8, role: UInt8,
         factoryAppKey: [UInt8]? = nil, allowFirstUsePinning: Bool = false,
         keySource: StorageKeySource = .keyFile) throws {
        self.name = name
        self.serial = serial
        self.deviceId = deviceId
        self.role = role
        self.factoryAppKey = factoryAppKey
        self.allowFirstUsePinning = allowFirstUsePinning
        driver = try KeyStoreDriver(flash: FileFlash(directory: directory, name: name, keySource: keySource),
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
        if error == .notFound && info.counter > 0 && !serviceMode {
            // Blank, but the monotonic counter says this device held keys: the
            // flash was wiped. Binding anew here would let whoever wins the
            // race pin itself (trust on first use in the field).
            refused = .rollback
            log.append(AuditEntry(event: "keystore_refused", data: [
                "device": .string(name),
                "reason": .string("blank key store on a device that held keys (counter \(info.counter)):"
                    + " no new binding outside the authorised service mode")]))
            log.append(AuditEntry(event: "alert", data: [
                "kind": "keystore_wiped", "device": .string(name),
                "action": "device uses no keys until serviced and re-provisioned"]))
            return log
        }
        if error == .notFound {
            if info.counter > 0 {
                log.append(AuditEntry(event: "service_rebind", data: [
                    "device": .string(name), "counter": .int(Int64(info.counter))]))
            }
            serviceMode = false
            do {
                let key = try BindingKeyPair.generate()
                let initial = KeyRecord.initial(binding: key, deviceId: deviceId, role: role, appPub: factoryAppKey)
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

    /// Why a package must be refused before it is opened: no app key is
    /// pinned (neither by the factory step nor by an earlier package) and
    /// first-use pinning is not allowed here. Nil: open it (against the
    /// pinned key, or pinning its signer).
    func unpinnedRefusal(bootstrap: Bool) -> String? {
        guard record?.appPub == nil, !allowFirstUsePinning, !bootstrap else { return nil }
        return "no app key pinned (the factory step installs it); a device in the field does not trust the first signer"
    }

    /// The folder of this device's key-store files.
    var directory: URL { driver.flash.flashURL.deletingLastPathComponent() }

    /// Sequence numbers of the reports this device sends (`<name>.rseq`).
    private(set) lazy var reportSequence = ReportSequence.Sender(url: directory.appendingPathComponent("\(name).rseq"))

    /// Session builds (`<name>.boots`), persisted before use like report numbers.
    private lazy var sessionBuilds = ReportSequence.Sender(url: directory.appendingPathComponent("\(name).boots"),
                                                          block: 1)

    /// The HELLO counter base of sessions built now: a build number never
    /// used before (persisted first) << 32, so this device's HELLO counters
    /// grow across reboots and re-provisioning, as protocol v2 requires (a
    /// peer refuses HELLO counters it has passed). Throws when the number
    /// cannot be persisted: the device then builds no session.
    func nextHelloCounterBase() throws -> UInt64 {
        UInt64(try sessionBuilds.next()) << 32
    }

    /// `nextHelloCounterBase`, or nil with the reason added to `log`.
    func helloCounterBase(log: inout [AuditEntry]) -> UInt64? {
        do { return try nextHelloCounterBase() } catch {
            log.append(AuditEntry(event: "session_refused", data: [
                "device": .string(name), "reason": .string("HELLO counter base not persisted: \(error)")]))
            return nil
        }
    }
}

/// Per-pair tamper detection (docs/PROVISIONING_FLOW.md, "Tamper policy").
///
/// Anything a node without the pair's keys can send (forged or replayed
/// frames and HELLOs, stale commands, garbage) is only ever counted and
/// reported: at most one alert per signal and window, and the counts expire
/// with the window. Locking a pair out needs authenticated evidence, which
/// only a holder of the pair key can produce: `clone_suspected`, two
/// different authentic HELLOs under one counter (a cloned device).
struct PairGuard {
    /// Signals a stranger can cause: counted and reported, never a lockout.
    static let unauthenticated: Set<String> = ["auth_failure_rate", "counter_regression", "stale_command"]
    /// Authenticated evidence of a second key holder: quarantines under the policy.
    static let authenticated: Set<String> = ["clone_suspected"]

    var seen: [String: [UInt32]] = [:]
    var lastAlert: [String: UInt32] = [:]
    var quarantined = false

    /// Record a signal; returns an audit entry when one is due and whether
    /// the pair must now be quarantined.
    mutating func note(_ signal: String, now: UInt32, policy: TamperPolicy, pair: String) -> (AuditEntry?, Bool) {
        let authenticated = Self.authenticated.contains(signal)
        guard authenticated || Self.unauthenticated.contains(signal) else { return (nil, false) }
        let window = UInt32(clamping: Int(policy.window.components.seconds * 1000))
        var times = seen[signal, default: []]
        times.removeAll { now &- $0 >= window }
        times.append(now)
        seen[signal] = times
        let quarantine = authenticated && policy.quarantine && !quarantined
        if quarantine { quarantined = true }
        // A few authentication failures are line noise; a rate is worth an alert.
        if signal == "auth_failure_rate" && times.count < policy.authFailureThreshold { return (nil, false) }
        if !quarantine, let last = lastAlert[signal], now &- last < window { return (nil, false) }
        lastAlert[signal] = now
        let action = quarantine ? "pair quarantined until re-provisioned"
            : authenticated ? "logged" : "logged (sent without the pair's keys: never a lockout)"
        return (AuditEntry(event: "alert", data: [
            "kind": .string(signal), "pair": .string(pair), "count": .int(Int64(times.count)),
            "window_ms": .int(Int64(window)), "action": .string(action)]), quarantine)
    }

    /// `note` as the nodes log it: the alert, and `pair_quarantined` when the
    /// pair was quarantined now (returned as `quarantinedNow`).
    mutating func record(_ signal: String, now: UInt32, policy: TamperPolicy,
                         pair: String) -> (entries: [AuditEntry], quarantinedNow: Bool) {
        let (entry, quarantine) = note(signal, now: now, policy: policy, pair: pair)
        var entries = entry.map { [$0] } ?? []
        if quarantine { entries.append(AuditEntry(event: "pair_quarantined", data: ["pair": .string(pair)])) }
        return (entries, quarantine)
    }

    /// The guard's signal for a rejection reason, if it is one.
    static func signal(for error: ModbattError) -> String? {
        switch error {
        case .authenticationFailed: "auth_failure_rate"
        case .replay, .wrongEpoch: "counter_regression"
        case .stale: "stale_command"
        default: nil
        }
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
    case .stale: return "stale"
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
    /// This node's half of the figures: what it sent, what it accepted.
    var messages = MessageCounts()
    /// Peers (device ids) whose messages were delivered.
    var deliveredFrom: Set<UInt8> = []
    /// What the peer sent as told by the messages accepted from it (the app's
    /// view over a real transport, where the pack's own count is not in reach).
    var peerSpan = SenderSpan()
    /// Commands acknowledged, and left unacknowledged past the deadline.
    var commandsAcknowledged = 0
    var commandsUnacknowledged = 0
    var rejected: [String: Int] = [:]
    var rotations = 0
    var seal = Samples()
    var open = Samples()
}
