import ArgumentParser
import Foundation
import ModbattCAN

/// Options `demo` and `simulate` share.
struct PackOptions: ParsableArguments {
    @Option(name: .customLong("modules"), help: "Battery modules in the pack (1...32; default 8, 32 with --traffic).")
    var modulesOption: Int?
    @Flag(help: "CAN FD (64-byte frames, bit-rate switch) instead of classic CAN.") var fd = false
    @Option(name: .customLong("bitrate"),
            help: "Nominal bit rate (e.g. 500000, 500k, 1M; default 500k, 250k on the module bus with --traffic).")
    var bitrateOption: BitRateArgument?
    @Option(help: "CAN FD data-phase bit rate (with --fd).") var dataBitrate = BitRateArgument(2_000_000)
    @Option(help: "Seed for faults and attacks: the same seed gives the same run.") var seed: UInt64 = 1
    @Flag(help: "Provisioning flow: add an ephemeral P-256 exchange to the app-pack handshakes (forward secrecy; PROTOCOL.md 6.6).")
    var ephemeralAppLink = false
    @Option(help: "Folder for the audit log and the provisioning registry (default: a new folder under the temporary directory).")
    var dir: String?
    @Flag(help: "Print one JSON document instead of the summary.") var json = false

    var modules: Int { modulesOption ?? 8 }
    var bitrate: BitRateArgument { bitrateOption ?? BitRateArgument(500_000) }

    func validate() throws {
        guard (1...32).contains(modules) else { throw ValidationError("--modules must be 1...32") }
        if !fd && bitrate.value > 1_000_000 { throw ValidationError("classic CAN runs at most 1 Mbit/s: use --fd for more") }
        if fd && dataBitrate.value < bitrate.value {
            throw ValidationError("--data-bitrate must not be lower than --bitrate")
        }
    }

    func workDir(prefix: String) throws -> URL {
        if let dir { return URL(fileURLWithPath: dir) }
        let base = FileManager.default.temporaryDirectory
        let url = base.appendingPathComponent("\(prefix)-\(UUID().uuidString.prefix(8).lowercased())")
        return url
    }

    func settings(seconds: Double, prefix: String) throws -> SimulationSettings {
        var s = SimulationSettings(workDir: try workDir(prefix: prefix))
        s.modules = modules
        s.fd = fd
        s.bitrate = bitrate.value
        s.dataBitrate = dataBitrate.value
        s.seconds = seconds
        s.seed = seed
        s.ephemeralAppLink = ephemeralAppLink
        return s
    }
}

/// Runs a simulation and prints its summary; shared by demo and simulate.
enum SimulationRunner {
    static func run(_ settings: SimulationSettings, command: String, title: String, json: Bool,
                    global: GlobalOptions, onReady: @escaping @Sendable (Int?) -> Void = { _ in }) async throws -> RunSummary {
        let logger = global.logger("modbatt.\(command)")
        let progress = Progress(enabled: !json)
        let started = ContinuousClock.now
        let sim = PackSimulator(settings: settings, logger: logger, progress: progress)
        let result: RunSummary
        do {
            result = try await Interrupts.cancellingOnSignal { () async throws -> RunSummary in
                do {
                    try await sim.provision()
                } catch {
                    await sim.close()
                    throw ErrorText.cliError(error, context: "provisioning failed")
                }
                onReady(sim.socketcandPort)
                // On the virtual clock 3 s of bus time is exact; paced by the wall
                // clock the limit only ends a run that cannot establish, so it
                // must not fail a busy machine.
                let (established, failed) = await sim.establish(limitMs: settings.realtime ? 30_000 : 3000)
                if failed.isEmpty && !Task.isCancelled {
                    await sim.runTraffic(seconds: settings.seconds)
                    if settings.attacks && !Task.isCancelled { try await sim.runAttacks() }
                }
                let wall = ContinuousClock.now - started
                let summary = await sim.summary(
                    command: command, wallSeconds: Double(wall.components.seconds) + Double(wall.components.attoseconds) * 1e-18,
                    pairsEstablished: established, pairsFailed: failed.count)
                await sim.close()
                return summary
            }
        } catch {
            progress.finish()
            throw ErrorText.cliError(error)
        }
        progress.finish()
        if json {
            try JSONOutput.print(result)
        } else {
            print(result.text(title: title))
        }
        if sim.interrupted {
            Terminal.writeError("interrupted: the summary covers the part that ran\n")
            throw ExitCode(130)
        }
        return result
    }
}

/// `modbatt simulate`
struct SimulateCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "simulate",
        abstract: "Simulate a pack: provisioning, handshakes and encrypted traffic, with optional bus faults.",
        discussion: """
            An app, a pack controller and --modules modules on one virtual bus: every device is registered with \
            an in-process API-Bridge (throwaway database), every pair gets an LCT and its keys, the pairs \
            handshake, then modules send STATUS every 100 ms and controllers send COMMAND and LIMITS every \
            500 ms for --seconds of bus time.

            Faults (--drop, --corrupt, --replay) hit the encrypted frames while traffic runs; the devices must \
            reject every corrupted and replayed frame and never deliver a message twice. The summary counts \
            messages sent and delivered and every rejection by reason.

            Time: as fast as the CPU allows by default (virtual clock); --realtime paces the bus by the wall \
            clock. --socketcand HOST:PORT exposes the simulated bus (real time) so python-can or any socketcand \
            client can watch it or inject frames; injected frames are judged by the devices like any other.

            Exit status: 0 when every pair was established and nothing forged or duplicated was delivered.
            """
    )

    @OptionGroup var pack: PackOptions
    @Option(name: .customLong("seconds"), help: "Seconds of traffic (bus time; default 5, 10 with --traffic).")
    var secondsOption: Double?
    var seconds: Double { secondsOption ?? (traffic == nil ? 5 : 10) }
    @Option(help: """
        Run the catalogued traffic of the ModBatt reference firmware ('reference') in a discrete-event model of \
        the module and vehicle buses, clear and encrypted, instead of the provisioned pack (docs/TRAFFIC.md).
        """)
    var traffic: TrafficMode?
    @Option(help: "With --traffic: vehicle-bus bit rate (default: the module bus's).") var vehicleBitrate: BitRateArgument?
    @Flag(help: "With --traffic: seal a broadcast once for all modules (assumes a group key the project lacks) instead of once per pair.")
    var groupBroadcast = false
    @Option(help: "Fault: share (0...1) of encrypted frames nobody receives.") var drop = 0.0
    @Option(help: "Fault: share (0...1) of encrypted frames with one payload bit flipped (past the CAN CRC).")
    var corrupt = 0.0
    @Option(help: "Fault: share (0...1) of encrypted frames transmitted twice (a replay on the wire).")
    var replay = 0.0
    @Flag(help: "Pace the bus by the wall clock instead of running as fast as possible.") var realtime = false
    @Option(help: "Expose the simulated bus 'vcan0' over socketcand on HOST:PORT while it runs (implies --realtime).")
    var socketcand: String?
    @Option(help: "Write every frame on the bus to this candump log (for 'modbatt decode').") var candump: String?
    @Flag(help: "After the traffic, run the demo's attacks (replay, tamper, forge).") var attacks = false
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard seconds > 0, seconds <= 3600 else { throw ValidationError("--seconds must be in (0, 3600]") }
        for (name, v) in [("--drop", drop), ("--corrupt", corrupt), ("--replay", replay)] where !(0...1).contains(v) {
            throw ValidationError("\(name) must be between 0 and 1")
        }
        if let socketcand { _ = try HostPort.parse(socketcand, option: "--socketcand") }
        if traffic != nil {
            if pack.fd { throw ValidationError("--traffic models classic CAN only (the modules' controllers have no CAN FD)") }
            if socketcand != nil || candump != nil || realtime || attacks || drop > 0 || corrupt > 0 || replay > 0 {
                throw ValidationError("--traffic runs a bus model: --socketcand, --candump, --realtime, --attacks and faults do not apply")
            }
        } else if vehicleBitrate != nil || groupBroadcast {
            throw ValidationError("--vehicle-bitrate and --group-broadcast need --traffic")
        }
    }

    func run() async throws {
        if traffic != nil {
            try TrafficRun.run(modules: pack.modulesOption ?? 32, bitrate: pack.bitrateOption?.value ?? 250_000,
                               vehicleBitrate: vehicleBitrate?.value, seconds: seconds, seed: pack.seed,
                               groupBroadcast: groupBroadcast, json: pack.json)
            return
        }
        var s = try pack.settings(seconds: seconds, prefix: "modbatt-simulate")
        s.drop = drop
        s.corrupt = corrupt
        s.replay = replay
        s.attacks = attacks
        s.candumpPath = candump
        if let socketcand {
            s.socketcand = try HostPort.parse(socketcand, option: "--socketcand")
            s.realtime = true
        } else {
            s.realtime = realtime
        }
        let json = pack.json
        let exposed = s.socketcand
        let summary = try await SimulationRunner.run(s, command: "simulate", title: "modbatt simulate", json: json,
                                                     global: global) { port in
            if let port, let sc = exposed {
                let line = "socketcand: bus 'vcan0' on \(sc.host):\(port) while the simulation runs\n"
                if json { Terminal.writeError(line) } else { Terminal.printNow(line, terminator: "") }
            }
        }
        if summary.pairsFailed > 0 || summary.forgedDelivered > 0 || summary.duplicatesDelivered > 0
            || (attacks && !summary.ok) {
            throw ExitCode(1)
        }
    }
}

/// `modbatt demo`
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "The whole story in one command: provision a pack, run encrypted traffic, attack it, summarise.",
        discussion: """
            Starts the API-Bridge in-process on 127.0.0.1 with a throwaway database, provisions an app, a pack \
            controller and --modules modules (an LCT and keys per pair), establishes every pair's session over \
            the virtual CAN bus (classic CAN at 500 kbit/s by default; --fd for CAN FD with a 2 Mbit/s data \
            phase), runs telemetry and commands for a few seconds of bus time, then an attacker on the bus \
            replays, tampers with and forges frames. Every rejection is counted and written to a hash-chained \
            audit log.

            Exit status: 0 only if every pair was established and every attack was rejected.
            """
    )

    @OptionGroup var pack: PackOptions
    @Option(help: "Seconds of traffic (bus time).") var seconds = 3.0
    @Flag(help: """
        Skip the key packages: derive each pair's keys in-process from the bridge's key halves and run the         sessions directly (faster; no device key stores).
        """)
    var directKeys = false
    @Option(help: "Write every frame on the bus (provisioning, handshakes, traffic) to this candump log, e.g. for 'modbatt decode --keys'.")
    var candump: String?
    @OptionGroup var global: GlobalOptions

    func validate() throws {
        guard seconds > 0, seconds <= 600 else { throw ValidationError("--seconds must be in (0, 600]") }
    }

    func run() async throws {
        var s = try pack.settings(seconds: seconds, prefix: "modbatt-demo")
        s.attacks = true
        s.candumpPath = candump
        let summary: RunSummary
        if directKeys {
            summary = try await SimulationRunner.run(s, command: "demo", title: "modbatt demo", json: pack.json,
                                                     global: global)
        } else {
            let logger = global.logger("modbatt.demo")
            let progress = Progress(enabled: !pack.json)
            let settings = s
            do {
                summary = try await Interrupts.cancellingOnSignal {
                    try await FlowRunner.run(settings: settings, logger: logger, progress: progress)
                }
            } catch {
                progress.finish()
                throw ErrorText.cliError(error)
            }
            progress.finish()
            if pack.json { try JSONOutput.print(summary) } else { print(summary.text(title: "modbatt demo")) }
        }
        if !summary.ok { throw ExitCode(1) }
    }
}
