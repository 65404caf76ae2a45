import Modbatt

/// Human names for ModBatt message ids (docs/PROTOCOL.md 3 and 17, docs/PROVISIONING.md 8.1).
enum MessageNames {
    static let sessionTypes = ["HELLO", "REPLY", "FINISH", "SECURITY", "COMMAND", "LIMITS", "STATUS", "DIAG"]

    /// `HELLO c>d`, `STATUS d>c`, `XFER c>d`, or nil for ids outside the protocol.
    static func name(messageId: UInt16) -> String? {
        switch messageId {
        case 0x300...0x31F:
            let type = Int(messageId & 0xF)
            let dir = messageId & 0x010 == 0 ? "c>d" : "d>c"
            let name = type < 8 ? sessionTypes[type] : "APP\(type - 8)"
            return "\(name) \(dir)"
        case 0x410: return "XFER c>d"
        case 0x4B0: return "XFER-ACK d>c"
        case 0x411: return "REPORT d>c"
        case 0x4B1: return "REPORT-ACK c>d"
        case 0x4C0: return "DISCOVER c>d"
        case 0x4C1: return "DISCOVERED d>c"
        default: return nil
        }
    }

    /// Whether the message id is a session message (0x300...0x31F).
    static func isSession(_ messageId: UInt16) -> Bool { (0x300...0x31F).contains(messageId) }

    /// Controller-to-device direction (bit 4 clear) within the session block.
    static func isControllerToDevice(_ messageId: UInt16) -> Bool { messageId & 0x010 == 0 }
}
