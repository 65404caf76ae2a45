import Testing
@testable import Modbatt

@Suite("Crypto through the C core")
struct CryptoWrapperTests {
    static func hex(_ s: String) -> [UInt8] {
        var out = [UInt8](); var it = s.makeIterator()
        while let h = it.next(), let l = it.next() { out.append(UInt8(String([h, l]), radix: 16)!) }
        return out
    }

    @Test("RFC 5869 A.1 through the Swift HKDF")
    func hkdfRFC5869() throws {
        let ikm = SecretBytes(copying: [UInt8](repeating: 0x0b, count: 22))
        let okm = try HKDF.sha256(salt: Self.hex("000102030405060708090a0b0c"), inputKeyMaterial: ikm,
                                  info: Self.hex("f0f1f2f3f4f5f6f7f8f9"), outputCount: 42)
        let expected = Self.hex("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865")
        let okmBytes = okm.withUnsafeBytes { Array($0) }
        #expect(okmBytes == expected)
        #expect(throws: ModbattError.invalidLength) {
            _ = try HKDF.sha256(salt: [], inputKeyMaterial: ikm, info: [], outputCount: 8161)
        }
    }

    @Test("RFC 7914 section 11 (c = 1) through the Swift PBKDF2; zero iterations is an error")
    func pbkdf2RFC7914() throws {
        let pw = SecretBytes(copying: Array("passwd".utf8))
        let key = try PBKDF2.sha256(passphrase: pw, salt: Array("salt".utf8), iterations: 1, outputCount: 64)
        let expected = Self.hex("55ac046e56e3089fec1691c22544b605f94185216dde0465e68b9d57c20dacbc"
                                + "49ca9cccf179b645991664b39d77ef317c71b845b1e30bd509112041d3a19783")
        #expect(key.withUnsafeBytes { Array($0) } == expected)
        #expect(throws: ModbattError.invalidLength) {
            _ = try PBKDF2.sha256(passphrase: pw, salt: [], iterations: 0, outputCount: 32)
        }
    }

    @Test func aesGCMRoundTripAndTamper() throws {
        let gcm = try AESGCMContext(key: SecretBytes.random(count: 32))
        let nonce = [UInt8](repeating: 7, count: 12), aad: [UInt8] = [1, 2, 3]
        let pt = Array("module 7: 3.712 V".utf8)
        let (ct, tag) = try gcm.seal(nonce: nonce, aad: aad, plaintext: pt)
        #expect(try gcm.open(nonce: nonce, aad: aad, ciphertext: ct, tag: tag) == pt)
        var badTag = tag; badTag[0] ^= 1
        #expect(throws: ModbattError.authenticationFailed) {
            _ = try gcm.open(nonce: nonce, aad: aad, ciphertext: ct, tag: badTag)
        }
        #expect(throws: ModbattError.authenticationFailed) {
            _ = try gcm.open(nonce: nonce, aad: [9], ciphertext: ct, tag: tag)
        }
        #expect(throws: ModbattError.invalidTagLength) { _ = try gcm.seal(nonce: nonce, plaintext: pt, tagCount: 5) }
        #expect(throws: ModbattError.invalidLength) { _ = try gcm.seal(nonce: [1], plaintext: pt) }
        #expect(throws: ModbattError.invalidLength) { _ = try AESGCMContext(key: SecretBytes.random(count: 16)) }
    }

    @Test("pair derivation: the worked example of docs/KEY_DERIVATION.md, from both sides")
    func pairWorkedExample() throws {
        let h1 = try KeyHalf(bytes: Array(0..<64)), h2 = try KeyHalf(bytes: Array(64..<128))
        let salt = try Salt(bytes: Array(0xA0..<0xC0))
        let pack = try PairKeys(halves: h1, h2, salt: salt, selfId: "comp_pack_0001",
                                peerId: "comp_module_07", lctId: "lct_pack_0001_module_07")
        let txKey = pack.txKey.withUnsafeBytes { Array($0) }
        let (txFixed, keyId, selfIsLow) = (pack.txFixed, pack.keyId, pack.selfIsLow)
        #expect(txKey == Self.hex("79afa30d33f79f31fd0abaa58b9558c0a1fa32426dc2b0d050f9dc93d077bd81"))
        #expect(txFixed == Self.hex("b1952a5e"))
        #expect(keyId == Self.hex("defd5402"))
        #expect(!selfIsLow)
        let module = try PairKeys(halves: h2, h1, salt: salt, selfId: "comp_module_07",
                                  peerId: "comp_pack_0001", lctId: "lct_pack_0001_module_07")
        let mirrored = module.rxKey.constantTimeEquals(pack.txKey)
            && module.txKey.constantTimeEquals(pack.rxKey)
            && module.confirmKey.constantTimeEquals(pack.confirmKey)
        let fixedMatch = module.rxFixed == pack.txFixed
        #expect(mirrored)
        #expect(fixedMatch)
        #expect(throws: ModbattError.invalidArgument) {
            _ = try PairKeys(halves: h1, h2, salt: salt, selfId: "same", peerId: "same", lctId: "l")
        }
        #expect(throws: ModbattError.invalidLength) {
            _ = try PairKeys(halves: h1, h2, salt: salt, selfId: "", peerId: "p", lctId: "l")
        }
    }

    @Test func canIdFieldsAndErrors() throws {
        let id = CANId(messageId: 0x407, encrypted: true, chunkIndex: 2, chunkTotal: 8, deviceId: 0x12)
        #expect(try id.raw() == 0x101E_1712)
        #expect(try CANId(raw: 0x101E_1712) == id)
        #expect(throws: ModbattError.canIdOutOfRange) { _ = try CANId(raw: 0x2000_0000) }
        #expect(throws: ModbattError.chunkOutOfRange) { _ = try CANId(raw: 1 << 12) }
        #expect(throws: ModbattError.canIdOutOfRange) { _ = try CANId(messageId: 2048, deviceId: 1).raw() }
        #expect(throws: ModbattError.chunkOutOfRange) {
            _ = try CANId(messageId: 1, chunkIndex: 3, chunkTotal: 2, deviceId: 1).raw()
        }
    }
}
