import AsyncHTTPClient
import Foundation
import NIOCore
import NIOPosix

/// What one HTTP attempt of a `BridgeClient` call came to.
enum AttemptOutcome {
    /// A 2xx answer's body.
    case answer(Data)
    case failed(BridgeError, AttemptFailure)
}

/// Whether the bridge may have acted on a failed attempt. Idempotent calls
/// retry both retryable kinds alike; LCT creation must not send a request
/// again that may already have created an LCT (`createOrRecoverLCT`).
enum AttemptFailure: Equatable {
    /// Not worth another attempt: other 4xx, TLS, an answer of the wrong shape.
    case final
    /// The bridge did not act: the connection was refused or never set up,
    /// or a 429 turned the call away before it was handled.
    case notHandled(retryAfter: Duration?)
    /// The bridge may have acted and its answer was lost: a timeout or a
    /// reset after the request was sent, or a 5xx.
    case outcomeUnknown(retryAfter: Duration?)

    var retryAfter: Duration? {
        switch self {
        case .final: return nil
        case .notHandled(let wait), .outcomeUnknown(let wait): return wait
        }
    }
}

extension AttemptFailure {
    /// For an answer with this non-2xx status.
    static func forStatus(_ status: Int, retryAfter: Duration?) -> AttemptFailure {
        if status == 429 { return .notHandled(retryAfter: retryAfter) }
        return RetryPolicy.isRetryable(status: status) ? .outcomeUnknown(retryAfter: retryAfter) : .final
    }

    /// For a retryable transport error: did the request certainly not reach the bridge?
    static func forTransport(_ error: any Error) -> AttemptFailure {
        neverSent(error) ? .notHandled(retryAfter: nil) : .outcomeUnknown(retryAfter: nil)
    }

    /// Connection set-up failures only; anything after the connection
    /// stood (a read timeout, a reset, a closed connection) may have been
    /// handled by the bridge.
    static func neverSent(_ error: any Error) -> Bool {
        if let e = error as? HTTPClientError, e == .connectTimeout || e == .getConnectionFromPoolTimeout {
            return true
        }
        if let e = error as? IOError { return refusedErrnos.contains(e.errnoCode) }
        // Thrown only when no address could be connected to (or none resolved).
        if error is NIOConnectionError { return true }
        if let e = error as? ChannelError, case .connectTimeout = e { return true }
        return false
    }

    private static let refusedErrnos: Set<CInt> = [ECONNREFUSED, ENETUNREACH, EHOSTUNREACH, EADDRNOTAVAIL]
}
