import Modbatt

/// The controller's collector of HELLOs heard at an address that is not
/// their pair's (docs/PROTOCOL.md 6.7): a module re-enumerated under another
/// id announces itself with a HELLO there. The frames of such a HELLO are
/// kept, in order, until it is whole; then the pair it names checks it
/// (`PairSession.checkHello`) before anything else happens.
///
/// Bounded like a session's reassembly (PROTOCOL.md 5.2): at most
/// `maxInProgress` HELLOs at once, one per address; a first chunk restarts
/// its address, a chunk out of order drops it, a HELLO idle for
/// `timeoutMs` is dropped, and a first chunk finds no room while every slot
/// holds a HELLO that made progress. Nothing else is kept about a sender.
struct HelloCollector {
    static let maxInProgress = 4
    static let timeoutMs: UInt32 = 100

    private struct Partial {
        var keyId: [UInt8]
        var frames: [CANFrame]
        var total: UInt8
        var lastMs: UInt32
    }

    private var partial: [UInt8: Partial] = [:]

    /// Whether a HELLO for another pair is being collected at `address`.
    func collecting(at address: UInt8) -> Bool { partial[address] != nil }

    /// The key id a HELLO's first chunk names (bytes 2..<6), nil for a
    /// frame that is not a first chunk of one.
    static func keyId(ofFirstChunk f: CANFrame) -> [UInt8]? {
        guard let id = try? CANId(raw: f.id), id.chunkIndex == 1, f.count >= 6 else { return nil }
        return Array(f.data[2..<6])
    }

    /// Add one frame of a HELLO at `address`; the whole HELLO (its key id,
    /// bytes and frames) when this was its last chunk.
    mutating func add(_ f: CANFrame, at address: UInt8, now: UInt32)
        -> (keyId: [UInt8], hello: [UInt8], frames: [CANFrame])? {
        partial = partial.filter { now &- $0.value.lastMs <= Self.timeoutMs }
        guard let id = try? CANId(raw: f.id) else { return nil }
        if id.chunkIndex == 1 {
            guard let keyId = Self.keyId(ofFirstChunk: f) else { partial[address] = nil; return nil }
            if partial[address] == nil, partial.count >= Self.maxInProgress {
                // Room only by evicting a HELLO that has not progressed past its first chunk.
                guard let idle = partial.filter({ $0.value.frames.count == 1 }).min(by: { $0.value.lastMs < $1.value.lastMs })
                else { return nil }
                partial[idle.key] = nil
            }
            partial[address] = Partial(keyId: keyId, frames: [f], total: id.chunkTotal, lastMs: now)
        } else {
            guard var p = partial[address], id.chunkTotal == p.total, Int(id.chunkIndex) == p.frames.count + 1 else {
                partial[address] = nil
                return nil
            }
            p.frames.append(f)
            p.lastMs = now
            partial[address] = p
        }
        guard let p = partial[address], p.frames.count == Int(p.total) else { return nil }
        partial[address] = nil
        return (p.keyId, p.frames.flatMap(\.data), p.frames)
    }

    /// Forget everything (a power cycle).
    mutating func reset() { partial = [:] }
}
