import Foundation
import Hummingbird
import HummingbirdTLS
import Testing
@testable import ModbattBridge

/// HTTPS: certificates are validated; a self-hosted bridge's own CA can be trusted.
@Suite("HTTPS and custom CA")
struct TLSTests {
    static func httpsServer() async throws -> EmbeddedCanned {
        let tls = TLSConfiguration.makeServerConfiguration(
            certificateChain: try NIOSSLCertificate.fromPEMBytes(Array(TLSFixtures.serverCertificatePEM.utf8)).map { .certificate($0) },
            privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(TLSFixtures.serverKeyPEM.utf8), format: .pem)))
        return try await EmbeddedCanned.start(path: "/health", json: #"{"status": "ok"}"#, status: .ok, tls: tls)
    }

    @Test("trusting the bridge's CA file makes HTTPS work")
    func customCATrusted() async throws {
        let server = try await Self.httpsServer()
        let caFile = temporaryPath("ca.pem")
        try TLSFixtures.caPEM.write(toFile: caFile, atomically: true, encoding: .utf8)
        let client = try BridgeClient(configuration: .init(baseURL: server.baseURL, token: "t", caCertificateFile: caFile,
                                                           retry: fastRetry(attempts: 2)))
        #expect(try await client.health().status == "ok")
        await client.shutdown()
        await server.stop()
    }

    @Test("without the CA the certificate is refused, once, with a TLS error")
    func untrustedRefused() async throws {
        let server = try await Self.httpsServer()
        let client = try BridgeClient(configuration: .init(baseURL: server.baseURL, token: "t", retry: fastRetry(attempts: 5)))
        let e = await expectBridgeError { _ = try await client.health() }
        #expect(e?.kind == .transport)
        #expect(e?.message.contains("TLS failure") == true)
        #expect(e?.attempts == 1)
        await client.shutdown()
        await server.stop()
    }
}
