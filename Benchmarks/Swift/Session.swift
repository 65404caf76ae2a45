// Case 2: the Swift safety layer's session (`SecureSession`, a wrapper over
// the C core's mb_session), measured exactly like c_session.* in
// Benchmarks/c/bench.c: a controller and a device session, handshake done in
// memory, then "seal" = `send` of one application message (its frames are
// appended to the slot's frame array, kept with its capacity) and "open" =
// every frame of the slot through `receive` until the message is delivered.

import Modbatt

enum SessionCases {
    /// What case 2 measured, for swift.json and the report.
    static let apiDescription = "SecureSession.send / SecureSession.receive (Sources/Modbatt/SecureSession.swift)"

    static func make() throws -> [any MessageBench] {
        var cases: [any MessageBench] = []
        for len in [0, 8, 36, 100] { cases.append(try SwiftSessionBench(profile: .classic, payload: len)) }
        for len in [8, 36, 228] { cases.append(try SwiftSessionBench(profile: .fd, payload: len)) }
        return cases
    }
}

/// The harness's stored properties are marked `@exclusivity(unchecked)`: the
/// benchmark accesses them from one thread, one call at a time, and their
/// runtime exclusivity checks would otherwise count against the layer being
/// measured (the same holds for the classes in main.swift).
final class SwiftSessionBench: MessageBench {
    let payload: Int
    let profile: String
    var name: String { "swift_session.\(profile).\(payload)" }
    let impl = "swift_session"
    var frames: Int { slots[0].count }
    @exclusivity(unchecked) var ctl: SecureSession
    @exclusivity(unchecked) var dev: SecureSession
    let pt: [UInt8]
    @exclusivity(unchecked) var slots: [[CANFrame]]
    @exclusivity(unchecked) var scratch: [CANFrame] = []
    @exclusivity(unchecked) var last: SecureSession.Message?
    static let now: UInt32 = 1000

    init(profile: SecureSession.Profile, payload: Int) throws {
        self.payload = payload
        self.profile = profile == .fd ? "fd" : "classic"
        pt = plaintext(payload)
        // The same pair as the C program: fixed halves, salt and ids.
        var halfA = [UInt8](repeating: 0, count: 64), halfB = [UInt8](repeating: 0, count: 64)
        halfA.replaceSubrange(0..<9, with: [0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 1])
        halfB.replaceSubrange(0..<9, with: [0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE, 0xF0, 0x01, 2])
        var salt = [UInt8](repeating: 0, count: 32)
        salt.replaceSubrange(0..<4, with: [0x5A, 0x17, 0x00, 0x42])
        let ids = ("comp_pack_0001", "comp_module_07", "lct_pack_0001_module_07")

        func config(_ role: SecureSession.Role) -> SecureSession.Configuration {
            var c = SecureSession.Configuration(role: role, profile: profile, deviceId: 0x07)
            c.rekeyAfterMs = 0                      // never by time
            c.rekeyAfterMessages = 1 << 32          // never within a run
            return c
        }
        let ctlKeys = try PairKeys(halves: KeyHalf(bytes: halfA), KeyHalf(bytes: halfB), salt: Salt(bytes: salt),
                                   selfId: ids.0, peerId: ids.1, lctId: ids.2)
        let devKeys = try PairKeys(halves: KeyHalf(bytes: halfA), KeyHalf(bytes: halfB), salt: Salt(bytes: salt),
                                   selfId: ids.1, peerId: ids.0, lctId: ids.2)
        ctl = try SecureSession(configuration: config(.controller), pairKeys: ctlKeys)
        dev = try SecureSession(configuration: config(.device), pairKeys: devKeys)
        slots = (0..<slotCount).map { _ in
            var a: [CANFrame] = []
            a.reserveCapacity(16)
            return a
        }
        try handshake()
    }

    /// HELLO, REPLY, FINISH delivered in memory.
    private func handshake() throws {
        var toDev: [CANFrame] = [], toCtl: [CANFrame] = []
        try ctl.start(now: Self.now, output: &toDev)
        for _ in 0..<4 {
            for f in toDev { _ = try dev.receive(f, now: Self.now, output: &toCtl) }
            toDev.removeAll()
            for f in toCtl { _ = try ctl.receive(f, now: Self.now, output: &toDev) }
            toCtl.removeAll()
        }
        guard ctl.info.established, dev.info.established else { fail("\(name): handshake did not complete") }
    }

    @inline(never) func seal(_ slot: Int) {
        slots[slot].removeAll(keepingCapacity: true)
        do {
            try ctl.send(.application(0), payload: pt, now: Self.now, output: &slots[slot])
        } catch { fail("SecureSession.send: \(error)") }
    }

    @inline(never) func open(_ slot: Int) {
        do {
            for frame in slots[slot] {
                if let m = try dev.receive(frame, now: Self.now, output: &scratch) { last = m }
            }
        } catch { fail("SecureSession.receive: \(error)") }
    }

    func verify() -> Bool { last?.payload == pt }
}
