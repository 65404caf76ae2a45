import AsyncHTTPClient
import Foundation
import Logging
import Modbatt
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOSSL

/// A typed async client of the API-Bridge REST service.
///
/// Each call retries transient failures by `configuration.retry` and ends
/// within its total timeout; every failure is a `BridgeError` naming the
/// endpoint, status and the service's code. Key halves from LCT creation go
/// straight into `KeyHalf` values and never reach a log or an error.
///
/// ```swift
/// let client = try BridgeClient(configuration: .resolve())
/// defer { Task { await client.shutdown() } }
/// let a = try await client.registerComponent(.init(creator: "demo-user", componentData: "SN-0001"))
/// ```
public final class BridgeClient: Sendable {
    public let configuration: BridgeClientConfiguration
    private let http: HTTPClient
    private let base: String
    let logger: Logger
    private let jitter: NIOLockedValueBox<SeededRandom?>
    private let isShutDown = NIOLockedValueBox(false)

    /// Largest answer accepted.
    static let maxResponseBytes = 1 << 20

    public init(configuration: BridgeClientConfiguration, logger: Logger = Logger(label: "modbatt.bridge.client")) throws {
        let parts = try configuration.validated()
        var http = HTTPClient.Configuration(
            timeout: .init(connect: TimeAmount(configuration.connectTimeout), read: TimeAmount(configuration.requestTimeout)))
        // Our retry loop owns retries, so a refused connection fails this attempt at once.
        http.connectionPool.retryConnectionEstablishment = false
        http.redirectConfiguration = .disallow
        if parts.scheme == "https" {
            var tls = TLSConfiguration.makeClientConfiguration()
            tls.certificateVerification = .fullVerification
            if let ca = configuration.caCertificateFile {
                do {
                    let certificates = try NIOSSLCertificate.fromPEMFile(ca)
                    guard !certificates.isEmpty else { throw BridgeClientConfiguration.configError("no certificate in \(ca)") }
                    tls.additionalTrustRoots = [.certificates(certificates)]
                } catch let error as BridgeError {
                    throw error
                } catch {
                    throw BridgeClientConfiguration.configError("cannot load the CA file \(ca): \(error)")
                }
            }
            http.tlsConfiguration = tls
        }
        self.configuration = configuration
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: http)
        self.base = parts.base
        self.logger = logger
        self.jitter = NIOLockedValueBox(configuration.retry.jitterSeed.map { SeededRandom(seed: $0) })
    }

    /// Close connections. Call once when done; idempotent.
    public func shutdown() async {
        let first = isShutDown.withLockedValue { done in
            defer { done = true }
            return !done
        }
        if first { try? await http.shutdown() }
    }

    deinit {
        if !isShutDown.withLockedValue({ $0 }) {
            // A client dropped without shutdown(): release its connections
            // (asynchronously: deinit may run anywhere, even on an event loop).
            http.shutdown { _ in }
        }
    }

    // MARK: Components

    public func registerComponent(_ request: RegisterComponentRequest) async throws -> Component {
        try await call(.POST, "/api/v1/components/register", body: request)
    }

    public func component(id: String) async throws -> Component {
        try await call(.GET, "/api/v1/components/" + escape(id), body: Optional<Int>.none)
    }

    // MARK: LCTs

    public func lct(id: String) async throws -> LCT {
        try await call(.GET, "/api/v1/lct/" + escape(id), body: Optional<Int>.none)
    }

    public func updateLCTStatus(id: String, _ request: UpdateLCTStatusRequest) async throws -> LCT {
        try await call(.PUT, "/api/v1/lct/" + escape(id) + "/status", body: request)
    }

    // MARK: Pairing

    public func initiatePairing(_ request: InitiatePairingRequest) async throws -> PairingChallenge {
        try await call(.POST, "/api/v1/pairing/initiate", body: request)
    }

    public func completePairing(_ request: CompletePairingRequest) async throws -> PairingCompletion {
        try await call(.POST, "/api/v1/pairing/complete", body: request)
    }

    public func revokePairing(_ request: RevokePairingRequest) async throws -> PairingRevocation {
        try await call(.DELETE, "/api/v1/pairing/revoke", body: request)
    }

    public func pairingStatus(challengeId: String) async throws -> PairingChallenge {
        try await call(.GET, "/api/v1/pairing/status/" + escape(challengeId), body: Optional<Int>.none)
    }

    public func health() async throws -> BridgeHealth {
        try await call(.GET, "/health", body: Optional<Int>.none)
    }

    // MARK: Transport

    func call<Body: Encodable, Answer: Decodable>(_ method: HTTPMethod, _ path: String, body: Body?,
                                                  deadline: ContinuousClock.Instant? = nil) async throws -> Answer {
        let endpoint = "\(method.rawValue) \(Self.template(path))"
        let data = try body.map { try encode($0, endpoint) }
        let raw = try await send(method, path, body: data, deadline: deadline)
        do { return try BridgeJSON.decodeAnswer(Answer.self, from: raw) } catch {
            throw BridgeError(kind: .invalidResponse, endpoint: endpoint, status: 200,
                              message: "unexpected answer: \(BridgeJSON.describe(error))")
        }
    }

    func encode(_ body: some Encodable, _ endpoint: String) throws -> Data {
        do { return try BridgeJSON.encode(body) } catch {
            throw BridgeError(kind: .configuration, endpoint: endpoint, message: "cannot encode the request")
        }
    }

    /// One call with retries; returns the 2xx body. Only for calls that may
    /// be sent again safely (reads, registration: see `createOrRecoverLCT`).
    func send(_ method: HTTPMethod, _ path: String, body: Data?,
              deadline: ContinuousClock.Instant? = nil) async throws -> Data {
        let endpoint = "\(method.rawValue) \(Self.template(path))"
        let deadline = deadline ?? ContinuousClock.now + configuration.retry.totalTimeout
        var attempt = 0
        while true {
            attempt += 1
            switch try await self.attempt(method, path, body: body, endpoint: endpoint, number: attempt, deadline: deadline) {
            case .answer(let data):
                return data
            case .failed(let failure, .final):
                throw failure
            case .failed(let failure, let kind):
                try await pause(afterAttempt: attempt, failure: failure, retryAfter: kind.retryAfter, deadline: deadline)
            }
        }
    }

    /// One HTTP attempt, bounded by the request timeout and the call's deadline.
    func attempt(_ method: HTTPMethod, _ path: String, body: Data?, endpoint: String, number attempt: Int,
                 deadline: ContinuousClock.Instant) async throws -> AttemptOutcome {
        let attemptTimeout = min(configuration.requestTimeout, ContinuousClock.now.duration(to: deadline))
        do {
            try Task.checkCancellation()
            let response = try await http.execute(request(method, path, body: body), timeout: TimeAmount(attemptTimeout))
            var buffer = try await response.body.collect(upTo: Self.maxResponseBytes)
            let status = Int(response.status.code)
            logger.debug("bridge call", metadata: ["endpoint": "\(endpoint)", "status": "\(status)", "attempt": "\(attempt)"])
            if (200..<300).contains(status) {
                let data = Data(buffer.readableBytesView)
                _ = buffer.withUnsafeMutableReadableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
                return .answer(data)
            }
            return Self.httpFailure(response, body: Data(buffer.readableBytesView), endpoint: endpoint, attempt: attempt)
        } catch let error as BridgeError {
            throw error
        } catch {
            if error is CancellationError || Task.isCancelled {
                throw BridgeError(kind: .cancelled, endpoint: endpoint, message: "cancelled", attempts: attempt)
            }
            let classified = Self.classify(error, endpoint: endpoint, attempt: attempt)
            return .failed(classified.error, classified.retryable ? .forTransport(error) : .final)
        }
    }

    /// A non-2xx answer as an error with the service's code and text.
    private static func httpFailure(_ response: HTTPClientResponse, body: Data, endpoint: String,
                                    attempt: Int) -> AttemptOutcome {
        let status = Int(response.status.code)
        let errorBody = try? BridgeJSON.decode(BridgeErrorBody.self, from: body)
        let failure = BridgeError(
            kind: .http, endpoint: endpoint, status: status, code: errorBody?.code.nilIfEmpty,
            message: errorBody?.error.nilIfEmpty ?? response.status.reasonPhrase,
            details: errorBody?.details, existingId: errorBody?.existingId, attempts: attempt)
        let retryAfter = (status == 429 || status == 503)
            ? RetryPolicy.parseRetryAfter(response.headers.first(name: "Retry-After")) : nil
        return .failed(failure, .forStatus(status, retryAfter: retryAfter))
    }

    private func request(_ method: HTTPMethod, _ path: String, body: Data?) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: base + path)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "modbatt-bridge-client/1")
        if let token = configuration.token {
            let auth = configuration.authScheme.header(token: token)
            request.headers.add(name: auth.name, value: auth.value)
        }
        if let body {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        return request
    }

    /// Wait before attempt `attempt + 1`, or throw `failure` when the policy
    /// or the time left allows no further attempt.
    func pause(afterAttempt attempt: Int, failure: BridgeError, retryAfter: Duration?,
               deadline: ContinuousClock.Instant) async throws {
        let policy = configuration.retry
        guard attempt < policy.maxAttempts else { throw failure }
        let wait = jitter.withLockedValue { seeded -> Duration in
            if seeded != nil { return policy.delay(afterAttempt: attempt, retryAfter: retryAfter, using: &seeded!) }
            var system = SystemRandomNumberGenerator()
            return policy.delay(afterAttempt: attempt, retryAfter: retryAfter, using: &system)
        }
        let left = ContinuousClock.now.duration(to: deadline)
        guard (wait < left) && (left > .milliseconds(1)) else {
            var out = failure
            if out.kind != .http || out.status == 429 {
                out.message += "; no time left to retry within \(policy.totalTimeout)"
            }
            throw out
        }
        logger.info("bridge call failed, retrying", metadata: [
            "endpoint": "\(failure.endpoint)", "attempt": "\(attempt)", "status": "\(failure.status.map(String.init) ?? "-")",
            "wait_ms": "\(wait.nanoseconds / 1_000_000)",
        ])
        do { try await Task.sleep(for: wait) } catch {
            throw BridgeError(kind: .cancelled, endpoint: failure.endpoint, message: "cancelled", attempts: attempt)
        }
    }

    /// Map a transport error; TLS failures (a bad certificate) are final.
    static func classify(_ error: any Error, endpoint: String, attempt: Int) -> (error: BridgeError, retryable: Bool) {
        let text = String(describing: error).replacingOccurrences(of: "\n", with: " ")
        if let e = error as? HTTPClientError {
            switch e {
            case .deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout, .tlsHandshakeTimeout,
                 .getConnectionFromPoolTimeout:
                return (BridgeError(kind: .timeout, endpoint: endpoint, message: "timed out (\(text))", attempts: attempt), true)
            case .invalidURL, .emptyHost, .emptyScheme:
                return (BridgeError(kind: .configuration, endpoint: endpoint, message: text, attempts: attempt), false)
            default:
                break
            }
        }
        if error is NIOSSLError || error is BoringSSLError || String(reflecting: type(of: error)).contains("SSL") {
            return (BridgeError(kind: .transport, endpoint: endpoint, message: "TLS failure: \(text)", attempts: attempt), false)
        }
        if error is DecodingError {
            return (BridgeError(kind: .invalidResponse, endpoint: endpoint, message: BridgeJSON.describe(error), attempts: attempt), false)
        }
        if let e = error as? NIOTooManyBytesError {
            return (BridgeError(kind: .invalidResponse, endpoint: endpoint, message: "answer too large (\(e))", attempts: attempt), false)
        }
        return (BridgeError(kind: .transport, endpoint: endpoint, message: "cannot reach the bridge: \(text)", attempts: attempt), true)
    }

    /// `/api/v1/lct/lct_x/status` -> `/api/v1/lct/{id}/status`, so endpoints in errors name the call.
    static func template(_ path: String) -> String {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        let known: [(prefix: [String], name: String)] = [
            (["", "api", "v1", "components"], "{id}"), (["", "api", "v1", "lct"], "{id}"),
            (["", "api", "v1", "pairing", "status"], "{challenge_id}"),
        ]
        for k in known where parts.count > k.prefix.count && Array(parts.prefix(k.prefix.count)) == k.prefix {
            let next = parts[k.prefix.count]
            if next == "register" || next == "create" { return path }
            var out = parts
            out[k.prefix.count] = k.name
            return out.joined(separator: "/")
        }
        return path
    }

    func escape(_ id: String) -> String {
        var allowed = CharacterSet.urlPathAllowed
        allowed.remove(charactersIn: "/?#%")
        return id.addingPercentEncoding(withAllowedCharacters: allowed) ?? id
    }

    static func wipe(_ data: inout Data) {
        _ = data.withUnsafeMutableBytes { $0.initializeMemory(as: UInt8.self, repeating: 0) }
    }
}

extension String {
    var nilIfEmpty: String? { isEmpty ? nil : self }
}

extension TimeAmount {
    init(_ duration: Duration) {
        self = .nanoseconds(max(0, duration.nanoseconds))
    }
}
