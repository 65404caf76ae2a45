import Foundation
import NIOConcurrencyHelpers
import NIOCore
import NIOPosix
import Testing
@testable import ModbattBridge

/// The answers of the API-Bridge's Go service as deployed: RFC 3339
/// timestamps with nanoseconds, `txhash` or `tx_hash`, and in some
/// deployments every answer wrapped as `{status, data, message, timestamp}`.
@Suite("API-Bridge answers in the Go service's forms")
struct GoServiceFormsTests {
    static let deviceHalf = String(repeating: "ab", count: 64)
    static let lctHalf = String(repeating: "cd", count: 64)

    static let component = #"{"component_id":"comp_1751725111","component_identity":"ci_1","lct_id":"","status":"active","tx_hash":"0xabc","created_at":"2025-07-05T14:31:51.123456789Z"}"#
    static let lct = #"{"lct_id":"lct_1","component_a_id":"comp_a","component_b_id":"comp_b","status":"active","txhash":"0xdef","created_at":"2025-07-05T14:31:51Z","updated_at":"2025-07-05T16:31:51.5+02:00","device_key_half":"\#(deviceHalf)","lct_key_half":"\#(lctHalf)"}"#

    static func wrapped(_ payload: String) -> String {
        #"{"status":"success","data":\#(payload),"message":"ok","timestamp":"2025-07-05T14:31:52.000000001Z"}"#
    }

    @Test("RFC 3339 with nanoseconds, offsets or none, to whole seconds", arguments: [
        ("2025-07-05T14:31:51.123456789Z", Int64(1_751_725_911)), ("2025-07-05T14:31:51Z", 1_751_725_911),
        ("2025-07-05t14:31:51.1z", 1_751_725_911), ("2025-07-05 16:31:51+02:00", 1_751_725_911),
        ("2024-03-01T01:59:59.999+02:00", 1_709_251_199), ("1969-12-31T23:00:00-05:30", 16_200),
        ("1970-01-01T00:00:00Z", 0),
    ])
    func rfc3339(_ text: String, _ seconds: Int64) {
        #expect(RFC3339.unixSeconds(text) == seconds)
    }

    @Test("not RFC 3339: unknown, not a wrong time", arguments: [
        "2025-13-05T14:31:51Z", "2025-02-29T00:00:00Z", "2025-07-05T24:00:00Z", "2025-07-05T14:31:51",
        "2025-07-05T14:31:51.Z", "2025-07-05T14:31:51Zjunk", "2025-7-5T14:31:51Z", "2025-07-05T14:31:51+0200", "",
    ])
    func notRFC3339(_ text: String) {
        #expect(RFC3339.unixSeconds(text) == nil)
    }

    @Test("a component with tx_hash and a nanosecond timestamp, plain or wrapped")
    func component() throws {
        for body in [Self.component, Self.wrapped(Self.component)] {
            let c = try BridgeJSON.decodeAnswer(Component.self, from: Data(body.utf8))
            #expect(c.componentId == "comp_1751725111" && c.txhash == "0xabc" && c.createdAt == 1_751_725_911)
        }
    }

    @Test("a created LCT with txhash, plain or wrapped: the halves are read")
    func createdLCT() throws {
        for body in [Self.lct, Self.wrapped(Self.lct)] {
            let created = try CreatedLCT.decode(Data(body.utf8), endpoint: "POST /api/v1/lct/create")
            #expect(created.lct.lctId == "lct_1" && created.lct.txhash == "0xdef")
            #expect(created.lct.createdAt == 1_751_725_911 && created.lct.updatedAt == 1_751_725_911)
            #expect(created.deviceKeyHalf.fingerprint != created.lctKeyHalf.fingerprint)
        }
    }

    @Test("a wrapped failure is an error with the bridge's message; a wrapped payload without an id names the field")
    func wrappedFailures() {
        let failed = #"{"status":"error","data":null,"message":"component not found\n","timestamp":"2025-07-05T14:31:52Z"}"#
        #expect(throws: ResponseEnvelopeError(status: "error", message: "component not found\n")) {
            _ = try BridgeJSON.decodeAnswer(Component.self, from: Data(failed.utf8))
        }
        do {
            _ = try BridgeJSON.decodeAnswer(Component.self, from: Data(failed.utf8))
        } catch {
            #expect(BridgeJSON.describe(error) == "the bridge answered status 'error': component not found")
        }
        let noId = Self.wrapped(#"{"status":"active"}"#)
        do {
            _ = try BridgeJSON.decodeAnswer(Component.self, from: Data(noId.utf8))
            Issue.record("a component without an id must not decode")
        } catch {
            #expect(BridgeJSON.describe(error) == "missing field 'data.component_id'")
        }
        let lctFailed = #"{"success":false,"data":{},"message":"chain unavailable"}"#
        #expect(throws: BridgeError.self) { _ = try CreatedLCT.decode(Data(lctFailed.utf8), endpoint: "POST /api/v1/lct/create") }
    }

    @Test("the client over HTTP against a bridge that answers in the Go service's wrapped forms")
    func overHTTP() async throws {
        let server = try await CannedHTTPServer.start([
            "POST /api/v1/components/register": Self.wrapped(Self.component),
            "POST /api/v1/lct/create": Self.wrapped(Self.lct),
            "GET /api/v1/components/comp_gone": #"{"status":"error","data":null,"message":"not on chain"}"#,
        ])
        let client = try BridgeClient(configuration: BridgeClientConfiguration(
            baseURL: "http://127.0.0.1:\(server.port)", token: testToken, authScheme: .apiKey, retry: fastRetry(attempts: 1)))
        let c = try await client.registerComponent(.init(creator: "demo-user", componentData: "SN-1"))
        #expect(c.componentId == "comp_1751725111" && c.createdAt == 1_751_725_911)
        let created = try await client.createLCT(.init(creator: "demo-user", componentA: "comp_a", componentB: "comp_b"))
        #expect(created.lct.lctId == "lct_1")
        let e = await expectBridgeError { _ = try await client.component(id: "comp_gone") }
        #expect(e?.kind == .invalidResponse)
        #expect(e?.description.contains("the bridge answered status 'error': not on chain") == true)
        let heads = server.requests()
        #expect(heads.count == 3 && heads.allSatisfy { $0.contains("x-api-key: \(testToken)") })
        await client.shutdown()
        try await server.close()
    }
}

/// A loopback HTTP/1.1 server that answers `METHOD path` with a canned JSON
/// body (200) and closes the connection; it records each request's head.
final class CannedHTTPServer: Sendable {
    let port: Int
    private let channel: any Channel
    private let log: NIOLockedValueBox<[String]>   // shared with the handlers

    private init(channel: any Channel, log: NIOLockedValueBox<[String]>) {
        self.channel = channel
        self.port = channel.localAddress?.port ?? 0
        self.log = log
    }

    /// The heads of the requests received, lower-cased.
    func requests() -> [String] { log.withLockedValue { $0 } }

    static func start(_ answers: [String: String]) async throws -> CannedHTTPServer {
        let log = NIOLockedValueBox<[String]>([])
        let channel = try await ServerBootstrap(group: MultiThreadedEventLoopGroup.singleton)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelInitializer { $0.pipeline.addHandler(Responder(answers: answers, log: log)) }
            .bind(host: "127.0.0.1", port: 0).get()
        return CannedHTTPServer(channel: channel, log: log)
    }

    func close() async throws { try await channel.close() }

    private final class Responder: ChannelInboundHandler, @unchecked Sendable {
        typealias InboundIn = ByteBuffer
        typealias OutboundOut = ByteBuffer
        let answers: [String: String]
        let log: NIOLockedValueBox<[String]>
        var head = ""
        var answered = false

        init(answers: [String: String], log: NIOLockedValueBox<[String]>) {
            self.answers = answers
            self.log = log
        }

        func channelRead(context: ChannelHandlerContext, data: NIOAny) {
            var buffer = unwrapInboundIn(data)
            head += buffer.readString(length: buffer.readableBytes) ?? ""
            guard !answered, let end = head.range(of: "\r\n\r\n") else { return }
            answered = true
            let requestHead = String(head[..<end.lowerBound]).lowercased()
            log.withLockedValue { $0.append(requestHead) }
            let line = head.prefix { $0 != "\r" }.split(separator: " ")
            let key = line.count >= 2 ? "\(line[0]) \(line[1])" : ""
            let body = answers[key] ?? #"{"error":"no canned answer","code":"NOT_FOUND"}"#
            let status = answers[key] == nil ? "404 Not Found" : "200 OK"
            let response = "HTTP/1.1 \(status)\r\nContent-Type: application/json\r\nContent-Length: \(body.utf8.count)\r\n"
                + "Connection: close\r\n\r\n\(body)"
            context.writeAndFlush(wrapOutboundOut(ByteBuffer(string: response))).whenComplete { _ in context.close(promise: nil) }
        }
    }
}
