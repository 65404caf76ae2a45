import Foundation
import Hummingbird
import Logging
import Modbatt

extension APIError {
    /// The JSON answer for this error.
    var response: Response {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let retryAfterSeconds { headers[.retryAfter] = String(retryAfterSeconds) }
        if status == .unauthorized { headers[.wwwAuthenticate] = "Bearer" }
        let data = (try? BridgeJSON.encode(body)) ?? Data(#"{"error":"internal error","code":"INTERNAL_ERROR"}"#.utf8)
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

/// Outermost: turns every error into a JSON error body, so no call ever
/// gets an empty 500 or Hummingbird's plain-text answers.
struct JSONErrorMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        do {
            return try await next(request, context)
        } catch let error as APIError {
            return error.response
        } catch let error as any HTTPResponseError {
            return Self.map(error.status, request: request).response
        } catch is CancellationError {
            // The client went away or the bridge is stopping.
            logger.debug("call cancelled", metadata: ["path": "\(request.uri.path)"])
            return APIError(.serviceUnavailable, "UNAVAILABLE", "the bridge is shutting down or the call was cancelled",
                            retryAfterSeconds: 1).response
        } catch {
            // Log the type only: messages of unknown errors are not vetted.
            logger.error("internal error", metadata: ["error.type": "\(type(of: error))", "path": "\(request.uri.path)"])
            return APIError.internalError.response
        }
    }

    static func map(_ status: HTTPResponse.Status, request: Request) -> APIError {
        switch status {
        case .notFound:
            return APIError(.notFound, "NOT_FOUND", "no such endpoint", details: "\(request.method) \(request.uri.path)")
        case .contentTooLarge:
            return APIError(.contentTooLarge, "PAYLOAD_TOO_LARGE", "request body too large")
        case .badRequest:
            return APIError.malformed("the request could not be read")
        case .unauthorized:
            return APIError.unauthorized
        default:
            return APIError(status, "HTTP_\(status.code)", status.reasonPhrase)
        }
    }
}

/// Logs each API call (method, path, status, time); never bodies or headers.
struct RequestLogMiddleware<Context: RequestContext>: RouterMiddleware {
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let start = ContinuousClock.now
        let response = try await next(request, context)
        let ms = (ContinuousClock.now - start).nanoseconds / 1_000_000
        logger.debug("\(request.method) \(request.uri.path) -> \(response.status.code)", metadata: ["ms": "\(ms)"])
        return response
    }
}

/// Latency, injected 500s and 429 bursts for `/api/` calls.
struct FaultMiddleware<Context: RequestContext>: RouterMiddleware {
    let injector: FaultInjector
    let logger: Logger

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/api/") else { return try await next(request, context) }
        let config = injector.configuration
        if config.latencyMilliseconds > 0 {
            try await Task.sleep(for: .milliseconds(config.latencyMilliseconds))
        }
        switch injector.decide() {
        case .pass:
            return try await next(request, context)
        case .fail:
            logger.debug("injected 500", metadata: ["path": "\(request.uri.path)"])
            throw APIError(.internalServerError, "INTERNAL_ERROR", "injected failure", details: "fault injection")
        case .tooManyRequests:
            logger.debug("injected 429", metadata: ["path": "\(request.uri.path)"])
            throw APIError(.tooManyRequests, "RATE_LIMIT_EXCEEDED", "too many requests", details: "fault injection",
                           retryAfterSeconds: config.retryAfterSeconds)
        }
    }
}

/// The configured request rate over all clients (`/api/` calls only).
struct RateLimitMiddleware<Context: RequestContext>: RouterMiddleware {
    let limiter: RateLimiter
    let retryAfterSeconds: Int

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/api/") else { return try await next(request, context) }
        guard limiter.admit() else {
            throw APIError(.tooManyRequests, "RATE_LIMIT_EXCEEDED", "too many requests", details: "rate limit",
                           retryAfterSeconds: retryAfterSeconds)
        }
        return try await next(request, context)
    }
}

/// The token on `/api/` calls, in `Authorization: Bearer <token>` or
/// `X-API-Key: <token>` as `schemes` allow, compared in constant time.
struct TokenAuthMiddleware<Context: RequestContext>: RouterMiddleware {
    let token: [UInt8]
    let schemes: Set<BridgeAuthScheme>

    init(token: String, schemes: Set<BridgeAuthScheme>) {
        self.token = Array(token.utf8)
        self.schemes = schemes
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        guard request.uri.path.hasPrefix("/api/") else { return try await next(request, context) }
        guard let presented = presentedToken(request.headers),
              Self.constantTimeEquals(Array(presented.utf8), token)
        else { throw APIError.unauthorized }
        return try await next(request, context)
    }

    /// The token from the first accepted header the request carries.
    private func presentedToken(_ headers: HTTPFields) -> String? {
        if schemes.contains(.apiKey), let key = headers.first(where: { $0.name.canonicalName == "x-api-key" })?.value {
            return key.trimmingCharacters(in: .whitespaces)
        }
        if schemes.contains(.bearer), let header = headers[.authorization] {
            let parts = header.split(separator: " ", maxSplits: 1)
            guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
            return parts[1].trimmingCharacters(in: .whitespaces)
        }
        return nil
    }

    /// Time depends on the lengths only, not on where the bytes differ.
    static func constantTimeEquals(_ a: [UInt8], _ b: [UInt8]) -> Bool {
        var diff = UInt8(a.count == b.count ? 0 : 1)
        for i in 0..<max(a.count, b.count) {
            diff |= (i < a.count ? a[i] : 0) ^ (i < b.count ? b[i] : 0)
        }
        return diff == 0
    }
}
