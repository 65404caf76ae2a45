// libFuzzer harness: the socketcand ASCII protocol, both directions. The
// input is a byte stream as it arrives on the TCP connection; it goes
// through SocketcandFramer, and every message it yields is parsed as a
// client command (server side) and as a server reply (client side).
//
// Invariants:
// - the framer yields the same outputs whether the stream arrives whole or
//   split at an input-chosen point, and every message is `< … >` within
//   maxMessageLength;
// - each parse throws SocketcandProtocolError with a bounded reason, or
//   returns a value within CAN bounds that formats and re-parses to itself
//   (frame timestamps to the microsecond; error texts after sanitizing);
// - formatting a parsed value twice gives the same text.
import ModbattCAN

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzSocketcand(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    var whole = SocketcandFramer()
    let outputs = whole.feed(bytes)
    checkSplitFeeding(bytes, matches: outputs)
    for case .message(let message) in outputs {
        // Bytes, not Characters: a combining mark after '<' (e.g. U+06DA)
        // joins it into one grapheme, so hasPrefix("<") is false although the
        // framer did its job; the parsers then refuse the message.
        invariant(message.utf8.first == UInt8(ascii: "<") && message.utf8.last == UInt8(ascii: ">"),
                  "framed message is not '< … >'")
        invariant(message.utf8.count <= SocketcandProtocol.maxMessageLength, "framed message of \(message.utf8.count) bytes")
        checkCommand(message)
        checkReply(message)
    }
    // The parsers also see text that did not come through the framer (tests, tools).
    let text = inputText(data, size)
    checkCommand(text)
    checkReply(text)
    return 0
}

private func checkSplitFeeding(_ bytes: UnsafeBufferPointer<UInt8>, matches outputs: [SocketcandFramer.Output]) {
    guard let first = bytes.first else { return }
    let cut = Int(first) % (bytes.count + 1)
    var split = SocketcandFramer()
    let joined = split.feed(bytes[..<cut]) + split.feed(bytes[cut...])
    invariant(joined == outputs, "framer output depends on where the stream was split (at \(cut))")
}

private func checkCommand(_ message: String) {
    let command: SocketcandProtocol.Command
    do { command = try SocketcandProtocol.parseCommand(message) } catch {
        checkReasonBounded(error.reason)
        return
    }
    if case .send(let frame) = command { checkFrameBounds(frame) }
    let text = SocketcandProtocol.format(command: command)
    let again = try? SocketcandProtocol.parseCommand(text)
    invariant(again == command, "command \(command) formats as '\(text)', which re-parses as \(String(describing: again))")
    invariant(again.map { SocketcandProtocol.format(command: $0) } == text, "command text '\(text)' is not stable")
}

private func checkReply(_ message: String) {
    let reply: SocketcandProtocol.Reply
    do { reply = try SocketcandProtocol.parseReply(message) } catch {
        checkReasonBounded(error.reason)
        return
    }
    let text = SocketcandProtocol.format(reply: reply)
    guard let again = try? SocketcandProtocol.parseReply(text) else {
        invariant(false, "reply \(reply) formats as '\(text)', which does not parse")
        return
    }
    switch (reply, again) {
    case (.frame(let a), .frame(let b)):
        checkFrameBounds(a.frame)
        invariant(a.frame == b.frame && sameMicrosecond(a.timestamp, b.timestamp), "frame reply '\(text)' re-parses differently")
    case (.error, .error):
        break  // the text is sanitized on the way out; stability is checked below
    default:
        invariant(again == reply, "reply \(reply) formats as '\(text)', which re-parses as \(again)")
    }
    invariant(SocketcandProtocol.format(reply: again) == text, "reply text '\(text)' is not stable")
}
