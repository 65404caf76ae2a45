import Foundation
import ModbattBridge
import ModbattProvisioning

/// The pack config file of `modbatt provision` and `modbatt pack`
/// (docs/CLI.md, "The pack config file"): the pack controller and its
/// modules by hardware serial and CAN device id, each with its binding
/// public key once `modbatt pack init` (or the factory) has read it, and
/// optionally the bridge and the session profile.
struct PackConfig {
    struct Device {
        var serial: String
        var deviceId: UInt8
        /// 65 bytes; nil until read from the device.
        var bindingKey: [UInt8]?
    }

    var path: String
    var pack: Device
    var modules: [Device]
    var fd: Bool
    var bridgeURL: String?
    var bridgeToken: String?
    /// The header the token travels in (`bridge.auth`); nil: the client's default.
    var bridgeAuth: BridgeAuthScheme?
    var creator: String?
    /// The whole document, for writing binding keys back without losing other fields.
    var document: [String: Any]

    /// Read and check the file; every problem is one line naming the field.
    static func load(_ path: String) throws -> PackConfig {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CLIError("pack config \(path): cannot read the file")
        }
        let object: Any
        do { object = try JSONSerialization.jsonObject(with: data) } catch {
            throw CLIError("pack config \(path): not valid JSON", detail: "\(error)")
        }
        guard let doc = object as? [String: Any] else { throw CLIError("pack config \(path): must be a JSON object") }
        let fields = Fields(path: path)
        let packObject = try fields.object(doc, "pack")
        let pack = try fields.device(packObject, at: "pack", defaultId: PackLayout.packDeviceId)
        guard pack.deviceId == PackLayout.packDeviceId else {
            throw fields.error("pack.device_id", "must be \(PackLayout.packDeviceId) (the pack controller's CAN device id)")
        }
        guard let list = doc["modules"] as? [Any] else {
            throw fields.error("modules", doc["modules"] == nil ? "missing" : "must be an array")
        }
        guard (1...32).contains(list.count) else { throw fields.error("modules", "must list 1...32 modules, got \(list.count)") }
        var modules: [Device] = []
        for (i, item) in list.enumerated() {
            guard let o = item as? [String: Any] else { throw fields.error("modules[\(i)]", "must be an object") }
            let m = try fields.device(o, at: "modules[\(i)]", defaultId: PackLayout.moduleDeviceIds.lowerBound + UInt8(i))
            guard PackLayout.moduleDeviceIds.contains(m.deviceId) else {
                throw fields.error("modules[\(i)].device_id", "must be \(PackLayout.moduleDeviceIds.lowerBound)...\(PackLayout.moduleDeviceIds.upperBound) "
                                   + String(format: "(0x%02x...0x%02x)", PackLayout.moduleDeviceIds.lowerBound,
                                            PackLayout.moduleDeviceIds.upperBound) + ", got \(m.deviceId)")
            }
            if let j = modules.firstIndex(where: { $0.deviceId == m.deviceId }) {
                throw fields.error("modules[\(i)].device_id", "\(m.deviceId) is also modules[\(j)]'s")
            }
            if m.serial == pack.serial || modules.contains(where: { $0.serial == m.serial }) {
                throw fields.error("modules[\(i)].serial", "'\(m.serial)' is used twice")
            }
            modules.append(m)
        }
        let profile = try fields.string(doc, "profile", at: "profile") ?? "classic"
        guard profile == "classic" || profile == "fd" else { throw fields.error("profile", "must be \"classic\" or \"fd\"") }
        var bridgeURL: String?, token: String?, auth: BridgeAuthScheme?
        if doc["bridge"] != nil {
            let b = try fields.object(doc, "bridge")
            bridgeURL = try fields.string(b, "url", at: "bridge.url")
            token = try fields.string(b, "token", at: "bridge.token")
            if let name = try fields.string(b, "auth", at: "bridge.auth") {
                guard let scheme = BridgeAuthScheme(name: name) else {
                    throw fields.error("bridge.auth", "must be \(BridgeAuthScheme.expectedNames)")
                }
                auth = scheme
            }
        }
        return PackConfig(path: path, pack: pack, modules: modules, fd: profile == "fd", bridgeURL: bridgeURL,
                          bridgeToken: token, bridgeAuth: auth, creator: try fields.string(doc, "creator", at: "creator"),
                          document: doc)
    }

    /// The layout `provision` needs: every device with its binding key.
    func layout() throws -> PackLayout {
        func device(_ d: Device, at field: String) throws -> PackLayout.Device {
            guard let key = d.bindingKey else {
                throw CLIError("pack config \(path): \(field).binding_key: missing (read it from the device; "
                               + "for `modbatt pack serve` devices: modbatt pack init --config \(path) --store DIR)")
            }
            return PackLayout.Device(serial: d.serial, deviceId: d.deviceId, bindingKey: key)
        }
        return PackLayout(pack: try device(pack, at: "pack"),
                          modules: try modules.enumerated().map { try device($1, at: "modules[\($0)]") })
    }

    /// The device side's view of the same pack.
    func devices(store: URL) -> PackDevicesConfiguration {
        var c = PackDevicesConfiguration(
            storeDirectory: store, pack: .init(serial: pack.serial, deviceId: pack.deviceId),
            modules: modules.map { .init(serial: $0.serial, deviceId: $0.deviceId) })
        c.profile = fd ? .fd : .classic
        return c
    }

    /// What the factory step expects to discover for `d` (named `field`).
    func expected(_ d: Device, at field: String) -> FactoryDiscovery.Expected {
        FactoryDiscovery.Expected(field: field, serial: d.serial, deviceId: d.deviceId, pinnedKey: d.bindingKey)
    }

    /// Write `layout`'s binding keys into the document, to `output`.
    func writingBindingKeys(_ layout: PackLayout, to output: String) throws {
        var doc = document
        var p = doc["pack"] as? [String: Any] ?? [:]
        p["binding_key"] = hex(layout.pack.bindingKey)
        doc["pack"] = p
        var list = doc["modules"] as? [Any] ?? []
        for (i, m) in layout.modules.enumerated() where i < list.count {
            var o = list[i] as? [String: Any] ?? [:]
            o["binding_key"] = hex(m.bindingKey)
            o["device_id"] = Int(m.deviceId)
            list[i] = o
        }
        doc["modules"] = list
        let data = try JSONSerialization.data(withJSONObject: doc, options: [.prettyPrinted, .sortedKeys,
                                                                             .withoutEscapingSlashes])
        do { try (data + Data("\n".utf8)).write(to: URL(fileURLWithPath: output), options: .atomic) } catch {
            throw CLIError("cannot write \(output): \(error.localizedDescription)")
        }
    }

    private func hex(_ bytes: [UInt8]) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

    /// Field readers whose errors name the field.
    private struct Fields {
        let path: String

        func error(_ field: String, _ problem: String) -> CLIError {
            CLIError("pack config \(path): \(field): \(problem)")
        }

        func object(_ o: [String: Any], _ key: String) throws -> [String: Any] {
            guard let v = o[key] else { throw error(key, "missing") }
            guard let d = v as? [String: Any] else { throw error(key, "must be an object") }
            return d
        }

        func string(_ o: [String: Any], _ key: String, at field: String) throws -> String? {
            guard let v = o[key], !(v is NSNull) else { return nil }
            guard let s = v as? String, !s.isEmpty else { throw error(field, "must be a non-empty string") }
            return s
        }

        func device(_ o: [String: Any], at field: String, defaultId: UInt8) throws -> Device {
            guard let serial = try string(o, "serial", at: "\(field).serial") else { throw error("\(field).serial", "missing") }
            guard serial.count <= 48, serial.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != ":" }) else {
                throw error("\(field).serial", "must be 1...48 printable ASCII characters without spaces or ':'")
            }
            var id = defaultId
            if let v = o["device_id"] {
                // A JSON `true` arrives as an NSNumber of type "c" (char): it must not pass as 1.
                guard let number = v as? NSNumber, !["c", "B"].contains(String(cString: number.objCType)),
                      number.doubleValue == Double(number.intValue), case let n = number.intValue,
                      (0...255).contains(n) else {
                    throw error("\(field).device_id", "must be an integer 0...255")
                }
                id = UInt8(n)
            }
            var key: [UInt8]?
            if let text = try string(o, "binding_key", at: "\(field).binding_key") {
                guard let bytes = Self.unhex(text), bytes.count == 65, bytes[0] == 0x04 else {
                    throw error("\(field).binding_key", "must be 130 hex digits (an uncompressed P-256 key, 04...)")
                }
                key = bytes
            }
            return Device(serial: serial, deviceId: id, bindingKey: key)
        }

        static func unhex(_ s: String) -> [UInt8]? {
            let chars = Array(s.utf8)
            guard chars.count % 2 == 0 else { return nil }
            var out: [UInt8] = []
            out.reserveCapacity(chars.count / 2)
            var i = 0
            while i < chars.count {
                guard let b = UInt8(String(decoding: chars[i..<i + 2], as: UTF8.self), radix: 16) else { return nil }
                out.append(b)
                i += 2
            }
            return out
        }
    }
}
