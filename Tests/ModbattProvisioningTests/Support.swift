import Foundation
import Testing
@testable import ModbattProvisioning

/// A fresh data directory under the temporary folder.
func tempDataDirectory(_ label: String = "sim") -> URL {
    FileManager.default.temporaryDirectory.appendingPathComponent("modbatt-prov-\(label)-\(UUID().uuidString)")
}

func makeConfig(modules: Int, _ label: String = "sim") -> SimulationConfiguration {
    SimulationConfiguration(dataDirectory: tempDataDirectory(label), moduleCount: modules)
}

/// Run `body` with a simulation, shutting it down afterwards.
func withSimulation<T>(_ config: SimulationConfiguration,
                       _ body: (PackSimulation) async throws -> T) async throws -> T {
    let sim = try await PackSimulation(config)
    do {
        let result = try await body(sim)
        await sim.shutdown()
        return result
    } catch {
        await sim.shutdown()
        throw error
    }
}

/// Audit-log lines (as text).
func auditLines(_ sim: PackSimulation) throws -> [String] {
    try String(contentsOf: sim.auditLogURL, encoding: .utf8).split(separator: "\n").map(String.init)
}
