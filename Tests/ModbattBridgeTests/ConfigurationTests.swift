import Foundation
import Testing
@testable import ModbattBridge

@Suite("Client configuration")
struct ConfigurationTests {
    @Test("file, then environment, then flags")
    func precedence() throws {
        let file = temporaryPath("bridge.json")
        try #"{"base_url": "https://file.example", "token": "file-token", "total_timeout_s": 12, "max_attempts": 3}"#
            .write(toFile: file, atomically: true, encoding: .utf8)
        var c = try BridgeClientConfiguration.resolve(file: file, environment: [:])
        #expect(c.baseURL == "https://file.example" && c.token == "file-token")
        #expect(c.retry.totalTimeout == .seconds(12) && c.retry.maxAttempts == 3)

        let env = ["MODBATT_BRIDGE_URL": "https://env.example", "MODBATT_BRIDGE_TOKEN": "env-token",
                   "MODBATT_BRIDGE_TIMEOUT": "4", "MODBATT_BRIDGE_CONFIG": file]
        c = try BridgeClientConfiguration.resolve(environment: env)
        #expect(c.baseURL == "https://env.example" && c.token == "env-token" && c.retry.totalTimeout == .seconds(4))
        #expect(c.retry.maxAttempts == 3)

        c = try BridgeClientConfiguration.resolve(environment: env, overrides: .init(baseURL: "https://flag.example",
                                                                                     token: "flag-token"))
        #expect(c.baseURL == "https://flag.example" && c.token == "flag-token")
    }

    @Test("token_file is read and trimmed")
    func tokenFile() throws {
        let tokenFile = temporaryPath("token")
        try "from-file\n".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let file = temporaryPath("bridge.json")
        try #"{"token_file": "\#(tokenFile)"}"#.write(toFile: file, atomically: true, encoding: .utf8)
        #expect(try BridgeClientConfiguration.resolve(file: file, environment: [:]).token == "from-file")
    }

    @Test("refuses unusable settings with one clear line",
          arguments: [
            ("ftp://x.example", nil as String?, "scheme must be https or http"),
            ("not a url", nil, "not an absolute http(s) URL"),
            ("http://bridge.example:8080", nil, "send the token in clear"),
            ("https://bridge.example", "/nonexistent/ca.pem", "cannot read the CA file"),
          ])
    func refuses(url: String, ca: String?, message: String) {
        #expect {
            _ = try BridgeClientConfiguration.resolve(environment: [:], overrides: .init(baseURL: url, caCertificateFile: ca))
        } throws: { error in
            guard let e = error as? BridgeError else { return false }
            return e.kind == .configuration && e.description.contains(message) && !e.description.contains("\n")
        }
    }

    @Test("plain http is fine to loopback, and to others only when allowed")
    func loopbackHTTP() throws {
        for url in ["http://127.0.0.1:8080", "http://localhost:8080", "http://[::1]:8080"] {
            _ = try BridgeClientConfiguration.resolve(environment: [:], overrides: .init(baseURL: url))
        }
        _ = try BridgeClientConfiguration.resolve(environment: [:], overrides: .init(baseURL: "http://lab:8080",
                                                                                   allowInsecureHTTP: true))
    }

    @Test("a custom CA file is loaded; a file without certificates is refused")
    func customCA() throws {
        let bad = temporaryPath("bad.pem")
        try "not a certificate".write(toFile: bad, atomically: true, encoding: .utf8)
        #expect(throws: BridgeError.self) {
            _ = try BridgeClient(configuration: .init(baseURL: "https://bridge.example", caCertificateFile: bad))
        }
    }

    @Test("malformed configuration file is a clear error")
    func badFile() {
        let file = temporaryPath("bridge.json")
        try? #"{"base_url": 5}"#.write(toFile: file, atomically: true, encoding: .utf8)
        #expect {
            _ = try BridgeClientConfiguration.resolve(file: file, environment: [:])
        } throws: { error in
            "\(error)".contains("base_url")
        }
    }

    @Test("endpoint templates hide ids")
    func templates() {
        #expect(BridgeClient.template("/api/v1/lct/lct_1/status") == "/api/v1/lct/{id}/status")
        #expect(BridgeClient.template("/api/v1/lct/create") == "/api/v1/lct/create")
        #expect(BridgeClient.template("/api/v1/components/register") == "/api/v1/components/register")
        #expect(BridgeClient.template("/api/v1/pairing/status/ch_1") == "/api/v1/pairing/status/{challenge_id}")
    }
}
