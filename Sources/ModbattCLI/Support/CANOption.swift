import Foundation
import ModbattCAN

/// `--can` of `provision` and `pack serve`: a `TransportAddress`, plus the
/// short form `socketcand:HOST:PORT` for the bus `modbatt bus serve` names
/// `vcan0` by default.
enum CANOption {
    /// `modbatt bus serve`'s defaults: the local virtual bus.
    static let defaultAddress = "socketcand://127.0.0.1:29536/vcan0"

    static func parse(_ text: String) throws -> TransportAddress {
        var text = text
        if text.lowercased().hasPrefix("socketcand:"), !text.dropFirst("socketcand:".count).contains("/") {
            text = "socketcand://" + text.dropFirst("socketcand:".count) + "/vcan0"
        }
        do { return try TransportAddress(text) } catch { throw CLIError("--can: \(error)", exitCode: 64) }
    }

    /// Open it, with a one-line error that names the address.
    static func open(_ address: TransportAddress) async throws -> any CANTransport {
        do { return try await address.open() } catch {
            throw CLIError("cannot open the CAN bus \(address): \(ErrorText.oneLine("\(error)"))",
                           detail: String(reflecting: error))
        }
    }
}
