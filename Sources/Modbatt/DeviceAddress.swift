internal import CModbatt

/// The device-id plan: which numbers the CAN id's device field (bits 7..0,
/// `CANId.deviceId`) carries, on which bus (docs/PROTOCOL.md 2.1). The one
/// place the Swift layers take them from; the values are the C core's
/// `MB_DEVICE_*` of `mb_canid.h`, which firmware uses, so the two cannot
/// disagree.
///
/// | id | what |
/// |---|---|
/// | `0x00` | broadcast: every device (a discovery query); never a session's |
/// | `0x01`...`0x20` | battery modules on the module bus, module *n* at *n* as provisioned |
/// | `0x40` | the pack controller, on the vehicle bus |
/// | `0xFF` | a module the pack has not registered yet; never a session's |
///
/// A device id is an address, not an identity: the ModBatt pack hands module
/// ids out as modules announce themselves, so a module can come back under
/// another id. A pair is bound to its pair secret and key id and follows its
/// device to the new id with a new handshake (docs/PROTOCOL.md 6.7).
public enum DeviceAddress {
    /// Every device: the device field of a query that asks all of them.
    public static let broadcast = UInt8(MB_DEVICE_BROADCAST)
    /// Battery modules: 1...32, as the ModBatt pack controller registers them.
    public static let modules = UInt8(MB_DEVICE_MODULE_FIRST)...UInt8(MB_DEVICE_MODULE_LAST)
    /// The pack controller (the device of the app↔pack pair).
    public static let pack = UInt8(MB_DEVICE_PACK)
    /// A module without an id yet.
    public static let unassigned = UInt8(MB_DEVICE_UNASSIGNED)

    /// The most modules one pack holds (32).
    public static var maxModules: Int { modules.count }

    /// Module `n`'s id (1-based) as provisioned: `n`. `n` must be in
    /// 1...`maxModules`.
    public static func module(_ n: Int) -> UInt8 {
        precondition((1...maxModules).contains(n), "module number \(n) is outside 1...\(maxModules)")
        return modules.lowerBound + UInt8(n - 1)
    }

    /// The module number (1-based) of a module id; nil outside the module range.
    public static func moduleNumber(_ id: UInt8) -> Int? {
        modules.contains(id) ? Int(id - modules.lowerBound) + 1 : nil
    }

    /// Whether a session may use the id (not broadcast, not unassigned).
    public static func isAddress(_ id: UInt8) -> Bool { id != broadcast && id != unassigned }
}
