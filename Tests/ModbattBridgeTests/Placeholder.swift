import Testing
@testable import ModbattBridge
