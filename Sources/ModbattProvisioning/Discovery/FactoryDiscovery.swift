/// The factory step's use of discovery (docs/PROVISIONING.md 2.1): the one
/// place where the app takes a binding key from a discovery answer, on a
/// bus the factory controls, and only when every answer matches the pack it
/// expects. Anything unexpected stops it: nothing is pinned.
public enum FactoryDiscovery {
    /// A device the pack config names.
    public struct Expected: Sendable {
        /// Where the config names it (`pack`, `modules[2]`), for errors.
        public var field: String
        public var serial: String
        public var deviceId: UInt8
        /// A binding key the config already holds: never replaced by an answer.
        public var pinnedKey: [UInt8]?

        public init(field: String, serial: String, deviceId: UInt8, pinnedKey: [UInt8]?) {
            self.field = field
            self.serial = serial
            self.deviceId = deviceId
            self.pinnedKey = pinnedKey
        }
    }

    public struct Refusal: Error, Sendable, Equatable, CustomStringConvertible {
        public var description: String
    }

    /// The pack's layout from `report`, checked against `pack` and `modules`:
    /// each device answered exactly once under its id, with its role and
    /// serial and a binding key equal to any key already pinned.
    public static func layout(from report: DiscoveryReport, pack: Expected,
                              modules: [Expected]) throws(Refusal) -> PackLayout {
        PackLayout(pack: try device(pack, role: .packController, in: report),
                   modules: try modules.map { (m) throws(Refusal) in try device(m, role: .module, in: report) })
    }

    private static func device(_ e: Expected, role: DiscoveredDevice.Role,
                               in report: DiscoveryReport) throws(Refusal) -> PackLayout.Device {
        let at = "\(e.field) (\(e.serial), id \(hexId(e.deviceId)))"
        if report.conflicts[e.deviceId] != nil {
            throw Refusal(description: "\(at): conflicting answers under one id; pin nothing until the bus is clean")
        }
        guard let d = report.devices.first(where: { $0.deviceId == e.deviceId }) else {
            throw Refusal(description: "\(at): no answer")
        }
        guard d.role == role else { throw Refusal(description: "\(at): answered as a \(d.role.name)") }
        guard d.serial == e.serial else { throw Refusal(description: "\(at): answered with serial \(d.serial)") }
        guard let key = d.bindingKey else { throw Refusal(description: "\(at): answered without a binding key (key store unusable)") }
        if let pinned = e.pinnedKey, pinned != key {
            throw Refusal(description: "\(at): answered with another binding key than the one pinned in the config; "
                          + "a pinned key is never replaced from the bus (remove it by hand if the board was replaced)")
        }
        return PackLayout.Device(serial: d.serial, deviceId: d.deviceId, bindingKey: key)
    }

    private static func hexId(_ id: UInt8) -> String {
        "0x" + String(id, radix: 16, uppercase: false).leftPadded(to: 2)
    }
}

private extension String {
    func leftPadded(to n: Int) -> String { String(repeating: "0", count: max(0, n - count)) + self }
}
