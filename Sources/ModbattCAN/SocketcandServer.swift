import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A socketcand-compatible TCP server: exposes CAN buses (the virtual bus
/// first of all) to third-party tools such as python-can's
/// `interface="socketcand"`, `socketcandcl` or Kayak.
///
/// Each client gets `< hi >`, opens a bus by name (`< open vcan0 >`), which
/// attaches a fresh transport from that bus's factory (a new virtual-bus
/// node), switches to `< rawmode >` and from then on receives every frame as
/// `< frame ID SECS.USECS DATA >` (`< fdframe … >` for CAN FD) and sends with
/// `< send … >` / `< fdsend … >`. Like socketcand, a client does not receive
/// the frames it sent itself.
///
/// Robustness: messages are bounded (`SocketcandProtocol.maxMessageLength`);
/// any malformed or unsupported message is answered with `< error … >` to
/// that client only; the connection stays open and other clients are not
/// affected. A client's commands are handled strictly in order.
///
/// python-can compatibility: python-can reads each handshake reply with a
/// single `recv` and compares it to `< ok >`, so after `< rawmode >` the server
/// holds bus frames back for `rawModeGrace` (buffered, not dropped) so they
/// cannot arrive in the same TCP segment as the `< ok >`.
public final class SocketcandServer: Sendable {
    /// Makes the transport a client gets when it opens a bus.
    public typealias TransportFactory = @Sendable (_ clientName: String) async throws -> any CANTransport

    private let channel: any Channel
    private let clients: NIOLockedValueBox<[ObjectIdentifier: any Channel]>
    /// The port the server listens on (useful after binding port 0).
    public let port: Int
    public let host: String
    /// Bus names offered to `< open … >`.
    public let busNames: [String]

    private init(channel: any Channel, clients: NIOLockedValueBox<[ObjectIdentifier: any Channel]>, host: String,
                 busNames: [String]) {
        self.channel = channel
        self.clients = clients
        self.host = host
        self.port = channel.localAddress?.port ?? 0
        self.busNames = busNames
    }

    /// Listen on `host:port` (port 0: any free port; see `port`).
    public static func start(host: String = "127.0.0.1", port: Int = 0, buses: [String: TransportFactory],
                             rawModeGrace: Duration = .milliseconds(50),
                             logger: Logger = Logger(label: "modbatt.socketcand"),
                             group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> SocketcandServer {
        let clients = NIOLockedValueBox<[ObjectIdentifier: any Channel]>([:])
        let counter = NIOLockedValueBox(0)
        let config = SessionConfig(buses: buses, rawModeGrace: rawModeGrace, logger: logger)
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 64)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { child in
                let number = counter.withLockedValue { $0 += 1; return $0 }
                let key = ObjectIdentifier(child)
                clients.withLockedValue { $0[key] = child }
                child.closeFuture.whenComplete { _ in _ = clients.withLockedValue { $0.removeValue(forKey: key) } }
                let session = ServerSession(channel: child, name: "socketcand-\(number)", config: config)
                return child.pipeline.addHandler(SessionHandler(session: session))
            }
        let channel: any Channel
        do {
            channel = try await bootstrap.bind(host: host, port: port).get()
        } catch {
            throw CANTransportError.connectionFailed("cannot listen on \(host):\(port): \(error)")
        }
        return SocketcandServer(channel: channel, clients: clients, host: host, busNames: Array(buses.keys).sorted())
    }

    /// Expose one virtual bus under its name; every client becomes a node.
    public static func start(bus: VirtualBus, host: String = "127.0.0.1", port: Int = 0,
                             rawModeGrace: Duration = .milliseconds(50),
                             logger: Logger = Logger(label: "modbatt.socketcand")) async throws -> SocketcandServer {
        try await start(host: host, port: port,
                        buses: [bus.name: { name in await bus.attach(name: name) }],
                        rawModeGrace: rawModeGrace, logger: logger)
    }

    /// Number of connected clients.
    public var clientCount: Int { clients.withLockedValue { $0.count } }

    /// Stop listening and disconnect every client.
    public func close() async {
        try? await channel.close()
        let open = clients.withLockedValue { Array($0.values) }
        for child in open { try? await child.close() }
    }
}

struct SessionConfig: Sendable {
    let buses: [String: SocketcandServer.TransportFactory]
    let rawModeGrace: Duration
    let logger: Logger
}

/// One client's session: commands are queued by the NIO handler and run in
/// order by one task; a second task forwards bus frames in raw mode.
final class ServerSession: Sendable {
    enum Mode: Sendable { case noBus, bcm, raw }
    struct Shared: Sendable {
        var mode: Mode = .noBus
        var rawSince: ContinuousClock.Instant?
    }

    let channel: any Channel
    let name: String
    let config: SessionConfig
    let shared = NIOLockedValueBox(Shared())
    let commands: AsyncStream<SocketcandFramer.Output>
    let commandSink: AsyncStream<SocketcandFramer.Output>.Continuation

    init(channel: any Channel, name: String, config: SessionConfig) {
        self.channel = channel
        self.name = name
        self.config = config
        (commands, commandSink) = AsyncStream.makeStream(bufferingPolicy: .bufferingOldest(8192))
    }

    func start() {
        Task { await run() }
    }

    private func write(_ text: String) async {
        var buffer = channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        try? await channel.writeAndFlush(buffer)
    }

    private func reply(_ reply: SocketcandProtocol.Reply) async {
        await write(SocketcandProtocol.format(reply: reply))
    }

    private func run() async {
        await reply(.hi)
        var transport: (any CANTransport)?
        var forwarder: Task<Void, Never>?
        for await item in commands {
            let message: String
            switch item {
            case .error(let why):
                await reply(.error(why))
                continue
            case .message(let m):
                message = m
            }
            let command: SocketcandProtocol.Command
            do {
                command = try SocketcandProtocol.parseCommand(message)
            } catch {
                await reply(.error(error.reason))
                continue
            }
            let mode = shared.withLockedValue { $0.mode }
            switch (command, mode) {
            case (.echo, _):
                await reply(.echo)
            case (.open(let bus), .noBus):
                guard let factory = config.buses[bus] else {
                    await reply(.error("unknown bus '\(bus)'"))
                    continue
                }
                do {
                    let opened = try await factory(name)
                    transport = opened
                    shared.withLockedValue { $0.mode = .bcm }
                    await reply(.ok)
                    forwarder = Task { await self.forward(from: opened) }
                } catch {
                    await reply(.error("cannot open '\(bus)': \(error)"))
                }
            case (.open, _):
                await reply(.error("a bus is already open"))
            case (_, .noBus):
                await reply(.error("open a bus first"))
            case (.rawMode, _):
                shared.withLockedValue {
                    $0.mode = .raw
                    $0.rawSince = .now
                }
                await reply(.ok)
            case (.bcmMode, _):
                shared.withLockedValue { $0.mode = .bcm }
                await reply(.ok)
            case (.send(let frame), _):
                do {
                    try await transport?.send(frame)
                } catch {
                    await reply(.error("send failed: \(error)"))
                }
            case (.unsupported(let verb), _):
                await reply(.error("unsupported command '\(verb)'"))
            }
        }
        forwarder?.cancel()
        await transport?.close()
        config.logger.debug("socketcand client \(name) finished")
    }

    /// Forward bus frames while in raw mode (after the grace period).
    private func forward(from transport: any CANTransport) async {
        do {
            for try await frame in transport.frames {
                let state = shared.withLockedValue { $0 }
                guard state.mode == .raw, let since = state.rawSince else { continue }
                let ready = since + config.rawModeGrace
                if ContinuousClock.now < ready { try? await Task.sleep(until: ready, clock: .continuous) }
                if Task.isCancelled { return }
                await reply(.frame(frame))
            }
        } catch {
            await reply(.error("bus failed: \(error)"))
        }
    }
}

/// NIO side of a session: frames bytes into messages, queues them in order.
final class SessionHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer

    let session: ServerSession
    let framer = NIOLockedValueBox(SocketcandFramer())

    init(session: ServerSession) { self.session = session }

    func channelActive(context: ChannelHandlerContext) {
        session.start()
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        let outputs = framer.withLockedValue { $0.feed(buffer.readableBytesView) }
        for output in outputs {
            if case .dropped = session.commandSink.yield(output) {
                // A client that floods commands faster than they run is cut off.
                context.close(promise: nil)
                return
            }
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        session.commandSink.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
