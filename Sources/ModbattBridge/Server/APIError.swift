import Hummingbird

/// An error the embedded bridge answers with `{"error", "code", "details"}`.
/// Messages never contain key material (requests carry none, and responses
/// with key halves are never turned into errors).
struct APIError: Error, Sendable {
    var status: HTTPResponse.Status
    var code: String
    var message: String
    var details: String?
    var existingId: String?
    var retryAfterSeconds: Int?

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String, details: String? = nil,
         existingId: String? = nil, retryAfterSeconds: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        self.existingId = existingId
        self.retryAfterSeconds = retryAfterSeconds
    }

    var body: BridgeErrorBody { BridgeErrorBody(error: message, code: code, details: details, existingId: existingId) }

    static func invalid(_ message: String, details: String? = nil) -> APIError {
        APIError(.badRequest, "INVALID_REQUEST", message, details: details)
    }
    static func malformed(_ details: String) -> APIError {
        APIError(.badRequest, "MALFORMED_JSON", "request body is not valid JSON for this call", details: details)
    }
    static func componentNotFound(_ id: String) -> APIError {
        APIError(.notFound, "COMPONENT_NOT_FOUND", "component not found", details: "component_id \(id)")
    }
    static func lctNotFound(_ id: String) -> APIError {
        APIError(.notFound, "LCT_NOT_FOUND", "LCT not found", details: "lct_id \(id)")
    }
    static func challengeNotFound(_ id: String) -> APIError {
        APIError(.notFound, "CHALLENGE_NOT_FOUND", "pairing challenge not found", details: "challenge_id \(id)")
    }
    static let unauthorized = APIError(.unauthorized, "UNAUTHORIZED", "missing or invalid API token")
    static let internalError = APIError(.internalServerError, "INTERNAL_ERROR", "internal error")
}
