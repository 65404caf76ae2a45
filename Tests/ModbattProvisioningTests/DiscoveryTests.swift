import Foundation
import Modbatt
import ModbattCAN
import Testing
@testable import ModbattProvisioning

/// Discovery over CAN (docs/PROTOCOL.md 17): the device nodes answer a clear
/// query with their public identity, refuse anything malformed without
/// changing state, answer at most once per second, and the tool's collector
/// refuses malformed answers and reports conflicts.
@Suite("Discovery over CAN")
struct DiscoveryTests {
    /// A pack controller and modules on a virtual-clock bus, plus the tool's node.
    struct Bench {
        let bus = VirtualBus(VirtualBus.Configuration(name: "vdisc"))
        let tool: VirtualBus.Node
        let pack: PackControllerNode
        let modules: [BatteryModuleNode]

        init(modules count: Int) async throws {
            let dir = tempDataDirectory("disc")
            try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
            let audit = AuditLog()
            tool = await bus.attach(name: "tool")
            let packStorage = try DeviceStorage(directory: dir, name: "pack", serial: "PC-D1", deviceId: World.packId, role: 0)
            pack = PackControllerNode(storage: packStorage, node: await bus.attach(name: "pack"), audit: audit,
                                      policy: TamperPolicy(), allowBootstrap: false)
            var mods: [BatteryModuleNode] = []
            for n in 1...count {
                let s = try DeviceStorage(directory: dir, name: World.moduleName(n), serial: "BM-D\(n)",
                                          deviceId: World.moduleId(n), role: 1)
                mods.append(BatteryModuleNode(storage: s, node: await bus.attach(name: s.name), audit: audit,
                                              policy: TamperPolicy(), profile: .classic, allowBootstrap: false, silent: false))
            }
            modules = mods
            await pack.powerOn()
            for m in mods { await m.powerOn() }
        }

        /// Send `frames` from the tool, step every device at `now`, and return what the tool heard.
        func ask(_ frames: [CANFrame], now: UInt32) async throws -> DiscoveryReport {
            for f in frames { try await tool.send(f) }
            _ = await pack.step(now: now)
            for m in modules { _ = await m.step(now: now) }
            var collector = DiscoveryCollector()
            for f in await tool.drain() { collector.take(f.frame) }
            return collector.report
        }
    }

    static func query(_ data: [UInt8], id: CANId = CANId(messageId: Discovery.queryMessageId, deviceId: 0),
                      fd: Bool = false) throws -> CANFrame {
        try CANFrame(modbattId: id, fd: fd, data: data)
    }

    static let identity = DiscoveredDevice(deviceId: 0x12, role: .module, firmware: .reference,
                                           bindingKey: [0x04] + Array(repeating: 0xAB, count: 64), serial: "BM-0003")

    @Test("the pack controller and each module answer with serial, device id, binding key and firmware version")
    func nodesAnswer() async throws {
        let bench = try await Bench(modules: 2)
        let report = try await bench.ask([Discovery.queryFrame()], now: 0)
        #expect(report.rejected.isEmpty)
        #expect(report.conflicts.isEmpty)
        #expect(report.devices.map(\.deviceId) == [0x01, 0x02, 0x40])
        #expect(report.devices.map(\.serial) == ["BM-D1", "BM-D2", "PC-D1"])
        #expect(report.devices.map(\.role) == [.module, .module, .packController])
        #expect(report.devices.allSatisfy { $0.firmware == .reference })
        var keys: [[UInt8]?] = []
        for m in bench.modules { keys.append(await m.bindingPublicKey) }
        keys.append(await bench.pack.bindingPublicKey)
        #expect(report.devices.map(\.bindingKey) == keys)
        #expect(keys.allSatisfy { $0?.count == 65 && $0?.first == 0x04 })
    }

    @Test("a query for one device id is answered by that device only")
    func targetedQuery() async throws {
        let bench = try await Bench(modules: 2)
        let report = try await bench.ask([Discovery.queryFrame(target: 0x02)], now: 0)
        #expect(report.devices.map(\.serial) == ["BM-D2"])
    }

    @Test("an answer is the project's segmentation: classic frames under 0x4C1 and the device's id, 11 frames for a 7-character serial")
    func answerFrames() throws {
        let frames = try Self.identity.frames()
        #expect(frames.count == 11)                                  // 8 + 65 + 1 + 7 = 81 bytes
        #expect(frames.allSatisfy { !$0.isFD && $0.modbattId?.messageId == 0x4C1 && $0.modbattId?.deviceId == 0x12 })
        #expect(frames.first?.id == 0x1304_0A12)                      // 0x4C1 << 18 | chunk 1/11 | device 0x12
        var c = DiscoveryCollector()
        for f in frames { c.take(f) }
        #expect(c.report.devices == [Self.identity])
    }

    @Test("malformed and oversized queries are refused with their reason and change no state", arguments: [
        ([1, 0, 0], DiscoveryError.oversized(bytes: 3, max: 2)),
        ([1, 0, 0, 0, 0, 0, 0, 0], .oversized(bytes: 8, max: 2)),
        ([1], .malformed("query of 1 bytes, expected 2")),
        ([], .malformed("query of 0 bytes, expected 2")),
        ([2, 0], .unsupportedVersion(2)),
        ([1, 1], .malformed("query flags 1, expected 0")),
    ] as [([UInt8], DiscoveryError)])
    func refusedQueries(data: [UInt8], expected: DiscoveryError) throws {
        var responder = DiscoveryResponder(deviceId: 0x12)
        let result = responder.handle(try Self.query(data), now: 5) { Self.identity }
        if case .failure(let error)? = result { #expect(error == expected) } else { Issue.record("not refused: \(String(describing: result))") }
        #expect(responder.lastAnswerAt == nil)
        // No rate-limit slot was used: a good query at the same instant is answered.
        let good = responder.handle(Discovery.queryFrame(), now: 5) { Self.identity }
        #expect((try? good?.get())?.count == 11)
    }

    @Test("queries with the encryption bit, in chunks or on CAN FD are malformed", arguments: [
        (CANId(messageId: Discovery.queryMessageId, encrypted: true, deviceId: 0), false),
        (CANId(messageId: Discovery.queryMessageId, chunkIndex: 1, chunkTotal: 2, deviceId: 0), false),
        (CANId(messageId: Discovery.queryMessageId, deviceId: 0), true),
    ])
    func refusedQueryIds(id: CANId, fd: Bool) throws {
        var responder = DiscoveryResponder(deviceId: 0x12)
        let result = responder.handle(try Self.query([1, 0], id: id, fd: fd), now: 0) { Self.identity }
        guard case .failure(.malformed)? = result else { Issue.record("not refused as malformed: \(String(describing: result))"); return }
        #expect(responder.lastAnswerAt == nil)
    }

    @Test("a device answers at most once per second, however many queries arrive")
    func rateLimit() throws {
        var responder = DiscoveryResponder(deviceId: 0x12)
        func answered(_ now: UInt32) -> Bool { (try? responder.handle(Discovery.queryFrame(), now: now) { Self.identity }?.get()) != nil }
        #expect(answered(0xFFFF_FF00))                              // near the wrap of the ms clock
        #expect(!answered(0xFFFF_FF01))
        #expect(!answered(0x0000_02E7))                             // 999 ms later, across the wrap
        #expect(answered(0x0000_02E8))                              // 1000 ms later
        #expect(responder.lastAnswerAt == 0x0000_02E8)
        guard case .failure(.rateLimited(let since))? = responder.handle(Discovery.queryFrame(), now: 0x0000_02F2,
                                                                         identity: { Self.identity }) else {
            Issue.record("not rate limited")
            return
        }
        #expect(since == 10)
    }

    @Test("a query flood gets one answer per device per second; malformed queries are only counted")
    func nodeRateLimit() async throws {
        let bench = try await Bench(modules: 1)
        let flood = Array(repeating: Discovery.queryFrame(), count: 20) + [try Self.query([1, 0, 0])]
        let first = try await bench.ask(flood, now: 100)
        #expect(first.devices.count == 2)
        let soon = try await bench.ask(flood, now: 600)
        #expect(soon.devices.isEmpty)                              // half a second later: nothing
        let later = try await bench.ask([Discovery.queryFrame()], now: 1100)
        #expect(later.devices.count == 2)
        let counters = await bench.modules[0].counters
        #expect(counters.rejected["discovery_rate_limited"] == 39)
        #expect(counters.rejected["discovery_oversized"] == 2)
    }

    /// Ways to damage a good answer body, and the reason the collector must give.
    enum Damage: CaseIterable, Sendable {
        case serialTooLong, trailingByte, otherDeviceId, compressedKey, shortKey, escapeInSerial, unknownRole
        case otherVersion, cutInKey, oversized

        func apply(_ b: inout [UInt8]) {
            switch self {
            case .serialTooLong: b[b.count - 8] = 49
            case .trailingByte: b += [0x41]
            case .otherDeviceId: b[2] = 0x13
            case .compressedKey: b[8] = 0x02
            case .shortKey: b[7] = 33
            case .escapeInSerial: b[b.count - 1] = 0x1B
            case .unknownRole: b[1] = 7
            case .otherVersion: b[0] = 9
            case .cutInKey: b = Array(b.prefix(40))
            case .oversized: b += Array(repeating: 0x41, count: 47)
            }
        }

        var reason: String {
            switch self {
            case .serialTooLong: "serial of 49 bytes"
            case .trailingByte: "bytes after the serial"
            case .otherDeviceId: "device id 19 in an answer sent as device 18"
            case .compressedKey: "not an uncompressed P-256 point"
            case .shortKey: "binding key of 33 bytes"
            case .escapeInSerial: "not printable"
            case .unknownRole: "unknown role 7"
            case .otherVersion: "unsupported discovery version 9"
            case .cutInKey: "answer ends inside the binding key"
            case .oversized: "oversized: 128 bytes, at most 122"
            }
        }
    }

    @Test("malformed and oversized answers are refused with their reason and do not disturb other devices' answers",
          arguments: Damage.allCases)
    func refusedAnswers(damage: Damage) throws {
        let reason = damage.reason
        var body = Self.identity.encode()
        damage.apply(&body)
        let bad = try Segmentation.frames(of: body, messageId: Discovery.answerMessageId, encrypted: false,
                                          deviceId: 0x12, profile: .classic)
        var other = Self.identity
        other.deviceId = 0x13
        var c = DiscoveryCollector()
        for (i, f) in try other.frames().enumerated() {
            if i < bad.count { c.take(bad[i]) }                    // interleaved with a good answer
            c.take(f)
        }
        for f in bad.dropFirst(11) { c.take(f) }
        #expect(c.report.devices == [other])
        #expect(c.report.rejected.count == 1)
        let refusal = try #require(c.report.rejected.first)
        #expect(refusal.deviceId == 0x12)
        #expect("\(refusal.reason)".contains(reason), "\(refusal.reason)")
    }

    @Test("answers broken on the bus are refused: a chunk out of order, a short chunk, an incomplete answer")
    func brokenAnswerFrames() throws {
        let frames = try Self.identity.frames()
        var c = DiscoveryCollector()
        c.take(frames[0]); c.take(frames[2])
        #expect("\(c.report.rejected.first?.reason as Any)".contains("chunk 3/11 out of order"))
        var short = DiscoveryCollector()
        short.take(frames[0])
        short.take(try CANFrame(id: frames[1].id, extended: true, data: frames[1].data.prefix(5)))
        #expect("\(short.report.rejected.first?.reason as Any)".contains("chunk 2 not full"))
        var cut = DiscoveryCollector()
        for f in frames.dropLast() { cut.take(f) }
        #expect(cut.report.devices.isEmpty)
        #expect("\(cut.report.rejected.first?.reason as Any)".contains("incomplete"))
    }

    @Test("two different answers under one id are a conflict, and the factory step pins nothing then")
    func conflicts() throws {
        var twin = Self.identity
        twin.serial = "BM-EVIL"
        var c = DiscoveryCollector()
        for f in try Self.identity.frames() + twin.frames() + Self.identity.frames() { c.take(f) }
        #expect(c.report.devices.isEmpty)
        #expect(c.report.conflicts[0x12] == [Self.identity, twin])
        let expected = FactoryDiscovery.Expected(field: "modules[2]", serial: "BM-0003", deviceId: 0x12, pinnedKey: nil)
        #expect(throws: FactoryDiscovery.Refusal.self) {
            _ = try FactoryDiscovery.layout(from: c.report, pack: expected, modules: [])
        }
    }

    @Test("the factory step takes discovered keys only when every device answered as configured")
    func factoryLayout() throws {
        let key = Self.identity.bindingKey!
        let pack = DiscoveredDevice(deviceId: 1, role: .packController, firmware: .reference,
                                    bindingKey: [0x04] + Array(repeating: 0x11, count: 64), serial: "PC-9")
        let report = DiscoveryReport(devices: [pack, Self.identity])
        func expect(_ serial: String, _ id: UInt8, _ field: String, pinned: [UInt8]? = nil) -> FactoryDiscovery.Expected {
            FactoryDiscovery.Expected(field: field, serial: serial, deviceId: id, pinnedKey: pinned)
        }
        let layout = try FactoryDiscovery.layout(from: report, pack: expect("PC-9", 1, "pack"),
                                                 modules: [expect("BM-0003", 0x12, "modules[0]", pinned: key)])
        #expect(layout.pack.bindingKey == pack.bindingKey)
        #expect(layout.modules.map(\.bindingKey) == [key])
        let refusals: [(FactoryDiscovery.Expected, String)] = [
            (expect("BM-0004", 0x13, "modules[1]"), "modules[1] (BM-0004, id 0x13): no answer"),
            (expect("BM-XXXX", 0x12, "modules[0]"), "answered with serial BM-0003"),
            (expect("BM-0003", 0x12, "modules[0]", pinned: [0x04] + Array(repeating: 0, count: 64)), "never replaced"),
            (expect("PC-9", 0x01, "modules[0]"), "answered as a pack_controller"),
        ]
        for (module, text) in refusals {
            do {
                _ = try FactoryDiscovery.layout(from: report, pack: expect("PC-9", 1, "pack"), modules: [module])
                Issue.record("accepted \(module.field)")
            } catch {
                #expect(error.description.contains(text), "\(error)")
            }
        }
    }

    @Test("PackDiscovery over a transport lists every device of a 3-module pack run by PackDevices")
    func packDevicesOverTransport() async throws {
        let bus = VirtualBus(VirtualBus.Configuration(name: "vdisc", clock: .realTime))
        let dir = tempDataDirectory("disc-pack")
        let config = PackDevicesConfiguration(storeDirectory: dir, pack: .init(serial: "PC-T1", deviceId: 1),
                                              modules: (1...3).map { .init(serial: "BM-T\($0)", deviceId: UInt8(15 + $0)) })
        let layout = try PackDevices.bootKeyStores(config)
        let devices = try await PackDevices(configuration: config) { name in await bus.attach(name: name) }
        let running = Task { try await devices.run() }
        let tool = await bus.attach(name: "tool")
        let report = try await PackDiscovery.discover(on: tool, wait: .seconds(10), expecting: 4)
        running.cancel()
        _ = try? await running.value
        await devices.shutdown()
        #expect(report.devices.map(\.serial) == ["PC-T1", "BM-T1", "BM-T2", "BM-T3"])
        #expect(report.devices.map(\.deviceId) == [1, 16, 17, 18])
        #expect(report.devices.map(\.bindingKey) == ([layout.pack] + layout.modules).map { $0.bindingKey as [UInt8]? })
        #expect(report.rejected.isEmpty && report.conflicts.isEmpty)
    }
}
