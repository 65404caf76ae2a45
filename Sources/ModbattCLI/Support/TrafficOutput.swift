import ArgumentParser
import ModbattProvisioning

/// `--traffic` values: the catalogue to run.
enum TrafficMode: String, ExpressibleByArgument, Sendable {
    case reference
}

/// `modbatt simulate --traffic reference`: the bus model's report (docs/TRAFFIC.md).
enum TrafficRun {
    static func run(modules: Int, bitrate: Int, vehicleBitrate: Int?, seconds: Double, seed: UInt64,
                    groupBroadcast: Bool, json: Bool) throws {
        var c = TrafficSimulation.Configuration()
        c.modules = modules
        c.bitrate = bitrate
        c.vehicleBitrate = vehicleBitrate ?? bitrate
        c.seconds = seconds
        c.seed = seed
        c.groupBroadcast = groupBroadcast
        let report: ReferenceTrafficReport
        do {
            report = try ReferenceTrafficReport.run(c)
        } catch {
            throw ErrorText.cliError(error, context: "traffic model failed")
        }
        if json { try JSONOutput.print(report) } else { print(report.text(title: "modbatt simulate")) }
    }
}
