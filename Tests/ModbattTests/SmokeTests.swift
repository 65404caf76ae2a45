import Testing
@testable import Modbatt

@Suite struct SmokeTests {
    @Test func canIdRoundTrip() throws {
        let id = CANId(messageId: 0x123, encrypted: true, chunkIndex: 2, chunkTotal: 5, deviceId: 7)
        #expect(try CANId(raw: id.raw()) == id)
    }
}
