import Foundation
import Modbatt
import ModbattCAN
@testable import ModbattProvisioning
import Testing

/// `modbatt simulate --traffic reference`: the catalogue, the bus model and
/// its report (docs/TRAFFIC.md).
@Suite("Traffic model")
struct TrafficModelTests {
    static func config(_ catalogue: [TrafficMessage] = TrafficCatalogue.reference, modules: Int = 32,
                       seconds: Double = 2, bitrate: Int = 250_000) -> TrafficSimulation.Configuration {
        var c = TrafficSimulation.Configuration()
        c.catalogue = catalogue
        c.modules = modules
        c.seconds = seconds
        c.bitrate = bitrate
        c.vehicleBitrate = bitrate
        return c
    }

    static func frameNs(_ bits: Int, _ rate: Int) -> Int64 {
        (Int64(bits) * 1_000_000_000 + Int64(rate / 2)) / Int64(rate)
    }

    @Test("the catalogue gives modbatt-traffic.md's clear figures: 95.1 frames/s and 13,090 bit/s on the module bus, 20 frames/s on the vehicle bus")
    func catalogueTotals() throws {
        let cat = TrafficCatalogue.reference
        let rate = { (name: String) in
            TrafficCatalogue.designRate(of: cat.first { $0.name == name }!, in: cat, modules: 32)
        }
        #expect(rate("MODULE_MAX_STATE") == 5)
        #expect(rate("MODULE_STATUS_REQUEST") == 10)
        for r in ["MODULE_STATUS_1", "MODULE_STATUS_2", "MODULE_STATUS_3", "MODULE_CELL_COMM_STATUS1"] {
            #expect(rate(r) == 10)
        }
        #expect(abs(rate("MODULE_STATE_CHANGE") - 40) < 1e-9)
        #expect(abs(rate("MODULE_ANNOUNCE_REQUEST") - 0.1) < 1e-12)
        #expect(abs(TrafficCatalogue.designFramesPerSecond(cat, bus: .module, modules: 32) - 95.1) < 1e-9)
        #expect(abs(TrafficCatalogue.designFramesPerSecond(cat, bus: .vehicle, modules: 32) - 20) < 1e-9)
        // The document's bit count: 8 * DLC + 96 below 8 bytes, 160 for 8 (section 6).
        func docBits(_ bus: TrafficBus) -> Double {
            cat.filter { $0.bus == bus }.reduce(0) {
                $0 + TrafficCatalogue.designRate(of: $1, in: cat, modules: 32) * Double($1.dlc < 8 ? 8 * $1.dlc + 96 : 160)
            }
        }
        #expect(abs(docBits(.module) - 13_090) < 1)  // the document rounds 10.4 bit/s to 10
        #expect(abs(docBits(.vehicle) - 3_200) < 1e-6)

        // And the simulation, run on the catalogue, reproduces them.
        let sim = try TrafficSimulation(Self.config(seconds: 10))
        let module = sim.run(bus: .module, encrypted: false)
        let vehicle = sim.run(bus: .vehicle, encrypted: false)
        let moduleFps = Double(module.framesInWindow) / module.seconds
        let vehicleFps = Double(vehicle.framesInWindow) / vehicle.seconds
        #expect(abs(moduleFps - 95.1) < 95.1 * 0.02, "module bus \(moduleFps) frames/s")
        #expect(abs(vehicleFps - 20) < 0.5, "vehicle bus \(vehicleFps) frames/s")
    }

    @Test("clear bus load equals the analytic sum of rate x frame bits for a small catalogue")
    func clearLoadAnalytic() throws {
        let cat = [
            TrafficMessage(name: "A", standardId: 0x512, bus: .module, sender: .controller, dlc: 1,
                           trigger: .periodic(periodMs: 10), deadlineMs: 10),
            TrafficMessage(name: "B", standardId: 0x514, bus: .module, sender: .controller, dlc: 4,
                           trigger: .periodic(periodMs: 20), command: true, deadlineMs: 20),
            TrafficMessage(name: "C", standardId: 0x517, bus: .module, sender: .controller, addressing: .broadcast,
                           dlc: 8, trigger: .periodic(periodMs: 50), deadlineMs: 50),
        ]
        var c = Self.config(cat, modules: 4, seconds: 1)
        c.randomPhases = false
        let run = try TrafficSimulation(c).run(bus: .module, encrypted: false)
        // Worst-case stuffed 29-bit frames: 90, 120 and 160 bits.
        let bits: Double = 100 * 90 + 50 * 120 + 20 * 160
        let analytic = bits / 250_000
        #expect(abs(run.load - analytic) < 1e-9, "\(run.load) vs \(analytic)")
        #expect(run.framesInWindow == 170)
        #expect(run.outcomes.allSatisfy { $0.deliveredNs != nil })
    }

    static func session(_ role: SecureSession.Role) throws -> SecureSession {
        let halves = ((0..<64).map { UInt8($0 ^ 0x33) }, (0..<64).map { UInt8(99 &+ $0) })
        let salt = (0..<32).map { UInt8($0 * 7) }
        let me = role == .device ? "test_device" : "test_controller"
        let peer = role == .device ? "test_controller" : "test_device"
        let keys = try PairKeys(halves: KeyHalf(bytes: halves.0), KeyHalf(bytes: halves.1), salt: Salt(bytes: salt),
                                selfId: me, peerId: peer, lctId: "lct_test")
        return try SecureSession(configuration: .init(role: role, profile: .classic, deviceId: 0x11), pairKeys: keys)
    }

    static func connect(_ ctl: inout SecureSession, _ dev: inout SecureSession) throws {
        var hello: [CANFrame] = [], reply: [CANFrame] = [], finish: [CANFrame] = [], none: [CANFrame] = []
        try ctl.start(now: 0, output: &hello)
        for f in hello { _ = try dev.receive(f, now: 1, output: &reply) }
        for f in reply { _ = try ctl.receive(f, now: 2, output: &finish) }
        for f in finish { _ = try dev.receive(f, now: 3, output: &none) }
        #expect(ctl.info.established && dev.info.established)
    }

    @Test("frames_per_message is what a real SecureSession produces for each catalogued payload")
    func framesPerMessageFromSessions() throws {
        let report = try ReferenceTrafficReport.run(Self.config(seconds: 0.5))
        var ctl = try Self.session(.controller), dev = try Self.session(.device)
        try Self.connect(&ctl, &dev)
        for m in TrafficCatalogue.reference {
            var out: [CANFrame] = []
            let payload = [UInt8](repeating: 0xA5, count: m.dlc)
            if m.addressing == .unregistered {
                #expect(report.framesPerMessage[m.name.lowercased()] == 1, "\(m.name) stays clear")
                continue
            }
            let type: SecureSession.MessageType = m.command ? .command : (m.sender == .device ? .status : .diagnostics)
            if m.sender == .controller {
                try ctl.send(type, payload: payload, now: 10, output: &out)
            } else {
                try dev.send(type, payload: payload, now: 10, output: &out)
            }
            #expect(report.framesPerMessage[m.name.lowercased()] == out.count, "\(m.name): session made \(out.count) frames")
            #expect(out.count == (m.dlc + (m.command ? 4 : 0) + 28 + 7) / 8)
        }
    }

    @Test("on an idle bus a message's latency is exactly its frames' times")
    func idleLatency() throws {
        let cat = [TrafficMessage(name: "S", standardId: 0x502, bus: .module, sender: .device, dlc: 8,
                                  trigger: .periodic(periodMs: 100), deadlineMs: 100)]
        let sim = try TrafficSimulation(Self.config(cat, modules: 1, seconds: 1))
        let chunks = try #require(sim.framing.chunks(of: cat[0]))
        #expect(chunks == [8, 8, 8, 8, 4])
        let expected = chunks.reduce(Int64(0)) {
            $0 + Self.frameNs(FrameTiming.classicBits(dataBytes: $1, extended: true, stuffing: .worstCase), 250_000)
        }
        #expect(expected == 3_040_000)  // 4 x 160 + 120 bits at 250 kbit/s
        let enc = sim.run(bus: .module, encrypted: true)
        #expect(enc.outcomes.count == 10)
        for o in enc.outcomes { #expect(o.deliveredNs.map { $0 - o.callNs } == expected) }
        let clear = sim.run(bus: .module, encrypted: false)
        for o in clear.outcomes { #expect(o.deliveredNs.map { $0 - o.callNs } == 640_000) }
    }

    @Test("arbitration: the lower standard id goes first when two messages are called at once")
    func arbitration() throws {
        let cat = [
            TrafficMessage(name: "HIGH", standardId: 0x517, bus: .module, sender: .controller, dlc: 8,
                           trigger: .periodic(periodMs: 100), deadlineMs: 100),
            TrafficMessage(name: "LOW", standardId: 0x502, bus: .module, sender: .device, dlc: 8,
                           trigger: .periodic(periodMs: 100), deadlineMs: 100),
        ]
        var c = Self.config(cat, modules: 1, seconds: 0.1)
        c.randomPhases = false
        let run = try TrafficSimulation(c).run(bus: .module, encrypted: false)
        let high = try #require(run.outcomes.first { $0.type == 0 }?.deliveredNs)
        let low = try #require(run.outcomes.first { $0.type == 1 }?.deliveredNs)
        #expect(low == 640_000 && high == 1_280_000)
    }

    @Test("an overloaded bus reports deadline misses; the same traffic in clear meets every deadline")
    func overload() throws {
        // 8 bytes every 2 ms: 32 % of 250 kbit/s in clear, 5 frames (152 %) encrypted.
        let cat = [TrafficMessage(name: "FAST", standardId: 0x502, bus: .module, sender: .device, dlc: 8,
                                  trigger: .periodic(periodMs: 2), deadlineMs: 2)]
        var c = Self.config(cat, modules: 1, seconds: 0.5)
        c.randomPhases = false
        let report = try ReferenceTrafficReport.run(c)
        let bus = try #require(report.buses["module"])
        #expect(bus.deadlineMissesClear == 0)
        #expect(abs(bus.busLoadClear - 0.32) < 0.01)
        #expect(bus.offeredLoad > 1.5)
        #expect(bus.busLoad > 0.99)
        #expect(bus.deadlineMisses > 200)
        #expect(report.deadlineMisses == bus.deadlineMisses)
    }

    @Test("32 modules at 250k (docs/TRAFFIC.md): broadcasts sealed per pair overload the module bus, a group key would not")
    func referenceFinding() throws {
        var c = Self.config(seconds: 3)
        let perPair = try #require(try ReferenceTrafficReport.run(c).buses["module"])
        #expect(perPair.busLoadClear < 0.06)
        #expect(perPair.busLoad > 0.70)
        #expect(perPair.deadlineMisses > 0 && perPair.deadlineMissesClear == 0)
        #expect(perPair.messages.first { $0.name == "MODULE_MAX_STATE" }?.messagesPerCall == 32)
        c.groupBroadcast = true
        let group = try #require(try ReferenceTrafficReport.run(c).buses["module"])
        #expect(group.busLoad > 0.25 && group.busLoad < 0.30)
        #expect(group.deadlineMisses == 0)
    }

    @Test("the same arguments give the same figures; another seed moves the timers")
    func deterministic() throws {
        let a = try ReferenceTrafficReport.run(Self.config(seconds: 2))
        let b = try ReferenceTrafficReport.run(Self.config(seconds: 2))
        #expect(a == b)
        var c = Self.config(seconds: 2)
        c.seed = 2
        let other = try ReferenceTrafficReport.run(c)
        #expect(other.buses["module"]?.messages != a.buses["module"]?.messages)
    }
}
