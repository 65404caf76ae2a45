import CModbattSocketCAN
import Testing
@testable import ModbattCAN

#if canImport(Glibc)
import Glibc
#endif

/// Why the kernel-dependent tests cannot run here, or nil when `vcan0` works.
let socketCANUnavailable: String? = SocketCANTransport.unavailableReason(interface: "vcan0")

@Suite("SocketCAN")
struct SocketCANTests {
    // MARK: Without a kernel

    @Test func errnoMapping() {
        #expect(SocketCANTransport.error(-EAFNOSUPPORT, call: "open", interface: "can0") == .kernelLacksAFCAN)
        #expect(SocketCANTransport.error(-ENODEV, call: "open", interface: "can7") == .noSuchInterface("can7"))
        #expect(SocketCANTransport.error(-ENOBUFS, call: "write", interface: "can0") == .transmitQueueFull)
        #expect(SocketCANTransport.error(-ENOSYS, call: "x", interface: "can0") == .setupNotCompiled)
        let other = SocketCANTransport.error(-EPERM, call: "bind", interface: "can0")
        #expect(other == .system(call: "bind", errno: EPERM, message: String(cString: strerror(EPERM))))
        #expect(CANTransportError.kernelLacksAFCAN.description.contains("EAFNOSUPPORT"))
        #expect(CANTransportError.setupNotCompiled.description.contains("--traits SocketCANSetup"))
    }

    @Test func openFailsClearlyWithoutInterface() {
        // Either the kernel has no AF_CAN (this CI machine) or the interface does not exist.
        do {
            _ = try SocketCANTransport(interface: "mbnope0")
            Issue.record("opening a nonexistent interface must fail")
        } catch {
            #expect(error == .kernelLacksAFCAN || error == .noSuchInterface("mbnope0"))
        }
        #expect(throws: CANTransportError.self) { _ = try SocketCANTransport(interface: "") }
        #expect(throws: CANTransportError.self) { _ = try SocketCANTransport(interface: "a-name-longer-than-15") }
    }

    @Test func shimRejectsBadArguments() {
        #expect(mb_can_open("can0", 0, nil) == -EINVAL)
        var frame = mb_can_frame()
        frame.len = 9
        #expect(mb_can_write(-1, &frame) == -EINVAL)       // classic frame longer than 8
        frame.flags = UInt8(MB_CAN_FLAG_FD)
        frame.len = 65
        #expect(mb_can_write(-1, &frame) == -EINVAL)       // FD longer than 64
        frame = mb_can_frame()
        frame.id = 0x800
        #expect(mb_can_write(-1, &frame) == -EINVAL)       // 11-bit id out of range
        frame.flags = UInt8(MB_CAN_FLAG_RTR)
        #expect(mb_can_write(-1, &frame) == -EINVAL)       // remote frames are not sent
        var sec: Int64 = 0, usec: Int32 = 0
        #expect(mb_can_read(-1, nil, &sec, &usec, 0) == -EINVAL)
        #expect(mb_can_set_filters(-1, nil, 1) == -EINVAL)
        #expect(mb_can_set_filters(-1, nil, 513) == -EINVAL)
        #expect(mb_can_interface_mtu("") == -EINVAL)
    }

    @Test func frameConversionFromKernel() throws {
        var raw = mb_can_frame()
        raw.id = 0x1ABC_DEF0
        raw.flags = UInt8(MB_CAN_FLAG_EXTENDED | MB_CAN_FLAG_FD | MB_CAN_FLAG_BRS)
        raw.len = 12
        withUnsafeMutableBytes(of: &raw.data) { for i in 0..<12 { $0[i] = UInt8(i) } }
        let f = try #require(SocketCANTransport.frame(from: raw))
        #expect(f == (try CANFrame(id: 0x1ABC_DEF0, fd: true, bitRateSwitch: true, data: Array(0..<12))))
        raw.flags = UInt8(MB_CAN_FLAG_RTR)
        #expect(SocketCANTransport.frame(from: raw) == nil)
        raw.flags = UInt8(MB_CAN_FLAG_ERROR)
        #expect(SocketCANTransport.frame(from: raw) == nil)
    }

    @Test func interfaceSetupMatchesTrait() {
        if SocketCANInterface.isSetupAvailable {
            // Built with --traits SocketCANSetup: libsocketcan answers (the interface does not exist).
            #expect(throws: CANTransportError.self) { try SocketCANInterface.setBitrate(500_000, interface: "mbnope0") }
            #expect(throws: CANTransportError.self) { _ = try SocketCANInterface.state("mbnope0") }
        } else {
            #expect(throws: CANTransportError.setupNotCompiled) { try SocketCANInterface.setBitrate(500_000, interface: "can0") }
            #expect(throws: CANTransportError.setupNotCompiled) { try SocketCANInterface.start("can0") }
            #expect(throws: CANTransportError.setupNotCompiled) { try SocketCANInterface.stop("can0") }
            #expect(throws: CANTransportError.setupNotCompiled) { try SocketCANInterface.restart("can0") }
            #expect(throws: CANTransportError.setupNotCompiled) { try SocketCANInterface.setRestartDelay(milliseconds: 100, interface: "can0") }
            #expect(throws: CANTransportError.setupNotCompiled) { _ = try SocketCANInterface.state("can0") }
        }
        #expect(throws: CANTransportError.self) { _ = try SocketCANInterface.mtu("mbnope0") }
    }

    // MARK: With vcan0 (skipped with the reason elsewhere)

    @Test(.enabled(if: socketCANUnavailable == nil,
                   "SocketCAN not available: \(socketCANUnavailable ?? ""). Create vcan0: sudo modprobe vcan; sudo ip link add dev vcan0 type vcan; sudo ip link set vcan0 mtu 72; sudo ip link set up vcan0"))
    func vcanRoundTrip() async throws {
        let fdCapable = (try? SocketCANInterface.mtu("vcan0")) == 72
        let a = try SocketCANTransport(interface: "vcan0", options: .init(canFD: fdCapable))
        let b = try SocketCANTransport(interface: "vcan0", options: .init(canFD: fdCapable))
        defer { Task { await a.close(); await b.close() } }
        let classic = try CANFrame(id: 0x1ABC_DEF0, data: [1, 2, 3])
        try await a.send(classic)
        let got = try await b.frames.next(timeout: .seconds(30))
        #expect(got?.frame == classic)
        #expect(got.map { abs(($0.timestamp - CANTime.now()).seconds) < 5 } == true)
        if fdCapable {
            let fd = try CANFrame(id: 0x123, fd: true, bitRateSwitch: true, data: [UInt8](repeating: 7, count: 48))
            try await a.send(fd)
            #expect(try await b.frames.next(timeout: .seconds(30))?.frame == fd)
        }
        // Own frames only on request.
        #expect(try await a.frames.next(timeout: .milliseconds(100)) == nil)
    }

    @Test(.enabled(if: socketCANUnavailable == nil, "SocketCAN not available: \(socketCANUnavailable ?? "")"))
    func vcanFilters() async throws {
        let tx = try SocketCANTransport(interface: "vcan0", options: .init(canFD: false))
        let rx = try SocketCANTransport(interface: "vcan0", options: .init(canFD: false, filters: [.exact(0x100, extended: false)]))
        defer { Task { await tx.close(); await rx.close() } }
        try await tx.send(CANFrame(id: 0x101, data: [1]))
        try await tx.send(CANFrame(id: 0x100, extended: true, data: [2])) // extended with the same number: filtered out
        try await tx.send(CANFrame(id: 0x100, data: [3]))
        #expect(try await rx.frames.next(timeout: .seconds(30))?.frame.data == [3])
        try rx.setFilters([])
        try await tx.send(CANFrame(id: 0x101, data: [4]))
        #expect(try await rx.frames.next(timeout: .seconds(30))?.frame.data == [4])
        await #expect(throws: CANTransportError.unsupportedFrame("CAN FD frame on a socket opened without canFD")) {
            try await tx.send(CANFrame(id: 1, fd: true, data: [1]))
        }
        await tx.close()
        await #expect(throws: CANTransportError.closed) { try await tx.send(CANFrame(id: 1, data: [])) }
    }

    @Test(.enabled(if: socketCANUnavailable == nil, "SocketCAN not available: \(socketCANUnavailable ?? "")"))
    func vcanReceiveOwnFrames() async throws {
        let me = try SocketCANTransport(interface: "vcan0", options: .init(canFD: false, receiveOwnFrames: true))
        defer { Task { await me.close() } }
        try await me.send(CANFrame(id: 0x55, data: [5]))
        #expect(try await me.frames.next(timeout: .seconds(30))?.frame.id == 0x55)
    }
}
