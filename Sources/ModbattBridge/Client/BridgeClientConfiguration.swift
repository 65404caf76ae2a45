import Foundation

/// Where and how `BridgeClient` reaches an API-Bridge.
///
/// Sources, later ones winning: defaults, a JSON file, the environment,
/// explicit overrides (command-line flags). See `resolve`.
public struct BridgeClientConfiguration: Sendable, Equatable, CustomStringConvertible {
    /// `https://bridge.example:8443`; plain `http` only to loopback unless `allowInsecureHTTP`.
    public var baseURL: String
    /// The bridge token; nil sends no credentials.
    public var token: String?
    /// The header the token travels in: `Authorization: Bearer` (Modbatt's
    /// embedded bridge) or `X-API-Key` (the API-Bridge's security layer).
    public var authScheme: BridgeAuthScheme
    /// A PEM file of CA certificates trusted in addition to the system's
    /// (a self-hosted bridge with its own CA). Certificates are always validated.
    public var caCertificateFile: String?
    public var connectTimeout: Duration
    /// Bound on one attempt (connect, send, answer).
    public var requestTimeout: Duration
    public var retry: RetryPolicy
    /// Permit `http://` to a host other than loopback (the token travels in clear).
    public var allowInsecureHTTP: Bool

    public init(baseURL: String = "http://127.0.0.1:8080", token: String? = nil, authScheme: BridgeAuthScheme = .bearer,
                caCertificateFile: String? = nil, connectTimeout: Duration = .seconds(5),
                requestTimeout: Duration = .seconds(10), retry: RetryPolicy = .default, allowInsecureHTTP: Bool = false) {
        self.baseURL = baseURL
        self.token = token
        self.authScheme = authScheme
        self.caCertificateFile = caCertificateFile
        self.connectTimeout = connectTimeout
        self.requestTimeout = requestTimeout
        self.retry = retry
        self.allowInsecureHTTP = allowInsecureHTTP
    }

    /// The token is shown as present or absent, never its value.
    public var description: String {
        "bridge \(baseURL) (token: \(token == nil ? "none" : "set, as \(authScheme)"), CA: \(caCertificateFile ?? "system"), "
            + "timeouts: connect \(connectTimeout), attempt \(requestTimeout), total \(retry.totalTimeout), "
            + "attempts \(retry.maxAttempts))"
    }

    /// Values from flags; nil leaves the lower layers' value.
    public struct Overrides: Sendable, Equatable {
        public var baseURL: String?
        public var token: String?
        public var authScheme: BridgeAuthScheme?
        public var caCertificateFile: String?
        public var totalTimeoutSeconds: Double?
        public var allowInsecureHTTP: Bool?

        public init(baseURL: String? = nil, token: String? = nil, authScheme: BridgeAuthScheme? = nil,
                    caCertificateFile: String? = nil, totalTimeoutSeconds: Double? = nil, allowInsecureHTTP: Bool? = nil) {
            self.baseURL = baseURL
            self.token = token
            self.authScheme = authScheme
            self.caCertificateFile = caCertificateFile
            self.totalTimeoutSeconds = totalTimeoutSeconds
            self.allowInsecureHTTP = allowInsecureHTTP
        }
    }

    /// The JSON configuration file (every field optional):
    /// `{"base_url", "token", "token_file", "auth", "ca_file", "connect_timeout_s",
    ///   "request_timeout_s", "total_timeout_s", "max_attempts", "allow_insecure_http"}`.
    struct File: Decodable {
        var baseURL: String?
        var token: String?
        var tokenFile: String?
        var auth: String?
        var caFile: String?
        var connectTimeoutS: Double?
        var requestTimeoutS: Double?
        var totalTimeoutS: Double?
        var maxAttempts: Int?
        var allowInsecureHTTP: Bool?

        enum CodingKeys: String, CodingKey {
            case baseURL = "base_url", token, tokenFile = "token_file", auth, caFile = "ca_file"
            case connectTimeoutS = "connect_timeout_s", requestTimeoutS = "request_timeout_s"
            case totalTimeoutS = "total_timeout_s", maxAttempts = "max_attempts"
            case allowInsecureHTTP = "allow_insecure_http"
        }
    }

    /// Environment variables read by `resolve`.
    public enum Environment {
        public static let config = "MODBATT_BRIDGE_CONFIG"
        public static let url = "MODBATT_BRIDGE_URL"
        public static let token = "MODBATT_BRIDGE_TOKEN"
        /// `bearer` or `x-api-key`.
        public static let auth = "MODBATT_BRIDGE_AUTH"
        public static let caFile = "MODBATT_BRIDGE_CA_FILE"
        public static let timeout = "MODBATT_BRIDGE_TIMEOUT"
    }

    /// Defaults, then the file (`file`, else `$MODBATT_BRIDGE_CONFIG`), then
    /// `MODBATT_BRIDGE_URL` / `_TOKEN` / `_AUTH` / `_CA_FILE` / `_TIMEOUT` (seconds),
    /// then `overrides`; validated before it is returned.
    public static func resolve(file: String? = nil,
                               environment: [String: String] = ProcessInfo.processInfo.environment,
                               overrides: Overrides = Overrides()) throws -> BridgeClientConfiguration {
        var config = BridgeClientConfiguration()
        if let path = file ?? environment[Environment.config].flatMap({ $0.isEmpty ? nil : $0 }) {
            guard let data = FileManager.default.contents(atPath: path) else {
                throw configError("cannot read the configuration file \(path)")
            }
            let f: File
            do { f = try BridgeJSON.decode(File.self, from: data) } catch {
                throw configError("configuration file \(path): \(BridgeJSON.describe(error))")
            }
            if let v = f.baseURL { config.baseURL = v }
            if let v = f.token { config.token = v }
            if let tokenFile = f.tokenFile {
                guard let data = FileManager.default.contents(atPath: tokenFile) else {
                    throw configError("cannot read the token file \(tokenFile)")
                }
                config.token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
            }
            if let v = f.auth { config.authScheme = try authScheme(v, from: "the configuration file's \"auth\"") }
            if let v = f.caFile { config.caCertificateFile = v }
            if let v = f.connectTimeoutS { config.connectTimeout = .milliseconds(Int64(v * 1000)) }
            if let v = f.requestTimeoutS { config.requestTimeout = .milliseconds(Int64(v * 1000)) }
            if let v = f.totalTimeoutS { config.retry.totalTimeout = .milliseconds(Int64(v * 1000)) }
            if let v = f.maxAttempts { config.retry.maxAttempts = max(1, v) }
            if let v = f.allowInsecureHTTP { config.allowInsecureHTTP = v }
        }
        if let v = environment[Environment.url], !v.isEmpty { config.baseURL = v }
        if let v = environment[Environment.token], !v.isEmpty { config.token = v }
        if let v = environment[Environment.auth], !v.isEmpty { config.authScheme = try authScheme(v, from: Environment.auth) }
        if let v = environment[Environment.caFile], !v.isEmpty { config.caCertificateFile = v }
        if let v = environment[Environment.timeout], !v.isEmpty {
            guard let seconds = Double(v), seconds > 0 else { throw configError("\(Environment.timeout) must be a positive number of seconds") }
            config.retry.totalTimeout = .milliseconds(Int64(seconds * 1000))
        }
        if let v = overrides.baseURL { config.baseURL = v }
        if let v = overrides.token { config.token = v }
        if let v = overrides.authScheme { config.authScheme = v }
        if let v = overrides.caCertificateFile { config.caCertificateFile = v }
        if let v = overrides.totalTimeoutSeconds { config.retry.totalTimeout = .milliseconds(Int64(v * 1000)) }
        if let v = overrides.allowInsecureHTTP { config.allowInsecureHTTP = v }
        _ = try config.validated()
        return config
    }

    /// Parsed base URL pieces; throws a `.configuration` error for anything unusable.
    func validated() throws -> (scheme: String, host: String, base: String) {
        let trimmed = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        guard let url = URL(string: trimmed), let scheme = url.scheme?.lowercased(), let host = url.host, !host.isEmpty
        else { throw Self.configError("base URL '\(baseURL)' is not an absolute http(s) URL") }
        guard scheme == "https" || scheme == "http" else {
            throw Self.configError("base URL scheme must be https or http, not \(scheme)")
        }
        if scheme == "http" && !allowInsecureHTTP && !Self.isLoopback(host) {
            throw Self.configError("plain http to \(host) would send the token in clear; use https or allow insecure http")
        }
        if let token, token.contains(where: { $0 == "\r" || $0 == "\n" }) {
            throw Self.configError("the bridge token contains a line break")
        }
        if let ca = caCertificateFile, !FileManager.default.isReadableFile(atPath: ca) {
            throw Self.configError("cannot read the CA file \(ca)")
        }
        if scheme == "http" && caCertificateFile != nil {
            throw Self.configError("a CA file was given but the base URL is plain http")
        }
        return (scheme, host, trimmed)
    }

    /// A configured scheme name, or an error naming where it came from.
    public static func authScheme(_ name: String, from source: String) throws -> BridgeAuthScheme {
        guard let scheme = BridgeAuthScheme(name: name) else {
            throw configError("\(source) must be \(BridgeAuthScheme.expectedNames), not '\(name)'")
        }
        return scheme
    }

    static func isLoopback(_ host: String) -> Bool {
        let h = host.lowercased().trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        return h == "localhost" || h == "::1" || h.hasPrefix("127.")
    }

    static func configError(_ message: String) -> BridgeError {
        BridgeError(kind: .configuration, endpoint: "", message: message)
    }
}
