import ArgumentParser
import Foundation

@main
struct ModbattCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "modbatt",
        abstract: "Secure CAN for modular battery packs: provisioning, pairing and encrypted traffic.",
        discussion: """
            Every error is one line on standard error (add --verbose for detail) and a non-zero exit status: \
            1 for a failure at run time, 64 for bad usage (unknown flag, bad value). Ctrl-C stops cleanly.
            """,
        subcommands: [DemoCommand.self, ProvisionCommand.self, SimulateCommand.self, BusCommand.self, PackCommand.self, DecodeCommand.self, KeysCommand.self, BridgeCommand.self, AuditCommand.self]
    )

    /// Parse, run, and report errors as one line instead of ArgumentParser's
    /// usage block (help and `--version` still print in full).
    static func main() async {
        let arguments = Array(CommandLine.arguments.dropFirst())
        do {
            var command = try parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let error as CLIError {
            Terminal.writeError("error: \(error.message)\n")
            if let detail = error.detail, arguments.contains("--verbose") || arguments.contains("-v") {
                Terminal.writeError("detail: \(detail)\n")
            }
            Foundation.exit(error.exitCode)
        } catch {
            let code = exitCode(for: error)
            if code == .success || error is ExitCode {
                exit(withError: error)   // help, version, or a status a command chose
            }
            var line = ErrorText.oneLine(message(for: error))
            if line.hasPrefix("Error: ") { line.removeFirst("Error: ".count) }
            Terminal.writeError("error: \(line) (see '\(helpPath(arguments)) --help')\n")
            Foundation.exit(code == .validationFailure ? 64 : code.rawValue)
        }
    }

    /// The subcommand words at the start of the arguments, for the hint.
    private static func helpPath(_ arguments: [String]) -> String {
        var words: [String] = []
        var type: any ParsableCommand.Type = ModbattCommand.self
        for arg in arguments {
            guard let next = type.configuration.subcommands.first(where: {
                $0._commandName == arg || $0.configuration.aliases.contains(arg)
            }) else { break }
            words.append(arg)
            type = next
        }
        return (["modbatt"] + words).joined(separator: " ")
    }
}
