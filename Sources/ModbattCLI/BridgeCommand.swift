import ArgumentParser
import Foundation
import Logging
import ModbattBridge

/// `modbatt bridge`: the embedded API-Bridge and this host's bridge identity.
struct BridgeCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bridge",
        abstract: "Run an embedded API-Bridge, or show this host's bridge identity.",
        subcommands: [Serve.self, Check.self, HostID.self]
    )

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "serve",
            abstract: "Serve the API-Bridge REST subset (components, LCTs, pairing) backed by SQLite.",
            discussion: "Ctrl-C stops it cleanly. See docs/API_BRIDGE.md for the endpoints and curl examples."
        )

        @Option(help: "Address to listen on.") var host = "127.0.0.1"
        @Option(help: "Port to listen on (0 = any free port).") var port = 8080
        @Option(help: "SQLite database file (default: bridge.sqlite in the per-user data folder).") var db: String?
        @Flag(help: "Keep everything in memory; nothing survives a restart.") var memory = false
        @Option(help: "Token clients must send (default: $MODBATT_BRIDGE_TOKEN).") var token: String?
        @Option(help: "Header the token is accepted in: bearer (Authorization: Bearer), x-api-key (as the API-Bridge's security layer), or both.")
        var auth = "both"
        @Flag(help: "Accept calls without a token (loopback only; for local experiments).") var noAuth = false
        @Option(help: "Fault injection: added latency per API call, in milliseconds.") var latencyMs = 0
        @Option(help: "Fault injection: share of API calls (0...1) answered with 500.") var failRate = 0.0
        @Option(name: .customLong("burst-429"), help: "Fault injection: length of bursts of 429 answers (0 = none).")
        var burst429 = 0
        @Option(name: .customLong("burst-chance"), help: "Fault injection: chance (0...1) that a call starts a 429 burst.")
        var burstChance = 0.1
        @Option(help: "Retry-After seconds sent with 429 answers.") var retryAfter = 1
        @Option(help: "Fault injection: seed; the same seed and call order give the same faults.") var seed: UInt64 = 0
        @Option(help: "Requests per second over all clients before answering 429 (0 = unlimited).") var rateLimit = 0.0
        @Option(help: "Seconds a pairing challenge stays pending.") var challengeLifetime = 300
        @Option(help: "Log level: trace, debug, info, notice, warning, error.") var logLevel = "info"

        func validate() throws {
            if memory && db != nil { throw ValidationError("--memory and --db exclude each other") }
            guard (0...65535).contains(port) else { throw ValidationError("--port must be 0...65535") }
            guard (0...1).contains(failRate) else { throw ValidationError("--fail-rate must be between 0 and 1") }
            guard (0...1).contains(burstChance) else { throw ValidationError("--burst-chance must be between 0 and 1") }
            guard latencyMs >= 0, burst429 >= 0, retryAfter >= 0, rateLimit >= 0, challengeLifetime > 0 else {
                throw ValidationError("--latency-ms, --burst-429, --retry-after and --rate-limit must not be negative")
            }
            guard Logger.Level(rawValue: logLevel) != nil else { throw ValidationError("unknown --log-level \(logLevel)") }
            if noAuth && token != nil { throw ValidationError("--no-auth and --token exclude each other") }
            guard acceptedSchemes != nil else { throw ValidationError("--auth must be bearer, x-api-key or both") }
            if noAuth && !Self.isLoopback(host) {
                throw ValidationError("--no-auth is only allowed on a loopback --host")
            }
        }

        static func isLoopback(_ host: String) -> Bool {
            host == "localhost" || host == "::1" || host.hasPrefix("127.")
        }

        /// `--auth` as the set of accepted headers; nil for an unknown name.
        var acceptedSchemes: Set<BridgeAuthScheme>? {
            if auth.lowercased() == "both" { return Set(BridgeAuthScheme.allCases) }
            return BridgeAuthScheme(name: auth).map { [$0] }
        }

        func run() async throws {
            var logger = Logger(label: "modbatt.bridge") { StreamLogHandler.standardError(label: $0) }
            logger.logLevel = Logger.Level(rawValue: logLevel) ?? .info
            let envToken = ProcessInfo.processInfo.environment["MODBATT_BRIDGE_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
            let auth: BridgeServerConfiguration.Auth
            if noAuth {
                auth = .disabled
            } else if let t = token ?? envToken {
                auth = .token(t)
            } else {
                Self.fail("no token: pass --token or set MODBATT_BRIDGE_TOKEN (or --no-auth for a local experiment)")
            }
            let storage: BridgeServerConfiguration.Storage
            if memory {
                storage = .memory
            } else {
                do { storage = .file(try db ?? DataDirectory.file("bridge.sqlite")) } catch {
                    Self.fail("cannot create the data folder \(DataDirectory.path()): \(error)")
                }
            }
            let faults = FaultConfiguration(latencyMilliseconds: latencyMs, failRate: failRate, burst429Length: burst429,
                                            burst429Chance: burstChance, retryAfterSeconds: retryAfter, seed: seed)
            let config = BridgeServerConfiguration(
                host: host, port: port, storage: storage, auth: auth,
                authSchemes: acceptedSchemes ?? Set(BridgeAuthScheme.allCases), faults: faults,
                rateLimitPerSecond: rateLimit > 0 ? rateLimit : nil, challengeLifetimeSeconds: challengeLifetime,
                logger: logger)
            let where_ = switch storage {
            case .memory: "in memory"
            case .file(let p): p
            case .defaultFile: "the per-user data folder"
            }
            let host = self.host
            let headerText = BridgeAuthScheme.allCases.filter { acceptedSchemes?.contains($0) ?? true }
                .map { $0 == .bearer ? "Authorization: Bearer" : "X-API-Key" }.joined(separator: " or ")
            let authText = noAuth ? "DISABLED (--no-auth)" : "token in \(headerText)"
            let faultText = faults.isActive
                ? "; faults: latency \(latencyMs) ms, 500 rate \(failRate), 429 bursts of \(burst429), seed \(seed)" : ""
            do {
                try await EmbeddedBridge.serve(config) { boundPort in
                    let shown = host.contains(":") ? "[\(host)]" : host
                    let line = "modbatt bridge listening on http://\(shown):\(boundPort) (auth: \(authText); data: \(where_)\(faultText))\n"
                    FileHandle.standardOutput.write(Data(line.utf8))
                }
                print("modbatt bridge stopped")
            } catch {
                Self.fail("\(error)")
            }
        }

        static func fail(_ message: String) -> Never {
            FileHandle.standardError.write(Data("error: \(message)\n".utf8))
            Foundation.exit(1)
        }
    }

    struct Check: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "check",
            abstract: "Call an API-Bridge's /health with the client configuration (file, environment, flags).",
            discussion: """
                Settings come from --config (or $MODBATT_BRIDGE_CONFIG), then MODBATT_BRIDGE_URL, \
                MODBATT_BRIDGE_TOKEN, MODBATT_BRIDGE_AUTH, MODBATT_BRIDGE_CA_FILE, MODBATT_BRIDGE_TIMEOUT, then these flags.
                """
        )

        @Option(help: "JSON client configuration file.") var config: String?
        @Option(help: "Bridge base URL, e.g. https://bridge.example:8443.") var url: String?
        @Option(help: "Bridge token.") var token: String?
        @Option(help: "Header the token travels in: bearer or x-api-key (default: $MODBATT_BRIDGE_AUTH, else bearer).")
        var auth: String?
        @Option(help: "PEM file of a CA to trust in addition to the system's.") var caFile: String?
        @Option(help: "Bound on the whole call, retries included, in seconds.") var timeout: Double?
        @Flag(help: "Allow plain http to a host other than loopback.") var allowInsecureHttp = false

        func run() async throws {
            do {
                let configuration = try BridgeClientConfiguration.resolve(
                    file: config,
                    overrides: .init(baseURL: url, token: token,
                                     authScheme: try auth.map { try BridgeClientConfiguration.authScheme($0, from: "--auth") },
                                     caCertificateFile: caFile, totalTimeoutSeconds: timeout,
                                     allowInsecureHTTP: allowInsecureHttp ? true : nil))
                var logger = Logger(label: "modbatt.bridge.client") { StreamLogHandler.standardError(label: $0) }
                logger.logLevel = .warning
                let client = try BridgeClient(configuration: configuration, logger: logger)
                let result: Result<String, any Error>
                do { result = .success(try await Self.probe(client)) } catch { result = .failure(error) }
                await client.shutdown()
                print("\(configuration.baseURL): \(try result.get())")
            } catch {
                Serve.fail("\(error)")
            }
        }

        /// `/health`, then an authenticated lookup of an id that does not
        /// exist: 404 means the token was accepted, 401 that it was not.
        static func probe(_ client: BridgeClient) async throws -> String {
            let health = try await client.health()
            var line = "health \(health.status)\(health.version.map { " (\($0))" } ?? "")"
            do {
                _ = try await client.component(id: "comp_modbatt_check")
                line += ", token accepted"
            } catch let error as BridgeError where error.status == 404 {
                line += ", token accepted"
            }
            return line
        }
    }

    struct HostID: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "host-id",
            abstract: "Print this host's Host ID (created once, then stable; see docs/API_BRIDGE.md)."
        )

        @Option(help: "Provisioning registry file (default: registry.sqlite in the per-user data folder).")
        var registry: String?

        func run() async throws {
            do {
                let reg = try registry.map { try ProvisioningRegistry(path: $0) } ?? ProvisioningRegistry.openDefault()
                let identity = try reg.hostIdentity()
                print(identity.hostId)
                if identity.machineMatches == false {
                    FileHandle.standardError.write(Data("warning: the registry was created on another machine\n".utf8))
                }
            } catch {
                Serve.fail("\(error)")
            }
        }
    }
}
