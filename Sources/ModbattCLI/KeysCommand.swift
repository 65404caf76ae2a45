import ArgumentParser
import Foundation
import ModbattProvisioning

/// `modbatt keys`: device key stores.
struct KeysCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Device key stores: inspect, rotate, revoke, check (ids, generations, fingerprints; never secrets).",
        subcommands: [Show.self, Rotate.self, Revoke.self, Check.self]
    )

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "show",
            abstract: "Boot key stores read-only and print what they hold: device, status, generation, package version, pairs.",
            discussion: """
                PATH is a key-store file (<device>.flash, with its <device>.hwkey next to it) or a folder of them, \
                such as the 'keystores' folder 'modbatt demo' prints. Each store is booted through the C core \
                exactly as the device would (without raising its monotonic counter). Only public facts are shown: \
                key ids (4 bytes, the same on both ends of a pair), fingerprints of the stored pair secrets, the \
                binding key id and the pinned app key id. Key bytes are never read out.

                Exit status 1 when a store does not boot (the reason is shown) or PATH holds no key store.
                """
        )

        @Argument(help: "A <device>.flash key store, or a folder of them.") var path: String
        @Flag(help: "Print one JSON document (an array of stores).") var json = false
        @OptionGroup var global: GlobalOptions

        func run() async throws {
            _ = global.logger("modbatt.keys")
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDir) else {
                throw CLIError("no such file or folder: \(path)")
            }
            let url = URL(fileURLWithPath: path)
            let files: [URL]
            do {
                files = isDir.boolValue ? try DeviceKeyStore.list(in: url) : [url]
            } catch {
                throw ErrorText.cliError(error, context: "cannot list \(path)")
            }
            guard !files.isEmpty else { throw CLIError("no key store (*.flash) in \(path)") }
            var stores: [DeviceKeyStore.Inspection] = []
            for f in files {
                do {
                    stores.append(try DeviceKeyStore.inspect(path: f))
                } catch {
                    throw ErrorText.cliError(error, context: f.lastPathComponent)
                }
            }
            if json {
                try JSONOutput.print(stores)
            } else {
                for s in stores { print(Self.describe(s)) }
            }
            if stores.contains(where: { $0.status != "ok" }) { throw ExitCode(1) }
        }

        static func describe(_ s: DeviceKeyStore.Inspection) -> String {
            var lines: [String] = []
            let status = s.status == "ok" ? Terminal.ok("ok") : Terminal.bad(s.status)
            lines.append(Terminal.bold(s.device) + "  \(s.role), device id " + String(format: "0x%02x", s.deviceId)
                         + ", status \(status), slot \(s.selectedSlot) (slots: \(s.slots.joined(separator: " / ")))")
            lines.append("  generation \(s.generation), counter \(s.counter), package v\(s.packageVersion)"
                         + (s.bootstrapped ? " (factory bootstrap)" : "")
                         + (s.parameters.map { ", profile \($0.profile == .fd ? "fd" : "classic"), rekey after \($0.rekeyAfterMessages) msgs / \($0.rekeyAfterMs) ms" } ?? ""))
            lines.append("  binding key id \(s.bindingKeyId ?? "-"), pinned app key id \(s.appKeyId ?? "-")")
            lines.append("  protection: \(s.protection)")
            for p in s.pairs {
                lines.append("  pair with device " + String(format: "0x%02x", p.peerId) + (p.controller ? " (this end controls)" : "")
                             + (p.ephemeral ? " (ephemeral key exchange)" : "")
                             + ": key id \(p.keyId), secret fingerprint \(p.fingerprint)")
            }
            if s.pairs.isEmpty { lines.append("  no pairs") }
            return lines.joined(separator: "\n")
        }
    }
}
