import Foundation
import Testing

/// Runs the built `modbatt` binary (next to the test bundle in the build's
/// products folder, or `$MODBATT_BIN`) and collects its output.
struct CLIRunner {
    struct Result {
        var status: Int32
        var stdout: String
        var stderr: String
        var stderrLines: [Substring] { stderr.split(separator: "\n") }
    }

    static let binary: URL? = {
        let fm = FileManager.default
        var candidates: [URL] = []
        if let env = ProcessInfo.processInfo.environment["MODBATT_BIN"] { candidates.append(URL(fileURLWithPath: env)) }
        let bundle = Bundle.main.bundleURL
        candidates.append(bundle.appendingPathComponent("modbatt"))
        candidates.append(bundle.deletingLastPathComponent().appendingPathComponent("modbatt"))
        let argv0 = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
        candidates.append(argv0.deletingLastPathComponent().appendingPathComponent("modbatt"))
        for bundleItem in Bundle.allBundles {
            candidates.append(bundleItem.bundleURL.deletingLastPathComponent().appendingPathComponent("modbatt"))
        }
        return candidates.first { fm.isExecutableFile(atPath: $0.path) }
    }()

    static func tempDir() throws -> URL {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("modbatt-cli-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        return dir
    }

    /// Start the binary; the caller waits or signals.
    static func start(_ arguments: [String], environment: [String: String] = [:]) throws -> Running {
        guard let binary else { throw RunnerError("modbatt binary not found next to the tests; set MODBATT_BIN") }
        let dir = try tempDir()
        let out = dir.appendingPathComponent("stdout")
        let err = dir.appendingPathComponent("stderr")
        FileManager.default.createFile(atPath: out.path, contents: nil)
        FileManager.default.createFile(atPath: err.path, contents: nil)
        let process = Process()
        process.executableURL = binary
        process.arguments = arguments
        process.environment = childEnvironment(environment, dataDir: dir.appendingPathComponent("data"))
        process.standardOutput = try FileHandle(forWritingTo: out)
        process.standardError = try FileHandle(forWritingTo: err)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        return Running(process: process, out: out, err: err)
    }

    /// The child's environment: this process's without the `MODBATT_*`
    /// settings a developer may have exported (a test passes what it needs),
    /// and a data folder of its own, so no test reads or writes the real home
    /// and none depends on it being writable.
    static func childEnvironment(_ extra: [String: String], dataDir: URL) -> [String: String] {
        var env = ProcessInfo.processInfo.environment.filter { !$0.key.hasPrefix("MODBATT_") }
        env["MODBATT_DATA_DIR"] = dataDir.path
        for (k, v) in extra { env[k] = v }
        return env
    }

    /// Run to completion (killed after `timeout` seconds).
    static func run(_ arguments: [String], timeout: Double = 30, environment: [String: String] = [:]) throws -> Result {
        let running = try start(arguments, environment: environment)
        return try running.wait(timeout: timeout)
    }

    struct Running {
        let process: Process
        let out: URL
        let err: URL

        var stdoutSoFar: String { (try? String(contentsOf: out, encoding: .utf8)) ?? "" }

        func interrupt() { kill(process.processIdentifier, SIGINT) }

        /// Wait until stdout contains `text`.
        func waitForOutput(_ text: String, timeout: Double = 60) throws -> String {   // returns once it appears
            let deadline = Date().addingTimeInterval(timeout)
            while Date() < deadline {
                let s = stdoutSoFar
                if s.contains(text) { return s }
                if !process.isRunning { break }
                Thread.sleep(forTimeInterval: 0.02)
            }
            throw RunnerError("no '\(text)' in output: \(stdoutSoFar) \((try? String(contentsOf: err, encoding: .utf8)) ?? "")")
        }

        func wait(timeout: Double) throws -> Result {
            let deadline = Date().addingTimeInterval(timeout)
            while process.isRunning && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
            if process.isRunning {
                process.terminate()
                Thread.sleep(forTimeInterval: 0.2)
                if process.isRunning { kill(process.processIdentifier, SIGKILL) }
                process.waitUntilExit()
                throw RunnerError("modbatt \(process.arguments ?? []) did not finish within \(timeout) s")
            }
            process.waitUntilExit()
            return Result(status: process.terminationStatus,
                          stdout: (try? String(contentsOf: out, encoding: .utf8)) ?? "",
                          stderr: (try? String(contentsOf: err, encoding: .utf8)) ?? "")
        }
    }

    struct RunnerError: Error, CustomStringConvertible {
        var description: String
        init(_ d: String) { description = d }
    }
}

/// Checks the CLI's error contract: non-zero status, one `error:` line, no trace.
func expectOneLineError(_ r: CLIRunner.Result, status: Int32? = nil, contains: String,
                        sourceLocation: SourceLocation = #_sourceLocation) {
    #expect(r.status != 0, "exit status \(r.status)", sourceLocation: sourceLocation)
    if let status { #expect(r.status == status, "exit status \(r.status), stderr: \(r.stderr)", sourceLocation: sourceLocation) }
    let lines = r.stderrLines
    #expect(lines.count == 1, "stderr: \(r.stderr)", sourceLocation: sourceLocation)
    #expect(lines.first?.hasPrefix("error: ") == true, "stderr: \(r.stderr)", sourceLocation: sourceLocation)
    #expect(r.stderr.contains(contains), "stderr lacks '\(contains)': \(r.stderr)", sourceLocation: sourceLocation)
    #expect(!r.stderr.contains("Stack") && !r.stderr.contains("Fatal error"), sourceLocation: sourceLocation)
}
