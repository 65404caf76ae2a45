import Hummingbird
import Logging
import NIOConcurrencyHelpers

/// A fault aimed at one call, a set number of times: what a test needs to
/// reproduce "the bridge committed, the client never heard" exactly, where
/// `FaultConfiguration` draws faults at random.
///
/// ```swift
/// // The first create commits, then its answer is replaced by a 503.
/// config.scriptedFaults = [.init(method: "POST", path: "/api/v1/lct/create", when: .afterCommit, answer: .status(503))]
/// ```
public struct ScriptedFault: Sendable, Equatable {
    public enum When: Sendable, Equatable {
        /// Instead of handling the call (nothing is committed).
        case beforeHandling
        /// After the call was handled and committed: its real answer is lost.
        case afterCommit
    }

    public enum Answer: Sendable, Equatable {
        /// A JSON error with this status (5xx: `INTERNAL_ERROR` / `UNAVAILABLE`).
        case status(Int)
        /// Hold the answer this long before sending it (past a client's timeout).
        case delay(milliseconds: Int)
    }

    public var method: String
    /// Matches paths that start with it (`/api/v1/components/` hits every component call).
    public var path: String
    public var when: When
    public var answer: Answer
    /// How many matching calls it strikes; `Int.max` = all of them.
    public var times: Int

    public init(method: String, path: String, when: When, answer: Answer, times: Int = 1) {
        self.method = method
        self.path = path
        self.when = when
        self.answer = answer
        self.times = times
    }

    func matches(_ request: Request) -> Bool {
        request.method.rawValue == method && request.uri.path.hasPrefix(path)
    }

    /// The error to answer with, for a `.status` fault.
    var error: APIError? {
        guard case .status(let code) = answer else { return nil }
        let status = HTTPResponse.Status(code: code)
        return APIError(status, code == 503 ? "UNAVAILABLE" : "INTERNAL_ERROR", "injected failure",
                        details: when == .afterCommit ? "scripted fault after commit" : "scripted fault")
    }
}

/// Applies `ScriptedFault`s in order, each until its `times` are used up.
struct ScriptedFaultMiddleware<Context: RequestContext>: RouterMiddleware {
    let faults: [ScriptedFault]
    let left: NIOLockedValueBox<[Int]>
    let logger: Logger

    init(faults: [ScriptedFault], logger: Logger) {
        self.faults = faults
        self.left = NIOLockedValueBox(faults.map(\.times))
        self.logger = logger
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        if let fault = take(request, when: .beforeHandling) {
            logger.debug("scripted fault before handling", metadata: ["path": "\(request.uri.path)"])
            if case .delay(let ms) = fault.answer {
                try await Task.sleep(for: .milliseconds(ms))
                return try await next(request, context)
            }
            throw fault.error!
        }
        guard armed(request) else { return try await next(request, context) }
        let response = try await next(request, context)
        // Only a committed (2xx) call can lose its answer.
        guard (200..<300).contains(Int(response.status.code)), let fault = take(request, when: .afterCommit) else {
            return response
        }
        logger.debug("scripted fault after commit", metadata: ["path": "\(request.uri.path)"])
        if case .delay(let ms) = fault.answer {
            try await Task.sleep(for: .milliseconds(ms))
            return response
        }
        throw fault.error!
    }

    /// Whether an after-commit fault is still armed for this call (not consumed yet).
    private func armed(_ request: Request) -> Bool {
        left.withLockedValue { left in
            faults.indices.contains { faults[$0].when == .afterCommit && left[$0] > 0 && faults[$0].matches(request) }
        }
    }

    /// Consume one use of the first armed fault for this call and moment.
    private func take(_ request: Request, when: ScriptedFault.When) -> ScriptedFault? {
        left.withLockedValue { left -> ScriptedFault? in
            guard let i = faults.indices.first(where: {
                faults[$0].when == when && left[$0] > 0 && faults[$0].matches(request)
            }) else { return nil }
            if left[i] != Int.max { left[i] -= 1 }
            return faults[i]
        }
    }
}
