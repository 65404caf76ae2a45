/// A transport named by a string, for command lines and config files:
///
/// - `socketcan:can0` (or `socketcan://can0`): a raw SocketCAN socket, CAN FD on.
/// - `socketcand://HOST:PORT/BUS`: a socketcand server's bus.
/// - `virtual:NAME`: a new node named NAME on the virtual bus passed to `open`.
public enum TransportAddress: Sendable, Hashable, CustomStringConvertible {
    case socketCAN(interface: String)
    case socketcand(host: String, port: Int, bus: String)
    case virtual(node: String)

    /// Parse an address; throws `TransportAddressError` saying what is wrong.
    public init(_ text: String) throws(TransportAddressError) {
        guard let colon = text.firstIndex(of: ":") else {
            throw .init("'\(text)' has no scheme: use socketcan:IFACE, socketcand://HOST:PORT/BUS or virtual:NAME")
        }
        let scheme = text[..<colon].lowercased()
        var rest = text[text.index(after: colon)...]
        if rest.hasPrefix("//") { rest = rest.dropFirst(2) }
        switch scheme {
        case "socketcan":
            guard !rest.isEmpty, rest.utf8.count < 16, !rest.contains("/"), !rest.contains(":") else {
                throw .init("socketcan needs an interface name of 1 to 15 characters, e.g. socketcan:can0")
            }
            self = .socketCAN(interface: String(rest))
        case "socketcand":
            let parts = rest.split(separator: "/", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[1].isEmpty, !parts[1].contains("/") else {
                throw .init("socketcand needs HOST:PORT/BUS, e.g. socketcand://127.0.0.1:29536/vcan0")
            }
            let hostPort = parts[0]
            guard let sep = hostPort.lastIndex(of: ":"), let port = Int(hostPort[hostPort.index(after: sep)...]),
                  (1...65535).contains(port), sep > hostPort.startIndex else {
                throw .init("socketcand address '\(hostPort)' needs HOST:PORT with a port 1...65535")
            }
            var host = String(hostPort[..<sep])
            if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
            self = .socketcand(host: host, port: port, bus: String(parts[1]))
        case "virtual":
            guard !rest.isEmpty else { throw .init("virtual needs a node name, e.g. virtual:app") }
            self = .virtual(node: String(rest))
        default:
            throw .init("unknown scheme '\(scheme)': use socketcan, socketcand or virtual")
        }
    }

    public var description: String {
        switch self {
        case .socketCAN(let interface): return "socketcan:\(interface)"
        case .socketcand(let host, let port, let bus):
            return "socketcand://\(host.contains(":") ? "[\(host)]" : host):\(port)/\(bus)"
        case .virtual(let node): return "virtual:\(node)"
        }
    }

    /// Open the transport. `virtualBus` is required for `virtual:` addresses.
    public func open(virtualBus: VirtualBus? = nil) async throws -> any CANTransport {
        switch self {
        case .socketCAN(let interface):
            return try SocketCANTransport(interface: interface)
        case .socketcand(let host, let port, let bus):
            return try await SocketcandClient.connect(host: host, port: port, bus: bus)
        case .virtual(let node):
            guard let virtualBus else { throw TransportAddressError("virtual:\(node) needs a virtual bus to attach to") }
            return await virtualBus.attach(name: node)
        }
    }
}

/// A transport address that does not parse or cannot be opened as given.
public struct TransportAddressError: Error, Sendable, Equatable, CustomStringConvertible {
    public var reason: String
    init(_ reason: String) { self.reason = reason }
    public var description: String { reason }
}
