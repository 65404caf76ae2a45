import CModbatt
import Testing
@testable import Modbatt

@Suite("Error mapping")
struct ErrorMappingTests {
    @Test("every C return code maps to its own case with the C core's name")
    func everyCodeMaps() throws {
        var seen = Set<String>()
        for code in MB_ERR_MIN...(-1) {
            let error = try #require(ModbattError(code: code))
            #expect(error.code == code)
            #expect(error != .unknown(code: code), "code \(code) has no case")
            #expect(error.description == String(cString: mb_strerror(code)))
            seen.insert("\(error)")
        }
        #expect(seen.count == Int(-MB_ERR_MIN))
        #expect(ModbattError(code: MB_OK) == nil)
        #expect(ModbattError(code: MB_ERR_MIN - 1) == .unknown(code: MB_ERR_MIN - 1))
    }

    @Test func checkThrowsOnlyOnFailure() throws {
        try ModbattError.check(MB_OK)
        #expect(throws: ModbattError.replay) { try ModbattError.check(MB_ERR_REPLAY) }
    }
}
