import Foundation
import Modbatt

/// What a passive listener can get out of captured frames: every payload,
/// and the blobs of the chunked transfers (mb_xfer) reassembled the way a
/// receiver would (START gives the length, DATA k carries bytes
/// (k-1)*6 ..< k*6, END closes). Used by the attacker and the sniffer test.
public enum BusCapture {
    /// Blobs sent on `messageId` (0x410 down, 0x411 up) to/from `deviceId`
    /// (nil: any), in the order their transfers started. Incomplete ones are
    /// included as far as they got.
    public static func transfers(in frames: [CANFrame], deviceId: UInt8? = nil,
                                 messageId: UInt16 = 0x410) -> [[UInt8]] {
        struct Open { var len: Int; var buf: [UInt8]; var started: Int; var key: [UInt8] }
        var open: [UInt8: Open] = [:]
        var done: [(Int, [UInt8])] = []
        var order = 0
        for f in frames where f.isExtended && UInt16((f.id >> 18) & 0x7FF) == messageId {
            let dev = UInt8(f.id & 0xFF)
            if let deviceId, dev != deviceId { continue }
            let d = f.data
            guard d.count >= 2 else { continue }
            let idx = Int(d[0]) << 8 | Int(d[1])
            switch idx {
            case 0x0000:
                guard d.count >= 8 else { continue }
                let len = Int(d[4]) << 8 | Int(d[5])
                let key = Array(d[2..<8])
                if let o = open[dev], o.key == key { continue }   // resume of the same blob
                if let o = open[dev] { done.append((o.started, o.buf)) }
                order += 1
                open[dev] = Open(len: len, buf: [UInt8](repeating: 0, count: len), started: order, key: key)
            case 0xFFFF:
                if let o = open.removeValue(forKey: dev) { done.append((o.started, o.buf)) }
            case 0xFFFE:
                continue
            default:
                guard var o = open[dev] else { continue }
                let start = (idx - 1) * 6
                for (i, b) in d.dropFirst(2).enumerated() where start + i < o.len { o.buf[start + i] = b }
                open[dev] = o
            }
        }
        for (_, o) in open { done.append((o.started, o.buf)) }
        return done.sorted { $0.0 < $1.0 }.map(\.1)
    }

    /// True when any 8-byte window of `secret` occurs in `haystack`.
    public static func contains(_ haystack: [UInt8], anyWindowOf secret: [UInt8], window: Int = 8) -> Bool {
        guard secret.count >= window, haystack.count >= window else { return false }
        var windows = Set<[UInt8]>()
        for j in 0...(secret.count - window) { windows.insert(Array(secret[j..<j + window])) }
        for i in 0...(haystack.count - window) where windows.contains(Array(haystack[i..<i + window])) { return true }
        return false
    }
}
