import Testing
@testable import ModbattCAN
