import Foundation

/// The per-user data folder of Modbatt: `$MODBATT_DATA_DIR`, else
/// `$XDG_DATA_HOME/modbatt` (`~/.local/share/modbatt`) on Linux and
/// `~/Library/Application Support/modbatt` on macOS.
public enum DataDirectory {
    public static func path(environment: [String: String] = ProcessInfo.processInfo.environment) -> String {
        if let explicit = environment["MODBATT_DATA_DIR"], !explicit.isEmpty { return explicit }
        let home = environment["HOME"].flatMap { $0.isEmpty ? nil : $0 } ?? NSHomeDirectory()
        #if os(macOS)
        return home + "/Library/Application Support/modbatt"
        #else
        if let xdg = environment["XDG_DATA_HOME"], xdg.hasPrefix("/") { return xdg + "/modbatt" }
        return home + "/.local/share/modbatt"
        #endif
    }

    /// Create the folder (mode 0700) if needed and return `path/name`.
    public static func file(_ name: String, environment: [String: String] = ProcessInfo.processInfo.environment) throws -> String {
        let dir = path(environment: environment)
        try FileManager.default.createDirectory(
            atPath: dir, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
        return dir + "/" + name
    }
}
