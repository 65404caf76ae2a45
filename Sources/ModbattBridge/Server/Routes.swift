import Foundation
import Hummingbird
import Logging
import Modbatt

/// The REST subset of the API-Bridge, with the real service's JSON shapes.
struct BridgeRoutes: Sendable {
    let store: BridgeStore
    let maxBodyBytes: Int
    let logger: Logger

    func add(to router: Router<BasicRequestContext>) {
        router.get("/health") { _, _ in
            try json(BridgeHealth(status: "ok", version: "modbatt-embedded-1"))
        }
        router.post("/api/v1/components/register") { request, _ in
            let body = try await decode(RegisterComponentRequest.self, request)
            try require(body.creator, "creator")
            try require(body.componentData, "component_data")
            let component = try await store.registerComponent(body)
            logger.info("component registered", metadata: ["component_id": "\(component.componentId)"])
            return try json(component)
        }
        router.get("/api/v1/components/:id") { _, context in
            try json(try await store.component(try parameter(context, "id")))
        }
        router.get("/api/v1/components/:id/relationships") { _, context in
            let id = try parameter(context, "id")
            return try json(ComponentRelationships(relationships: try await store.relationships(of: id)))
        }
        router.post("/api/v1/lct/create") { request, _ in
            let body = try await decode(CreateLCTRequest.self, request)
            try require(body.creator, "creator")
            try require(body.componentA, "component_a")
            try require(body.componentB, "component_b")
            guard body.componentA != body.componentB else {
                throw APIError.invalid("component_a and component_b must differ")
            }
            // Fresh halves from the CSPRNG; only their fingerprints are stored.
            let device = KeyHalf.random()
            let lctHalf = KeyHalf.random()
            let lct = try await store.createLCT(body, deviceKeyFingerprint: device.fingerprint,
                                                lctKeyFingerprint: lctHalf.fingerprint)
            logger.info("LCT created", metadata: [
                "lct_id": "\(lct.lctId)", "device_key": "\(device.fingerprint)", "lct_key": "\(lctHalf.fingerprint)",
            ])
            let wire = CreateLCTWire(lct: lct, deviceKeyHalf: device.revealHex(), lctKeyHalf: lctHalf.revealHex())
            return try json(wire)
        }
        router.get("/api/v1/lct/:id") { _, context in
            try json(try await store.lct(try parameter(context, "id")))
        }
        router.put("/api/v1/lct/:id/status") { request, context in
            let id = try parameter(context, "id")
            let body = try await decode(UpdateLCTStatusRequest.self, request)
            try require(body.creator, "creator")
            try require(body.status, "status")
            if let bodyId = body.lctId, !bodyId.isEmpty, bodyId != id {
                throw APIError.invalid("lct_id in the body does not match the path")
            }
            guard UpdateLCTStatusRequest.knownStatuses.contains(body.status) else {
                throw APIError.invalid("unknown status",
                                       details: "one of: " + UpdateLCTStatusRequest.knownStatuses.sorted().joined(separator: ", "))
            }
            return try json(try await store.updateLCTStatus(id, status: body.status, context: body.context))
        }
        router.post("/api/v1/pairing/initiate") { request, _ in
            let body = try await decode(InitiatePairingRequest.self, request)
            try require(body.creator, "creator")
            try require(body.componentA, "component_a")
            try require(body.componentB, "component_b")
            guard body.componentA != body.componentB else {
                throw APIError.invalid("component_a and component_b must differ")
            }
            return try json(try await store.initiatePairing(body))
        }
        router.post("/api/v1/pairing/complete") { request, _ in
            let body = try await decode(CompletePairingRequest.self, request)
            try require(body.creator, "creator")
            try require(body.challengeId, "challenge_id")
            return try json(try await store.completePairing(body))
        }
        router.delete("/api/v1/pairing/revoke") { request, _ in
            let body = try await decode(RevokePairingRequest.self, request)
            try require(body.creator, "creator")
            guard !(body.lctId ?? "").isEmpty || !(body.challengeId ?? "").isEmpty else {
                throw APIError.invalid("lct_id or challenge_id is required")
            }
            var normalized = body
            if normalized.lctId?.isEmpty == true { normalized.lctId = nil }
            if normalized.challengeId?.isEmpty == true { normalized.challengeId = nil }
            return try json(try await store.revokePairing(normalized))
        }
        router.get("/api/v1/pairing/status/:challenge_id") { _, context in
            try json(try await store.pairingStatus(try parameter(context, "challenge_id")))
        }
    }

    private func decode<T: Decodable>(_ type: T.Type, _ request: Request) async throws -> T {
        let buffer = try await request.body.collect(upTo: maxBodyBytes)
        guard buffer.readableBytes > 0 else { throw APIError.malformed("the request body is empty") }
        let data = Data(buffer.readableBytesView)
        do {
            return try BridgeJSON.decode(type, from: data)
        } catch {
            throw APIError.malformed(BridgeJSON.describe(error))
        }
    }

    private func require(_ value: String, _ field: String) throws {
        if value.trimmingCharacters(in: .whitespaces).isEmpty {
            throw APIError.invalid("field '\(field)' must not be empty")
        }
    }

    private func parameter(_ context: BasicRequestContext, _ name: String) throws -> String {
        guard let value = context.parameters.get(name), !value.isEmpty else {
            throw APIError.invalid("missing path parameter '\(name)'")
        }
        return value
    }

    private func json<T: Encodable>(_ value: T, status: HTTPResponse.Status = .ok) throws -> Response {
        let data = try BridgeJSON.encode(value)
        return Response(status: status, headers: [.contentType: "application/json"],
                        body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}
