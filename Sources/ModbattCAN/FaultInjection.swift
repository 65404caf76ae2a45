/// SplitMix64 (Steele, Lea, Flood 2014): a tiny seeded PRNG whose output
/// is fixed by its seed on every platform and Swift version, unlike
/// `SystemRandomNumberGenerator` or the standard library's `random(in:)`
/// algorithms. Used for fault injection so that a seed replays exactly.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in [0, 1) with 53 bits.
    public mutating func unit() -> Double { Double(next() >> 11) * 0x1p-53 }

    /// Uniform in 0..<bound (multiply-high; bias below 2^-32 for small bounds).
    public mutating func below(_ bound: UInt64) -> UInt64 {
        precondition(bound > 0)
        return next().multipliedFullWidth(by: bound).high
    }

    /// Uniform in `range`.
    public mutating func pick(_ range: ClosedRange<Int>) -> Int {
        range.lowerBound + Int(below(UInt64(range.upperBound - range.lowerBound) + 1))
    }
}

/// What goes wrong on the virtual bus, and how often. Each probability is
/// drawn per transmitted frame from the bus's seeded PRNG, in a fixed order
/// (drop, corrupt, duplicate, delay; four draws per frame whether or not a
/// fault fires), so a seed reproduces the same faults on the same traffic.
///
/// Faults act on the frame as all receivers see it (a corrupted frame is
/// corrupted for everyone: it models corruption that escaped the CAN CRC,
/// e.g. through a faulty gateway, which is what the crypto layer must catch).
public struct FaultPlan: Sendable {
    /// Probability that the frame reaches no receiver.
    public var drop: Double
    /// Probability that payload bits are flipped (frames with a payload only).
    public var corrupt: Double
    /// How many distinct payload bits a corruption flips.
    public var corruptBits: ClosedRange<Int>
    /// Probability that the frame is sent twice (as after a lost ACK): the
    /// copy is queued first in the sender's queue and takes bus time again.
    public var duplicate: Double
    /// Probability that delivery is held back by an amount drawn from
    /// `delayRange` (bus time is not extended), so later frames overtake it.
    public var delay: Double
    /// Extra delivery latency of a delayed frame, drawn uniformly (microsecond steps).
    public var delayRange: ClosedRange<Duration>
    /// Only frames for which this returns true are subject to faults.
    public var applies: @Sendable (CANFrame) -> Bool

    public init(drop: Double = 0, corrupt: Double = 0, corruptBits: ClosedRange<Int> = 1...1,
                duplicate: Double = 0, delay: Double = 0,
                delayRange: ClosedRange<Duration> = .microseconds(500) ... .milliseconds(5),
                applies: @escaping @Sendable (CANFrame) -> Bool = { _ in true }) {
        self.drop = drop
        self.corrupt = corrupt
        self.corruptBits = corruptBits
        self.duplicate = duplicate
        self.delay = delay
        self.delayRange = delayRange
        self.applies = applies
    }

    /// No faults.
    public static var none: FaultPlan { FaultPlan() }

    var isEmpty: Bool { drop <= 0 && corrupt <= 0 && duplicate <= 0 && delay <= 0 }
}

/// The faults applied to one transmission.
public struct AppliedFaults: OptionSet, Sendable, Hashable {
    public let rawValue: UInt8
    public init(rawValue: UInt8) { self.rawValue = rawValue }
    public static let dropped = AppliedFaults(rawValue: 1)
    public static let corrupted = AppliedFaults(rawValue: 2)
    public static let duplicated = AppliedFaults(rawValue: 4)
    public static let delayed = AppliedFaults(rawValue: 8)
    /// This transmission is the extra copy of a duplicated frame.
    public static let isDuplicateCopy = AppliedFaults(rawValue: 16)
}

extension FaultPlan {
    struct Decision {
        var faults: AppliedFaults = []
        var frame: CANFrame
        var delay: Duration = .zero
    }

    /// Draw the faults for one frame.
    func decide(_ frame: CANFrame, rng: inout SplitMix64) -> Decision {
        var d = Decision(frame: frame)
        guard !isEmpty, applies(frame) else { return d }
        let uDrop = rng.unit(), uCorrupt = rng.unit(), uDuplicate = rng.unit(), uDelay = rng.unit()
        if uDrop < drop {
            d.faults.insert(.dropped)
            return d
        }
        if uCorrupt < corrupt, frame.count > 0 {
            let totalBits = frame.count * 8
            let flips = min(rng.pick(max(1, corruptBits.lowerBound)...max(1, corruptBits.upperBound)), totalBits)
            var chosen: [Int] = []
            while chosen.count < flips {
                let bit = Int(rng.below(UInt64(totalBits)))
                if !chosen.contains(bit) { chosen.append(bit) }
            }
            d.frame = frame.withPayload { raw in
                for bit in chosen { raw[bit / 8] ^= UInt8(1 << (bit % 8)) }
            }
            d.faults.insert(.corrupted)
        }
        if uDuplicate < duplicate { d.faults.insert(.duplicated) }
        if uDelay < delay {
            let lo = delayRange.lowerBound, hi = delayRange.upperBound
            let steps = max(0, Int((hi - lo) / .microseconds(1)))
            d.delay = lo + .microseconds(rng.pick(0...steps))
            d.faults.insert(.delayed)
        }
        return d
    }
}
