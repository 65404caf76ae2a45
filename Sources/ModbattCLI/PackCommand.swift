import ArgumentParser
import Foundation
import ModbattCAN
import ModbattProvisioning

/// `modbatt pack`: the device side of a pack (pack controller + modules) on
/// a CAN transport, for bench work and for testing `modbatt provision`.
struct PackCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pack",
        abstract: "Run a pack's devices (pack controller and modules) on a CAN bus, with file-backed key stores.",
        subcommands: [Init.self, Serve.self, Discover.self]
    )

    /// The config and key-store folder of `pack serve`.
    struct StoreOptions: ParsableArguments {
        @Option(help: "Pack config file (docs/CLI.md, 'The pack config file').") var config: String
        @Option(help: "Folder of the devices' key stores (pack.flash, module-NN.flash, ...) and their audit log.")
        var store: String
    }

    struct Init: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "init",
            abstract: "Boot each device's key store (the first boot makes its binding key) and write the binding keys into the pack config.",
            discussion: """
                The factory step of docs/PROVISIONING_FLOW.md: 'read binding public key'. Existing key stores are \
                kept (their keys are read again). The config is rewritten in place unless --output is given.

                With --discover instead of --store, the keys are read from the running devices over the CAN bus \
                (discovery, docs/PROTOCOL.md 17): every device of the config must answer under its id with its \
                serial, and a key already in the config must match. Answers are unauthenticated: use it only on a \
                bus you control (the factory line); nothing else in modbatt trusts discovery.

                Examples:
                  modbatt pack init --config pack.json --store pack-keys
                  modbatt pack init --config pack.json --discover --can socketcand:127.0.0.1:29536
                """
        )

        @Option(help: "Pack config file (docs/CLI.md, 'The pack config file').") var config: String
        @Option(help: "Folder of the devices' key stores (pack.flash, module-NN.flash, ...) and their audit log.")
        var store: String?
        @Flag(help: "Read the binding keys from the devices on --can (discovery) instead of key stores in --store.")
        var discover = false
        @Option(help: "With --discover: CAN transport (socketcand:HOST:PORT, socketcand://HOST:PORT/BUS, socketcan:IFACE).")
        var can = CANOption.defaultAddress
        @Option(help: "With --discover: seconds to wait for every device's answer.") var timeout = 2.0
        @Option(help: "Write the completed config here instead of over --config.") var output: String?
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            guard (store == nil) == discover else { throw ValidationError("give exactly one of --store DIR and --discover") }
            guard timeout > 0, timeout <= 60 else { throw ValidationError("--timeout must be more than 0 and at most 60") }
        }

        func run() async throws {
            let config = try PackConfig.load(self.config)
            let layout: PackLayout
            if let store { layout = try Self.fromKeyStores(config, store: store) } else { layout = try await discovered(config) }
            try config.writingBindingKeys(layout, to: output ?? self.config)
            print("pack \(layout.pack.serial) (id \(String(format: "0x%02X", layout.pack.deviceId))): "
                  + "binding key \(BindingKeyId.text(layout.pack.bindingKey))")
            for m in layout.modules {
                print("\(PackLayout.moduleName(deviceId: m.deviceId)) \(m.serial) (id \(String(format: "0x%02X", m.deviceId))): "
                      + "binding key \(BindingKeyId.text(m.bindingKey))")
            }
            print("wrote the binding keys to \(output ?? self.config)")
        }

        static func fromKeyStores(_ config: PackConfig, store: String) throws -> PackLayout {
            do {
                return try PackDevices.bootKeyStores(config.devices(store: URL(fileURLWithPath: store)))
            } catch {
                throw ErrorText.cliError(error, context: "key stores in \(store)")
            }
        }

        /// The factory step over the bus: every configured device must answer as configured.
        func discovered(_ config: PackConfig) async throws -> PackLayout {
            let address = try CANOption.parse(can)
            let report = try await Discover.discover(address, target: 0, wait: .milliseconds(Int64(timeout * 1000)),
                                                     expecting: config.modules.count + 1)
            do {
                return try FactoryDiscovery.layout(from: report, pack: config.expected(config.pack, at: "pack"),
                                                   modules: config.modules.enumerated().map { config.expected($1, at: "modules[\($0)]") })
            } catch {
                throw CLIError("pack init --discover on \(address): \(error)")
            }
        }
    }

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Run the pack controller and its modules on a CAN bus until Ctrl-C.",
            discussion: """
                Each device opens its own connection to --can (as separate boards would), boots from its key store \
                in --store (creating it on first boot), waits for its key package from 'modbatt provision', pairs, \
                then sends telemetry. Ctrl-C (or --seconds) stops it and prints each device's state. A bus that \
                goes away ends it with an error.

                Example:
                  modbatt bus serve --port 29536 &
                  modbatt pack serve --config pack.json --store pack-keys --can socketcand:127.0.0.1:29536
                """
        )

        @OptionGroup var options: StoreOptions
        @Option(help: "CAN transport: socketcand:HOST:PORT (bus vcan0), socketcand://HOST:PORT/BUS or socketcan:IFACE.")
        var can = CANOption.defaultAddress
        @Option(help: "Telemetry period once paired, in milliseconds (0 = none).") var telemetryMs = 100
        @Option(help: "Stop after this many seconds (default: run until Ctrl-C).") var seconds: Double?
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            guard (0...60_000).contains(telemetryMs) else { throw ValidationError("--telemetry-ms must be 0...60000") }
            if let seconds, seconds <= 0 { throw ValidationError("--seconds must be positive") }
        }

        func run() async throws {
            let config = try PackConfig.load(options.config)
            let address = try CANOption.parse(can)
            var deviceConfig = config.devices(store: URL(fileURLWithPath: options.store))
            deviceConfig.telemetryEveryMs = UInt32(telemetryMs)
            let devices: PackDevices
            do {
                devices = try await PackDevices(configuration: deviceConfig) { _ in try await CANOption.open(address) }
            } catch let e as CLIError {
                throw e
            } catch {
                throw ErrorText.cliError(error, context: "key stores in \(options.store)")
            }
            Terminal.printNow("pack devices up: pack + \(config.modules.count) module\(config.modules.count == 1 ? "" : "s") "
                              + "on \(address), key stores in \(options.store); Ctrl-C stops")
            let limit = seconds.map { Duration.milliseconds(Int64($0 * 1000)) }
            let result: Result<Void, any Error>
            do {
                try await Interrupts.cancellingOnSignal {
                    try await withThrowingTaskGroup(of: Void.self) { group in
                        group.addTask { try await devices.run() }
                        if let limit {
                            group.addTask { try await Task.sleep(for: limit) }
                        }
                        try await group.next()
                        group.cancelAll()
                    }
                }
                result = .success(())
            } catch is CancellationError {
                result = .success(())
            } catch {
                result = .failure(error)
            }
            let status = await devices.status()
            await devices.shutdown()
            for s in status { print(Self.line(s)) }
            if case .failure(let error) = result { throw ErrorText.cliError(error) }
        }

        static func line(_ s: PackDeviceStatus) -> String {
            let state = s.refused.map { "KEY STORE REFUSED (\($0))" }
                ?? (s.packageVersion == 0 ? "not provisioned" : (s.established ? "paired" : "keys v\(s.packageVersion), not paired"))
            let rejected = s.rejected.values.reduce(0, +)
            return "\(s.name) \(s.serial): \(state), package v\(s.packageVersion), \(s.messagesSent) sent, "
                + "\(s.messagesDelivered) received, \(rejected) rejected"
        }
    }
}

/// SHA-256(binding public key)[0..8) in hex, as the audit log and `keys show` print it.
enum BindingKeyId {
    static func text(_ pub: [UInt8]) -> String {
        SHA256.hash(pub).prefix(8).map { String(format: "%02x", $0) }.joined()
    }
}
