import Foundation
import Modbatt
import ModbattCAN

/// # Discovery over CAN, the tool's side
///
/// Broadcast one discovery query on a transport and collect the answers for
/// a while (docs/PROTOCOL.md 17):
///
/// ```swift
/// let transport = try await TransportAddress("socketcand://127.0.0.1:29536/vcan0").open()
/// let report = try await PackDiscovery.discover(on: transport, wait: .seconds(1))
/// for d in report.devices { print(d.deviceId, d.serial, d.firmware) }
/// ```
///
/// What it returns is what devices *say*: the app pins a discovered binding
/// key only in the factory step (`modbatt pack init --discover`), never later.
public enum PackDiscovery {
    /// Send the query for `target` (default every device) and collect answers
    /// for `wait`, or until `expecting` devices answered. The transport stays open.
    public static func discover(on transport: any CANTransport, target: UInt8 = Discovery.everyDevice,
                                wait: Duration, expecting: Int? = nil) async throws -> DiscoveryReport {
        let doorbell = Doorbell()
        let port = TransportFramePort(transport, doorbell: doorbell)   // listening before the query goes out
        defer { port.stopReading() }
        try await port.send(Discovery.queryFrame(target: target))
        var collector = DiscoveryCollector()
        let deadline = ContinuousClock.now + wait
        while true {
            for f in await port.drain() { collector.take(f.frame) }
            if let expecting, collector.report.devices.count >= expecting { break }
            if let failure = port.failure { throw failure }
            let left = deadline - .now
            if left <= .zero || port.isEnded { break }
            await doorbell.wait(timeout: min(left, .milliseconds(50)))
        }
        return collector.report
    }
}
