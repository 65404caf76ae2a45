import Foundation
import Testing

/// `modbatt pack discover` and `pack init --discover` against `bus serve`
/// and `pack serve` processes (docs/PROTOCOL.md 17).
@Suite("modbatt pack discover", .serialized)
struct PackDiscoverTests {
    /// A virtual bus and a 3-module pack on it, with the config `pack init --store` completed.
    final class Bench {
        let dir: URL
        let config: String
        let bus: CLIRunner.Running
        let pack: CLIRunner.Running
        let can: String

        init() throws {
            dir = try CLIRunner.tempDir()
            config = dir.appendingPathComponent("pack.json").path
            try Self.config().write(toFile: config, atomically: true, encoding: .utf8)
            bus = try CLIRunner.start(["bus", "serve", "--port", "0"])
            can = "socketcand:127.0.0.1:\(try BusServeTests.port(from: bus.waitForOutput("Ctrl-C stops")))"
            let store = dir.appendingPathComponent("keys").path
            let initRun = try CLIRunner.run(["pack", "init", "--config", config, "--store", store], timeout: 30)
            guard initRun.status == 0 else { throw CLIRunner.RunnerError("pack init: \(initRun.stderr)") }
            pack = try CLIRunner.start(["pack", "serve", "--config", config, "--store", store, "--can", can,
                                        "--telemetry-ms", "0"])
            _ = try pack.waitForOutput("Ctrl-C stops")
        }

        /// A config of this pack; `serials` replaces the module serials.
        static func config(serials: [String] = ["BM-D1", "BM-D2", "BM-D3"]) -> String {
            let modules = serials.enumerated().map { #"{"serial": "\#($1)", "device_id": \#(1 + $0)}"# }
            return #"{"pack": {"serial": "PC-D1"}, "modules": [\#(modules.joined(separator: ", "))]}"#
        }

        /// Binding keys of the config, pack first.
        func keys(of path: String) throws -> [String] {
            let doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: path)))
                                   as? [String: Any])
            let modules = doc["modules"] as? [[String: Any]] ?? []
            return ([doc["pack"] as? [String: Any] ?? [:]] + modules).map { $0["binding_key"] as? String ?? "" }
        }

        func close() {
            for s in [pack, bus] {
                s.interrupt()
                _ = try? s.wait(timeout: 20)
            }
        }
    }

    /// A device answers at most once per second: wait that out between queries.
    static func pause() { Thread.sleep(forTimeInterval: 1.2) }

    @Test("--json lists every device of a 3-module pack with serial, id, role, firmware and binding key; the table too")
    func discoverPack() throws {
        let bench = try Bench()
        defer { bench.close() }
        let r = try CLIRunner.run(["pack", "discover", "--can", bench.can, "--json", "--timeout", "10", "--expect", "4"],
                                  timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any], "\(r.stdout)")
        let devices = try #require(doc["devices"] as? [[String: Any]])
        // In device-id order: modules 0x01...0x03, then the pack at 0x40.
        #expect(devices.map { $0["serial"] as? String } == ["BM-D1", "BM-D2", "BM-D3", "PC-D1"])
        #expect(devices.map { $0["device_id"] as? Int } == [1, 2, 3, 64])
        #expect(devices.map { $0["name"] as? String } == ["module-01", "module-02", "module-03", "pack"])
        #expect(devices.map { $0["role"] as? String } == ["module", "module", "module", "pack_controller"])
        #expect(devices.allSatisfy { $0["firmware"] as? String == "1.0.0" })
        let keys = try bench.keys(of: bench.config)
        #expect(devices.map { $0["binding_key"] as? String ?? "" } == Array(keys.dropFirst()) + [keys[0]])
        #expect((doc["rejected"] as? [Any])?.isEmpty == true && (doc["conflicts"] as? [Any])?.isEmpty == true)

        Self.pause()
        let table = try CLIRunner.run(["pack", "discover", "--can", bench.can, "--timeout", "10", "--expect", "4"],
                                      timeout: 60)
        #expect(table.status == 0, "\(table.stderr)")
        #expect(table.stdout.contains("4 devices answered"))
        for serial in ["PC-D1", "BM-D1", "BM-D2", "BM-D3"] { #expect(table.stdout.contains(serial), "\(table.stdout)") }
    }

    @Test("pack init --discover pins the keys the devices answer with, and refuses a device that answers otherwise")
    func factoryStepByDiscovery() throws {
        let bench = try Bench()
        defer { bench.close() }
        let fresh = bench.dir.appendingPathComponent("fresh.json").path
        try Bench.config().write(toFile: fresh, atomically: true, encoding: .utf8)
        let r = try CLIRunner.run(["pack", "init", "--config", fresh, "--discover", "--can", bench.can, "--timeout", "10"],
                                  timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(try bench.keys(of: fresh) == (try bench.keys(of: bench.config)))

        Self.pause()
        let wrong = bench.dir.appendingPathComponent("wrong.json").path
        try Bench.config(serials: ["BM-D1", "BM-XX", "BM-D3"]).write(toFile: wrong, atomically: true, encoding: .utf8)
        let refused = try CLIRunner.run(["pack", "init", "--config", wrong, "--discover", "--can", bench.can,
                                         "--timeout", "3"], timeout: 60)
        expectOneLineError(refused, status: 1, contains: "modules[1] (BM-XX, id 0x02): answered with serial BM-D2")
        #expect(try bench.keys(of: wrong) == ["", "", "", ""])       // nothing written
    }

    @Test("usage and empty-bus errors are one line each")
    func errors() throws {
        let bus = try CLIRunner.start(["bus", "serve", "--port", "0"])
        defer { bus.interrupt(); _ = try? bus.wait(timeout: 20) }
        let can = "socketcand:127.0.0.1:\(try BusServeTests.port(from: bus.waitForOutput("Ctrl-C stops")))"
        let empty = try CLIRunner.run(["pack", "discover", "--can", can, "--timeout", "0.3"], timeout: 30)
        expectOneLineError(empty, status: 1, contains: "no device answered the discovery query")
        expectOneLineError(try CLIRunner.run(["pack", "discover", "--device", "0"], timeout: 30), status: 64,
                           contains: "--device must be a device id")
        expectOneLineError(try CLIRunner.run(["pack", "discover", "--timeout", "0"], timeout: 30), status: 64,
                           contains: "--timeout must be")
        expectOneLineError(try CLIRunner.run(["pack", "init", "--config", "x.json", "--store", "k", "--discover"], timeout: 30),
                           status: 64, contains: "give exactly one of --store DIR and --discover")
    }
}
