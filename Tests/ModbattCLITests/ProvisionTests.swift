import Foundation
import Testing

/// `modbatt provision` against real sockets: `bridge serve` (embedded bridge
/// on loopback), `bus serve` (virtual bus behind socketcand) and
/// `pack serve` (pack controller + modules with file-backed key stores),
/// each its own `modbatt` process.
@Suite("modbatt provision", .serialized)
struct ProvisionTests {
    static let token = "provision-test-token"

    /// The three servers and a pack config with the devices' binding keys.
    final class Bench {
        let dir: URL
        let config: String
        let bridge: CLIRunner.Running
        let bus: CLIRunner.Running
        let bridgeURL: String
        let busPort: Int
        var pack: CLIRunner.Running?

        init(modules: Int = 2, startPack: Bool = true, bridgeAuth: String = "both") throws {
            dir = try CLIRunner.tempDir()
            config = dir.appendingPathComponent("pack.json").path
            let list = (1...modules).map { #"{"serial": "BM-T\#($0)", "device_id": \#($0)}"# }
            try #"{"pack": {"serial": "PC-T1"}, "modules": [\#(list.joined(separator: ", "))]}"#
                .write(toFile: config, atomically: true, encoding: .utf8)
            bridge = try CLIRunner.start(["bridge", "serve", "--port", "0", "--memory", "--token", ProvisionTests.token,
                                          "--auth", bridgeAuth, "--log-level", "error"])
            let line = try bridge.waitForOutput("listening on")
            guard let r = line.range(of: "listening on ") else { throw CLIRunner.RunnerError(line) }
            bridgeURL = String(line[r.upperBound...].prefix { !$0.isWhitespace })
            bus = try CLIRunner.start(["bus", "serve", "--port", "0"])
            busPort = try BusServeTests.port(from: bus.waitForOutput("Ctrl-C stops"))
            let initRun = try CLIRunner.run(["pack", "init", "--config", config, "--store", store], timeout: 30)
            guard initRun.status == 0 else { throw CLIRunner.RunnerError("pack init: \(initRun.stderr)") }
            if startPack { try self.startPack() }
        }

        func startPack() throws {
            let p = try CLIRunner.start(["pack", "serve", "--config", config, "--store", store, "--can", can])
            _ = try p.waitForOutput("Ctrl-C stops")
            pack = p
        }

        var store: String { dir.appendingPathComponent("pack-keys").path }
        var data: String { dir.appendingPathComponent("app").path }
        var can: String { "socketcand:127.0.0.1:\(busPort)" }

        func provision(_ extra: [String] = [], token: String? = ProvisionTests.token, environment: [String: String] = [:],
                       timeout: Double = 120) throws -> CLIRunner.Result {
            var env: [String: String] = ["MODBATT_BRIDGE_TOKEN": token ?? ""]
            if token == nil { env["MODBATT_BRIDGE_TOKEN"] = "" }
            env.merge(environment) { $1 }
            // The app key's protection: the development key file unless the test chooses a passphrase.
            let protection = extra.contains("--passphrase-file") || env["MODBATT_APP_PASSPHRASE"] != nil
                ? [] : ["--dev-key-file"]
            return try CLIRunner.run(["provision", "--config", config, "--bridge", bridgeURL, "--can", can,
                                      "--data", data] + protection + extra, timeout: timeout, environment: env)
        }

        /// Ctrl-C the device side; its per-device status lines.
        func stopPack() throws -> CLIRunner.Result? {
            guard let pack else { return nil }
            pack.interrupt()
            self.pack = nil
            return try pack.wait(timeout: 20)
        }

        func close() {
            _ = try? stopPack()
            for s in [bus, bridge] {
                s.interrupt()
                _ = try? s.wait(timeout: 20)
            }
        }
    }

    static func json(_ r: CLIRunner.Result) throws -> [String: Any] {
        let object = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
        return try #require(object as? [String: Any], "stdout: \(r.stdout) stderr: \(r.stderr)")
    }

    static func results(_ doc: [String: Any]) -> [String: String] {
        var out: [String: String] = [:]
        for d in doc["devices"] as? [[String: Any]] ?? [] {
            out[d["device"] as? String ?? "?"] = d["result"] as? String
        }
        return out
    }

    @Test("against a bridge that takes only X-API-Key: refused with Bearer, provisioned with bridge.auth or MODBATT_BRIDGE_AUTH")
    func apiKeyBridge() throws {
        let bench = try Bench(modules: 1, bridgeAuth: "x-api-key")
        defer { bench.close() }
        #expect(try bench.bridge.waitForOutput("listening on").contains("auth: token in X-API-Key;"))
        expectOneLineError(try bench.provision(), status: 1, contains: "refused the token (401)")
        let bad = try bench.provision(environment: ["MODBATT_BRIDGE_AUTH": "basic"])
        expectOneLineError(bad, status: 1, contains: "MODBATT_BRIDGE_AUTH must be \"bearer\" or \"x-api-key\", not 'basic'")
        let viaEnv = try bench.provision(["--json", "--traffic", "0"], environment: ["MODBATT_BRIDGE_AUTH": "x-api-key"])
        #expect(viaEnv.status == 0, "\(viaEnv.stderr)")
        #expect(try Self.json(viaEnv)["pairs_established"] as? Int == 2)
        // The same from the pack config's bridge.auth; the second run finds everything provisioned.
        var doc = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: bench.config)))
            as? [String: Any])
        doc["bridge"] = ["auth": "X-API-Key"]
        try JSONSerialization.data(withJSONObject: doc).write(to: URL(fileURLWithPath: bench.config))
        let viaConfig = try bench.provision(["--json", "--traffic", "0"])
        #expect(viaConfig.status == 0, "\(viaConfig.stderr)")
        #expect(Self.results(try Self.json(viaConfig)) == ["pack": "already_provisioned", "module-01": "already_provisioned"])
        doc["bridge"] = ["auth": "cookie"]
        try JSONSerialization.data(withJSONObject: doc).write(to: URL(fileURLWithPath: bench.config))
        expectOneLineError(try bench.provision(), status: 1, contains: "bridge.auth: must be \"bearer\" or \"x-api-key\"")
    }

    @Test("provisions every device, encrypted traffic works, a second run registers nothing and reports them as provisioned")
    func endToEndAndIdempotent() throws {
        let bench = try Bench()
        defer { bench.close() }

        let first = try bench.provision(["--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let doc = try Self.json(first)
        #expect(doc["pairs_established"] as? Int == 3)
        #expect(doc["pairs_failed"] as? Int == 0)
        #expect(doc["components_registered"] as? Int == 4)   // the app's host, the pack, 2 modules
        #expect(doc["lcts_created"] as? Int == 3)
        #expect(Self.results(doc) == ["pack": "provisioned", "module-01": "provisioned", "module-02": "provisioned"])
        #expect((doc["messages_sent"] as? Int ?? 0) > 0)
        #expect((doc["messages_delivered"] as? Int ?? 0) > 0)   // the pack's telemetry, opened and verified
        // The app's view of its pair, in the vocabulary of demo and simulate: its commands and the
        // pack's acknowledgements, the pack's messages and what their counters say the pack sent.
        let figures = try MessageFigures(doc)
        figures.expectConsistent(MessageFigures.appPack)
        #expect((figures.directions["app_to_pack"]?.delivered ?? 0) > 0, "no command acknowledged")
        #expect(doc["rejected"] is [String: Any])
        #expect(doc["ok"] as? Bool == true)
        #expect(doc["frame_time_ns"] as? Int == 320_000)   // 160 worst-case bits of an 8-byte extended frame at 500 kbit/s
        let crypto = try #require(doc["crypto_ns"] as? [String: Any])
        #expect((crypto["p50"] as? Int ?? 0) > 0)
        for key in ["messages_sent", "messages_delivered", "frames", "bus_load"] { #expect(doc[key] != nil, "\(key)") }

        let again = try bench.provision(["--json", "--traffic", "0.5"])
        #expect(again.status == 0, "\(again.stderr)")
        let doc2 = try Self.json(again)
        #expect(doc2["components_registered"] as? Int == 0)
        #expect(doc2["components_reused"] as? Int == 4)
        #expect(doc2["lcts_created"] as? Int == 0)
        #expect(doc2["transfer_frames"] as? Int == 0)
        #expect(doc2["pairs_established"] as? Int == 3)
        #expect(Self.results(doc2) == ["pack": "already_provisioned", "module-01": "already_provisioned",
                                       "module-02": "already_provisioned"])

        // The human summary says the same.
        let text = try bench.provision(["--traffic", "0"])
        #expect(text.status == 0, "\(text.stderr)")
        #expect(text.stdout.contains("module-02 BM-T2") && text.stdout.contains("already provisioned"), "\(text.stdout)")

        let stopped = try #require(try bench.stopPack())
        #expect(stopped.status == 0, "\(stopped.stderr)")
        for line in ["pack PC-T1: paired, package v1", "module-01 BM-T1: paired, package v1", "module-02 BM-T2: paired, package v1"] {
            #expect(stopped.stdout.contains(line), "\(stopped.stdout)")
        }

        // A power cycle of the devices: they boot from their key stores, the pack pairs with its modules
        // again, and provision finds everything provisioned.
        try bench.startPack()
        let afterRestart = try bench.provision(["--json", "--traffic", "0.5"])
        #expect(afterRestart.status == 0, "\(afterRestart.stderr)")
        let doc3 = try Self.json(afterRestart)
        #expect(doc3["pairs_established"] as? Int == 3)
        #expect(Set(Self.results(doc3).values) == ["already_provisioned"])
    }

    @Test("a run cut short resumes: nothing registered twice, the LCTs and packages of the first run reused")
    func resumesAfterATimeout() throws {
        let bench = try Bench()
        defer { bench.close() }
        // Delivery and pairing get 0.1 s: registration and packaging finish, the transfer does not.
        let cut = try bench.provision(["--json", "--timeout", "0.1", "--traffic", "0"])
        #expect(cut.status == 1, "\(cut.stdout) \(cut.stderr)")
        let doc = try Self.json(cut)
        #expect(doc["components_registered"] as? Int == 4)
        #expect((doc["pairs_failed"] as? Int ?? 0) > 0)

        let resumed = try bench.provision(["--json"])
        #expect(resumed.status == 0, "\(resumed.stderr)")
        let doc2 = try Self.json(resumed)
        #expect(doc2["components_registered"] as? Int == 0)
        #expect(doc2["lcts_created"] as? Int == 0)
        #expect(doc2["lcts_reused"] as? Int == 3)
        #expect(doc2["pairs_established"] as? Int == 3)
        #expect(doc2["package_version"] as? Int == 1)
    }

    @Test("the app's signing key: a passphrase protects it (keys show says so), a wrong one is refused, and choosing nothing is one clear error")
    func appKeyProtection() throws {
        let bench = try Bench()
        defer { bench.close() }
        let none = try CLIRunner.run(["provision", "--config", bench.config, "--bridge", bench.bridgeURL,
                                      "--can", bench.can, "--data", bench.data], timeout: 30)
        expectOneLineError(none, status: 1, contains: "--passphrase-file FILE or MODBATT_APP_PASSPHRASE, or --dev-key-file")
        let file = URL(fileURLWithPath: bench.data).deletingLastPathComponent().appendingPathComponent("passphrase").path
        try "correct horse battery staple\n".write(toFile: file, atomically: true, encoding: .utf8)
        let first = try bench.provision(["--passphrase-file", file, "--json"])
        #expect(first.status == 0, "\(first.stderr)")
        let stores = URL(fileURLWithPath: bench.data).appendingPathComponent("keystores").path
        #expect(!FileManager.default.fileExists(atPath: stores + "/app.hwkey"))
        let kdf = try String(contentsOfFile: stores + "/app.kdf", encoding: .utf8)
        #expect(kdf.contains("pbkdf2-hmac-sha256") && kdf.contains("600000"))
        let locked = try CLIRunner.run(["keys", "show", stores + "/app.flash"], timeout: 30)
        #expect(locked.status == 1 && locked.stdout.contains("locked: protected by a passphrase"), "\(locked.stdout)")
        let shown = try CLIRunner.run(["keys", "show", stores + "/app.flash"], timeout: 30,
                                      environment: ["MODBATT_APP_PASSPHRASE": "correct horse battery staple"])
        #expect(shown.status == 0, "\(shown.stdout)\(shown.stderr)")
        #expect(shown.stdout.contains("protection: passphrase (PBKDF2-HMAC-SHA256, 600000 iterations"))
        let wrong = try bench.provision(["--traffic", "0"], environment: ["MODBATT_APP_PASSPHRASE": "tr0ub4dor"])
        expectOneLineError(wrong, status: 1, contains: "does not open with this passphrase")
        let devOnPassphraseStore = try bench.provision(["--traffic", "0"])
        expectOneLineError(devOnPassphraseStore, status: 1, contains: "protected by a passphrase")
    }

    @Test("bridge, token and bus errors are one line each")
    func runtimeErrors() throws {
        let bench = try Bench(startPack: false)
        defer { bench.close() }
        expectOneLineError(try bench.provision(token: nil), status: 1,
                           contains: "no bridge token: set MODBATT_BRIDGE_TOKEN or bridge.token")
        expectOneLineError(try bench.provision(token: "wrong-token"), status: 1, contains: "refused the token (401)")
        let unreachable = try CLIRunner.run(
            ["provision", "--config", bench.config, "--bridge", "http://127.0.0.1:1", "--can", bench.can, "--data", bench.data,
             "--dev-key-file"],
            timeout: 60, environment: ["MODBATT_BRIDGE_TOKEN": Self.token])
        expectOneLineError(unreachable, status: 1, contains: "API-Bridge http://127.0.0.1:1: ")
        #expect(unreachable.stderr.contains("cannot reach the bridge"), "\(unreachable.stderr)")
        let noServer = try CLIRunner.run(
            ["provision", "--config", bench.config, "--bridge", bench.bridgeURL, "--can", "socketcand:127.0.0.1:1",
             "--dev-key-file"],
            timeout: 30, environment: ["MODBATT_BRIDGE_TOKEN": Self.token])
        expectOneLineError(noServer, status: 1, contains: "cannot open the CAN bus socketcand://127.0.0.1:1/vcan0: connection failed")
        let noBus = try bench.provision(["--can", "socketcand://127.0.0.1:\(bench.busPort)/nosuchbus"])
        expectOneLineError(noBus, status: 1, contains: "unknown bus 'nosuchbus'")
        // This kernel has no AF_CAN; elsewhere the interface does not exist (a name no machine has, so a
        // bench with a real can0 gives the same answer). Either way: one line naming the bus.
        let socketcan = try bench.provision(["--can", "socketcan:mbnope0"])
        expectOneLineError(socketcan, status: 1, contains: "cannot open the CAN bus socketcan:mbnope0: ")
        #expect(socketcan.stderr.contains("kernel lacks AF_CAN") || socketcan.stderr.contains("no CAN interface named 'mbnope0'"),
                "\(socketcan.stderr)")
        let packOnMissingBus = try CLIRunner.run(["pack", "serve", "--config", bench.config, "--store", bench.store,
                                                  "--can", "socketcand:127.0.0.1:1"], timeout: 30)
        expectOneLineError(packOnMissingBus, status: 1, contains: "cannot open the CAN bus socketcand://127.0.0.1:1/vcan0")
    }

    @Test("a missing or malformed pack config is one line naming the field", arguments: [
        (#"{"modules": [{"serial": "BM-1"}]}"#, "pack: missing"),
        (#"{"pack": {"serial": "PC-1"}, "modules": [{"device_id": 16}]}"#, "modules[0].serial: missing"),
        (#"{"pack": {"serial": "PC-1"}, "modules": []}"#, "modules: must list 1...32 modules, got 0"),
        (#"{"pack": {"serial": "PC-1"}, "modules": [{"serial": "A", "device_id": 99}]}"#,
         "modules[0].device_id: must be 1...32 (0x01...0x20)"),
        (#"{"pack": {"serial": "PC-1"}, "modules": [{"serial": "A"}, {"serial": "B", "device_id": 1}]}"#,
         "modules[1].device_id: 1 is also modules[0]'s"),
        (#"{"pack": {"serial": "PC-1", "device_id": true}, "modules": [{"serial": "A"}]}"#,
         "pack.device_id: must be an integer 0...255"),
        (#"{"pack": {"serial": "PC-1", "binding_key": "04ab"}, "modules": [{"serial": "A"}]}"#,
         "pack.binding_key: must be 130 hex digits"),
        (#"{"pack": {"serial": "PC-1"}, "modules": [{"serial": "A"}], "profile": "turbo"}"#,
         #"profile: must be "classic" or "fd""#),
        (#"{"pack": {"serial": "PC-1"}, "modules": [{"serial": "A"}]}"#,
         "pack.binding_key: missing (read it from the device"),
        (#"{"pack": "#, "not valid JSON"),
    ])
    func configErrors(content: String, expected: String) throws {
        let dir = try CLIRunner.tempDir()
        let path = dir.appendingPathComponent("pack.json").path
        try content.write(toFile: path, atomically: true, encoding: .utf8)
        let r = try CLIRunner.run(["provision", "--config", path, "--bridge", "http://127.0.0.1:1"], timeout: 30,
                                  environment: ["MODBATT_BRIDGE_TOKEN": Self.token])
        expectOneLineError(r, status: 1, contains: "pack config \(path): \(expected)")
    }

    @Test("a config file that does not exist")
    func missingConfig() throws {
        let r = try CLIRunner.run(["provision", "--config", "/nonexistent/pack.json", "--bridge", "http://127.0.0.1:1"],
                                  timeout: 30, environment: ["MODBATT_BRIDGE_TOKEN": Self.token])
        expectOneLineError(r, status: 1, contains: "pack config /nonexistent/pack.json: cannot read the file")
        let init_ = try CLIRunner.run(["pack", "init", "--config", "/nonexistent/pack.json", "--store", "/tmp/x"], timeout: 30)
        expectOneLineError(init_, status: 1, contains: "pack config /nonexistent/pack.json: cannot read the file")
    }

    @Test("pack init writes every device's binding key into the config and keeps them on a second run")
    func packInit() throws {
        let dir = try CLIRunner.tempDir()
        let config = dir.appendingPathComponent("pack.json").path
        try #"{"pack": {"serial": "PC-9"}, "modules": [{"serial": "BM-9"}], "creator": "bench"}"#
            .write(toFile: config, atomically: true, encoding: .utf8)
        let store = dir.appendingPathComponent("keys").path
        let r = try CLIRunner.run(["pack", "init", "--config", config, "--store", store], timeout: 30)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("module-01 BM-9 (id 0x01): binding key "))
        let first = try String(contentsOfFile: config, encoding: .utf8)
        let doc = try #require(try JSONSerialization.jsonObject(with: Data(first.utf8)) as? [String: Any])
        #expect(doc["creator"] as? String == "bench")
        let key = try #require((doc["pack"] as? [String: Any])?["binding_key"] as? String)
        #expect(key.count == 130 && key.hasPrefix("04"))
        #expect(FileManager.default.fileExists(atPath: store + "/pack.flash"))
        #expect(FileManager.default.fileExists(atPath: store + "/module-01.flash"))
        let again = try CLIRunner.run(["pack", "init", "--config", config, "--store", store], timeout: 30)
        #expect(again.status == 0, "\(again.stderr)")
        #expect(try String(contentsOfFile: config, encoding: .utf8) == first)
    }
}
