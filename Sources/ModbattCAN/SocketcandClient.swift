import NIOConcurrencyHelpers
import NIOCore
import NIOPosix

/// A client transport for a socketcand server (linux-can/socketcand, or
/// `SocketcandServer`): connects, opens `bus`, switches to raw mode, then
/// sends with `< send … >` / `< fdsend … >` and receives `< frame … >` /
/// `< fdframe … >`.
///
/// `< error … >` replies (a refused frame, say) do not end the connection;
/// they are kept in `serverErrors()`.
public final class SocketcandClient: CANTransport {
    public let name: String
    private let channel: any Channel
    private let inbox: FrameInbox
    private let errors = NIOLockedValueBox<[String]>([])
    private let closed = NIOLockedValueBox(false)

    private init(name: String, channel: any Channel, inbox: FrameInbox) {
        self.name = name
        self.channel = channel
        self.inbox = inbox
    }

    /// Connect and open `bus` in raw mode.
    /// - Throws: `CANTransportError.connectionFailed` if the TCP connection
    ///   fails, `.protocolViolation` if the server does not greet, refuses
    ///   the bus, or answers out of protocol within `timeout`.
    public static func connect(host: String, port: Int, bus: String, timeout: Duration = .seconds(5),
                               receiveQueueCapacity: Int = 4096,
                               group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) async throws -> SocketcandClient {
        let (replies, sink) = AsyncStream.makeStream(of: SocketcandFramer.Output.self, bufferingPolicy: .unbounded)
        let channel: any Channel
        do {
            channel = try await ClientBootstrap(group: group)
                .channelOption(.socketOption(.tcp_nodelay), value: 1)
                .connectTimeout(.milliseconds(Int64(timeout / .milliseconds(1))))
                .channelInitializer { ch in ch.pipeline.addHandler(ClientHandler(sink: sink)) }
                .connect(host: host, port: port).get()
        } catch {
            throw CANTransportError.connectionFailed("\(host):\(port): \(error)")
        }
        let inbox = FrameInbox(capacity: receiveQueueCapacity)
        let client = SocketcandClient(name: "\(host):\(port)/\(bus)", channel: channel, inbox: inbox)
        var iterator = replies.makeAsyncIterator()

        do {
            try await handshake(&iterator, client: client, bus: bus, timeout: timeout)
        } catch {
            try? await channel.close()
            throw error
        }
        let errors = client.errors
        Task { [iterator] in
            var it = iterator
            while let item = await it.next() {
                switch item {
                case .error(let why):
                    errors.withLockedValue { $0.append("framing: \(why)") }
                case .message(let text):
                    switch try? SocketcandProtocol.parseReply(text) {
                    case .frame(let frame)?: inbox.push(frame)
                    case .error(let why)?: errors.withLockedValue { $0.append(why) }
                    case .echo?, .ok?, .hi?: break
                    case nil: errors.withLockedValue { $0.append("unparsed: \(SocketcandProtocol.sanitize(text))") }
                    }
                }
            }
            inbox.finish()
        }
        return client
    }

    private static func handshake(_ iterator: inout AsyncStream<SocketcandFramer.Output>.AsyncIterator,
                                  client: SocketcandClient, bus: String, timeout: Duration) async throws {
        let deadline = ContinuousClock.now + timeout
        let channel = client.channel
        // A watchdog closes the channel if the handshake stalls; closing ends the stream.
        let watchdog = Task {
            try? await Task.sleep(until: deadline, clock: .continuous)
            if !Task.isCancelled { try? await channel.close() }
        }
        defer { watchdog.cancel() }

        func next(_ what: String) async throws -> SocketcandProtocol.Reply {
            guard let item = await iterator.next() else {
                throw CANTransportError.protocolViolation("connection closed or timed out \(what)")
            }
            switch item {
            case .error(let why): throw CANTransportError.protocolViolation("bad reply \(what): \(why)")
            case .message(let text):
                do { return try SocketcandProtocol.parseReply(text) } catch {
                    throw CANTransportError.protocolViolation("bad reply \(what): \(error.reason)")
                }
            }
        }
        func expectOK(_ what: String) async throws {
            let reply = try await next(what)
            if case .error(let why) = reply { throw CANTransportError.protocolViolation("server refused \(what): \(why)") }
            guard reply == .ok else { throw CANTransportError.protocolViolation("expected < ok > \(what), got \(reply)") }
        }

        guard try await next("on connect") == .hi else {
            throw CANTransportError.protocolViolation("server did not greet with < hi >")
        }
        try await client.write(SocketcandProtocol.format(command: .open(bus: bus)))
        try await expectOK("to open \(bus)")
        try await client.write(SocketcandProtocol.format(command: .rawMode))
        try await expectOK("to rawmode")
    }

    public var frames: CANFrames { inbox.frames }

    /// `< error … >` messages the server sent since connecting.
    public func serverErrors() -> [String] { errors.withLockedValue { $0 } }

    public func send(_ frame: CANFrame) async throws {
        guard !closed.withLockedValue({ $0 }) else { throw CANTransportError.closed }
        try await write(SocketcandProtocol.format(command: .send(frame)))
    }

    /// Send raw protocol text (tests and tools).
    public func sendRaw(_ text: String) async throws { try await write(text) }

    func write(_ text: String) async throws {
        var buffer = channel.allocator.buffer(capacity: text.utf8.count)
        buffer.writeString(text)
        do {
            try await channel.writeAndFlush(buffer)
        } catch {
            throw CANTransportError.connectionFailed("write failed: \(error)")
        }
    }

    public func close() async {
        closed.withLockedValue { $0 = true }
        try? await channel.close()
        inbox.finish()
    }
}

final class ClientHandler: ChannelInboundHandler, Sendable {
    typealias InboundIn = ByteBuffer
    let sink: AsyncStream<SocketcandFramer.Output>.Continuation
    let framer = NIOLockedValueBox(SocketcandFramer())

    init(sink: AsyncStream<SocketcandFramer.Output>.Continuation) { self.sink = sink }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        let buffer = unwrapInboundIn(data)
        for output in framer.withLockedValue({ $0.feed(buffer.readableBytesView) }) { sink.yield(output) }
    }

    func channelInactive(context: ChannelHandlerContext) {
        sink.finish()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        context.close(promise: nil)
    }
}
