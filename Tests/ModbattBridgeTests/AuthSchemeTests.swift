import Foundation
import Testing
@testable import ModbattBridge

/// The token travels as `Authorization: Bearer` or as `X-API-Key` (the
/// API-Bridge's security layer); client and embedded server speak both.
@Suite("Bridge authentication schemes")
struct AuthSchemeTests {
    @Test("a bridge that takes only X-API-Key: an x-api-key client registers, a bearer client gets 401")
    func apiKeyOnlyBridge() async throws {
        let bridge = try await startBridge(authSchemes: [.apiKey])
        let apiKey = try makeClient(bridge, authScheme: .apiKey)
        let bearer = try makeClient(bridge, authScheme: .bearer)
        let component = try await apiKey.registerComponent(.init(creator: "demo-user", componentData: "SN-KEY"))
        #expect(component.componentId.hasPrefix("comp_"))
        let refused = await expectBridgeError { _ = try await bearer.component(id: component.componentId) }
        #expect(refused?.status == 401 && refused?.code == "UNAUTHORIZED" && refused?.attempts == 1)
        #expect(refused?.description.contains(testToken) == false)
        await apiKey.shutdown()
        await bearer.shutdown()
        await bridge.stop()
    }

    @Test("a bridge that takes only Bearer refuses X-API-Key")
    func bearerOnlyBridge() async throws {
        let bridge = try await startBridge(authSchemes: [.bearer])
        let answer = try await raw(bridge, .GET, "/api/v1/components/comp_x", authScheme: .apiKey)
        #expect(answer.status == 401 && answer.code == "UNAUTHORIZED")
        #expect(try await raw(bridge, .GET, "/api/v1/components/comp_x", authScheme: .bearer).status == 404)
        await bridge.stop()
    }

    @Test("the default bridge takes either header; a wrong or empty X-API-Key is 401", arguments: BridgeAuthScheme.allCases)
    func defaultBridgeTakesBoth(_ scheme: BridgeAuthScheme) async throws {
        try await withBridge { bridge, _ in
            #expect(try await raw(bridge, .GET, "/api/v1/components/comp_x", authScheme: scheme).status == 404)
            let wrong = try await raw(bridge, .GET, "/api/v1/components/comp_x", token: "wrong", authScheme: scheme)
            #expect(wrong.status == 401)
            let empty = try await raw(bridge, .GET, "/api/v1/components/comp_x", token: "", authScheme: scheme)
            #expect(empty.status == 401)
        }
    }

    @Test("the scheme comes from the file's \"auth\", then MODBATT_BRIDGE_AUTH, then the override")
    func configured() throws {
        let file = temporaryPath("bridge.json")
        try #"{"token": "t", "auth": "X-API-Key"}"#.write(toFile: file, atomically: true, encoding: .utf8)
        var c = try BridgeClientConfiguration.resolve(file: file, environment: [:])
        #expect(c.authScheme == .apiKey)
        #expect(c.description.contains("token: set, as x-api-key") && !c.description.contains("\"t\""))
        c = try BridgeClientConfiguration.resolve(file: file, environment: ["MODBATT_BRIDGE_AUTH": "bearer"])
        #expect(c.authScheme == .bearer)
        c = try BridgeClientConfiguration.resolve(file: file, environment: ["MODBATT_BRIDGE_AUTH": "bearer"],
                                                  overrides: .init(authScheme: .apiKey))
        #expect(c.authScheme == .apiKey)
        #expect(try BridgeClientConfiguration.resolve(environment: [:]).authScheme == .bearer)
    }

    @Test("an unknown scheme name is one clear error naming where it came from")
    func unknownScheme() throws {
        let e = #expect(throws: BridgeError.self) {
            _ = try BridgeClientConfiguration.resolve(environment: ["MODBATT_BRIDGE_AUTH": "basic"])
        }
        #expect(e?.kind == .configuration)
        #expect(e?.message == "MODBATT_BRIDGE_AUTH must be \"bearer\" or \"x-api-key\", not 'basic'")
        let file = temporaryPath("bridge.json")
        try #"{"auth": "cookie"}"#.write(toFile: file, atomically: true, encoding: .utf8)
        let f = #expect(throws: BridgeError.self) { _ = try BridgeClientConfiguration.resolve(file: file, environment: [:]) }
        #expect(f?.message.contains("the configuration file's \"auth\" must be") == true)
    }

    @Test("headers: Bearer in Authorization, the bare key in X-API-Key")
    func headers() {
        #expect(BridgeAuthScheme.bearer.header(token: "abc") == ("Authorization", "Bearer abc"))
        #expect(BridgeAuthScheme.apiKey.header(token: "abc") == ("X-API-Key", "abc"))
        #expect(BridgeAuthScheme(name: "X-API-KEY") == .apiKey && BridgeAuthScheme(name: "Bearer") == .bearer)
        #expect(BridgeAuthScheme(name: "basic") == nil)
    }
}
