import Foundation
import Modbatt
import ModbattProvisioning

/// One discovered device as `pack discover --json` prints it.
struct DiscoveredDeviceDocument: Encodable {
    var deviceId: Int
    var name: String
    var role: String
    var serial: String
    var firmware: String
    /// 130 hex digits; null when the device has no usable key store.
    var bindingKey: String?
    var bindingKeyId: String?

    init(_ d: DiscoveredDevice) {
        deviceId = Int(d.deviceId)
        name = DiscoveryTable.name(d)
        role = d.role.name
        serial = d.serial
        firmware = "\(d.firmware)"
        bindingKey = d.bindingKey.map { $0.map { String(format: "%02x", $0) }.joined() }
        bindingKeyId = d.bindingKey.map(BindingKeyId.text)
    }
}

/// The JSON document of `modbatt pack discover`.
struct DiscoveryDocument: Encodable {
    struct Conflict: Encodable {
        var deviceId: Int
        var answers: [DiscoveredDeviceDocument]
    }

    struct Rejected: Encodable {
        var deviceId: Int
        var reason: String
    }

    var can: String
    var waitMs: Int
    var devices: [DiscoveredDeviceDocument]
    var conflicts: [Conflict]
    var rejected: [Rejected]

    init(_ r: DiscoveryReport, can: String, waitMs: Int) {
        self.can = can
        self.waitMs = waitMs
        devices = r.devices.map(DiscoveredDeviceDocument.init)
        conflicts = r.conflicts.keys.sorted().map { Conflict(deviceId: Int($0), answers: r.conflicts[$0]!.map(DiscoveredDeviceDocument.init)) }
        rejected = r.rejected.map { Rejected(deviceId: Int($0.deviceId), reason: "\($0.reason)") }
    }
}

/// The human table of `modbatt pack discover`.
enum DiscoveryTable {
    /// `pack`, `module-NN`, or `device-0xNN` for ids outside the pack layout.
    static func name(_ d: DiscoveredDevice) -> String {
        if d.role == .packController && d.deviceId == PackLayout.packDeviceId { return "pack" }
        if d.role == .module && PackLayout.moduleDeviceIds.contains(d.deviceId) { return PackLayout.moduleName(deviceId: d.deviceId) }
        return String(format: "device-0x%02x", d.deviceId)
    }

    static func render(_ r: DiscoveryReport, can: String, timeout: Double) -> String {
        let count = r.devices.count
        var lines = ["modbatt pack discover: \(count) device\(count == 1 ? "" : "s") answered on \(can) within \(timeout) s"]
        let rows = r.devices.map { row($0, note: "") }
            + r.conflicts.keys.sorted().flatMap { id in r.conflicts[id]!.map { row($0, note: Terminal.bad("CONFLICT")) } }
        if !rows.isEmpty {
            lines.append(format(["id", "name", "role", "serial", "firmware", "binding key id", ""]))
            lines += rows.map(format)
        }
        for x in r.rejected {
            lines.append("  refused an answer from " + String(format: "0x%02x", x.deviceId) + ": \(x.reason)")
        }
        if !r.conflicts.isEmpty {
            lines.append("  conflicting answers: two devices share an id, or someone answers for one; do not pin these keys")
        }
        return lines.joined(separator: "\n")
    }

    private static func row(_ d: DiscoveredDevice, note: String) -> [String] {
        [String(format: "0x%02x", d.deviceId), name(d), d.role == .packController ? "pack controller" : "module",
         d.serial, "\(d.firmware)", d.bindingKey.map(BindingKeyId.text) ?? "none (key store unusable)", note]
    }

    private static func format(_ cells: [String]) -> String {
        let widths = [6, 11, 17, 14, 10, 18, 0]
        let line = "  " + zip(cells, widths).map { $1 == 0 ? $0 : $0.padding(toLength: max($1, $0.count + 1), withPad: " ", startingAt: 0) }
            .joined()
        return line.replacingOccurrences(of: "\\s+$", with: "", options: .regularExpression)
    }
}
