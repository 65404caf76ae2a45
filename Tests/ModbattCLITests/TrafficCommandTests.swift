import Foundation
import Testing

/// `modbatt simulate --traffic reference` (docs/TRAFFIC.md).
@Suite("simulate --traffic", .serialized)
struct TrafficCommandTests {
    @Test("--json: per-bus clear and encrypted load, frames_per_message, latency, misses; defaults 32 modules at 250k")
    func json() throws {
        let r = try CLIRunner.run(["simulate", "--traffic", "reference", "--seconds", "2", "--json"], timeout: 60)
        #expect(r.status == 0, "\(r.stderr)")
        let doc = try #require(JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(doc["modules"] as? Int == 32)
        let buses = try #require(doc["buses"] as? [String: [String: Any]])
        let module = try #require(buses["module"]), vehicle = try #require(buses["vehicle"])
        #expect(module["bitrate"] as? Int == 250_000)
        let clear = try #require(module["bus_load_clear"] as? Double), enc = try #require(module["bus_load"] as? Double)
        #expect(clear > 0.04 && clear < 0.06 && enc > clear * 5)
        #expect((vehicle["bus_load_clear"] as? Double ?? 0) > 0)
        let fpm = try #require(doc["frames_per_message"] as? [String: Int])
        #expect(fpm["module_status_1"] == 5 && fpm["module_announce_request"] == 1)
        let messages = try #require(module["messages"] as? [[String: Any]])
        let status = try #require(messages.first { $0["name"] as? String == "MODULE_STATUS_1" })
        let latency = try #require(status["latency"] as? [String: Double])
        #expect((latency["p50_us"] ?? 0) >= 3040 && (latency["max_us"] ?? 0) >= (latency["p99_us"] ?? 0))
        #expect(doc["deadline_misses"] as? Int != nil)
    }

    @Test("--traffic with --fd or faults is a usage error")
    func usage() throws {
        let r = try CLIRunner.run(["simulate", "--traffic", "reference", "--fd"])
        #expect(r.status == 64)
        #expect(r.stderr.contains("classic CAN only"))
        let g = try CLIRunner.run(["simulate", "--group-broadcast"])
        #expect(g.status == 64)
    }
}
