import Modbatt
import ModbattCAN

/// A device's firmware version, as a discovery answer carries it.
public struct FirmwareVersion: Sendable, Equatable, Comparable, CustomStringConvertible {
    public var major: UInt8
    public var minor: UInt8
    public var patch: UInt16

    public init(major: UInt8, minor: UInt8, patch: UInt16) {
        self.major = major
        self.minor = minor
        self.patch = patch
    }

    /// The reference nodes of this package (`PackControllerNode`,
    /// `BatteryModuleNode`); real firmware reports its own.
    public static let reference = FirmwareVersion(major: 1, minor: 0, patch: 0)

    public var description: String { "\(major).\(minor).\(patch)" }

    public static func < (a: Self, b: Self) -> Bool { (a.major, a.minor, a.patch) < (b.major, b.minor, b.patch) }
}

/// One discovery answer (docs/PROTOCOL.md 17.2): what a device says about
/// itself. Unauthenticated: anyone on the bus can send one.
public struct DiscoveredDevice: Sendable, Equatable {
    public enum Role: UInt8, Sendable {
        case packController = 0
        case module = 1

        public var name: String { self == .packController ? "pack_controller" : "module" }
    }

    public var deviceId: UInt8
    public var role: Role
    public var firmware: FirmwareVersion
    /// 65 bytes `04 || X || Y` (P-256); nil when the device has no usable key store.
    public var bindingKey: [UInt8]?
    public var serial: String

    public init(deviceId: UInt8, role: Role, firmware: FirmwareVersion, bindingKey: [UInt8]?, serial: String) {
        self.deviceId = deviceId
        self.role = role
        self.firmware = firmware
        self.bindingKey = bindingKey
        self.serial = serial
    }

    /// `version(1) role(1) device_id(1) fw major(1) minor(1) patch(2) key_len(1) key serial_len(1) serial`.
    func encode() -> [UInt8] {
        let key = bindingKey ?? []
        var out: [UInt8] = [Discovery.version, role.rawValue, deviceId, firmware.major, firmware.minor,
                            UInt8(firmware.patch >> 8), UInt8(firmware.patch & 0xFF), UInt8(key.count)]
        out += key
        out.append(UInt8(serial.utf8.count))
        out += serial.utf8
        return out
    }

    /// The answer's frames, classic CAN (the project's segmentation, mb_seg).
    func frames() throws(DiscoveryError) -> [CANFrame] {
        let body = encode()
        guard body.count <= Discovery.maxAnswerLength else {
            throw .oversized(bytes: body.count, max: Discovery.maxAnswerLength)
        }
        do {
            return try Segmentation.frames(of: body, messageId: Discovery.answerMessageId, encrypted: false,
                                           deviceId: deviceId, profile: .classic)
        } catch {
            throw .malformed("cannot segment the answer: \(error)")
        }
    }

    /// Parse a reassembled answer sent under CAN device id `sender`; every
    /// field is checked, and a serial must be printable (it is shown on terminals).
    static func decode(_ body: [UInt8], sender: UInt8) throws(DiscoveryError) -> DiscoveredDevice {
        guard body.count <= Discovery.maxAnswerLength else {
            throw .oversized(bytes: body.count, max: Discovery.maxAnswerLength)
        }
        var r = ByteReader(body)
        let version = try r.byte("version")
        guard version == Discovery.version else { throw .unsupportedVersion(version) }
        let roleByte = try r.byte("role")
        guard let role = Role(rawValue: roleByte) else { throw .malformed("unknown role \(roleByte)") }
        let deviceId = try r.byte("device id")
        guard deviceId == sender else { throw .malformed("device id \(deviceId) in an answer sent as device \(sender)") }
        let major = try r.byte("firmware"), minor = try r.byte("firmware")
        let patchHigh = try r.byte("firmware"), patchLow = try r.byte("firmware")
        let fw = FirmwareVersion(major: major, minor: minor, patch: UInt16(patchHigh) << 8 | UInt16(patchLow))
        let keyLength = Int(try r.byte("key length"))
        guard keyLength == 0 || keyLength == 65 else { throw .malformed("binding key of \(keyLength) bytes, expected 65 or 0") }
        let key = try r.bytes(keyLength, "binding key")
        guard keyLength == 0 || key[0] == 0x04 else { throw .malformed("binding key not an uncompressed P-256 point (04...)") }
        let serialLength = Int(try r.byte("serial length"))
        guard (1...Discovery.maxSerialLength).contains(serialLength) else {
            throw .malformed("serial of \(serialLength) bytes, expected 1...\(Discovery.maxSerialLength)")
        }
        let serialBytes = try r.bytes(serialLength, "serial")
        guard serialBytes.allSatisfy({ (0x21...0x7E).contains($0) && $0 != UInt8(ascii: ":") }) else {
            throw .malformed("serial is not printable ASCII without spaces or ':'")
        }
        guard r.remaining == 0 else { throw .malformed("\(r.remaining) bytes after the serial") }
        return DiscoveredDevice(deviceId: deviceId, role: role, firmware: fw, bindingKey: keyLength == 0 ? nil : key,
                                serial: String(decoding: serialBytes, as: UTF8.self))
    }
}

/// Reads a byte layout front to back; running short is a malformed answer naming the field.
private struct ByteReader {
    private let bytes: [UInt8]
    private var at = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    var remaining: Int { bytes.count - at }

    mutating func byte(_ field: String) throws(DiscoveryError) -> UInt8 { try bytes(1, field)[0] }

    mutating func bytes(_ n: Int, _ field: String) throws(DiscoveryError) -> [UInt8] {
        guard remaining >= n else { throw .malformed("answer ends inside the \(field) (\(bytes.count) bytes)") }
        defer { at += n }
        return Array(bytes[at..<at + n])
    }
}
