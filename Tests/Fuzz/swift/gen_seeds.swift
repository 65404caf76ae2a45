// Writes the seed corpora under Tests/Fuzz/swift/corpus/<harness>/ from the
// code's own output: candump lines formatted by Candump, socketcand messages
// formatted by SocketcandProtocol, and API-Bridge bodies encoded by
// BridgeJSON from the model values the embedded bridge returns (the same
// encoder and types its routes use). `make -C Tests/Fuzz/swift seeds`.
import Foundation
import Modbatt
import ModbattCAN
@testable import ModbattBridge

let root = URL(fileURLWithPath: CommandLine.arguments.count > 1 ? CommandLine.arguments[1] : "corpus")

func write(_ harness: String, _ name: String, _ text: String) {
    let dir = root.appendingPathComponent(harness)
    try! FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    try! Data(text.utf8).write(to: dir.appendingPathComponent(name))
}

// MARK: CAN frames shared by candump and socketcand

let modbattId = CANId(messageId: 0x123, encrypted: true, chunkIndex: 2, chunkTotal: 3, deviceId: 0x42)
let frames: [(String, CANFrame)] = [
    ("std", try! CANFrame(id: 0x123, data: [0x01, 0x02])),
    ("std-empty", try! CANFrame(id: 0x7FF, data: [UInt8]())),
    ("std-full", try! CANFrame(id: 0x000, data: [0xDE, 0xAD, 0xBE, 0xEF, 0x00, 0x11, 0x22, 0x33])),
    ("ext", try! CANFrame(id: 0x1ABC_DEF0, extended: true, data: [0xFF])),
    ("ext-small-id", try! CANFrame(id: 0x5, extended: true, data: [0x10, 0x20, 0x30])),
    ("modbatt", try! CANFrame(modbattId: modbattId, data: Array(0..<8))),
    ("fd-brs", try! CANFrame(id: 0x1FFF_FFFF, extended: true, fd: true, bitRateSwitch: true, data: Array(0..<64))),
    ("fd-esi", try! CANFrame(id: 0x10, fd: true, errorStateIndicator: true, data: Array(0..<12))),
    ("fd-both", try! CANFrame(modbattId: modbattId, fd: true, bitRateSwitch: true, data: Array(100..<120))),
    ("fd-empty", try! CANFrame(id: 0x321, fd: true, data: [UInt8]())),
]
let stamp: Duration = .seconds(1_700_000_000) + .microseconds(123_456)

// MARK: candump

for (name, frame) in frames {
    write("fuzz_candump", name, CandumpRecord(timestamp: stamp, interface: "can0", frame: frame).description)
}
let log = frames.enumerated().map { i, f in
    CandumpRecord(timestamp: stamp + .milliseconds(i), interface: i % 2 == 0 ? "can0" : "vcan1", frame: f.1)
}
write("fuzz_candump", "log", Candump.format(log))
write("fuzz_candump", "log-comments", "# capture\n\n" + Candump.format(log.prefix(3)) + "(1700000001.000001) can0 123#11 R\n")
write("fuzz_candump", "bare-frame", frames[5].1.description)

// MARK: socketcand

typealias P = SocketcandProtocol
for (name, frame) in frames {
    write("fuzz_socketcand", "reply-" + name, P.format(reply: .frame(TimestampedFrame(timestamp: stamp, frame: frame))))
    write("fuzz_socketcand", "send-" + name, P.format(command: .send(frame)))
}
write("fuzz_socketcand", "reply-error", P.format(reply: .error("could not open bus 'can9'")))
let session: [String] = [
    P.format(reply: .hi), P.format(command: .open(bus: "can0")), P.format(reply: .ok),
    P.format(command: .rawMode), P.format(reply: .ok), P.format(command: .echo), P.format(reply: .echo),
    P.format(command: .send(frames[0].1)), P.format(command: .send(frames[6].1)),
    P.format(reply: .frame(TimestampedFrame(timestamp: stamp, frame: frames[3].1))),
    P.format(command: .unsupported("add")), P.format(command: .bcmMode),
]
write("fuzz_socketcand", "exchange", session.joined())
write("fuzz_socketcand", "exchange-spaced", session.joined(separator: "\n"))

// MARK: API-Bridge bodies

func body(_ value: some Encodable) -> String { String(decoding: try! BridgeJSON.encode(value), as: UTF8.self) }

let halfA = try! KeyHalf(bytes: Array(0..<64))
let halfB = try! KeyHalf(bytes: Array(repeating: 0xA5, count: 64))
let tx = String(repeating: "C0FFEE", count: 10) + "ABCD"
let lct = LCT(lctId: "lct_3f9a0c2e71b4", componentA: "comp_00aa11bb22cc", componentB: "comp_33dd44ee55ff",
              context: "pack-1", proxyId: nil, status: "active", createdAt: 1_700_000_000,
              updatedAt: 1_700_000_100, creator: "demo-user", txhash: tx)
let component = Component(componentId: "comp_00aa11bb22cc", componentIdentity: "modbatt:module:SN-0001",
                          lctId: nil, status: "registered", txhash: tx, componentData: "SN-0001",
                          context: "pack-1", creator: "demo-user", createdAt: 1_700_000_000)
let challenge = PairingChallenge(challengeId: "pair_9b8a7c6d5e4f", componentA: lct.componentA, componentB: lct.componentB,
                                 operationalContext: "pack-1", proxyId: nil, forceImmediate: false, status: "pending",
                                 createdAt: 1_700_000_000, expiresAt: 1_700_000_300, creator: "demo-user",
                                 lctId: lct.lctId, txhash: tx)
write("fuzz_bridge_json", "lct-create", body(CreateLCTWire(lct: lct, deviceKeyHalf: halfA.revealHex(), lctKeyHalf: halfB.revealHex())))
write("fuzz_bridge_json", "lct-create-base64",
      #"{"lct_id":"lct_1","device_key_half":"\#(Data(Array(0..<64) as [UInt8]).base64EncodedString())","lct_key_half":"\#(halfB.revealHex().uppercased())","created_at":"2024-01-01T00:00:00Z","tx_hash":"AB"}"#)
write("fuzz_bridge_json", "lct", body(lct))
write("fuzz_bridge_json", "component", body(component))
write("fuzz_bridge_json", "component-register-short",
      #"{"component_id":"comp_1","component_identity":42,"status":"registered","tx_hash":"AB","created_at":"1700000000"}"#)
write("fuzz_bridge_json", "pairing-challenge", body(challenge))
write("fuzz_bridge_json", "pairing-completion", body(PairingCompletion(
    challengeId: challenge.challengeId, lctId: lct.lctId, status: "completed", trustSummary: "ok",
    sessionContext: "s", completedAt: 1_700_000_200, txhash: tx)))
write("fuzz_bridge_json", "pairing-revocation", body(PairingRevocation(
    lctId: lct.lctId, challengeId: nil, status: "revoked", reason: "replaced", revokedAt: 1_700_000_400, txhash: tx)))
write("fuzz_bridge_json", "health", body(BridgeHealth(status: "ok", version: "modbatt-embedded-1")))
write("fuzz_bridge_json", "error-409", body(BridgeErrorBody(error: "an LCT for this pair exists", code: "LCT_EXISTS",
                                                            details: "revoke it first", existingId: lct.lctId)))
write("fuzz_bridge_json", "error-nested", #"{"error":{"code":404,"message":"not found","details":"no such id"}}"#)
print("seeds written to \(root.path)")
