// Shared checks for the Swift libFuzzer harnesses (scripts/fuzz-swift.sh).
// A broken invariant prints its reason and aborts, which libFuzzer records
// as a crash and saves the input that caused it.
import Modbatt

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

func invariant(_ holds: @autoclosure () -> Bool, _ reason: @autoclosure () -> String,
               file: StaticString = #fileID, line: UInt = #line) {
    if holds() { return }
    fputs("INVARIANT BROKEN at \(file):\(line): \(reason())\n", stderr)
    abort()
}

/// The payload sizes a CAN FD DLC can encode.
let fdWireSizes: Set<Int> = [0, 1, 2, 3, 4, 5, 6, 7, 8, 12, 16, 20, 24, 32, 48, 64]

/// A parsed frame never exceeds what the bus can carry.
func checkFrameBounds(_ frame: CANFrame) {
    let maxId = frame.isExtended ? CANFrame.maxExtendedId : CANFrame.maxStandardId
    invariant(frame.id <= maxId, "id \(frame.id) exceeds \(frame.isExtended ? 29 : 11) bits")
    invariant(frame.count >= 0 && frame.count <= (frame.isFD ? 64 : 8), "payload of \(frame.count) bytes")
    invariant(frame.data.count == frame.count, "data.count \(frame.data.count) != count \(frame.count)")
    invariant(fdWireSizes.contains(frame.wireCount) && frame.wireCount >= frame.count,
              "wire size \(frame.wireCount) is no DLC size for \(frame.count) bytes")
    invariant(frame.isFD || (!frame.bitRateSwitch && !frame.errorStateIndicator), "FD flags on a classic frame")
}

/// Error reasons quote at most a short clip of the input, never all of it.
func checkReasonBounded(_ reason: String, limit: Int = 160) {
    invariant(!reason.isEmpty, "empty error reason")
    invariant(reason.utf8.count <= limit, "error reason of \(reason.utf8.count) bytes: \(reason.prefix(80))")
}

/// Two timestamps that agree to the microsecond (the logs' resolution).
func sameMicrosecond(_ a: Duration, _ b: Duration) -> Bool {
    a - b < .microseconds(1) && b - a < .microseconds(1)
}

func inputText(_ data: UnsafePointer<UInt8>, _ size: Int) -> String {
    String(decoding: UnsafeBufferPointer(start: data, count: size), as: UTF8.self)
}
