import ArgumentParser
import Foundation
import Logging

#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// Options every command that does real work takes: `--log-level`, `--verbose`.
struct GlobalOptions: ParsableArguments {
    @Option(help: "Log level on standard error: trace, debug, info, notice, warning, error, critical.")
    var logLevel: String = "warning"

    @Flag(name: .shortAndLong, help: "On failure, print the error's detail after the one-line message.")
    var verbose = false

    func validate() throws {
        guard Logger.Level(rawValue: logLevel) != nil else {
            throw ValidationError("unknown --log-level '\(logLevel)' (trace, debug, info, notice, warning, error, critical)")
        }
    }

    /// Set up swift-log (once per process) and return a logger at the chosen level.
    func logger(_ label: String) -> Logger {
        CLILogging.bootstrapOnce()
        var logger = Logger(label: label)
        logger.logLevel = Logger.Level(rawValue: logLevel) ?? .warning
        return logger
    }
}

enum CLILogging {
    private static let once: Void = {
        LoggingSystem.bootstrap { label in StreamLogHandler.standardError(label: label) }
    }()

    static func bootstrapOnce() { _ = once }
}

/// A failure the CLI reports as one line (`error: ...`), with optional
/// detail shown only under `--verbose`, and an exit status.
struct CLIError: Error, CustomStringConvertible {
    var message: String
    var detail: String?
    var exitCode: Int32 = 1

    init(_ message: String, detail: String? = nil, exitCode: Int32 = 1) {
        self.message = message
        self.detail = detail
        self.exitCode = exitCode
    }

    var description: String { message }
}

enum Terminal {
    static var stdoutIsTTY: Bool { isatty(STDOUT_FILENO) != 0 }
    static var stderrIsTTY: Bool { isatty(STDERR_FILENO) != 0 }

    /// Write a line to standard output at once (unbuffered), e.g. "listening on ..."
    /// that a script or test waits for while the command keeps running.
    static func printNow(_ text: String, terminator: String = "\n") {
        FileHandle.standardOutput.write(Data((text + terminator).utf8))
    }

    static func writeError(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }

    /// Green / red / bold on a TTY, plain text when piped.
    static func style(_ text: String, _ code: String) -> String {
        stdoutIsTTY ? "\u{1B}[\(code)m\(text)\u{1B}[0m" : text
    }
    static func ok(_ text: String) -> String { style(text, "32") }
    static func bad(_ text: String) -> String { style(text, "31") }
    static func bold(_ text: String) -> String { style(text, "1") }
}

/// Progress for long steps: a line rewritten in place on a TTY (standard
/// error), one line per step when piped; silent with `--json`.
final class Progress: @unchecked Sendable {
    private let enabled: Bool
    private let tty = Terminal.stderrIsTTY
    private let lock = NSLock()
    private var open = false

    init(enabled: Bool) { self.enabled = enabled }

    func update(_ text: String) {
        guard enabled, tty else { return }
        lock.withLock {
            Terminal.writeError("\r\u{1B}[2K\(text)")
            open = true
        }
    }

    func step(_ text: String) {
        guard enabled else { return }
        lock.withLock {
            if tty {
                Terminal.writeError("\r\u{1B}[2K\(text)\n")
            } else {
                Terminal.writeError("\(text)\n")
            }
            open = false
        }
    }

    func finish() {
        guard enabled, tty else { return }
        lock.withLock {
            if open { Terminal.writeError("\r\u{1B}[2K") }
            open = false
        }
    }
}

/// Turns any error into a `CLIError` with a readable one-line message.
enum ErrorText {
    static func cliError(_ error: any Error, context: String? = nil) -> CLIError {
        if let e = error as? CLIError { return e }
        let text = oneLine(String(describing: error))
        let message = context.map { "\($0): \(text)" } ?? text
        return CLIError(message, detail: String(reflecting: error))
    }

    static func oneLine(_ s: String) -> String {
        s.split(whereSeparator: \.isNewline).map { $0.trimmingCharacters(in: .whitespaces) }.joined(separator: "; ")
    }
}

/// Ctrl-C (SIGINT) and SIGTERM cancel the work instead of killing the
/// process, so servers close and files are flushed; a second signal exits
/// at once with status 130.
enum Interrupts {
    static func cancellingOnSignal<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let task = Task { try await body() }
        let count = Counter()
        var sources: [any DispatchSourceSignal] = []
        for sig in [SIGINT, SIGTERM] {
            signal(sig, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            source.setEventHandler {
                if count.increment() > 1 {
                    Terminal.writeError("\ninterrupted again: exiting now\n")
                    exit(130)
                }
                task.cancel()
            }
            source.resume()
            sources.append(source)
        }
        defer {
            for s in sources { s.cancel() }
        }
        return try await withTaskCancellationHandler {
            try await task.value
        } onCancel: {
            task.cancel()
        }
    }

    /// Sleep until cancelled (Ctrl-C), or for `limit` when given.
    static func waitForCancellation(limit: Duration? = nil) async {
        if let limit {
            try? await Task.sleep(for: limit)
        } else {
            while !Task.isCancelled {
                try? await Task.sleep(for: .seconds(3600))
            }
        }
    }

    private final class Counter: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func increment() -> Int { lock.withLock { value += 1; return value } }
    }
}

/// Parses `HOST:PORT` (IPv6 as `[::1]:PORT`).
enum HostPort {
    static func parse(_ text: String, option: String) throws -> (host: String, port: Int) {
        var host: Substring
        var portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]"), text[text.index(after: close)...].hasPrefix(":") else {
                throw ValidationError("\(option) must be HOST:PORT, got '\(text)'")
            }
            host = text[text.index(after: text.startIndex)..<close]
            portText = text[text.index(close, offsetBy: 2)...]
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw ValidationError("\(option) must be HOST:PORT, got '\(text)'")
            }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, let port = Int(portText), (0...65535).contains(port) else {
            throw ValidationError("\(option) must be HOST:PORT with a port 0...65535, got '\(text)'")
        }
        return (String(host), port)
    }
}

/// JSON output: sorted keys, pretty-printed, one document.
enum JSONOutput {
    static func print<T: Encodable>(_ value: T) throws {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        // Property names are camelCase in Swift, snake_case in the document.
        // Dictionary keys pass through this too: keep them lower-case snake_case.
        encoder.keyEncodingStrategy = .convertToSnakeCase
        let data = try encoder.encode(value)
        FileHandle.standardOutput.write(data)
        FileHandle.standardOutput.write(Data("\n".utf8))
    }
}

/// Bit rates: `500000`, `500k`, `2M`.
enum BitRate {
    static func parse(_ text: String) -> Int? {
        let lower = text.lowercased()
        var multiplier = 1
        var digits = Substring(lower)
        if lower.hasSuffix("k") { multiplier = 1000; digits = digits.dropLast() }
        else if lower.hasSuffix("m") { multiplier = 1_000_000; digits = digits.dropLast() }
        if let v = Double(digits), v > 0 { return Int(v * Double(multiplier)) }
        return nil
    }

    static func format(_ bps: Int) -> String {
        if bps % 1_000_000 == 0 { return "\(bps / 1_000_000) Mbit/s" }
        if bps % 1000 == 0 { return "\(bps / 1000) kbit/s" }
        return "\(bps) bit/s"
    }
}

struct BitRateArgument: ExpressibleByArgument, Sendable {
    var value: Int
    init?(argument: String) {
        guard let v = BitRate.parse(argument), (10_000...15_000_000).contains(v) else { return nil }
        value = v
    }
    init(_ value: Int) { self.value = value }
    var defaultValueDescription: String { "\(value)" }
}
