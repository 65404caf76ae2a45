import ArgumentParser
import Foundation
import ModbattCAN

/// `modbatt bus serve`: a standalone virtual bus behind the socketcand server.
struct BusCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bus",
        abstract: "Run a standalone virtual CAN bus.",
        subcommands: [Serve.self]
    )

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Serve a virtual CAN / CAN FD bus over the socketcand protocol (python-can, cansend via socketcand).",
            discussion: """
                The bus runs in real time. Every client that sends '< open NAME >' becomes a node: it receives \
                every other node's frames, timestamped at the end of their frame time at the bus's bit rate. \
                Ctrl-C (or --seconds) stops it: clients are disconnected, the --record file is complete, and the \
                bus statistics are printed. See docs/TRANSPORTS.md for the protocol subset and python-can.

                Example:
                  modbatt bus serve --port 29536 --name vcan0 --record bus.log
                  python3 -c "import can; b = can.Bus(interface='socketcand', host='127.0.0.1', port=29536, channel='vcan0'); ..."
                """
        )

        @Option(help: "Address to listen on.") var host = "127.0.0.1"
        @Option(help: "TCP port to listen on (0 = any free port; the port is printed).") var port = 29536
        @Option(help: "Bus name clients open.") var name = "vcan0"
        @Option(help: "Nominal bit rate (e.g. 500000, 500k, 1M).") var bitrate = BitRateArgument(500_000)
        @Option(help: "CAN FD data-phase bit rate.") var dataBitrate = BitRateArgument(2_000_000)
        @Flag(help: "Classic CAN only: refuse CAN FD frames.") var classic = false
        @Option(help: "Fault injection: share of frames (0...1) nobody receives.") var drop = 0.0
        @Option(help: "Fault injection: share of frames (0...1) with one payload bit flipped.") var corrupt = 0.0
        @Option(help: "Seed of the fault-injection PRNG.") var seed: UInt64 = 0
        @Option(help: "Write every frame on the bus to this candump log (one complete line per frame).")
        var record: String?
        @Option(help: "Stop after this many seconds (default: run until Ctrl-C).") var seconds: Double?
        @OptionGroup var global: GlobalOptions

        func validate() throws {
            guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
            guard (0...1).contains(drop), (0...1).contains(corrupt) else {
                throw ValidationError("--drop and --corrupt must be between 0 and 1")
            }
            guard !name.isEmpty, name.count <= 15, !name.contains(where: { $0.isWhitespace || $0 == "<" || $0 == ">" })
            else { throw ValidationError("--name must be 1...15 characters without spaces or '<' '>'") }
            if let seconds, seconds <= 0 { throw ValidationError("--seconds must be positive") }
        }

        func run() async throws {
            let logger = global.logger("modbatt.bus")
            let config = VirtualBus.Configuration(
                name: name, bitrate: bitrate.value, dataBitrate: dataBitrate.value, allowsFD: !classic,
                clock: .realTime, faults: FaultPlan(drop: drop, corrupt: corrupt), seed: seed)
            let bus = VirtualBus(config)
            var recordHandle: FileHandle?
            if let record {
                guard FileManager.default.createFile(atPath: record, contents: nil),
                      let handle = FileHandle(forWritingAtPath: record)
                else { throw CLIError("cannot create the record file \(record)") }
                recordHandle = handle
            }
            let server: SocketcandServer
            do {
                server = try await SocketcandServer.start(bus: bus, host: host, port: port, logger: logger)
            } catch {
                throw ErrorText.cliError(error)
            }
            let shownHost = host.contains(":") ? "[\(host)]" : host
            let rates = classic ? BitRate.format(bitrate.value)
                : "\(BitRate.format(bitrate.value)), FD data \(BitRate.format(dataBitrate.value))"
            Terminal.printNow("modbatt bus '\(name)' (\(rates)) serving socketcand on \(shownHost):\(server.port); Ctrl-C stops")

            let recorderTask: Task<Int, Never>?
            var recorderNode: VirtualBus.Node?
            if let recordHandle {
                let recorder = await bus.attach(name: "recorder")
                recorderNode = recorder
                let interface = name
                recorderTask = Task {
                    var count = 0
                    do {
                        for try await f in recorder.frames {
                            recordHandle.write(Data("\(CandumpRecord(f, interface: interface))\n".utf8))
                            count += 1
                        }
                    } catch {}
                    return count
                }
            } else {
                recorderTask = nil
            }

            let limit = seconds.map { Duration.milliseconds(Int64($0 * 1000)) }
            _ = try? await Interrupts.cancellingOnSignal { await Interrupts.waitForCancellation(limit: limit) }

            await server.close()
            let stats = await bus.statistics()
            if let recorderTask {
                // Let frames already delivered reach the file, then end the recorder.
                try? await Task.sleep(for: .milliseconds(50))
                await recorderNode?.close()
                let written = await recorderTask.value
                try? recordHandle?.synchronize()
                try? recordHandle?.close()
                print("recorded \(written) frames to \(record!)")
            }
            print("modbatt bus stopped: \(stats.frames) frames, load \(String(format: "%.1f", stats.load * 100)) %"
                  + (stats.dropped + stats.corrupted > 0 ? ", \(stats.dropped) dropped, \(stats.corrupted) corrupted" : ""))
        }
    }
}
