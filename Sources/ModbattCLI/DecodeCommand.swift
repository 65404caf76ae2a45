import ArgumentParser
import Foundation
import Modbatt
import ModbattCAN

/// `modbatt decode FILE`: a candump log, frame by frame.
struct DecodeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "decode",
        abstract: "Decode a candump log: each frame's ModBatt id fields, and the messages they reassemble into.",
        discussion: """
            For every frame: the message id and its name (HELLO, STATUS, ...; c>d = controller to device), \
            the encryption flag (bit 17), the chunk index/total and the device id. Frames whose chunks \
            complete a message are followed by a '=>' line: the message's size, or why it did not reassemble \
            (a missing chunk, a chunk out of order). Frames that are not ModBatt frames (11-bit ids, ids \
            outside the protocol) are shown as such.

            Bus load and frame times are computed at --bitrate / --data-bitrate with worst-case bit stuffing.

            With --keys (a device key store, or a folder of them such as the one 'modbatt demo' prints), every \
            pair held there is followed as a passive observer would follow it: its handshakes (HELLO, REPLY and \
            FINISH, both MACs checked) give the session keys the devices derived, and each encrypted message is \
            verified and decrypted with the devices' own receive rules. A '=>' line then shows the plaintext \
            (hex) or why the message was refused: authentication_failed (tag or MAC mismatch), replay, \
            wrong_epoch, no_session (no verified handshake earlier in the log), other_pair_key, unknown_pair \
            (no key for that device). Secrets are never printed.

            A bad line stops the decode with its line number (exit status 1), unless --lenient.
            """
    )

    @Argument(help: "A candump -l log ('(SECS.USECS) IFACE ID#DATA' per line).")
    var file: String

    @Option(help: "Nominal bit rate the log was recorded at (for bus load and frame time).")
    var bitrate = BitRateArgument(500_000)
    @Option(help: "CAN FD data-phase bit rate.")
    var dataBitrate = BitRateArgument(2_000_000)
    @Flag(help: "Skip bad lines (reported on standard error) instead of stopping at the first.")
    var lenient = false
    @Flag(help: "Print only the summary, not every frame.")
    var summary = false
    @Flag(help: "Print one JSON document (summary and every frame) instead of text.")
    var json = false
    @Option(help: "A device key store (<device>.flash) or a folder of them: verify and decrypt the messages.")
    var keys: String?
    @OptionGroup var global: GlobalOptions

    func run() async throws {
        _ = global.logger("modbatt.decode")
        let verifier = try keys.map { try MessageVerifier(keyStores: $0) }
        let text: String
        do {
            text = try String(contentsOfFile: file, encoding: .utf8)
        } catch {
            let exists = FileManager.default.fileExists(atPath: file)
            throw CLIError(exists ? "cannot read \(file): not a readable UTF-8 text file" : "no such file: \(file)",
                           detail: String(describing: error))
        }
        var records: [CandumpRecord]
        if lenient {
            let (ok, bad) = Candump.parseLenient(text)
            for e in bad { Terminal.writeError("warning: \(file): \(e)\n") }
            records = ok
        } else {
            do {
                records = try Candump.parse(text)
            } catch {
                throw CLIError("\(file): \(error)")
            }
        }
        let decoder = LogDecoder(bitrate: bitrate.value, dataBitrate: dataBitrate.value)
        let result = decoder.decode(records, verifier: verifier)
        if json {
            try JSONOutput.print(result.report)
            return
        }
        if !summary {
            for line in result.lines { print(line) }
            print("")
        }
        print(result.summaryText(file: file))
    }
}

/// Decodes candump records into id fields and reassembled messages
/// (without keys: structure only).
struct LogDecoder {
    let bitrate: Int
    let dataBitrate: Int

    struct FrameEntry: Encodable {
        var line: Int
        var timestamp: String
        var interface: String
        var frame: String
        var modbatt: Bool
        var name: String?
        var messageId: String?
        var encrypted: Bool?
        var chunk: String?
        var deviceId: Int?
        var message: String?
    }

    struct Report: Encodable {
        var pairsEstablished: Int
        var pairsFailed: Int
        var messagesSent: Int
        var messagesDelivered: Int
        var frames: Int
        var busLoad: Double
        var rejected: [String: Int]
        var cryptoNs: Percentiles
        var frameTimeNs: Int
        var keys: Bool
        /// With --keys: the pairs, counts and refusals by reason; every message's result.
        var verification: MessageVerifier.Summary?
        var messages: [MessageVerifier.MessageEntry]?
        var nonModbattFrames: Int
        var messagesByName: [NameCount]
        var devices: [Int]
        var durationS: Double
        var frameList: [FrameEntry]
    }

    struct NameCount: Encodable {
        var name: String
        var count: Int
    }

    struct Result {
        var lines: [String]
        var report: Report
        var verificationLines: [String]?

        func summaryText(file: String) -> String {
            let r = report
            var out: [String] = []
            out.append("\(file): \(r.frames) frames over \(String(format: "%.3f", r.durationS)) s, bus load "
                       + String(format: "%.1f %%", r.busLoad * 100) + ", mean frame time "
                       + String(format: "%.1f µs", Double(r.frameTimeNs) / 1000))
            out.append("  complete messages: \(r.messagesSent)"
                       + (r.messagesByName.isEmpty ? "" : " (" + r.messagesByName
                            .map { "\($0.name) \($0.count)" }.joined(separator: ", ") + ")"))
            out.append("  handshakes completed (FINISH seen): \(r.pairsEstablished); devices: "
                       + (r.devices.isEmpty ? "none" : r.devices.map { String(format: "0x%02x", $0) }.joined(separator: " ")))
            if r.nonModbattFrames > 0 { out.append("  frames outside the ModBatt protocol: \(r.nonModbattFrames)") }
            let reassembly = r.rejected.filter { ["incomplete", "out_of_order"].contains($0.key) }
            if !reassembly.isEmpty {
                out.append("  did not reassemble: " + reassembly.sorted { $0.key < $1.key }
                    .map { "\($0.key) \($0.value)" }.joined(separator: ", "))
            }
            out.append(contentsOf: verificationLines
                ?? ["  not verified: no --keys given, so authenticity and contents are not checked"])
            return out.joined(separator: "\n")
        }
    }

    private struct Partial {
        var next: UInt8
        var total: UInt8
        var bytes: Int
        var frames: Int
    }

    func decode(_ records: [CandumpRecord], verifier: MessageVerifier? = nil) -> Result {
        var lines: [String] = []
        var entries: [FrameEntry] = []
        var partial: [UInt32: Partial] = [:]
        var complete = 0
        var byName: [String: Int] = [:]
        var rejected: [String: Int] = [:]
        var nonModbatt = 0
        var devices = Set<Int>()
        var handshakes = Set<UInt32>()
        var busy: Duration = .zero
        for (index, record) in records.enumerated() {
            let frame = record.frame
            busy += FrameTiming.bits(for: frame).duration(bitrate: bitrate, dataBitrate: dataBitrate)
            var entry = FrameEntry(line: index + 1, timestamp: CANTime.format(record.timestamp),
                                   interface: record.interface, frame: frame.description, modbatt: false)
            var text = "(\(entry.timestamp)) \(record.interface) \(frame)"
            guard let id = frame.modbattId, let name = MessageNames.name(messageId: id.messageId) else {
                nonModbatt += 1
                text += "  -- not a ModBatt frame (" + (frame.isExtended ? "id outside the protocol" : "11-bit id") + ")"
                lines.append(text)
                entries.append(entry)
                continue
            }
            entry.modbatt = true
            entry.name = name
            entry.messageId = String(format: "0x%03x", id.messageId)
            entry.encrypted = id.encrypted
            entry.chunk = "\(id.chunkIndex)/\(id.chunkTotal)"
            entry.deviceId = Int(id.deviceId)
            devices.insert(Int(id.deviceId))
            text += "  \(String(format: "0x%03x", id.messageId)) \(name.padding(toLength: 12, withPad: " ", startingAt: 0))"
                + " enc=\(id.encrypted ? 1 : 0) chunk=\(id.chunkIndex)/\(id.chunkTotal) dev=\(String(format: "0x%02x", id.deviceId))"
            lines.append(text)

            // Reassembly by message-level id (chunk fields cleared), as a receiver would (PROTOCOL.md 5.2).
            let key = frame.id & ~UInt32(0xFF00)
            var message: String?
            if id.chunkIndex == 1 {
                if let old = partial.removeValue(forKey: key) {
                    rejected["incomplete", default: 0] += 1
                    lines.append("    => \(name): earlier message under this id lost chunk \(old.next) of \(old.total)")
                }
                if id.chunkTotal == 1 {
                    complete += 1
                    byName[name, default: 0] += 1
                    message = "\(name) \(frame.count) bytes (1 frame)"
                } else {
                    partial[key] = Partial(next: 2, total: id.chunkTotal, bytes: frame.count, frames: 1)
                }
            } else if var p = partial[key], p.next == id.chunkIndex, p.total == id.chunkTotal {
                p.next += 1
                p.bytes += frame.count
                p.frames += 1
                if p.frames == Int(p.total) {
                    partial[key] = nil
                    complete += 1
                    byName[name, default: 0] += 1
                    message = "\(name) \(p.bytes) bytes (\(p.frames) frames)"
                } else {
                    partial[key] = p
                }
            } else {
                partial[key] = nil
                rejected["out_of_order", default: 0] += 1
                lines.append("    => \(name): chunk \(id.chunkIndex)/\(id.chunkTotal) without its earlier chunks")
            }
            if let message {
                lines.append("    => \(message)")
                entry.message = message
                if name.hasPrefix("FINISH") { handshakes.insert(UInt32(id.deviceId)) }
            }
            if let verifier, MessageNames.isSession(id.messageId),
               let note = verifier.observe(record, line: index + 1, name: name, deviceId: id.deviceId,
                                           completesMessage: message != nil) {
                lines.append("    => \(note)")
            }
            entries.append(entry)
        }
        rejected["incomplete", default: 0] += partial.count
        if rejected["incomplete"] == 0 { rejected["incomplete"] = nil }
        let span: Duration = records.count > 1 ? records.last!.timestamp - records.first!.timestamp : .zero
        let spanS = Double(span.components.seconds) + Double(span.components.attoseconds) * 1e-18
        let busyS = Double(busy.components.seconds) + Double(busy.components.attoseconds) * 1e-18
        let load = spanS > 0 ? min(1, busyS / spanS) : 0
        let meanNs = records.isEmpty ? 0 : Int(busyS * 1e9 / Double(records.count))
        let verification = verifier?.summary
        for (k, v) in verification?.failed ?? [:] { rejected[k, default: 0] += v }
        let report = Report(
            pairsEstablished: handshakes.count, pairsFailed: 0, messagesSent: complete,
            messagesDelivered: verification?.decrypted ?? 0,
            frames: records.count, busLoad: load, rejected: rejected, cryptoNs: Percentiles(p50: 0, p99: 0),
            frameTimeNs: meanNs, keys: verifier != nil, verification: verification, messages: verifier?.messages,
            nonModbattFrames: nonModbatt, messagesByName: byName.sorted { $0.key < $1.key }.map { NameCount(name: $0.key, count: $0.value) },
            devices: devices.sorted(), durationS: spanS, frameList: entries)
        return Result(lines: lines, report: report, verificationLines: verifier?.summaryLines())
    }
}

/// p50 / p99 in nanoseconds.
struct Percentiles: Codable, Sendable {
    var p50: Int
    var p99: Int

    static func of(_ samples: [Int]) -> Percentiles {
        guard !samples.isEmpty else { return Percentiles(p50: 0, p99: 0) }
        let s = samples.sorted()
        func at(_ q: Double) -> Int { s[min(s.count - 1, Int((Double(s.count - 1) * q).rounded()))] }
        return Percentiles(p50: at(0.5), p99: at(0.99))
    }
}
