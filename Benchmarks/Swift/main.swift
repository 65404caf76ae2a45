// ModbattBench: the Swift side of the benchmark suite (docs/BENCHMARKS.md).
//
//   ModbattBench [--quick] [--out DIR]          timing run: DIR/swift.json + DIR/samples/
//   ModbattBench --count CASE seal|open N      N operations of one case (for the
//                                              allocation count under valgrind)
//   ModbattBench --list
//
// Same method as Benchmarks/c/bench.c, so that ratios are fair: the same
// clock (clock_gettime(CLOCK_MONOTONIC)), the same slots, repetitions, batch
// sizes and sample counts, the same bytes (12-byte IV, 7-byte AAD, the
// plaintext, 16-byte tag), and raw samples written in the same format.
// HdrHistogram (3 significant digits) records every timed operation too; its
// percentiles are kept in swift.json as a cross-check of report.py's exact
// ones.

import Crypto
import Foundation
import Histogram
import Modbatt

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

let slotCount = 128
let aadLen = 7
let tagLen = 16

@inline(__always)
func nowNs() -> UInt64 {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return UInt64(ts.tv_sec) &* 1_000_000_000 &+ UInt64(ts.tv_nsec)
}

func fail(_ what: String) -> Never {
    FileHandle.standardError.write(Data("ModbattBench: \(what)\n".utf8))
    exit(2)
}

/// One implementation of "seal a message into slot i" and "open slot i".
protocol MessageBench: AnyObject {
    var name: String { get }
    var impl: String { get }
    var profile: String { get }
    var payload: Int { get }
    var frames: Int { get }
    func seal(_ slot: Int)
    func open(_ slot: Int)
    /// Throws away nothing; checks the last round trip (not timed).
    func verify() -> Bool
}

/// Shared plaintext and AAD: the same bytes as the C program.
func plaintext(_ len: Int) -> [UInt8] { (0..<len).map { UInt8(truncatingIfNeeded: $0 &* 7 &+ 3) } }
let aadBytes: [UInt8] = [1, 0x0c, 0x02, 0x00, 0x07, 0x00, 0x24]
let keyBytes: [UInt8] = [0x60, 0x3d, 0xeb, 0x10, 0x15, 0xca, 0x71, 0xbe,
                         0x2b, 0x73, 0xae, 0xf0, 0x85, 0x7d, 0x77, 0x81] + [UInt8](repeating: 0, count: 16)

/// Counter nonces as the C program makes them: 4-byte fixed field || BE64 counter.
struct NonceCounter {
    var counter: UInt64 = 0
    @inline(__always)
    mutating func next(into iv: inout [UInt8]) {
        let c = counter
        counter &+= 1
        iv[0] = 0xA5; iv[1] = 0x5A; iv[2] = 0x01; iv[3] = 0x02
        for i in 0..<8 { iv[4 + i] = UInt8(truncatingIfNeeded: c >> (56 - 8 * UInt64(i))) }
    }
}

// MARK: - Case 2 (primitive): the Swift safety layer's AESGCMContext over mb_aead

final class SwiftAEADBench: MessageBench {
    let payload: Int
    var name: String { "swift_aead.\(payload)" }
    let impl = "swift_aead"
    let profile = "none"
    let frames = 0
    let ctx: AESGCMContext
    let pt: [UInt8]
    @exclusivity(unchecked) var nonces = NonceCounter()
    @exclusivity(unchecked) var iv = [UInt8](repeating: 0, count: 12)
    @exclusivity(unchecked) var ivs: [[UInt8]]
    @exclusivity(unchecked) var cts: [[UInt8]]
    @exclusivity(unchecked) var tags: [[UInt8]]
    @exclusivity(unchecked) var out: [UInt8] = []

    init(payload: Int) throws {
        self.payload = payload
        pt = plaintext(payload)
        ctx = try AESGCMContext(key: SecretBytes(copying: keyBytes))
        ivs = Array(repeating: [UInt8](repeating: 0, count: 12), count: slotCount)
        cts = Array(repeating: [], count: slotCount)
        tags = Array(repeating: [], count: slotCount)
    }

    @inline(never) func seal(_ slot: Int) {
        nonces.next(into: &iv)
        do {
            let sealed = try ctx.seal(nonce: iv, aad: aadBytes, plaintext: pt, tagCount: tagLen)
            ivs[slot] = iv
            cts[slot] = sealed.ciphertext
            tags[slot] = sealed.tag
        } catch { fail("AESGCMContext.seal: \(error)") }
    }

    @inline(never) func open(_ slot: Int) {
        do {
            out = try ctx.open(nonce: ivs[slot], aad: aadBytes, ciphertext: cts[slot], tag: tags[slot])
        } catch { fail("AESGCMContext.open: \(error)") }
    }

    func verify() -> Bool { out == pt }
}

// MARK: - Case 5: swift-crypto's AES.GCM (what a Swift developer would pick)

final class SwiftCryptoBench: MessageBench {
    let payload: Int
    var name: String { "swiftcrypto.\(payload)" }
    let impl = "swiftcrypto"
    let profile = "none"
    let frames = 0
    let key = SymmetricKey(data: keyBytes)
    let pt: [UInt8]
    @exclusivity(unchecked) var nonces = NonceCounter()
    @exclusivity(unchecked) var iv = [UInt8](repeating: 0, count: 12)
    @exclusivity(unchecked) var boxes: [AES.GCM.SealedBox?]
    @exclusivity(unchecked) var out = Data()

    init(payload: Int) {
        self.payload = payload
        pt = plaintext(payload)
        boxes = Array(repeating: nil, count: slotCount)
    }

    @inline(never) func seal(_ slot: Int) {
        nonces.next(into: &iv)
        do {
            let nonce = try AES.GCM.Nonce(data: iv)
            boxes[slot] = try AES.GCM.seal(pt, using: key, nonce: nonce, authenticating: aadBytes)
        } catch { fail("AES.GCM.seal: \(error)") }
    }

    @inline(never) func open(_ slot: Int) {
        do {
            out = try AES.GCM.open(boxes[slot]!, using: key, authenticating: aadBytes)
        } catch { fail("AES.GCM.open: \(error)") }
    }

    func verify() -> Bool { Array(out) == pt }
}

// MARK: - measurement (mirrors run_case in Benchmarks/c/bench.c)

struct Params {
    var warmup: Int, reps: Int, batches: Int, samples: Int
}

func median(_ v: [Double]) -> Double {
    let s = v.sorted()
    return s.count % 2 == 1 ? s[s.count / 2] : (s[s.count / 2 - 1] + s[s.count / 2]) / 2
}

func writeSamples(_ dir: String, _ name: String, _ op: String, _ s: [UInt32]) {
    let path = "\(dir)/samples/\(name).\(op).u32"
    let data = s.withUnsafeBufferPointer { Data(buffer: $0) }
    guard FileManager.default.createFile(atPath: path, contents: data) else { fail("cannot write \(path)") }
}

func hdr(_ s: [UInt32]) -> String {
    var h = Histogram<UInt64>(highestTrackableValue: 60_000_000_000, numberOfSignificantValueDigits: .three)
    for v in s { _ = h.record(UInt64(v)) }
    return "{\"p50\": \(h.valueAtPercentile(50)), \"p99\": \(h.valueAtPercentile(99)), "
        + "\"p99_9\": \(h.valueAtPercentile(99.9)), \"max\": \(h.max)}"
}

func fmt(_ v: Double) -> String { String(format: "%.2f", v) }

@inline(never)
func runCase<B: MessageBench>(_ c: B, _ p: Params, dir: String) -> String {
    for i in 0..<p.warmup {
        c.seal(i % slotCount)
        c.open(i % slotCount)
    }
    var sealReps = [Double](repeating: 0, count: p.reps)
    var openReps = [Double](repeating: 0, count: p.reps)
    for r in 0..<p.reps {
        var ts: UInt64 = 0, to: UInt64 = 0
        for _ in 0..<p.batches {
            var t0 = nowNs()
            for i in 0..<slotCount { c.seal(i) }
            var t1 = nowNs()
            ts &+= t1 &- t0
            t0 = nowNs()
            for i in 0..<slotCount { c.open(i) }
            t1 = nowNs()
            to &+= t1 &- t0
        }
        sealReps[r] = Double(ts) / Double(p.batches * slotCount)
        openReps[r] = Double(to) / Double(p.batches * slotCount)
    }
    var sealS = [UInt32](repeating: 0, count: p.samples)
    var openS = [UInt32](repeating: 0, count: p.samples)
    for i in 0..<p.samples {
        let sl = i % slotCount
        var t0 = nowNs()
        c.seal(sl)
        var t1 = nowNs()
        sealS[i] = UInt32(clamping: t1 &- t0)
        t0 = nowNs()
        c.open(sl)
        t1 = nowNs()
        openS[i] = UInt32(clamping: t1 &- t0)
    }
    c.seal(0)
    c.open(0)
    guard c.verify() else { fail("\(c.name): round trip mismatch") }
    writeSamples(dir, c.name, "seal", sealS)
    writeSamples(dir, c.name, "open", openS)
    let ms = median(sealReps), mo = median(openReps)
    let padded = c.name.padding(toLength: 32, withPad: " ", startingAt: 0)
    FileHandle.standardError.write(Data(("  " + padded + String(format: " seal %9.1f ns   open %9.1f ns\n", ms, mo)).utf8))
    return """
        {"name": "\(c.name)", "impl": "\(c.impl)", "profile": "\(c.profile)", "payload": \(c.payload), \
        "aad": \(aadLen), "kind": "message", "frames": \(c.frames), "samples": \(p.samples), \
        "batch": \(slotCount * p.batches),
         "seal": {"ns_op_median": \(fmt(ms)), "ns_op_reps": [\(sealReps.map(fmt).joined(separator: ", "))], \
        "samples_file": "samples/\(c.name).seal.u32", "hdr": \(hdr(sealS))},
         "open": {"ns_op_median": \(fmt(mo)), "ns_op_reps": [\(openReps.map(fmt).joined(separator: ", "))], \
        "samples_file": "samples/\(c.name).open.u32", "hdr": \(hdr(openS))}}
    """
}

func timerOverhead() -> Double {
    var v: [Double] = []
    for _ in 0..<101 {
        let t0 = nowNs()
        for _ in 0..<1000 { _ = nowNs() }
        v.append(Double(nowNs() &- t0) / 1000)
    }
    return median(v)
}

// MARK: - cases

let aeadLens = [0, 8, 36, 100, 228]

func makeCases() throws -> [any MessageBench] {
    var cases: [any MessageBench] = []
    cases += try SessionCases.make()
    for len in aeadLens { cases.append(try SwiftAEADBench(payload: len)) }
    for len in aeadLens { cases.append(SwiftCryptoBench(payload: len)) }
    return cases
}

func run<B: MessageBench>(_ c: B, _ p: Params, dir: String) -> String { runCase(c, p, dir: dir) }

// MARK: - main

var args = Array(CommandLine.arguments.dropFirst())
var quick = false
var out = "Benchmarks/results"
var countMode: (String, String, Int)?
var listMode = false
while !args.isEmpty {
    let a = args.removeFirst()
    switch a {
    case "--quick": quick = true
    case "--out" where !args.isEmpty: out = args.removeFirst()
    case "--list": listMode = true
    case "--count" where args.count >= 3:
        countMode = (args[0], args[1], Int(args[2]) ?? 0)
        args.removeFirst(3)
    default:
        fail("usage: ModbattBench [--quick] [--out DIR] | --list | --count CASE seal|open N")
    }
}

do {
    let cases = try makeCases()
    if listMode {
        for c in cases { print(c.name) }
        exit(0)
    }
    if let (name, op, n) = countMode {
        guard let c = cases.first(where: { $0.name == name }) else { fail("unknown case \(name)") }
        // No warm-up: callgrind collects inside seal/open by name, so every
        // call here counts (run.sh divides by N).
        for i in 0..<n {
            c.seal(i % slotCount)
            c.open(i % slotCount)
        }
        _ = op
        exit(0)
    }
    let p = quick ? Params(warmup: 200, reps: 11, batches: 1, samples: 2000)
                  : Params(warmup: 2000, reps: 201, batches: 1, samples: 100_000)
    try FileManager.default.createDirectory(atPath: "\(out)/samples", withIntermediateDirectories: true)
    let tov = timerOverhead()
    FileHandle.standardError.write(Data(String(format: "Swift bench (%@): clock_gettime(CLOCK_MONOTONIC) costs %.1f ns\n",
                                               quick ? "quick" : "full", tov).utf8))
    var entries: [String] = []
    for c in cases { entries.append(run(c, p, dir: out)) }
    let json = """
        {"program": "swift", "mode": "\(quick ? "quick" : "full")", "clock": "clock_gettime(CLOCK_MONOTONIC)", \
        "timer_ns": \(fmt(tov)), "slots": \(slotCount), "reps": \(p.reps), "batches": \(p.batches), \
        "samples": \(p.samples), "warmup": \(p.warmup), "session_api": "\(SessionCases.apiDescription)",
          "cases": [
        \(entries.joined(separator: ",\n"))
          ]
        }

        """
    guard FileManager.default.createFile(atPath: "\(out)/swift.json", contents: Data(json.utf8)) else {
        fail("cannot write \(out)/swift.json")
    }
} catch {
    fail("\(error)")
}
