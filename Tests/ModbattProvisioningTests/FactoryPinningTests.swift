import Foundation
import Testing
@testable import ModbattProvisioning

/// Issue #15: no trust on first use in the field. The factory step installs
/// the app's public key; a device without one refuses every package unless
/// first-use pinning is explicitly allowed (the bench, the factory line).
@Suite("Factory pinning of the app key")
struct FactoryPinningTests {
    static func storage(_ dir: URL, _ name: String, appKey: [UInt8]? = nil,
                        firstUse: Bool = false) throws -> DeviceStorage {
        try DeviceStorage(directory: dir, name: name, serial: "SN-\(name)", deviceId: 0x10, role: 1,
                          factoryAppKey: appKey, allowFirstUsePinning: firstUse)
    }

    @Test("the factory key is pinned by the first boot; without it a device refuses packages unless first use is allowed")
    func pinningPolicy() throws {
        let dir = tempDataDirectory("pin")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let app = try BindingKeyPair.generate()

        let pinned = try Self.storage(dir, "pinned", appKey: app.publicKey)
        _ = pinned.boot()
        #expect(pinned.record?.appPub == app.publicKey)
        #expect(pinned.unpinnedRefusal(bootstrap: false) == nil)    // opens, against the pinned key

        let field = try Self.storage(dir, "field")
        _ = field.boot()
        #expect(field.record?.appPub == nil)
        let why = try #require(field.unpinnedRefusal(bootstrap: false))
        #expect(why.contains("no app key pinned"))
        #expect(field.unpinnedRefusal(bootstrap: true) == nil)       // the factory bootstrap line

        let bench = try Self.storage(dir, "bench", firstUse: true)
        _ = bench.boot()
        #expect(bench.unpinnedRefusal(bootstrap: false) == nil)
    }

    @Test("every simulated device boots with the app's key pinned before any package arrives")
    func simulatedFactoryStep() async throws {
        try await withSimulation(makeConfig(modules: 2, "factory")) { sim in
            let appKey = await sim.world.factoryAppKey
            #expect(appKey.count == 65)
            var pinned = [await sim.world.pack.storage.record?.appPub]
            for m in await sim.world.modules { pinned.append(await m.storage.record?.appPub) }
            #expect(pinned == [appKey, appKey, appKey])
            let report = try await sim.provision()
            #expect(report.allEstablished)                        // the app's packages verify against it
        }
    }
}
