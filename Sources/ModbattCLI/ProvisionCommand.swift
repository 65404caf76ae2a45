import ArgumentParser
import Foundation
import ModbattBridge
import ModbattCAN
import ModbattProvisioning

/// `modbatt provision`: the app side of the provisioning flow against a
/// running API-Bridge and a real CAN transport (docs/CLI.md, "modbatt provision").
struct ProvisionCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "provision",
        abstract: "Provision a pack over a CAN bus through an API-Bridge: register, key packages, delivery, pairing.",
        discussion: """
            The pack is described by --config (docs/CLI.md, 'The pack config file'); its devices must be on the \
            bus (real ones, or 'modbatt pack serve'). The bridge token comes from $MODBATT_BRIDGE_TOKEN, else from \
            the config's bridge.token. Progress is kept in --data: run the command again after an interruption and \
            it resumes; run it on a provisioned pack and nothing is registered again (each device is reported as \
            already provisioned). After pairing, the app exchanges encrypted messages with the pack for \
            --traffic seconds. Exit status 0 only if every pair is established.

            Example:
              modbatt provision --config pack.json --bridge http://127.0.0.1:8080 --can socketcand:127.0.0.1:29536
            """
    )

    @Option(help: "Pack config file.") var config: String
    @Option(help: "API-Bridge base URL (default: the config's bridge.url).") var bridge: String?
    @Option(help: "CAN transport: socketcand:HOST:PORT (bus vcan0), socketcand://HOST:PORT/BUS or socketcan:IFACE.")
    var can = CANOption.defaultAddress
    @Option(help: "Folder of the app's state, sealed packages, key store, registry and audit log (default: per-user data folder, provision/<pack serial>).")
    var data: String?
    @Option(help: "Nominal bit rate of the bus, for the frame time and load figures.") var bitrate = BitRateArgument(500_000)
    @Option(help: "CAN FD data-phase bit rate.") var dataBitrate = BitRateArgument(2_000_000)
    @Option(help: "Seconds of encrypted traffic with the pack after pairing (0 = none).") var traffic = 1.0
    @Option(help: "Give up delivery and pairing after this many seconds.") var timeout = 120.0
    @Flag(help: "Print one JSON document instead of the summary.") var json = false
    @Flag(help: "Add an ephemeral P-256 exchange to every app-pack handshake (forward secrecy; PROTOCOL.md 6.6). Recorded in the pack's key package.")
    var ephemeralAppLink = false
    @Option(help: "File holding the passphrase that protects the app's signing key (default: $MODBATT_APP_PASSPHRASE).")
    var passphraseFile: String?
    @Flag(help: "Development only: protect the app's signing key with a key file beside it (whoever copies the folder has the key).")
    var devKeyFile = false
    @OptionGroup var global: GlobalOptions

    /// The app key's protection: a passphrase (file or environment), or the
    /// development key file only when asked for by name.
    private func appKeySource() throws -> StorageKeySource {
        var passphrase: String?
        if let passphraseFile {
            guard let text = try? String(contentsOfFile: passphraseFile, encoding: .utf8) else {
                throw CLIError("cannot read the passphrase file \(passphraseFile)")
            }
            passphrase = text.trimmingCharacters(in: .newlines)
        } else if let env = ProcessInfo.processInfo.environment["MODBATT_APP_PASSPHRASE"], !env.isEmpty {
            passphrase = env
        }
        switch (passphrase, devKeyFile) {
        case (let p?, false):
            guard !p.isEmpty else { throw CLIError("the passphrase in \(passphraseFile ?? "MODBATT_APP_PASSPHRASE") is empty") }
            return .passphrase(p)
        case (nil, true): return .keyFile
        case (_?, true): throw CLIError("give either a passphrase or --dev-key-file, not both")
        case (nil, false):
            throw CLIError("the app's signing key needs protection: --passphrase-file FILE or MODBATT_APP_PASSPHRASE, "
                           + "or --dev-key-file for development")
        }
    }

    func validate() throws {
        guard traffic >= 0, traffic <= 3600 else { throw ValidationError("--traffic must be 0...3600 seconds") }
        guard timeout > 0, timeout <= 3600 else { throw ValidationError("--timeout must be 1...3600 seconds") }
    }

    func run() async throws {
        let logger = global.logger("modbatt.provision")
        let pack = try PackConfig.load(config)
        let layout = try pack.layout()
        let keySource = try appKeySource()
        let address = try CANOption.parse(can)
        let bridgeConfig = try bridgeConfiguration(pack)
        let dataDir = try dataDirectory(pack)
        let progress = Progress(enabled: !json)

        progress.update("opening \(address) ...")
        let transport = try await CANOption.open(address)
        var settings = TransportProvisioningConfiguration(dataDirectory: dataDir, bridge: bridgeConfig,
                                                          profile: pack.fd ? .fd : .classic)
        settings.timeout = .milliseconds(Int64(timeout * 1000))
        settings.appKeySource = keySource
        settings.ephemeralAppLink = ephemeralAppLink
        if let creator = pack.creator { settings.creator = creator }
        var quiet = logger
        quiet.logLevel = max(logger.logLevel, .warning)
        settings.logger = quiet
        let started = ContinuousClock.now
        let provisioning: TransportProvisioning
        do {
            provisioning = try await TransportProvisioning(configuration: settings, layout: layout, transport: transport)
        } catch {
            await transport.close()
            throw ErrorText.cliError(error, context: "app state in \(dataDir.path)")
        }
        let outcome: Result<ProvisionOutcome, any Error>
        do {
            outcome = .success(try await Interrupts.cancellingOnSignal {
                try await Self.provisionAndTalk(provisioning, traffic: traffic, progress: progress)
            })
        } catch {
            outcome = .failure(error)
        }
        let auditEvents = await provisioning.audit.count
        await provisioning.shutdown()
        progress.finish()
        let result: ProvisionOutcome
        switch outcome {
        case .success(let r): result = r
        case .failure(is CancellationError):
            throw CLIError("interrupted: progress is saved in \(dataDir.path); run the same command again to resume",
                           exitCode: 130)
        case .failure(let error as SimulationError):
            throw CLIError(Self.message(for: error, bridge: bridgeConfig.baseURL), detail: String(reflecting: error))
        case .failure(let error): throw ErrorText.cliError(error)
        }
        let summary = ProvisionSummary(
            report: result.report, traffic: result.traffic, layout: layout, fd: pack.fd, bitrate: bitrate.value,
            dataBitrate: dataBitrate.value, wall: ContinuousClock.now - started,
            auditLog: provisioning.auditLogURL.path, auditEvents: auditEvents, keyStores: provisioning.keyStoreDirectory.path)
        if json {
            try JSONOutput.print(summary)
        } else {
            print(summary.text(bridge: bridgeConfig.baseURL, can: "\(address)"))
        }
        if !summary.run.ok { throw ExitCode(1) }
    }

    struct ProvisionOutcome: Sendable {
        var report: ProvisioningReport
        var traffic: AppTrafficReport?
    }

    static func provisionAndTalk(_ p: TransportProvisioning, traffic: Double,
                                 progress: Progress) async throws -> ProvisionOutcome {
        progress.update("provisioning: API-Bridge, LCTs, key packages over CAN, pairing ...")
        let report = try await p.provision()
        progress.step("provisioned \(report.pairs.count) pairs: \(report.pairs.filter(\.established).count) established"
                      + " (key packages v\(report.packageVersion), \(report.transferFrames) transfer frames)")
        guard traffic > 0, report.pairs.first?.established == true else { return ProvisionOutcome(report: report) }
        progress.update("encrypted traffic with the pack: \(traffic) s ...")
        let t = try await p.exchangeTraffic(seconds: traffic)
        return ProvisionOutcome(report: report, traffic: t)
    }

    /// One line for the failures of the run itself (device failures are per pair in the report).
    static func message(for error: SimulationError, bridge: String) -> String {
        switch error {
        case .bridge(let why):
            let lower = why.lowercased()
            if lower.contains("401") || lower.contains("unauthorized") {
                return "API-Bridge \(bridge) refused the token (401): check MODBATT_BRIDGE_TOKEN or bridge.token, "
                    + "and the header it travels in (MODBATT_BRIDGE_AUTH or bridge.auth: bearer or x-api-key)"
            }
            return "API-Bridge \(bridge): \(ErrorText.oneLine(why))"
        default:
            return ErrorText.oneLine("\(error)")
        }
    }

    private func bridgeConfiguration(_ pack: PackConfig) throws -> BridgeClientConfiguration {
        guard let url = bridge ?? pack.bridgeURL else {
            throw CLIError("no API-Bridge: pass --bridge URL or set bridge.url in \(config)")
        }
        let envToken = ProcessInfo.processInfo.environment["MODBATT_BRIDGE_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
        guard let token = envToken ?? pack.bridgeToken else {
            throw CLIError("no bridge token: set MODBATT_BRIDGE_TOKEN or bridge.token in \(config)")
        }
        // An unreachable bridge is reported after a few seconds, not after the default 30.
        let retry = RetryPolicy(maxAttempts: 4, baseDelay: .milliseconds(100), maxDelay: .seconds(1),
                                totalTimeout: .seconds(10), jitterSeed: 1)
        let envAuth = ProcessInfo.processInfo.environment[BridgeClientConfiguration.Environment.auth] ?? ""
        let auth: BridgeAuthScheme
        if envAuth.isEmpty {
            auth = pack.bridgeAuth ?? .bearer
        } else {
            guard let scheme = BridgeAuthScheme(name: envAuth) else {
                throw CLIError("MODBATT_BRIDGE_AUTH must be \(BridgeAuthScheme.expectedNames), not '\(envAuth)'")
            }
            auth = scheme
        }
        return BridgeClientConfiguration(baseURL: url, token: token, authScheme: auth, connectTimeout: .seconds(3),
                                         requestTimeout: .seconds(10), retry: retry)
    }

    private func dataDirectory(_ pack: PackConfig) throws -> URL {
        if let data { return URL(fileURLWithPath: data) }
        do {
            return URL(fileURLWithPath: try DataDirectory.file("provision/\(pack.pack.serial)"))
        } catch {
            throw CLIError("cannot create the data folder \(DataDirectory.path()): \(error.localizedDescription)")
        }
    }
}
