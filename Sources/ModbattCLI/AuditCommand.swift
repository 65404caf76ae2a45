import ArgumentParser
import Foundation
import ModbattProvisioning

/// `modbatt audit verify FILE`
struct AuditCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "audit",
        abstract: "Work with hash-chained audit logs.",
        subcommands: [Verify.self]
    )

    struct Verify: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Check an audit log's hash chain: detects edited, deleted, inserted and reordered lines.",
            discussion: "Exit status 0 when every line verifies, 1 when the chain is broken, 2 when the file cannot be read."
        )

        @Argument(help: "The audit log (JSON lines).")
        var file: String

        func run() throws {
            let result: AuditVerification
            do {
                result = try AuditLog.verify(url: URL(fileURLWithPath: file))
            } catch {
                FileHandle.standardError.write(Data("error: \(error)\n".utf8))
                throw ExitCode(2)
            }
            if result.isValid {
                print("OK: \(result.summary)")
            } else {
                print("BROKEN: \(result.summary)")
                throw ExitCode(1)
            }
        }
    }
}
