import Foundation
import ModbattProvisioning

/// The JSON document (docs/CLI.md, "The JSON document"). Written out by hand
/// because the message totals are derived from `messages`, not stored:
/// `messages_sent` and `messages_delivered` keep their keys, and
/// `messages_by_direction` gives the directions they are the sums of.
extension RunSummary {
    private enum Keys: String, CodingKey {
        case command, modules, fd, bitrate, dataBitrate, simulatedSeconds, wallSeconds, seed
        case pairsEstablished, pairsFailed, messagesSent, messagesDelivered, messagesByDirection
        case duplicatesDelivered, forgedDelivered, frames, busLoad, rejected, cryptoNs, frameTimeNs, faults
        case attacks, auditLog, auditEvents, keyStores, candumpLog, ignoredFrames, resyncs, ok
    }

    func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: Keys.self)
        try c.encode(command, forKey: .command)
        try c.encode(modules, forKey: .modules)
        try c.encode(fd, forKey: .fd)
        try c.encode(bitrate, forKey: .bitrate)
        try c.encode(dataBitrate, forKey: .dataBitrate)
        try c.encode(simulatedSeconds, forKey: .simulatedSeconds)
        try c.encode(wallSeconds, forKey: .wallSeconds)
        try c.encode(seed, forKey: .seed)
        try c.encode(pairsEstablished, forKey: .pairsEstablished)
        try c.encode(pairsFailed, forKey: .pairsFailed)
        try c.encode(messagesSent, forKey: .messagesSent)
        try c.encode(messagesDelivered, forKey: .messagesDelivered)
        try c.encode(messages, forKey: .messagesByDirection)
        try c.encode(duplicatesDelivered, forKey: .duplicatesDelivered)
        try c.encode(forgedDelivered, forKey: .forgedDelivered)
        try c.encode(frames, forKey: .frames)
        try c.encode(busLoad, forKey: .busLoad)
        try c.encode(rejected, forKey: .rejected)
        try c.encode(cryptoNs, forKey: .cryptoNs)
        try c.encode(frameTimeNs, forKey: .frameTimeNs)
        try c.encode(faults, forKey: .faults)
        try c.encode(attacks, forKey: .attacks)
        try c.encodeIfPresent(auditLog, forKey: .auditLog)
        try c.encode(auditEvents, forKey: .auditEvents)
        try c.encodeIfPresent(keyStores, forKey: .keyStores)
        try c.encodeIfPresent(candumpLog, forKey: .candumpLog)
        try c.encode(ignoredFrames, forKey: .ignoredFrames)
        try c.encode(resyncs, forKey: .resyncs)
        try c.encode(ok, forKey: .ok)
    }
}
