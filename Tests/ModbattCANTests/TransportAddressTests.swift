import Testing
@testable import ModbattCAN

@Suite("Transport addresses")
struct TransportAddressTests {
    @Test func parsesAndPrints() throws {
        #expect(try TransportAddress("socketcan:can0") == .socketCAN(interface: "can0"))
        #expect(try TransportAddress("socketcan://vcan0") == .socketCAN(interface: "vcan0"))
        #expect(try TransportAddress("socketcand://127.0.0.1:29536/vcan0") == .socketcand(host: "127.0.0.1", port: 29536, bus: "vcan0"))
        #expect(try TransportAddress("socketcand://[::1]:29536/can0") == .socketcand(host: "::1", port: 29536, bus: "can0"))
        #expect(try TransportAddress("virtual:app") == .virtual(node: "app"))
        for text in ["socketcan:can0", "socketcand://127.0.0.1:29536/vcan0", "socketcand://[::1]:1/b", "virtual:app"] {
            #expect(try TransportAddress(text).description == text)
        }
    }

    @Test(arguments: [
        ("can0", "'can0' has no scheme: use socketcan:IFACE, socketcand://HOST:PORT/BUS or virtual:NAME"),
        ("tcp://x", "unknown scheme 'tcp': use socketcan, socketcand or virtual"),
        ("socketcan:", "socketcan needs an interface name of 1 to 15 characters, e.g. socketcan:can0"),
        ("socketcan:averyveryverylongname", "socketcan needs an interface name of 1 to 15 characters, e.g. socketcan:can0"),
        ("socketcand://host:1", "socketcand needs HOST:PORT/BUS, e.g. socketcand://127.0.0.1:29536/vcan0"),
        ("socketcand://host:1/", "socketcand needs HOST:PORT/BUS, e.g. socketcand://127.0.0.1:29536/vcan0"),
        ("socketcand://host/vcan0", "socketcand address 'host' needs HOST:PORT with a port 1...65535"),
        ("socketcand://host:0/vcan0", "socketcand address 'host:0' needs HOST:PORT with a port 1...65535"),
        ("socketcand://:5/vcan0", "socketcand address ':5' needs HOST:PORT with a port 1...65535"),
        ("virtual:", "virtual needs a node name, e.g. virtual:app"),
    ])
    func rejectsBadAddresses(text: String, reason: String) {
        #expect(throws: TransportAddressError(reason)) { try TransportAddress(text) }
    }

    @Test func opensEachKind() async throws {
        let bus = VirtualBus(VirtualBus.Configuration(clock: .realTime))
        let server = try await SocketcandServer.start(bus: bus)
        let local = try await TransportAddress("virtual:local").open(virtualBus: bus)
        let remote = try await TransportAddress("socketcand://127.0.0.1:\(server.port)/vcan0").open()
        try await remote.send(CANFrame(id: 0x42, data: [1]))
        #expect(try await local.frames.next(timeout: .seconds(30))?.frame.id == 0x42)
        await remote.close()
        await #expect(throws: TransportAddressError("virtual:x needs a virtual bus to attach to")) {
            _ = try await TransportAddress.virtual(node: "x").open()
        }
        if socketCANUnavailable != nil {
            // No AF_CAN or no vcan0: the SocketCAN error comes through unchanged.
            await #expect(throws: CANTransportError.self) { _ = try await TransportAddress("socketcan:vcan0").open() }
        }
        await server.close()
    }
}
