import Foundation
import Testing

/// The message figures of a `--json` document (docs/CLI.md, "The JSON
/// document"): `messages_by_direction` holds each direction's `sent` and
/// `delivered`; `messages_sent` / `messages_delivered` are their sums.
struct MessageFigures {
    let directions: [String: (sent: Int, delivered: Int)]
    let sent: Int
    let delivered: Int

    init(_ doc: [String: Any]) throws {
        let byDirection = try #require(doc["messages_by_direction"] as? [String: [String: Int]],
                                       "no messages_by_direction in \(doc.keys.sorted())")
        directions = byDirection.mapValues { (sent: $0["sent"] ?? -1, delivered: $0["delivered"] ?? -1) }
        sent = doc["messages_sent"] as? Int ?? -1
        delivered = doc["messages_delivered"] as? Int ?? -1
    }

    /// One meaning everywhere: per direction nothing is delivered that was not
    /// sent, and the totals are the directions added up.
    func expectConsistent(_ expected: Set<String>, sourceLocation: SourceLocation = #_sourceLocation) {
        #expect(Set(directions.keys) == expected, sourceLocation: sourceLocation)
        for (name, f) in directions {
            #expect(f.sent >= 0 && f.delivered >= 0, "\(name)", sourceLocation: sourceLocation)
            #expect(f.delivered <= f.sent, "\(name): \(f.delivered) delivered of \(f.sent) sent",
                    sourceLocation: sourceLocation)
        }
        #expect(sent == directions.values.reduce(0) { $0 + $1.sent }, sourceLocation: sourceLocation)
        #expect(delivered == directions.values.reduce(0) { $0 + $1.delivered }, sourceLocation: sourceLocation)
    }

    static let all: Set<String> = ["app_to_pack", "pack_to_app", "pack_to_module", "module_to_pack"]
    static let appPack: Set<String> = ["app_to_pack", "pack_to_app"]
}
