import Foundation
import Hummingbird
import HummingbirdTLS
import NIOCore
import Logging
import Modbatt
import Testing
@testable import ModbattBridge

/// Key halves never reach logs, errors or descriptions; bad halves are refused.
@Suite("Key hygiene")
struct KeyHygieneTests {
    /// hex, upper-case hex, base64 and URL-safe base64 of a half.
    static func encodings(ofHex hex: String) -> [String] {
        let bytes = KeyEncodingProbe.bytes(hex)
        let b64 = Data(bytes).base64EncodedString()
        let url = b64.replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
        return [hex, hex.uppercased(), b64, url, String(hex.prefix(24)), String(b64.prefix(20))]
    }

    @Test("register + LCT create at trace level: no half in any server or client log line")
    func noHalvesInLogs() async throws {
        let capture = LogCapture()
        let bridge = try await startBridge(logger: capture.logger("server"))
        let client = try makeClient(bridge, logger: capture.logger("client"))
        let registry = try ProvisioningRegistry(path: nil)
        let provisioner = Provisioner(client: client, registry: registry, creator: "u", logger: capture.logger("prov"))
        let a = try await provisioner.ensureComponent(hardwareSerial: "SN-LOG-A")
        let b = try await provisioner.ensureComponent(hardwareSerial: "SN-LOG-B")
        let outcome = try await provisioner.ensureLCT(componentA: a.componentId, componentB: b.componentId)
        guard case .created(let created) = consume outcome else {
            Issue.record("expected a new LCT")
            return
        }
        let device = created.deviceKeyHalf.revealHex(), lct = created.lctKeyHalf.revealHex()
        await client.shutdown()
        await bridge.stop()

        let text = capture.text
        #expect(!capture.all.isEmpty)
        #expect(text.contains(created.deviceKeyHalf.fingerprint))  // fingerprints are what gets logged
        for secret in Self.encodings(ofHex: device) + Self.encodings(ofHex: lct) {
            #expect(!text.contains(secret))
        }
        #expect(!text.contains(testToken))
    }

    @Test("errors and descriptions carry no key material or token")
    func descriptionsClean() throws {
        let config = BridgeClientConfiguration(baseURL: "https://bridge.example", token: "very-secret-token")
        #expect(!config.description.contains("very-secret-token"))
        #expect(config.description.contains("token: set"))
        let half = KeyHalf.random()
        let hex = half.revealHex()
        do {
            _ = try KeyHalf(encoded: String(hex.prefix(126)))
            Issue.record("a 63-byte half was accepted")
        } catch {
            #expect(!"\(error)".contains(String(hex.prefix(16))))
        }
    }

    // MARK: A canned "real service" for response shapes the embedded bridge never sends

    static func canned(_ path: String, _ json: String, status: HTTPResponse.Status = .ok) async throws -> (EmbeddedCanned, BridgeClient) {
        let server = try await EmbeddedCanned.start(path: path, json: json, status: status)
        let client = try BridgeClient(configuration: .init(baseURL: server.baseURL, token: "t", retry: fastRetry(attempts: 2)))
        return (server, client)
    }

    static let hexHalf = String(repeating: "ab", count: 64)
    static let b64Half = Data(repeating: 0xCD, count: 64).base64EncodedString()

    @Test("accepts hex and base64 halves, tx_hash, numeric and string timestamps, unknown fields")
    func tolerantDecoding() async throws {
        let json = """
            {"lct_id": "lct_x", "component_a": "a", "component_b": "b", "context": "c", "proxy_id": "p",
             "status": "active", "created_at": "1704067200", "creator": "demo-user", "tx_hash": "ABC",
             "device_key_half": "\(Self.hexHalf)", "lct_key_half": "\(Self.b64Half)",
             "trust_tensor": {"t3": [1, 2, 3]}, "split_key_a": "zz"}
            """
        let (server, client) = try await Self.canned("/api/v1/lct/create", json)
        let created = try await client.createLCT(.init(creator: "u", componentA: "a", componentB: "b"))
        #expect(created.lct.txhash == "ABC")
        #expect(created.lct.createdAt == 1_704_067_200)
        #expect(created.deviceKeyHalf.revealHex() == Self.hexHalf)
        #expect(created.lctKeyHalf.revealHex() == String(repeating: "cd", count: 64))
        await client.shutdown()
        await server.stop()
    }

    @Test("refuses halves that are not exactly 64 bytes, or missing, without echoing them",
          arguments: [
            (String(repeating: "ab", count: 32), "must be 64 bytes"),
            (String(repeating: "ab", count: 65), "must be 64 bytes"),
            ("not-a-key!*", "neither hex nor base64"),
            ("", "is missing"),
          ])
    func refusesBadHalves(half: String, reason: String) async throws {
        let json = """
            {"lct_id": "lct_x", "component_a": "a", "component_b": "b", "status": "active",
             "device_key_half": "\(half)", "lct_key_half": "\(Self.hexHalf)"}
            """
        let (server, client) = try await Self.canned("/api/v1/lct/create", json)
        let e = await expectBridgeError { _ = try await client.createLCT(.init(creator: "u", componentA: "a", componentB: "b")) }
        #expect(e?.kind == .invalidKeyMaterial)
        #expect(e?.description.contains("device_key_half") == true)
        #expect(e?.description.contains(reason) == true)
        if half.count > 8 { #expect(e?.description.contains(half) == false) }
        #expect(e?.attempts == 1)
        await client.shutdown()
        await server.stop()
    }

    @Test("an error body with a numeric code or a nested error object still surfaces code and text")
    func lenientErrorBodies() async throws {
        var (server, client) = try await Self.canned("/api/v1/components/comp_x", #"{"error": "nope", "code": 404, "details": "d"}"#,
                                                     status: .notFound)
        var e = await expectBridgeError { _ = try await client.component(id: "comp_x") }
        #expect(e?.code == "404" && e?.message == "nope" && e?.details == "d" && e?.status == 404)
        await client.shutdown()
        await server.stop()
        (server, client) = try await Self.canned(
            "/api/v1/components/comp_x",
            #"{"error": {"code": "INVALID_COMPONENT_ID", "message": "bad id", "details": "x"}, "request_id": "r"}"#,
            status: .badRequest)
        e = await expectBridgeError { _ = try await client.component(id: "comp_x") }
        #expect(e?.code == "INVALID_COMPONENT_ID" && e?.message == "bad id" && e?.status == 400)
        await client.shutdown()
        await server.stop()
    }

    @Test("a 2xx answer of the wrong shape is an invalid-response error")
    func wrongShape() async throws {
        let (server, client) = try await Self.canned("/api/v1/components/comp_x", #"{"unexpected": true}"#)
        let e = await expectBridgeError { _ = try await client.component(id: "comp_x") }
        #expect(e?.kind == .invalidResponse && e?.description.contains("component_id") == true)
        await client.shutdown()
        await server.stop()
    }
}

enum KeyEncodingProbe {
    static func bytes(_ hex: String) -> [UInt8] {
        var out = [UInt8]()
        var it = hex.utf8.makeIterator()
        while let hi = it.next(), let lo = it.next() {
            out.append(UInt8(String(decoding: [hi, lo], as: UTF8.self), radix: 16)!)
        }
        return out
    }
}

/// A one-route server answering a fixed JSON body (any method).
struct EmbeddedCanned {
    let baseURL: String
    let task: Task<Void, any Error>

    static func start(path: String, json: String, status: HTTPResponse.Status,
                      tls: TLSConfiguration? = nil) async throws -> EmbeddedCanned {
        let router = Router()
        let respond: @Sendable (Request, BasicRequestContext) async throws -> Response = { _, _ in
            Response(status: status, headers: [.contentType: "application/json"],
                     body: .init(byteBuffer: ByteBuffer(string: json)))
        }
        router.get(RouterPath(path), use: respond)
        router.post(RouterPath(path), use: respond)
        let (stream, continuation) = AsyncStream.makeStream(of: Int.self)
        let logger = Logger(label: "canned") { _ in SwiftLogNoOpLogHandler() }
        let configuration = ApplicationConfiguration(address: .hostname("127.0.0.1", port: 0))
        let onRunning: @Sendable (any Channel) async -> Void = { continuation.yield($0.localAddress?.port ?? 0); continuation.finish() }
        let app = if let tls {
            Application(router: router, server: try .tls(tlsConfiguration: tls), configuration: configuration,
                        onServerRunning: onRunning, logger: logger)
        } else {
            Application(router: router, configuration: configuration, onServerRunning: onRunning, logger: logger)
        }
        let task = Task { try await app.run() }
        var port = 0
        for await p in stream { port = p }
        return EmbeddedCanned(baseURL: "\(tls == nil ? "http" : "https")://127.0.0.1:\(port)", task: task)
    }

    func stop() async {
        task.cancel()
        _ = await task.result
    }
}
