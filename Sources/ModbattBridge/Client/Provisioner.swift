import Foundation
import Logging
import Modbatt

/// Idempotent provisioning against one bridge: registers each hardware
/// serial once and creates one LCT per pair, remembering both in the
/// `ProvisioningRegistry`. Re-running (after a crash, a retry, a second
/// invocation) returns the recorded results instead of calling the bridge
/// again; concurrent calls for the same serial or pair run one at a time.
public final class Provisioner: Sendable {
    public let client: BridgeClient
    public let registry: ProvisioningRegistry
    /// The bridge account that signs (`creator`).
    public let creator: String
    private let bridge: String
    private let locks = KeyedLock()
    private let logger: Logger

    public init(client: BridgeClient, registry: ProvisioningRegistry, creator: String,
                logger: Logger = Logger(label: "modbatt.bridge.provisioner")) {
        self.client = client
        self.registry = registry
        self.creator = creator
        self.bridge = client.configuration.baseURL.hasSuffix("/")
            ? String(client.configuration.baseURL.dropLast()) : client.configuration.baseURL
        self.logger = logger
    }

    /// Register this host (the app) as a component, keyed by its Host ID.
    public func ensureHostRegistered(context: String = "modbatt-host") async throws -> RegisteredComponent {
        let host = try registry.hostIdentity()
        if host.machineMatches == false {
            logger.warning("the provisioning registry was created on another machine; keeping its Host ID",
                           metadata: ["host_id": "\(host.hostId)"])
        }
        return try await ensureComponent(hardwareSerial: host.hostId, componentData: "modbatt-host:\(host.hostId)",
                                         context: context)
    }

    /// Register the component with this hardware serial unless this host
    /// already did. `componentData` defaults to the serial itself.
    public func ensureComponent(hardwareSerial: String, componentData: String? = nil,
                                context: String = "modbatt") async throws -> RegisteredComponent {
        try await locks.withLock("component|\(hardwareSerial)") {
            if let known = try registry.component(bridge: bridge, hardwareSerial: hardwareSerial) {
                return known
            }
            let data = componentData ?? hardwareSerial
            let component: Component
            do {
                component = try await client.registerComponent(
                    RegisterComponentRequest(creator: creator, componentData: data, context: context))
            } catch let error as BridgeError where error.status == 409 && error.existingId != nil {
                // Registered earlier but the answer never arrived (or the registry was lost): adopt it.
                component = try await client.component(id: error.existingId!)
                logger.info("component already registered on the bridge; adopting it",
                            metadata: ["component_id": "\(component.componentId)"])
            }
            let record = RegisteredComponent(
                bridge: bridge, hardwareSerial: hardwareSerial, componentId: component.componentId,
                componentIdentity: component.componentIdentity, lctId: component.lctId, componentData: data,
                context: context, registeredAt: component.createdAt ?? Int64(Date().timeIntervalSince1970))
            try registry.record(record)
            return record
        }
    }

    /// Create the LCT of a pair unless this host already did.
    ///
    /// `.created` carries the key halves (the only time they exist);
    /// `.alreadyProvisioned` means they were handed out on an earlier run. A
    /// pair with an LCT on the bridge that this registry does not know fails
    /// with 409 `LCT_EXISTS`, or `.keyHalvesLost` when this very call's
    /// answer was lost and the client found the LCT by lookup (`existingId`
    /// either way): its halves cannot be fetched again, so revoke it and
    /// provision again. `.unresolvedLCT` (with `unresolvedLCTs`): the answer
    /// was lost and the lookup failed, so an orphan LCT may exist.
    public func ensureLCT(componentA: String, componentB: String, context: String = "modbatt",
                          proxyId: String? = nil) async throws -> LCTProvisioning {
        let key = "lct|" + ProvisioningRegistry.pairKey(componentA, componentB)
        return try await locks.withLock(key) { () async throws -> LCTProvisioning in
            if let known = try registry.lct(bridge: bridge, componentA: componentA, componentB: componentB) {
                return .alreadyProvisioned(known)
            }
            let created: CreatedLCT
            do {
                created = try await client.createLCT(
                    CreateLCTRequest(creator: creator, componentA: componentA, componentB: componentB,
                                     context: context, proxyId: proxyId))
            } catch var error as BridgeError where error.status == 409 {
                error.message += "; this host has no record of that LCT, so its key halves are lost:"
                    + " revoke it (DELETE /api/v1/pairing/revoke) and provision the pair again"
                throw error
            }
            try registry.record(ProvisionedLCTRecord(
                bridge: bridge, lctId: created.lct.lctId, componentA: componentA, componentB: componentB,
                deviceKeyFingerprint: created.deviceKeyHalf.fingerprint, lctKeyFingerprint: created.lctKeyHalf.fingerprint,
                createdAt: created.lct.createdAt ?? Int64(Date().timeIntervalSince1970)))
            return .created(created)
        }
    }
}

/// The result of `Provisioner.ensureLCT`.
public enum LCTProvisioning: ~Copyable {
    /// Created now: the LCT and its key halves.
    case created(CreatedLCT)
    /// Created on an earlier run; the halves were handed out then.
    case alreadyProvisioned(ProvisionedLCTRecord)

    public var lctId: String {
        switch self {
        case .created(let c): return c.lct.lctId
        case .alreadyProvisioned(let r): return r.lctId
        }
    }
}
