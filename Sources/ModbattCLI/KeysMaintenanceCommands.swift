import ArgumentParser
import Foundation
import ModbattProvisioning

/// `modbatt keys rotate|revoke|check`: bench work on device key stores at rest.
extension KeysCommand {
    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "rotate",
            abstract: "Advance the pair secrets of key stores at rest to their next generation (both ends of each pair together).",
            discussion: """
                Every pair entry (or, with --device, those of the pairs that device is an end of) gets the next \
                generation of its pair secret and a new key id: PS' || key id' = HKDF-SHA256(salt = key id, \
                IKM = PS, info = "modbatt/keystore/v1/rotate"), computed by the C core (mb_ks_pair_rotate). The \
                step is deterministic, so both ends of a pair rotated once each agree again, and one-way, so a \
                store read later does not reveal the secret that protected earlier traffic. Each store is \
                rewritten with one power-cut-safe two-slot write (generation + 1).

                PATH is normally the folder of a pack's stores: every selected pair must have both ends there \
                with the same key id, and both are rotated. A single store rotates only with --one-end; its peers \
                must then be rotated once too. This does not replace re-provisioning after a suspected \
                compromise: whoever held the old secret can compute the new one.

                Writes a 'keys_rotated' audit event per store to --audit, or to the audit.jsonl next to PATH's \
                folder when there is one. Never prints secrets: key ids and fingerprints only.
                """
        )

        @Argument(help: "A folder of <device>.flash key stores (or one store, with --one-end).") var path: String
        @Option(help: "Rotate only the pairs this device is an end of: a device id (0x03, 3) or a store name (module-03).")
        var device: String?
        @Flag(help: "Allow rotating pairs whose other end is not under PATH (rotate the peers separately).")
        var oneEnd = false
        @OptionGroup var output: KeyChangeOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            _ = global.logger("modbatt.keys")
            try await KeyStoreCLI.change(path, event: "keys_rotated", verb: "rotated", output: output) { set in
                try set.rotate(device: device.map { try KeyStoreCLI.deviceId($0, in: set) }, bothEnds: !oneEnd)
            }
        }
    }

    struct Revoke: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "revoke",
            abstract: "Revoke a device in key stores at rest: its peers delete every pair they share with it.",
            discussion: """
                In every store under PATH other than the device's own, the entries of the pairs the device is an \
                end of are deleted, with one power-cut-safe two-slot write per store. The secret is gone from \
                those stores; a peer that no longer holds the pair has no session for the device and refuses its \
                frames, and 'modbatt keys check' reports the pair refused. The device's own store is left as it \
                is (a revoked device is assumed out of your hands; erase it with a service tool to reuse the \
                board). Bringing the device back takes a new key package (re-provisioning).

                Writes a 'pair_revoked' audit event per store to --audit, or to the audit.jsonl next to PATH's \
                folder when there is one.
                """
        )

        @Argument(help: "A <device>.flash key store, or a folder of them.") var path: String
        @Option(help: "The device to revoke: a device id (0x03, 3) or a store name (module-03).") var device: String
        @OptionGroup var output: KeyChangeOptions
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            _ = global.logger("modbatt.keys")
            try await KeyStoreCLI.change(path, event: "pair_revoked", verb: "revoked", output: output) { set in
                try set.revoke(device: KeyStoreCLI.deviceId(device, in: set))
            }
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Handshake every pair found in key stores between its two ends (in memory) and report the result.",
            discussion: """
                For each pair any store under PATH names, the two ends' sessions are started from their stored \
                pair secrets (the C session, exactly as the devices do), run the handshake and pass one message \
                each way. A pair is 'established', 'refused' (with the reason: another key id, a revoked end, ...) \
                or 'unchecked' when one end's store is not under PATH. Nothing is written.

                Exit status 1 when any pair is refused.
                """
        )

        @Argument(help: "A folder of <device>.flash key stores.") var path: String
        @Flag(help: "Print one JSON document (an array of pairs).") var json = false
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            _ = global.logger("modbatt.keys")
            let checks = try KeyStoreCLI.open(path, writable: false).checkPairs()
            if json {
                try JSONOutput.print(checks)
            } else {
                for c in checks { print(Self.describe(c)) }
            }
            if checks.contains(where: { $0.result == "refused" }) { throw ExitCode(1) }
        }

        static func describe(_ c: KeyStoreSet.PairCheck) -> String {
            let ends = "\(c.controller ?? "?") > \(c.device ?? "?")"
            let ids = "key ids \(c.controllerKeyId ?? "-") / \(c.deviceKeyId ?? "-")"
            switch c.result {
            case "established": return "pair \(c.pair) \(ends): \(Terminal.ok("established")) (\(ids))"
            case "refused": return "pair \(c.pair) \(ends): \(Terminal.bad("refused")): \(c.reason ?? "") (\(ids))"
            default: return "pair \(c.pair) \(ends): unchecked: \(c.reason ?? "")"
            }
        }
    }
}

/// Options of the subcommands that write key stores.
struct KeyChangeOptions: ParsableArguments {
    @Option(help: "Audit log to append to (default: audit.jsonl next to the key-store folder, if present).")
    var audit: String?
    @Flag(help: "Print one JSON document.") var json = false
}

/// What the key-store subcommands share: opening, device names, errors, audit, output.
enum KeyStoreCLI {
    static func open(_ path: String, writable: Bool) throws -> KeyStoreSet {
        try run { try KeyStoreSet.open(URL(fileURLWithPath: path), writable: writable) }
    }

    /// Library errors as one CLI line.
    static func run<T>(_ body: () throws -> T) throws -> T {
        do {
            return try body()
        } catch let error as CLIError {
            throw error
        } catch {
            throw ErrorText.cliError(error)
        }
    }

    /// Open the stores for writing, apply `body`, audit and report the changes.
    static func change(_ path: String, event: String, verb: String, output: KeyChangeOptions,
                       _ body: (KeyStoreSet) throws -> [KeyStoreSet.Change]) async throws {
        let set = try open(path, writable: true)
        let changes = try run { try body(set) }
        let log = try await audit(changes, event: event, path: path, explicit: output.audit)
        try report(changes, verb: verb, auditLog: log, json: output.json, path: path)
    }

    /// `0x12`, `18` or a store name in `set`.
    static func deviceId(_ text: String, in set: KeyStoreSet) throws -> UInt8 {
        let t = text.lowercased()
        if t.hasPrefix("0x"), let v = UInt8(t.dropFirst(2), radix: 16) { return v }
        if let v = UInt8(t) { return v }
        if let id = set.deviceId(named: text) { return id }
        throw CLIError("unknown device '\(text)': give a device id (0x03, 3) or one of: "
                       + set.deviceNames.joined(separator: ", "))
    }

    /// Append one event per changed store to the audit log; its path, or nil when there is none.
    static func audit(_ changes: [KeyStoreSet.Change], event: String, path: String, explicit: String?) async throws -> String? {
        guard let url = auditURL(path: path, explicit: explicit) else { return nil }
        do {
            let log = try AuditLog(url: url)
            for c in changes {
                _ = try await log.record(event, [
                    "device": .string(c.device), "generation": .int(Int64(c.generation)),
                    "pairs": .string(c.pairs.map { "\($0.pair) \($0.oldKeyId)->\($0.newKeyId ?? "revoked")" }
                        .joined(separator: ", ")),
                    "tool": "modbatt keys"])
            }
            try await log.sync()
        } catch {
            throw CLIError("the key stores were written, but the audit log \(url.path) could not be: \(error)")
        }
        return url.path
    }

    private static func auditURL(path: String, explicit: String?) -> URL? {
        if let explicit { return URL(fileURLWithPath: explicit) }
        var isDir: ObjCBool = false
        _ = FileManager.default.fileExists(atPath: path, isDirectory: &isDir)
        let folder = URL(fileURLWithPath: path)
        let candidate = (isDir.boolValue ? folder : folder.deletingLastPathComponent())
            .deletingLastPathComponent().appendingPathComponent("audit.jsonl")
        return FileManager.default.fileExists(atPath: candidate.path) ? candidate : nil
    }

    struct Report: Encodable {
        var changes: [KeyStoreSet.Change]
        var auditLog: String?
    }

    static func report(_ changes: [KeyStoreSet.Change], verb: String, auditLog: String?, json: Bool, path: String) throws {
        if json {
            try JSONOutput.print(Report(changes: changes, auditLog: auditLog))
            return
        }
        let pairs = Set(changes.flatMap { $0.pairs.map(\.pair) })
        print("\(verb) \(pairs.count) pair\(pairs.count == 1 ? "" : "s") in \(changes.count) key store\(changes.count == 1 ? "" : "s"):")
        for c in changes {
            for p in c.pairs {
                let after = p.newKeyId.map { "key id \($0), secret fingerprint \(p.newFingerprint ?? "-")" } ?? "entry deleted"
                print("  \(Terminal.bold(c.device))  pair \(p.pair): key id \(p.oldKeyId) -> \(after) (generation \(c.generation))")
            }
        }
        print("audit log: " + (auditLog ?? "none (no audit.jsonl next to the stores; --audit FILE to write one)"))
        print("check: modbatt keys check \(path)")
    }
}
