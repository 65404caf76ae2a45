import Foundation
import Modbatt
import NIOHTTP1

/// LCT creation is not idempotent: a retried `POST /api/v1/lct/create`
/// whose first attempt went through makes a second LCT, and the first is an
/// orphan nobody holds the halves of. So an attempt whose outcome is unknown
/// (timeout or reset after sending, 5xx) is followed by a lookup of the
/// pair, not by a blind retry; attempts the bridge certainly did not act on
/// (connection refused, 429) are retried as any call.
extension BridgeClient {
    /// Create the LCT of a pair; the answer carries its two key halves, once.
    ///
    /// An LCT that a lost answer created is not returned: it fails with
    /// `.keyHalvesLost` and its id in `existingId` (revoke it, create again).
    /// Use `createOrRecoverLCT` to get it as a value.
    public func createLCT(_ request: CreateLCTRequest) async throws -> CreatedLCT {
        let outcome = try await createOrRecoverLCT(request)
        switch consume outcome {
        case .created(let created):
            return created
        case .recovered(let recovered):
            throw BridgeError(
                kind: .keyHalvesLost, endpoint: Self.createEndpoint,
                message: "LCT \(recovered.lct.lctId) was created by an attempt whose answer was lost (\(recovered.cause));"
                    + " its key halves are gone: revoke it and create the pair's LCT again",
                existingId: recovered.lct.lctId)
        }
    }

    /// Create the LCT of a pair, never leaving a second one behind a lost answer.
    ///
    /// `.created`: the answer arrived. `.recovered`: an attempt created the
    /// LCT but its answer was lost; the lookup found it and nothing else was
    /// created. Fails with `.unresolvedLCT` (and `unresolvedLCTs`) when an
    /// attempt's outcome is unknown and the lookup fails too.
    public func createOrRecoverLCT(_ request: CreateLCTRequest) async throws -> LCTCreation {
        let endpoint = Self.createEndpoint
        let body = try encode(request, endpoint)
        let deadline = ContinuousClock.now + configuration.retry.totalTimeout
        let since = Int64(Date().timeIntervalSince1970)
        var attempt = 0
        while true {
            attempt += 1
            let outcome = try await self.attempt(.POST, "/api/v1/lct/create", body: body, endpoint: endpoint,
                                                 number: attempt, deadline: deadline)
            switch outcome {
            case .answer(var raw):
                defer { Self.wipe(&raw) }
                return .created(try created(from: raw))
            case .failed(let failure, .final):
                throw failure
            case .failed(let failure, .notHandled(let retryAfter)):
                try await pause(afterAttempt: attempt, failure: failure, retryAfter: retryAfter, deadline: deadline)
            case .failed(let failure, .outcomeUnknown(let retryAfter)):
                if let found = try await lookUpAfterLostAnswer(request, failure: failure, since: since, deadline: deadline) {
                    return .recovered(found)
                }
                try await pause(afterAttempt: attempt, failure: failure, retryAfter: retryAfter, deadline: deadline)
            }
        }
    }

    /// The LCTs a component is part of (`GET /api/v1/components/{id}/relationships`).
    public func lctRelationships(componentId: String) async throws -> [LCT] {
        try await lctRelationships(componentId: componentId, deadline: nil)
    }

    static let createEndpoint = "POST /api/v1/lct/create"

    /// How far before the call's start an LCT's `created_at` may lie and
    /// still count as this call's: the bridge's clock is not ours.
    static let clockSkewAllowance: Int64 = 120

    private func lctRelationships(componentId: String, deadline: ContinuousClock.Instant?) async throws -> [LCT] {
        let answer: ComponentRelationships = try await call(
            .GET, "/api/v1/components/" + escape(componentId) + "/relationships", body: Optional<Int>.none,
            deadline: deadline)
        return answer.relationships
    }

    private func created(from raw: Data) throws -> CreatedLCT {
        let created = try CreatedLCT.decode(raw, endpoint: Self.createEndpoint)
        logger.info("LCT created", metadata: [
            "lct_id": "\(created.lct.lctId)", "device_key": "\(created.deviceKeyHalf.fingerprint)",
            "lct_key": "\(created.lctKeyHalf.fingerprint)",
        ])
        return created
    }

    /// After an attempt with an unknown outcome: the LCT it made, if any.
    /// nil = the bridge holds none, so creating again leaves no orphan.
    /// A failed lookup is an `.unresolvedLCT` error naming the pair.
    private func lookUpAfterLostAnswer(_ request: CreateLCTRequest, failure: BridgeError, since: Int64,
                                       deadline: ContinuousClock.Instant) async throws -> RecoveredLCT? {
        let found: [LCT]
        do {
            found = try await lctRelationships(componentId: request.componentA, deadline: deadline)
        } catch let lookup as BridgeError where lookup.kind != .cancelled {
            throw Self.unresolved(request, failure: failure, lookup: lookup)
        }
        let matches = found.filter { Self.isCandidate($0, for: request, since: since) }
            .sorted { ($0.createdAt ?? 0) < ($1.createdAt ?? 0) }
        guard let first = matches.first else {
            logger.info("LCT create answer lost; the bridge holds no LCT of the pair, creating again",
                        metadata: ["endpoint": "\(failure.endpoint)"])
            return nil
        }
        logger.warning("LCT create answer lost; found the LCT it made, not creating another",
                       metadata: ["lct_id": "\(first.lctId)", "others": "\(matches.count - 1)"])
        return RecoveredLCT(lct: first, others: Array(matches.dropFirst()), cause: failure.description)
    }

    /// Whether a looked-up LCT may be the one this create made: same pair
    /// (either order), context and creator, live, and not older than the call.
    static func isCandidate(_ lct: LCT, for request: CreateLCTRequest, since: Int64) -> Bool {
        let samePair = Set([lct.componentA, lct.componentB]) == Set([request.componentA, request.componentB])
        let live = !["revoked", "terminated"].contains(lct.status.lowercased())
        let sameCreator = lct.creator.map { $0.isEmpty || $0 == request.creator } ?? true
        let recent = lct.createdAt.map { $0 >= since - clockSkewAllowance } ?? true
        return samePair && live && lct.context == request.context && sameCreator && recent
    }

    static func unresolved(_ request: CreateLCTRequest, failure: BridgeError, lookup: BridgeError) -> BridgeError {
        let orphan = UnresolvedLCT(request, createFailure: failure.description, lookupFailure: lookup.description)
        var error = BridgeError(
            kind: .unresolvedLCT, endpoint: createEndpoint,
            message: "unresolved LCT: \(orphan); an orphan LCT may exist, find it later with"
                + " GET /api/v1/components/{id}/relationships and revoke it",
            attempts: failure.attempts)
        error.unresolvedLCTs = [orphan]
        return error
    }
}
