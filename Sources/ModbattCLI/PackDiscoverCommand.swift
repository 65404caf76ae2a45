import ArgumentParser
import Foundation
import ModbattCAN
import ModbattProvisioning

extension PackCommand {
    /// `modbatt pack discover`: who is on the bus (docs/PROTOCOL.md 17).
    struct Discover: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "discover",
            abstract: "Ask every device on a CAN bus for its serial, device id, binding public key and firmware version.",
            discussion: """
                Broadcasts one clear discovery query and lists what answers within --timeout. Answers are \
                unauthenticated: anyone on the bus can answer for any device id. Use them to look, or to pin \
                binding keys in the factory step only ('modbatt pack init --discover', on a bus you control); \
                'modbatt provision' never trusts them. A device answers at most once per second.

                Exit status 1 when no device (or fewer than --expect) answered.

                Example:
                  modbatt pack discover --can socketcand:127.0.0.1:29536 --json
                """
        )

        @Option(help: "CAN transport: socketcand:HOST:PORT (bus vcan0), socketcand://HOST:PORT/BUS or socketcan:IFACE.")
        var can = CANOption.defaultAddress
        @Option(help: "Seconds to wait for answers.") var timeout = 1.0
        @Option(help: "Ask one device only: its device id (0x01, 1); default every device.") var device: String?
        @Option(help: "Stop once this many devices answered; fewer is an error.") var expect: Int?
        @Flag(help: "Print one JSON document.") var json = false
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            guard timeout > 0, timeout <= 60 else { throw ValidationError("--timeout must be more than 0 and at most 60") }
            if let expect, !(1...256).contains(expect) { throw ValidationError("--expect must be 1...256") }
            if let device, DeviceIdArgument.parse(device) == nil {
                throw ValidationError("--device must be a device id 1...255 (0x01, 1)")
            }
        }

        func run() async throws {
            _ = global.logger("modbatt.pack")
            let address = try CANOption.parse(can)
            let wait = Duration.milliseconds(Int64(timeout * 1000))
            let report = try await Self.discover(address, target: device.flatMap(DeviceIdArgument.parse) ?? 0,
                                                 wait: wait, expecting: expect)
            let answered = report.devices.count + report.conflicts.count
            if json {
                try JSONOutput.print(DiscoveryDocument(report, can: "\(address)", waitMs: Int(timeout * 1000)))
            } else if answered > 0 || !report.rejected.isEmpty {
                print(DiscoveryTable.render(report, can: "\(address)", timeout: timeout))
            }
            guard answered > 0 else {
                throw CLIError("no device answered the discovery query on \(address) within \(timeout) s "
                               + "(a device answers at most once per second)")
            }
            if let expect, answered < expect {
                throw CLIError("\(answered) of \(expect) expected devices answered on \(address) within \(timeout) s")
            }
        }

        /// Open the transport, discover, close it; errors as one line.
        static func discover(_ address: TransportAddress, target: UInt8, wait: Duration,
                             expecting: Int?) async throws -> DiscoveryReport {
            let transport = try await CANOption.open(address)
            do {
                let report = try await PackDiscovery.discover(on: transport, target: target, wait: wait, expecting: expecting)
                await transport.close()
                return report
            } catch {
                await transport.close()
                throw ErrorText.cliError(error, context: "discovery on \(address)")
            }
        }
    }
}

/// A device id option: `0x01` or `1`, 1...255 (0 is the broadcast id).
enum DeviceIdArgument {
    static func parse(_ text: String) -> UInt8? {
        let lower = text.lowercased()
        let value = lower.hasPrefix("0x") ? Int(lower.dropFirst(2), radix: 16) : Int(lower)
        guard let value, (1...255).contains(value) else { return nil }
        return UInt8(value)
    }
}
