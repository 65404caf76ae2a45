// libFuzzer harness: can-utils candump log lines (Candump.parseLine,
// parseFrame, parse, parseLenient). Input: text of one or more lines.
//
// Invariants:
// - each parse either throws CandumpError (a bounded reason, the right line
//   number) or returns records within CAN bounds;
// - every record re-formats and re-parses to the same record (timestamps to
//   the microsecond, the log's resolution) and re-formats to the same text;
// - parse and parseLenient agree (same records when parse succeeds; parse's
//   error is parseLenient's first error).
import ModbattCAN

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCandump(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let text = inputText(data, size)
    checkLine(text)
    checkBareFrame(text)
    checkWholeLog(text)
    return 0
}

private func checkLine(_ text: String) {
    do {
        guard let record = try Candump.parseLine(text, lineNumber: 7) else { return }
        checkRoundTrip(record)
    } catch {
        invariant(error.line == 7, "error names line \(error.line), not 7")
        checkReasonBounded(error.reason)
    }
}

private func checkBareFrame(_ text: String) {
    do {
        let frame = try Candump.parseFrame(text)
        checkFrameBounds(frame)
        let again = try? Candump.parseFrame(frame.description)
        invariant(again == frame, "frame \(frame) does not re-parse to itself")
    } catch {
        checkReasonBounded(error.reason)
    }
}

private func checkRoundTrip(_ record: CandumpRecord) {
    checkFrameBounds(record.frame)
    invariant(record.interface.utf8.count <= 15, "interface name of \(record.interface.utf8.count) bytes")
    let line = record.description
    let again: CandumpRecord?
    do { again = try Candump.parseLine(line) } catch {
        invariant(false, "formatted line '\(line)' does not parse: \(error)")
        return
    }
    guard let again else { invariant(false, "formatted line '\(line)' parses as blank"); return }
    invariant(again.frame == record.frame && again.interface == record.interface, "'\(line)' re-parses differently")
    invariant(sameMicrosecond(again.timestamp, record.timestamp), "'\(line)' changes its timestamp")
    invariant(again.description == line, "'\(line)' re-formats as '\(again.description)'")
}

private func checkWholeLog(_ text: String) {
    let lenient = Candump.parseLenient(text)
    for record in lenient.records { checkFrameBounds(record.frame) }
    do {
        let records = try Candump.parse(text)
        invariant(lenient.errors.isEmpty, "parse succeeded but parseLenient found \(lenient.errors.count) errors")
        invariant(records == lenient.records, "parse and parseLenient return different records")
        let reformatted = try? Candump.parse(Candump.format(records))
        invariant(reformatted?.map(\.frame) == records.map(\.frame), "a formatted log re-parses differently")
    } catch {
        invariant(lenient.errors.first == error, "parse's error is not parseLenient's first")
        checkReasonBounded(error.reason)
    }
}
