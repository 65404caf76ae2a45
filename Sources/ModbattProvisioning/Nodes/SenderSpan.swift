import Foundation

/// How many messages a peer sent, as far as the receiver can tell. The app
/// of `modbatt provision` is one end of its pair: it never sees the pack's
/// own count. Every message the pack seals takes the next nonce counter of
/// its epoch, so the counters of the messages the app accepted bound what
/// the pack sent between the first and the last of them. Each accepted
/// message has its own position (replay protection refuses a second one),
/// so `sent` is never below the deliveries it was built from; messages lost
/// before the first or after the last one seen are not counted.
struct SenderSpan: Sendable {
    private var range: [UInt32: ClosedRange<UInt64>] = [:]

    /// A message accepted at `counter` of `epoch`.
    mutating func saw(epoch: UInt32, counter: UInt64) {
        let r = range[epoch] ?? counter...counter
        range[epoch] = min(r.lowerBound, counter)...max(r.upperBound, counter)
    }

    /// Messages sent from the first to the last one seen, all epochs together.
    var sent: Int { range.values.reduce(0) { $0 + Int($1.upperBound - $1.lowerBound) + 1 } }
}
