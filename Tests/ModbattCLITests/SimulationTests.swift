import Foundation
import Testing

/// A `--json` run's document.
struct RunDoc {
    let raw: [String: Any]
    init(_ text: String) throws {
        raw = try #require(try JSONSerialization.jsonObject(with: Data(text.utf8)) as? [String: Any], "not JSON: \(text)")
    }
    func int(_ key: String) -> Int { raw[key] as? Int ?? -1 }
    var rejected: [String: Int] { raw["rejected"] as? [String: Int] ?? [:] }
    var faults: [String: Int] { raw["faults"] as? [String: Int] ?? [:] }
    var rejectedTotal: Int { rejected.filter { $0.key != "tx_queue_full" }.values.reduce(0, +) }
}

@Suite("modbatt demo and simulate")
struct SimulationTests {
    static let requiredKeys = ["pairs_established", "pairs_failed", "messages_sent", "messages_delivered", "frames",
                               "bus_load", "rejected", "crypto_ns", "frame_time_ns"]

    @Test("demo: exit 0, every attack rejected and logged, summary text matches the JSON, key stores readable")
    func demo() throws {
        let dir = try CLIRunner.tempDir()
        let args = ["demo", "--modules", "3", "--seconds", "1", "--seed", "7"]
        let j = try CLIRunner.run(args + ["--json", "--dir", dir.appendingPathComponent("j").path], timeout: 90)
        #expect(j.status == 0, "\(j.stderr)")
        let doc = try RunDoc(j.stdout)
        for key in Self.requiredKeys { #expect(doc.raw[key] != nil, "missing \(key)") }
        #expect(doc.int("pairs_established") == 4)
        #expect(doc.int("pairs_failed") == 0)
        #expect(doc.int("messages_sent") > 0)
        #expect(doc.int("messages_delivered") == doc.int("messages_sent"))
        let figures = try MessageFigures(doc.raw)
        figures.expectConsistent(MessageFigures.all)
        for (name, f) in figures.directions { #expect(f.sent > 0, "\(name)") }
        #expect(doc.int("forged_delivered") == 0)
        let attacks = try #require(doc.raw["attacks"] as? [[String: Any]])
        #expect(attacks.map { $0["kind"] as? String } == ["replay", "tamper", "forge", "package-replay",
                                                         "delayed-command", "hello-flood", "lockout"])
        for a in attacks {
            #expect(a["accepted"] as? Int == 0)
            #expect(a["logged"] as? Bool == true)
            #expect((a["attempted"] as? Int ?? 0) > 0)
        }
        let crypto = try #require(doc.raw["crypto_ns"] as? [String: Int])
        #expect((crypto["p50"] ?? 0) > 0 && (crypto["p99"] ?? 0) >= (crypto["p50"] ?? 0))
        #expect(doc.int("frame_time_ns") == 320_000)   // 8-byte classic frame, 29-bit id, 500 kbit/s, worst case

        // The same seed again, as text: the numbers a person reads are the JSON's.
        let t = try CLIRunner.run(args + ["--dir", dir.appendingPathComponent("t").path], timeout: 90)
        #expect(t.status == 0, "\(t.stderr)")
        #expect(t.stdout.contains("pairs           4/4 all established"))
        let f = NumberFormatter()
        f.numberStyle = .decimal
        f.groupingSeparator = ","
        func n(_ v: Int) -> String { f.string(from: NSNumber(value: v))! }
        #expect(t.stdout.contains("\(n(doc.int("messages_sent"))) sent, \(n(doc.int("messages_delivered"))) delivered"))
        #expect(t.stdout.contains("\(n(doc.int("frames"))) on the bus"), "\(t.stdout)")
        #expect(t.stdout.contains("OK: every pair established, every attack rejected"))
        // The audit log verifies; the key stores boot, and both ends of each pair hold the same key id.
        let audit = try CLIRunner.run(["audit", "verify", dir.appendingPathComponent("t/audit.jsonl").path])
        #expect(audit.status == 0, "\(audit.stdout)")
        let keys = try CLIRunner.run(["keys", "show", "--json", dir.appendingPathComponent("t/keystores").path])
        #expect(keys.status == 0, "\(keys.stderr)")
        let stores = try #require(try JSONSerialization.jsonObject(with: Data(keys.stdout.utf8)) as? [[String: Any]])
        #expect(stores.count >= 4)
        let packPairs = (stores.first { $0["device"] as? String == "pack" }?["pairs"] as? [[String: Any]]) ?? []
        #expect(packPairs.count == 4)   // the app pair and three module pairs
        #expect(!keys.stdout.contains("secret\""))
        let text = try CLIRunner.run(["keys", "show", dir.appendingPathComponent("t/keystores").path])
        #expect(text.stdout.contains("pack-controller"))
        #expect(text.stdout.contains("key id "))
    }

    /// On CAN FD each replayed message is one frame: five replays raise the
    /// counter-regression alert (never a quarantine: a stranger can send
    /// them); the pack's reports to the app must not count as accepted
    /// attack frames.
    @Test("demo --fd: exit 0, every attack rejected, nothing forged delivered")
    func demoFD() throws {
        let dir = try CLIRunner.tempDir()
        let j = try CLIRunner.run(["demo", "--fd", "--modules", "3", "--seconds", "1", "--json", "--dir", dir.path],
                                  timeout: 90)
        #expect(j.status == 0, "\(j.stderr)")
        let doc = try RunDoc(j.stdout)
        #expect(doc.int("pairs_established") == 4)
        #expect(doc.int("forged_delivered") == 0)
        let attacks = try #require(doc.raw["attacks"] as? [[String: Any]])
        #expect(attacks.count == 7)
        for a in attacks { #expect(a["accepted"] as? Int == 0, "\(a)") }
    }

    @Test("demo --direct-keys: every replayed, tampered and forged message rejected, one rejection each")
    func demoDirect() throws {
        let dir = try CLIRunner.tempDir()
        let j = try CLIRunner.run(["demo", "--direct-keys", "--modules", "3", "--seconds", "1", "--json",
                                   "--dir", dir.path], timeout: 60)
        #expect(j.status == 0, "\(j.stderr)")
        let doc = try RunDoc(j.stdout)
        #expect(doc.int("pairs_established") == 4)
        #expect(doc.int("messages_delivered") == doc.int("messages_sent"))
        // The attacker's messages are not the pairs': they stay out of the figures.
        try MessageFigures(doc.raw).expectConsistent(MessageFigures.all)
        let attacks = try #require(doc.raw["attacks"] as? [[String: Any]])
        #expect(attacks.map { $0["kind"] as? String } == ["replay", "tamper", "forge"])
        for a in attacks {
            #expect(a["accepted"] as? Int == 0)
            #expect(a["rejected"] as? Int == a["attempted"] as? Int)
            #expect(a["attempted"] as? Int == 8)   // 2 messages for each of the 4 pairs
        }
        #expect(doc.rejected["replay"] == 8)
        #expect(doc.rejected["authentication_failed"] == 16)
    }

    @Test("keys show: a missing path and an empty folder are one-line errors")
    func keysErrors() throws {
        expectOneLineError(try CLIRunner.run(["keys", "show", "/nonexistent"]), status: 1, contains: "no such file")
        let dir = try CLIRunner.tempDir()
        expectOneLineError(try CLIRunner.run(["keys", "show", dir.path]), status: 1, contains: "no key store")
    }

    func simulate(_ extra: [String]) throws -> RunDoc {
        let dir = try CLIRunner.tempDir()
        let r = try CLIRunner.run(["simulate", "--fd", "--modules", "2", "--seconds", "2", "--seed", "3", "--json",
                                   "--dir", dir.path] + extra, timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try RunDoc(r.stdout)
        #expect(doc.int("pairs_established") == 3)
        #expect(doc.int("duplicates_delivered") == 0)
        #expect(doc.int("forged_delivered") == 0)
        #expect(doc.int("messages_sent") > 50)
        try MessageFigures(doc.raw).expectConsistent(MessageFigures.all)
        return doc
    }

    @Test("simulate --drop: every dropped frame is exactly one lost message")
    func drop() throws {
        let d = try simulate(["--drop", "0.1"])
        let dropped = d.faults["dropped"] ?? 0
        #expect(dropped > 0)
        #expect(d.int("messages_delivered") == d.int("messages_sent") - dropped)
    }

    @Test("simulate --corrupt: every corrupted frame is rejected, none delivered")
    func corrupt() throws {
        let d = try simulate(["--corrupt", "0.1"])
        let corrupted = d.faults["corrupted"] ?? 0
        #expect(corrupted > 0)
        #expect(d.int("messages_delivered") == d.int("messages_sent") - corrupted)
        #expect(d.rejectedTotal == corrupted, "\(d.rejected)")
    }

    @Test("simulate --replay: every copy rejected as a replay, every message delivered once")
    func replay() throws {
        let d = try simulate(["--replay", "0.1"])
        let duplicated = d.faults["duplicated"] ?? 0
        #expect(duplicated > 0)
        #expect(d.int("messages_delivered") == d.int("messages_sent"))
        #expect(d.rejected["replay"] == duplicated, "\(d.rejected)")
    }

    @Test("classic CAN with all faults: nothing delivered twice, nothing forged, losses bounded by faults")
    func classicAllFaults() throws {
        let dir = try CLIRunner.tempDir()
        let r = try CLIRunner.run(["simulate", "--modules", "4", "--seconds", "2", "--drop", "0.02", "--corrupt", "0.02",
                                   "--replay", "0.02", "--json", "--dir", dir.path], timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        let d = try RunDoc(r.stdout)
        #expect(d.int("duplicates_delivered") == 0)
        #expect(d.int("forged_delivered") == 0)
        let lost = d.int("messages_sent") - d.int("messages_delivered")
        #expect(lost >= 0)
        try MessageFigures(d.raw).expectConsistent(MessageFigures.all)
        #expect(lost <= (d.faults["dropped"] ?? 0) + (d.faults["corrupted"] ?? 0) + (d.faults["duplicated"] ?? 0))
    }

    @Test("decode reads a log recorded by simulate")
    func decodeRecorded() throws {
        let dir = try CLIRunner.tempDir()
        let log = dir.appendingPathComponent("bus.log").path
        let r = try CLIRunner.run(["simulate", "--modules", "2", "--seconds", "0.5", "--candump", log, "--json",
                                   "--dir", dir.path], timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        let sim = try RunDoc(r.stdout)
        let d = try CLIRunner.run(["decode", "--json", log])
        #expect(d.status == 0, "\(d.stderr)")
        let dec = try RunDoc(d.stdout)
        #expect(dec.int("frames") == sim.int("frames"))
        // Every message on the bus reassembles: the data messages plus 3 handshake messages per pair.
        #expect(dec.int("messages_sent") == sim.int("messages_sent") + 3 * 3)
        #expect(dec.int("pairs_established") == 3)
        #expect(dec.rejected.isEmpty, "\(dec.rejected)")
        let text = try CLIRunner.run(["decode", log])
        #expect(text.stdout.contains("HELLO c>d"))
        #expect(text.stdout.contains("STATUS d>c"))
    }

    @Test("bad values are one-line usage errors", arguments: [
        (["demo", "--modules", "40"], "--modules must be 1...32"),
        (["simulate", "--drop", "2"], "--drop must be between 0 and 1"),
        (["simulate", "--socketcand", "nohostport"], "--socketcand must be HOST:PORT"),
        (["simulate", "--bitrate", "fast"], "bitrate"),
    ])
    func badValues(args: [String], message: String) throws {
        let r = try CLIRunner.run(args)
        expectOneLineError(r, status: 64, contains: message)
    }
}
