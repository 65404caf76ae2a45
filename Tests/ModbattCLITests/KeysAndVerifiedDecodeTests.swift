import Foundation
import Testing

/// `keys rotate|revoke|check` and `decode --keys`, end to end on the stores
/// and the candump log of one `modbatt demo` run.
@Suite("modbatt keys rotate/revoke/check, decode --keys")
struct KeysAndVerifiedDecodeTests {
    @Test("--help of the key-store subcommands", arguments: ["rotate", "revoke", "check"])
    func help(sub: String) throws {
        let r = try CLIRunner.run(["keys", sub, "--help"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("USAGE: modbatt keys \(sub)"))
    }

    /// A demo run's folder: `keystores/`, `audit.jsonl`, `bus.log`, and its JSON summary.
    struct Run {
        let dir: URL
        let summary: RunDoc
        var stores: String { dir.appendingPathComponent("keystores").path }
        var log: String { dir.appendingPathComponent("bus.log").path }
        var audit: String { dir.appendingPathComponent("audit.jsonl").path }
    }

    static func demo() throws -> Run {
        let dir = try CLIRunner.tempDir().appendingPathComponent("run")
        let r = try CLIRunner.run(["demo", "--modules", "2", "--seconds", "1", "--json", "--dir", dir.path,
                                   "--candump", dir.appendingPathComponent("bus.log").path], timeout: 120)
        #expect(r.status == 0, "\(r.stderr)")
        return Run(dir: dir, summary: try RunDoc(r.stdout))
    }

    static func json(_ args: [String]) throws -> (status: Int32, doc: Any, stderr: String) {
        let r = try CLIRunner.run(args + ["--json"], timeout: 60)
        let doc = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8))
        return (r.status, doc, r.stderr)
    }

    /// device -> (peer id -> key id), from `keys show --json`.
    static func keyIds(_ stores: String) throws -> [String: [Int: String]] {
        let (status, doc, err) = try json(["keys", "show", stores])
        #expect(status == 0, "\(err)")
        var out: [String: [Int: String]] = [:]
        for s in try #require(doc as? [[String: Any]]) {
            let pairs = (s["pairs"] as? [[String: Any]]) ?? []
            out[s["device"] as! String] = Dictionary(uniqueKeysWithValues: pairs.map {
                ($0["peer_id"] as! Int, $0["key_id"] as! String)
            })
        }
        return out
    }

    static func generations(_ stores: String) throws -> [String: Int] {
        let (_, doc, _) = try json(["keys", "show", stores])
        return Dictionary(uniqueKeysWithValues: try #require(doc as? [[String: Any]]).map {
            ($0["device"] as! String, $0["generation"] as! Int)
        })
    }

    /// No 32-byte value in hex (a secret) anywhere in the output.
    static func noSecretHex(_ text: String, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(text.range(of: "[0-9a-fA-F]{64}", options: .regularExpression) == nil, sourceLocation: sourceLocation)
    }

    @Test("decode --keys: the demo's log decrypts to exactly the delivered messages; a tampered line fails authentication; other keys decrypt nothing")
    func decodeWithKeys() throws {
        let run = try Self.demo()
        let (status, raw, err) = try Self.json(["decode", "--keys", run.stores, run.log])
        #expect(status == 0, "\(err)")
        let doc = try #require(raw as? [String: Any])
        #expect(doc["keys"] as? Bool == true)
        let messages = try #require(doc["messages"] as? [[String: Any]])
        let verification = try #require(doc["verification"] as? [String: Any])
        // Every handshake in the log verified; every telemetry/command/limits message and
        // command acknowledgement (APP1) decrypted, as many as the devices delivered.
        #expect((verification["handshakes_verified"] as? Int ?? 0) >= run.summary.int("pairs_established"))
        let traffic = messages.filter { m in
            ["STATUS", "COMMAND", "LIMITS", "APP1"].contains { (m["name"] as? String ?? "").hasPrefix($0) }
        }
        let decrypted = traffic.filter { $0["result"] as? String == "decrypted" }
        // The traffic phase's deliveries, plus the three genuine messages of the
        // delayed-command attack: the command the module missed (the observer
        // still sees it on the bus), the newer command and its acknowledgement.
        #expect(decrypted.count == run.summary.int("messages_delivered") + 3, "\(verification)")
        #expect(doc["messages_delivered"] as? Int == verification["decrypted"] as? Int)
        #expect(traffic.filter { $0["result"] as? String == "refused" }.isEmpty)

        // The text form shows plaintexts and the verified handshakes.
        let text = try CLIRunner.run(["decode", "--keys", run.stores, run.log], timeout: 60)
        #expect(text.status == 0)
        // (Which counters are STATUS depends on when each module's telemetry falls, i.e. on its id.)
        #expect(text.stdout.contains("=> decrypted STATUS d>c epoch 0 counter "))
        #expect(text.stdout.contains("=> decrypted APP1 d>c epoch 0 counter "))   // a command acknowledgement
        #expect(text.stdout.contains("=> verified FINISH c>d: MAC verified, session keys derived"))
        #expect(text.stdout.contains("verified with 3 pair keys from \(run.stores)"))

        // Flip one bit of the last frame of the first decrypted message (its tag).
        let target = try #require(decrypted.first)
        let line = try #require(target["line"] as? Int)
        var lines = try String(contentsOfFile: run.log, encoding: .utf8).split(separator: "\n", omittingEmptySubsequences: false)
        let original = String(lines[line - 1])
        let last = original.index(before: original.endIndex)
        let flipped = original[last] == "0" ? "1" : "0"
        lines[line - 1] = Substring(original[..<last] + flipped)
        let tampered = run.dir.appendingPathComponent("tampered.log")
        try lines.joined(separator: "\n").write(to: tampered, atomically: true, encoding: .utf8)
        let (ts, traw, _) = try Self.json(["decode", "--keys", run.stores, tampered.path])
        #expect(ts == 0)
        let tdoc = try #require(traw as? [String: Any])
        let tmessages = try #require(tdoc["messages"] as? [[String: Any]])
        let hit = try #require(tmessages.first { $0["line"] as? Int == line })
        #expect(hit["result"] as? String == "refused")
        #expect(hit["reason"] as? String == "authentication_failed")
        #expect((tdoc["verification"] as? [String: Any])?["decrypted"] as? Int == (verification["decrypted"] as! Int) - 1)
        #expect((tdoc["rejected"] as? [String: Int])?["authentication_failed"] == 1)

        // Keys that are not this log's (the stores after a rotation): nothing decrypts.
        let rotate = try CLIRunner.run(["keys", "rotate", run.stores])
        #expect(rotate.status == 0, "\(rotate.stderr)")
        let (ws, wraw, _) = try Self.json(["decode", "--keys", run.stores, run.log])
        #expect(ws == 0)
        let wdoc = try #require(wraw as? [String: Any])
        let wver = try #require(wdoc["verification"] as? [String: Any])
        #expect(wver["decrypted"] as? Int == 0)
        #expect(wver["handshakes_verified"] as? Int == 0)
        let wmessages = try #require(wdoc["messages"] as? [[String: Any]])
        let encrypted = wmessages.filter { m in !["HELLO", "REPLY", "FINISH"].contains { (m["name"] as? String ?? "").hasPrefix($0) } }
        #expect(!encrypted.isEmpty)
        #expect(encrypted.allSatisfy { $0["result"] as? String == "refused" && $0["reason"] as? String == "no_session" })
        let failed = try #require(wver["failed"] as? [String: Int])
        #expect((failed["other_pair_key"] ?? 0) > 0)
    }

    @Test("keys rotate: new key ids on both ends of every pair, generation + 1, pairs still handshake, audited")
    func rotate() throws {
        let run = try Self.demo()
        let before = try Self.keyIds(run.stores), genBefore = try Self.generations(run.stores)
        let check0 = try CLIRunner.run(["keys", "check", run.stores])
        #expect(check0.status == 0, "\(check0.stdout)\(check0.stderr)")
        #expect(check0.stdout.components(separatedBy: "established").count - 1 == 3)

        let r = try CLIRunner.run(["keys", "rotate", run.stores])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("rotated 3 pairs in 4 key stores"), "\(r.stdout)")
        #expect(r.stdout.contains("audit log: \(run.audit)"))
        Self.noSecretHex(r.stdout)

        let after = try Self.keyIds(run.stores), genAfter = try Self.generations(run.stores)
        for (device, pairs) in before {
            #expect(genAfter[device] == genBefore[device]! + 1, "\(device)")
            for (peer, id) in pairs { #expect(after[device]?[peer] != id, "\(device) pair with \(peer) kept its key id") }
        }
        // Both ends agree: the pack's key id for module-01 (0x01) is module-01's for the pack (0x40).
        #expect(after["pack"]?[0x01] == after["module-01"]?[0x40])
        #expect(after["pack"]?[0x02] == after["module-02"]?[0x40])
        #expect(after["pack"]?[0x00] == after["app"]?[0x40])
        let check = try CLIRunner.run(["keys", "check", "--json", run.stores])
        #expect(check.status == 0, "\(check.stdout)")
        let checks = try #require(try JSONSerialization.jsonObject(with: Data(check.stdout.utf8)) as? [[String: Any]])
        #expect(checks.count == 3 && checks.allSatisfy { $0["result"] as? String == "established" })

        let audit = try CLIRunner.run(["audit", "verify", run.audit])
        #expect(audit.status == 0, "\(audit.stdout)")
        let auditText = try String(contentsOfFile: run.audit, encoding: .utf8)
        #expect(auditText.components(separatedBy: "\"keys_rotated\"").count - 1 == 4)
        // The chain's own hashes are 64 hex digits; nothing else is.
        Self.noSecretHex(auditText.replacingOccurrences(of: "\"(prev|hash)\":\"[0-9a-f]{64}\"", with: "",
                                                        options: .regularExpression))

        // Rotating only the pack's pair with module-02, from one store alone, needs --one-end ...
        let alone = try CLIRunner.run(["keys", "rotate", run.dir.appendingPathComponent("keystores/pack.flash").path,
                                       "--device", "0x02"])
        expectOneLineError(alone, status: 1, contains: "its other end is not among these stores")
        // ... and then leaves the two ends a step apart, which check reports.
        let one = try CLIRunner.run(["keys", "rotate", "--one-end", "--device", "0x02",
                                     run.dir.appendingPathComponent("keystores/pack.flash").path])
        #expect(one.status == 0, "\(one.stderr)")
        let apart = try CLIRunner.run(["keys", "check", run.stores])
        #expect(apart.status == 1)
        #expect(apart.stdout.contains("pair 0x40>0x02 pack > module-02: refused: handshake failed"), "\(apart.stdout)")
        let both = try CLIRunner.run(["keys", "rotate", run.stores])
        expectOneLineError(both, status: 1, contains: "pair 0x40>0x02: the two ends hold different key ids")
    }

    @Test("keys revoke: the peers forget the device, show and check report it, a handshake is refused")
    func revoke() throws {
        let run = try Self.demo()
        let r = try CLIRunner.run(["keys", "revoke", run.stores, "--device", "module-02"])
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout.contains("revoked 1 pair in 1 key store"), "\(r.stdout)")
        #expect(r.stdout.contains("pack  pair 0x40>0x02"))
        let ids = try Self.keyIds(run.stores)
        #expect(ids["pack"]?.keys.sorted() == [0x00, 0x01])     // the app pair and module-01's
        #expect(ids["module-02"]?[0x40] != nil)                  // its own store is left alone
        let check = try CLIRunner.run(["keys", "check", run.stores])
        #expect(check.status == 1)
        #expect(check.stdout.contains("pair 0x40>0x02 pack > module-02: refused: pack holds no pair with device 0x02"),
                "\(check.stdout)")
        #expect(check.stdout.contains("pair 0x40>0x01 pack > module-01: established"))
        let auditText = try String(contentsOfFile: run.audit, encoding: .utf8)
        #expect(auditText.contains("\"pair_revoked\"") && auditText.contains("0x40>0x02"))
        #expect(try CLIRunner.run(["audit", "verify", run.audit]).status == 0)
        // Revoking it again: no peer holds it any more.
        let again = try CLIRunner.run(["keys", "revoke", run.stores, "--device", "0x02"])
        expectOneLineError(again, status: 1, contains: "no pair with device id 0x02")
        expectOneLineError(try CLIRunner.run(["keys", "revoke", run.stores, "--device", "module-07"]),
                           status: 1, contains: "unknown device 'module-07'")
        expectOneLineError(try CLIRunner.run(["keys", "rotate", run.stores, "--device", "0x2f"]),
                           status: 1, contains: "no pair with device id 0x2f")
    }

    @Test("key-store errors are one line and exit status 1")
    func errors() throws {
        let dir = try CLIRunner.tempDir()
        let notStore = dir.appendingPathComponent("notes.txt")
        try "hello".write(to: notStore, atomically: true, encoding: .utf8)
        let corrupt = dir.appendingPathComponent("broken")
        try FileManager.default.createDirectory(at: corrupt, withIntermediateDirectories: true)
        try Data(repeating: 0x5A, count: 3072).write(to: corrupt.appendingPathComponent("module-09.flash"))
        try Data(repeating: 1, count: 32).write(to: corrupt.appendingPathComponent("module-09.hwkey"))
        let empty = dir.appendingPathComponent("empty")
        try FileManager.default.createDirectory(at: empty, withIntermediateDirectories: true)
        let cases: [([String], String)] = [
            (["keys", "rotate", "/nonexistent/keystores"], "no such file or folder: /nonexistent/keystores"),
            (["keys", "revoke", "/nonexistent/keystores", "--device", "0x10"], "no such file or folder"),
            (["keys", "rotate", notStore.path], "not a key store: \(notStore.path)"),
            (["keys", "check", empty.path], "no key store (*.flash) in"),
            (["keys", "rotate", corrupt.path], "module-09: the key store does not boot: integrity check failed"),
            (["keys", "revoke", corrupt.path, "--device", "1"], "module-09: the key store does not boot"),
            (["decode", "--keys", "/nonexistent/keystores", notStore.path], "no such file or folder"),
        ]
        for (args, text) in cases {
            expectOneLineError(try CLIRunner.run(args), status: 1, contains: text)
        }
        let missing = try CLIRunner.run(["keys", "revoke", empty.path])
        expectOneLineError(missing, status: 64, contains: "Missing expected argument '--device")
    }
}
