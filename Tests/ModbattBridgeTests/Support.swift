import AsyncHTTPClient
import Foundation
import Logging
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import Testing
@testable import ModbattBridge

let testToken = "test-token-0123"

/// Collects every log line (message and metadata) for later searching.
final class LogCapture: Sendable {
    private let lines = NIOLockedValueBox<[String]>([])

    var all: [String] { lines.withLockedValue { $0 } }
    var text: String { all.joined(separator: "\n") }

    func append(_ line: String) { lines.withLockedValue { $0.append(line) } }

    func logger(_ label: String) -> Logger {
        var logger = Logger(label: label) { label in CaptureHandler(label: label, capture: self) }
        logger.logLevel = .trace
        return logger
    }
}

struct CaptureHandler: LogHandler {
    let label: String
    let capture: LogCapture
    var metadata: Logger.Metadata = [:]
    var logLevel: Logger.Level = .trace

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let merged = self.metadata.merging(event.metadata ?? [:]) { $1 }
        let fields = merged.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " ")
        capture.append("\(event.level) \(label) \(event.message) \(fields)")
    }
}

/// Start an in-memory bridge on an ephemeral port.
func startBridge(token: String? = testToken, faults: FaultConfiguration = FaultConfiguration(),
                 storage: BridgeServerConfiguration.Storage = .memory, rateLimit: Double? = nil,
                 challengeLifetime: Int = 300, authSchemes: Set<BridgeAuthScheme> = Set(BridgeAuthScheme.allCases),
                 logger: Logger? = nil) async throws -> EmbeddedBridge {
    var config = BridgeServerConfiguration.ephemeral(token: token, faults: faults)
    config.authSchemes = authSchemes
    config.storage = storage
    config.rateLimitPerSecond = rateLimit
    config.challengeLifetimeSeconds = challengeLifetime
    config.logger = logger ?? quietLogger("test.server")
    return try await EmbeddedBridge.start(config)
}

/// Fast retries for tests: small base delay, bounded total time.
func fastRetry(attempts: Int = 8, total: Duration = .seconds(10), seed: UInt64 = 7) -> RetryPolicy {
    RetryPolicy(maxAttempts: attempts, baseDelay: .milliseconds(5), maxDelay: .milliseconds(50), totalTimeout: total,
                jitterSeed: seed)
}

func makeClient(_ bridge: EmbeddedBridge, token: String? = testToken, authScheme: BridgeAuthScheme = .bearer,
                retry: RetryPolicy = fastRetry(), requestTimeout: Duration = .seconds(5),
                logger: Logger? = nil) throws -> BridgeClient {
    let config = BridgeClientConfiguration(baseURL: bridge.baseURL, token: token, authScheme: authScheme,
                                           requestTimeout: requestTimeout, retry: retry)
    return try BridgeClient(configuration: config, logger: logger ?? quietLogger("test.client"))
}

/// Warnings and errors only, so test output stays readable.
func quietLogger(_ label: String) -> Logger {
    var logger = Logger(label: label)
    logger.logLevel = .warning
    return logger
}

/// Run `body` with a bridge and a client, stopping both afterwards.
func withBridge<T>(token: String? = testToken, faults: FaultConfiguration = FaultConfiguration(),
                   retry: RetryPolicy = fastRetry(), requestTimeout: Duration = .seconds(5),
                   clientLogger: Logger? = nil,
                   _ body: (EmbeddedBridge, BridgeClient) async throws -> T) async throws -> T {
    let bridge = try await startBridge(token: token, faults: faults)
    let client = try makeClient(bridge, token: token, retry: retry, requestTimeout: requestTimeout,
                                logger: clientLogger)
    do {
        let result = try await body(bridge, client)
        await client.shutdown()
        await bridge.stop()
        return result
    } catch {
        await client.shutdown()
        await bridge.stop()
        throw error
    }
}

/// A plain HTTP answer, no retries, no typed decoding.
struct RawAnswer {
    var status: Int
    var headers: [(String, String)]
    var body: Data

    var json: [String: Any] { (try? JSONSerialization.jsonObject(with: body)) as? [String: Any] ?? [:] }
    var code: String? { json["code"] as? String }
    func header(_ name: String) -> String? { headers.first { $0.0.lowercased() == name.lowercased() }?.1 }
}

/// Send exactly these bytes (a raw client for malformed input).
func raw(_ bridge: EmbeddedBridge, _ method: HTTPMethod, _ path: String, body: String? = nil,
         token: String? = testToken, authScheme: BridgeAuthScheme = .bearer,
         contentType: String = "application/json") async throws -> RawAnswer {
    var request = HTTPClientRequest(url: bridge.baseURL + path)
    request.method = method
    if let token {
        let auth = authScheme.header(token: token)
        request.headers.add(name: auth.name, value: auth.value)
    }
    if let body {
        request.headers.add(name: "Content-Type", value: contentType)
        request.body = .bytes(ByteBuffer(string: body))
    }
    let response = try await HTTPClient.shared.execute(request, timeout: .seconds(10))
    let buffer = try await response.body.collect(upTo: 1 << 20)
    return RawAnswer(status: Int(response.status.code), headers: response.headers.map { ($0.name, $0.value) },
                     body: Data(buffer.readableBytesView))
}

/// Register two components and return their ids.
func registerPair(_ client: BridgeClient, prefix: String = "SN") async throws -> (String, String) {
    let a = try await client.registerComponent(.init(creator: "demo-user", componentData: "\(prefix)-A", context: "pack"))
    let b = try await client.registerComponent(.init(creator: "demo-user", componentData: "\(prefix)-B", context: "module"))
    return (a.componentId, b.componentId)
}

/// Expect a `BridgeError` from `body` and return it.
func expectBridgeError(_ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async -> BridgeError? {
    do {
        try await body()
        Issue.record("expected a BridgeError, got success", sourceLocation: sourceLocation)
        return nil
    } catch let error as BridgeError {
        return error
    } catch {
        Issue.record("expected a BridgeError, got \(error)", sourceLocation: sourceLocation)
        return nil
    }
}

func temporaryPath(_ name: String) -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modbatt-bridge-tests-\(UUID().uuidString)")
    try? FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    return dir.appendingPathComponent(name).path
}
