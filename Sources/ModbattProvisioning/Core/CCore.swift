internal import CModbatt
import Foundation
import Modbatt

// Thin, checked wrappers over the C core's provisioning API (mb_binding_*,
// mb_keypkg_*, mb_report_*), used by the app and by the simulated device
// firmware alike. No crypto is done here: every operation is one C call.
// Buffers that held secrets are wiped with mb_wipe before they are freed.

enum CCore {
    /// Platform RNG for the C core: the system CSPRNG.
    static let rng: @convention(c) (UnsafeMutableRawPointer?, UnsafeMutablePointer<UInt8>?, Int) -> Int32 = {
        _, out, len in
        guard let out else { return MB_ERR_NULL }
        var g = SystemRandomNumberGenerator()
        var i = 0
        while i < len {
            var word = g.next()
            withUnsafeBytes(of: &word) { raw in
                for b in raw where i < len {
                    out[i] = b
                    i += 1
                }
            }
        }
        return MB_OK
    }

    /// MB_KEYPKG_MAX and MB_REPORT_MAX (macros Swift does not import).
    static let keyPackageMax = Int(MB_KEYPKG_FIXED_HDR) + Int(MB_PAIR_ID_MAX)
        + Int(MB_KEYPKG_PARAMS_LEN) + Int(MB_KS_MAX_PAIRS) * (Int(MB_KEYPKG_ENTRY_FIXED) + 2 * Int(MB_PAIR_ID_MAX))
        + Int(MB_KEYPKG_TAG_LEN) + Int(MB_P256_SIG_LEN)
    static let reportMax = Int(MB_REPORT_HDR_LEN) + Int(MB_KEYPKG_TAG_LEN) + Int(MB_P256_SIG_LEN) + Int(MB_REPORT_PT_MAX)

    static func check(_ code: Int32) throws(ModbattError) {
        if let error = ModbattError(code: code) { throw error }
    }

    static func hex<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out: [UInt8] = []
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0xF)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func unhex(_ text: String) -> [UInt8]? {
        let chars = Array(text.utf8)
        guard chars.count % 2 == 0 else { return nil }
        var out: [UInt8] = []
        out.reserveCapacity(chars.count / 2)
        func nib(_ c: UInt8) -> UInt8? {
            switch c {
            case 48...57: return c - 48
            case 97...102: return c - 87
            case 65...70: return c - 55
            default: return nil
            }
        }
        var i = 0
        while i < chars.count {
            guard let hi = nib(chars[i]), let lo = nib(chars[i + 1]) else { return nil }
            out.append(hi << 4 | lo)
            i += 2
        }
        return out
    }

    /// Non-secret name of a secret: HMAC-SHA256("modbatt/fingerprint", s)[0..8) in hex.
    static func fingerprint(_ raw: UnsafeRawBufferPointer) -> String {
        var digest = [UInt8](repeating: 0, count: 32)
        let label = Array("modbatt/fingerprint".utf8)
        _ = mb_hmac_sha256(label, label.count, raw.bindMemory(to: UInt8.self).baseAddress, raw.count, &digest)
        return hex(digest.prefix(8))
    }

    static func wipe(_ bytes: inout [UInt8]) {
        bytes.withUnsafeMutableBytes { mb_wipe($0.baseAddress, $0.count) }
    }

    static func strerror(_ code: Int32) -> String { String(cString: mb_strerror(code)) }

    /// A second secret with the same bytes.
    static func copySecret(_ s: borrowing SecretBytes) -> SecretBytes {
        let out = SecretBytes(zeroed: s.count)
        s.withUnsafeBytes { src in out.withUnsafeMutableBytes { $0.copyMemory(from: src) } }
        return out
    }
}

/// A pair's secret PS and key id (what a key store keeps per peer).
final class PairSecret: @unchecked Sendable {
    let keyId: [UInt8]
    let secret: SecretBytes

    init(keyId: [UInt8], secret: consuming SecretBytes) {
        self.keyId = keyId
        self.secret = secret
    }
}

// MARK: Binding keys

/// A device's (or the app's) P-256 key pair. The private scalar lives in a
/// `SecretBytes` (wiped on release).
final class BindingKeyPair: @unchecked Sendable {
    let privateKey: SecretBytes
    let publicKey: [UInt8]
    /// SHA-256(pub)[0..8).
    let keyId: [UInt8]

    private init(privateKey: consuming SecretBytes, publicKey: [UInt8]) {
        self.privateKey = privateKey
        self.publicKey = publicKey
        self.keyId = BindingKeyPair.keyId(of: publicKey)
    }

    /// mb_binding_generate.
    static func generate() throws(ModbattError) -> BindingKeyPair {
        let priv = SecretBytes(zeroed: 32)
        var pub = [UInt8](repeating: 0, count: 65)
        let code = priv.withUnsafeMutableBytes { p in
            mb_binding_generate(CCore.rng, nil, p.bindMemory(to: UInt8.self).baseAddress, &pub)
        }
        try CCore.check(code)
        return BindingKeyPair(privateKey: priv, publicKey: pub)
    }

    /// From a stored private scalar (mb_binding_public recomputes the public key).
    static func restore(_ raw: UnsafeRawBufferPointer) throws(ModbattError) -> BindingKeyPair {
        guard raw.count == 32 else { throw .invalidLength }
        let priv = SecretBytes(copying: raw)
        var pub = [UInt8](repeating: 0, count: 65)
        let code = priv.withUnsafeBytes { p in
            mb_binding_public(p.bindMemory(to: UInt8.self).baseAddress, CCore.rng, nil, &pub)
        }
        try CCore.check(code)
        return BindingKeyPair(privateKey: priv, publicKey: pub)
    }

    static func keyId(of pub: [UInt8]) -> [UInt8] {
        var id = [UInt8](repeating: 0, count: 8)
        guard pub.count == 65 else { return id }
        _ = mb_binding_key_id(pub, &id)
        return id
    }
}

// MARK: Pair material (app side, before sealing)

/// The two key halves and the salt of one pair, held by the app between the
/// LCT creation and sealing. Wiped when released; never logged.
final class PairMaterial: @unchecked Sendable {
    let deviceHalf: SecretBytes
    let lctHalf: SecretBytes
    let salt: SecretBytes
    let lctId: String
    /// Component ids of the two ends.
    let componentA: String
    let componentB: String

    init(deviceHalf: borrowing KeyHalf, lctHalf: borrowing KeyHalf, salt: borrowing Salt, lctId: String,
         componentA: String, componentB: String) {
        self.deviceHalf = CCore.copySecret(deviceHalf.secret)
        self.lctHalf = CCore.copySecret(lctHalf.secret)
        self.salt = CCore.copySecret(salt.secret)
        self.lctId = lctId
        self.componentA = componentA
        self.componentB = componentB
    }

    /// Fingerprints of the halves (public names for the audit log).
    var fingerprints: (device: String, lct: String) { (deviceHalf.fingerprint, lctHalf.fingerprint) }

    /// mb_pair_derive + mb_session_pair_secret with `selfId` as "self":
    /// the key id and the pair secret PS (both ends get the same).
    func pairSecret(selfId: String, peerId: String) throws(ModbattError) -> PairSecret {
        var keys = mb_pair_keys()
        defer { mb_pair_keys_wipe(&keys) }
        let selfBytes = Array(selfId.utf8), peerBytes = Array(peerId.utf8), lctBytes = Array(lctId.utf8)
        let ids = selfBytes + peerBytes + lctBytes
        let code: Int32 = deviceHalf.withUnsafeBytes { h1 in
            lctHalf.withUnsafeBytes { h2 in
                salt.withUnsafeBytes { s in
                    ids.withUnsafeBufferPointer { idBuf in
                        let base = idBuf.baseAddress
                        var p = mb_pair_params(
                            half_1: h1.bindMemory(to: UInt8.self).baseAddress,
                            half_2: h2.bindMemory(to: UInt8.self).baseAddress,
                            salt: s.bindMemory(to: UInt8.self).baseAddress,
                            self_id: base, self_id_len: selfBytes.count,
                            peer_id: base.map { $0 + selfBytes.count }, peer_id_len: peerBytes.count,
                            lct_id: base.map { $0 + selfBytes.count + peerBytes.count }, lct_id_len: lctBytes.count)
                        return mb_pair_derive(&p, &keys)
                    }
                }
            }
        }
        try CCore.check(code)
        let ps = SecretBytes(zeroed: 32)
        let c2 = ps.withUnsafeMutableBytes { mb_session_pair_secret(&keys, $0.bindMemory(to: UInt8.self).baseAddress) }
        try CCore.check(c2)
        let keyId = withUnsafeBytes(of: keys.key_id) { Array($0) }
        return PairSecret(keyId: keyId, secret: ps)
    }
}

// MARK: Key packages

/// One entry of a package being built.
struct PackageEntry {
    var peerId: UInt8
    var controller: Bool
    var keyId: [UInt8]
    var peerComponent: String
    var material: PairMaterial
    /// The pair's handshakes add an ephemeral key exchange (PROTOCOL.md 6.6).
    var ephemeral = false

    var flags: UInt8 {
        (controller ? UInt8(MB_KEYPKG_PAIR_CONTROLLER) : 0) | (ephemeral ? UInt8(MB_KEYPKG_PAIR_EPHEMERAL) : 0)
    }
}

/// Session parameters carried in a package and kept in the key store.
public struct CryptoParameters: Sendable, Equatable, Codable {
    public var profile: SecureSession.Profile
    /// Session key rotation interval, ms (0 = never by time).
    public var rekeyAfterMs: UInt32
    /// Session key rotation after this many messages.
    public var rekeyAfterMessages: UInt32

    public init(profile: SecureSession.Profile = .classic, rekeyAfterMs: UInt32 = 3_600_000,
                rekeyAfterMessages: UInt32 = 1 << 20) {
        self.profile = profile
        self.rekeyAfterMs = rekeyAfterMs
        self.rekeyAfterMessages = rekeyAfterMessages
    }

    enum CodingKeys: String, CodingKey { case profile, rekeyAfterMs, rekeyAfterMessages }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        profile = try c.decode(String.self, forKey: .profile) == "fd" ? .fd : .classic
        rekeyAfterMs = try c.decode(UInt32.self, forKey: .rekeyAfterMs)
        rekeyAfterMessages = try c.decode(UInt32.self, forKey: .rekeyAfterMessages)
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(profile == .fd ? "fd" : "classic", forKey: .profile)
        try c.encode(rekeyAfterMs, forKey: .rekeyAfterMs)
        try c.encode(rekeyAfterMessages, forKey: .rekeyAfterMessages)
    }

    var c: mb_ks_params {
        var p = mb_ks_params()
        p.profile = profile == .fd ? 1 : 0
        p.rekey_after_ms = rekeyAfterMs
        p.rekey_after_msgs = rekeyAfterMessages
        return p
    }

    init(_ p: mb_ks_params) {
        profile = p.profile == 1 ? .fd : .classic
        rekeyAfterMs = p.rekey_after_ms
        rekeyAfterMessages = p.rekey_after_msgs
    }
}

enum KeyPackage {
    static let modeSealed = UInt8(MB_KEYPKG_MODE_SEALED)
    static let modeBootstrap = UInt8(MB_KEYPKG_MODE_BOOTSTRAP)

    /// mb_keypkg_seal: build, encrypt to `devicePub` (sealed mode) and sign with the app key.
    static func seal(version: UInt32, deviceId: UInt8, role: UInt8, componentId: String,
                     params: CryptoParameters, appKey: BindingKeyPair, entries: [PackageEntry],
                     bootstrap: Bool, devicePub: [UInt8]) throws(ModbattError) -> [UInt8] {
        // One scratch buffer for every half and salt, wiped at the end.
        let per = 64 + 64 + 32
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: max(1, per * entries.count), alignment: 16)
        defer {
            mb_wipe(scratch.baseAddress, scratch.count)
            scratch.deallocate()
        }
        var idBytes: [UInt8] = []
        var idOffsets: [(peer: Int, peerLen: Int, lct: Int, lctLen: Int)] = []
        for (i, e) in entries.enumerated() {
            let base = i * per
            e.material.deviceHalf.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(rebasing: scratch[base..<base + 64]).copyMemory(from: src)
            }
            e.material.lctHalf.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(rebasing: scratch[base + 64..<base + 128]).copyMemory(from: src)
            }
            e.material.salt.withUnsafeBytes { src in
                UnsafeMutableRawBufferPointer(rebasing: scratch[base + 128..<base + 160]).copyMemory(from: src)
            }
            let p = Array(e.peerComponent.utf8), l = Array(e.material.lctId.utf8)
            idOffsets.append((idBytes.count, p.count, idBytes.count + p.count, l.count))
            idBytes += p + l
        }
        let comp = Array(componentId.utf8)
        let appPub = appKey.publicKey
        var out = [UInt8](repeating: 0, count: CCore.keyPackageMax)
        let cap = out.count
        var outLen = 0
        let code: Int32 = idBytes.withUnsafeBufferPointer { ids in
            comp.withUnsafeBufferPointer { compBuf in
                appPub.withUnsafeBufferPointer { pubBuf in
                    let sb = scratch.bindMemory(to: UInt8.self).baseAddress!
                    var pairs: [mb_keypkg_pair] = []
                    for (i, e) in entries.enumerated() {
                        var pair = mb_keypkg_pair()
                        pair.peer_id = e.peerId
                        pair.flags = e.flags
                        withUnsafeMutableBytes(of: &pair.key_id) { dst in
                            for j in 0..<4 { dst[j] = e.keyId[j] }
                        }
                        let o = idOffsets[i]
                        pair.peer_comp = ids.baseAddress! + o.peer
                        pair.peer_comp_len = o.peerLen
                        pair.lct_id = ids.baseAddress! + o.lct
                        pair.lct_id_len = o.lctLen
                        pair.half_1 = UnsafePointer(sb + i * per)
                        pair.half_2 = UnsafePointer(sb + i * per + 64)
                        pair.salt = UnsafePointer(sb + i * per + 128)
                        pairs.append(pair)
                    }
                    return pairs.withUnsafeBufferPointer { pairBuf in
                        var c = mb_keypkg_contents()
                        c.mode = bootstrap ? UInt8(MB_KEYPKG_MODE_BOOTSTRAP) : UInt8(MB_KEYPKG_MODE_SEALED)
                        c.package_version = version
                        c.device_id = deviceId
                        c.role = role
                        c.comp_id = compBuf.baseAddress
                        c.comp_id_len = compBuf.count
                        c.params = params.c
                        c.has_app_pub = 1
                        c.app_pub = pubBuf.baseAddress
                        c.pair_count = entries.count
                        c.pairs = pairBuf.baseAddress
                        let mode = c.mode
                        return appKey.privateKey.withUnsafeBytes { priv in
                            devicePub.withUnsafeBufferPointer { dp in
                                mb_keypkg_seal(&c, mode, bootstrap ? nil : dp.baseAddress,
                                               priv.bindMemory(to: UInt8.self).baseAddress, CCore.rng, nil,
                                               &out, cap, &outLen)
                            }
                        }
                    }
                }
            }
        }
        try CCore.check(code)
        return Array(out.prefix(outLen))
    }

    struct Route: Sendable {
        var mode: UInt8
        var role: UInt8
        var deviceId: UInt8
        var version: UInt32
        var recipient: [UInt8]
    }

    /// mb_keypkg_peek: routing fields only (unauthenticated).
    static func peek(_ pkg: [UInt8]) throws(ModbattError) -> Route {
        var r = mb_keypkg_route()
        try CCore.check(mb_keypkg_peek(pkg, pkg.count, &r))
        return Route(mode: r.mode, role: r.role, deviceId: r.device_id, version: r.package_version,
                     recipient: withUnsafeBytes(of: r.recipient) { Array($0) })
    }
}

/// An opened, validated package (mb_keypkg_open). Holds the decrypted body
/// (wiped on release); turn it into a key-store record and drop it.
final class OpenedPackage {
    private let body: UnsafeMutableBufferPointer<UInt8>
    fileprivate var contents = mb_keypkg_contents()

    var mode: UInt8 { contents.mode }
    var version: UInt32 { contents.package_version }
    var deviceId: UInt8 { contents.device_id }
    var role: UInt8 { contents.role }
    var pairCount: Int { contents.pair_count }
    var isBootstrap: Bool { contents.mode == UInt8(MB_KEYPKG_MODE_BOOTSTRAP) }
    var componentId: String {
        String(decoding: UnsafeBufferPointer(start: contents.comp_id, count: contents.comp_id_len), as: UTF8.self)
    }

    private init(body: UnsafeMutableBufferPointer<UInt8>, contents: mb_keypkg_contents) {
        self.body = body
        self.contents = contents
    }

    /// Validate `pkg` as `binding`'s device. First failure wins (see mb_keypkg_open).
    static func open(_ pkg: [UInt8], binding: BindingKeyPair, pinnedAppPub: [UInt8]?, deviceId: UInt8,
                     minVersion: UInt32, allowBootstrap: Bool) throws(ModbattError) -> OpenedPackage {
        let body = UnsafeMutableBufferPointer<UInt8>.allocate(capacity: max(pkg.count, 1))
        body.initialize(repeating: 0)
        var contents = mb_keypkg_contents()
        var x = mb_keypkg_expect()
        x.device_id = UInt16(deviceId)
        x.min_version = minVersion
        x.allow_bootstrap = allowBootstrap ? 1 : 0
        let code: Int32 = binding.privateKey.withUnsafeBytes { priv in
            binding.publicKey.withUnsafeBufferPointer { pub in
                withOptionalPointer(pinnedAppPub) { app in
                    x.binding_priv = priv.bindMemory(to: UInt8.self).baseAddress
                    x.binding_pub = pub.baseAddress
                    x.app_pub = app
                    return mb_keypkg_open(pkg, pkg.count, &x, CCore.rng, nil, body.baseAddress, body.count, &contents)
                }
            }
        }
        if let error = ModbattError(code: code) {
            mb_wipe(body.baseAddress, body.count)
            body.deallocate()
            throw error
        }
        return OpenedPackage(body: body, contents: contents)
    }

    deinit {
        mb_wipe(body.baseAddress, body.count)
        body.deallocate()
        withUnsafeMutableBytes(of: &contents) { mb_wipe($0.baseAddress, $0.count) }
    }

    /// mb_keypkg_to_record: the record the device writes.
    func record(binding: BindingKeyPair) throws(ModbattError) -> KeyRecord {
        let rec = KeyRecord()
        let code = binding.privateKey.withUnsafeBytes { priv in
            mb_keypkg_to_record(&contents, priv.bindMemory(to: UInt8.self).baseAddress, rec.raw)
        }
        try CCore.check(code)
        return rec
    }
}

func withOptionalPointer<R>(_ bytes: [UInt8]?, _ body: (UnsafePointer<UInt8>?) -> R) -> R {
    guard let bytes else { return body(nil) }
    return bytes.withUnsafeBufferPointer { body($0.baseAddress) }
}

// MARK: Key-store records

/// An `mb_ks_record` in RAM, wiped on release.
final class KeyRecord: @unchecked Sendable {
    let raw: UnsafeMutablePointer<mb_ks_record>

    init() {
        raw = .allocate(capacity: 1)
        raw.initialize(to: mb_ks_record())
    }

    deinit {
        mb_ks_record_wipe(raw)
        raw.deallocate()
    }

    struct Pair: Sendable, Equatable {
        var peerId: UInt8
        var controller: Bool
        /// Its handshakes add an ephemeral key exchange (PROTOCOL.md 6.6).
        var ephemeral = false
        var keyId: [UInt8]
        /// Non-secret fingerprint of the pair secret.
        var fingerprint: String
    }

    var generation: UInt32 { raw.pointee.generation }
    var packageVersion: UInt32 { raw.pointee.package_version }
    var deviceId: UInt8 { raw.pointee.device_id }
    var role: UInt8 { raw.pointee.role }
    var flags: UInt8 { raw.pointee.flags }
    var bootstrapped: Bool { raw.pointee.flags & UInt8(MB_KS_FLAG_BOOTSTRAPPED) != 0 }
    var params: CryptoParameters { CryptoParameters(raw.pointee.params) }
    var appPub: [UInt8]? {
        guard raw.pointee.flags & UInt8(MB_KS_FLAG_HAS_APP_KEY) != 0 else { return nil }
        return withUnsafeBytes(of: raw.pointee.app_pub) { Array($0) }
    }

    var pairs: [Pair] {
        (0..<Int(raw.pointee.pair_count)).map { i in
            withPair(i) { p, secret in
                Pair(peerId: p.peer_id, controller: p.flags & UInt8(MB_KEYPKG_PAIR_CONTROLLER) != 0,
                     ephemeral: p.flags & UInt8(MB_KEYPKG_PAIR_EPHEMERAL) != 0, keyId: withUnsafeBytes(of: p.key_id) { Array($0) }, fingerprint: CCore.fingerprint(secret))
            }
        }
    }

    func withPair<R>(_ i: Int, _ body: (mb_ks_pair, UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeMutableBytes(of: &raw.pointee.pairs) { all in
            let stride = MemoryLayout<mb_ks_pair>.stride
            let p = all.baseAddress!.advanced(by: i * stride).assumingMemoryBound(to: mb_ks_pair.self)
            return withUnsafeBytes(of: &p.pointee.secret) { body(p.pointee, $0) }
        }
    }

    func withBindingKey<R>(_ body: (UnsafeRawBufferPointer) -> R) -> R {
        withUnsafeBytes(of: &raw.pointee.binding_priv) { body($0) }
    }

    /// A fresh record holding only the binding key (first boot).
    static func initial(binding: BindingKeyPair, deviceId: UInt8, role: UInt8, appPub: [UInt8]? = nil) -> KeyRecord {
        let r = KeyRecord()
        r.raw.pointee.device_id = deviceId
        r.raw.pointee.role = role
        if let appPub, appPub.count == Int(MB_KS_PUB_LEN) {       // pinned at the factory step
            r.raw.pointee.flags |= UInt8(MB_KS_FLAG_HAS_APP_KEY)
            withUnsafeMutableBytes(of: &r.raw.pointee.app_pub) { $0.copyBytes(from: appPub) }
        }
        binding.privateKey.withUnsafeBytes { src in
            withUnsafeMutableBytes(of: &r.raw.pointee.binding_priv) { $0.copyMemory(from: src) }
        }
        return r
    }

    /// A record with the given pairs (the app's own key store).
    static func build(binding: BindingKeyPair, deviceId: UInt8, role: UInt8, version: UInt32,
                      params: CryptoParameters,
                      pairs: [(peer: UInt8, controller: Bool, ephemeral: Bool, secret: PairSecret)]) -> KeyRecord {
        let r = initial(binding: binding, deviceId: deviceId, role: role)
        r.raw.pointee.package_version = version
        r.raw.pointee.params = params.c
        r.raw.pointee.pair_count = UInt8(pairs.count)
        withUnsafeMutableBytes(of: &r.raw.pointee.pairs) { all in
            let stride = MemoryLayout<mb_ks_pair>.stride
            for (i, p) in pairs.enumerated() {
                let e = all.baseAddress!.advanced(by: i * stride).assumingMemoryBound(to: mb_ks_pair.self)
                e.pointee.peer_id = p.peer
                e.pointee.flags = (p.controller ? UInt8(MB_KEYPKG_PAIR_CONTROLLER) : 0)
                    | (p.ephemeral ? UInt8(MB_KEYPKG_PAIR_EPHEMERAL) : 0)
                withUnsafeMutableBytes(of: &e.pointee.key_id) { d in for j in 0..<4 { d[j] = p.secret.keyId[j] } }
                p.secret.secret.withUnsafeBytes { src in
                    withUnsafeMutableBytes(of: &e.pointee.secret) { $0.copyMemory(from: src) }
                }
            }
        }
        return r
    }

    /// Drop the pair with this peer id (revocation, module replacement).
    func removePair(peerId: UInt8) {
        var kept: [mb_ks_pair] = []
        let n = Int(raw.pointee.pair_count)
        withUnsafeMutableBytes(of: &raw.pointee.pairs) { all in
            let base = all.baseAddress!.assumingMemoryBound(to: mb_ks_pair.self)
            for i in 0..<n where base[i].peer_id != peerId { kept.append(base[i]) }
            mb_wipe(all.baseAddress, all.count)
            for (i, p) in kept.enumerated() { base[i] = p }
        }
        raw.pointee.pair_count = UInt8(kept.count)
        kept.withUnsafeMutableBytes { mb_wipe($0.baseAddress, $0.count) }
    }
}

// MARK: Sealed reports

enum SealedReport {
    enum Kind: UInt8, Sendable {
        case delivery = 1, keyStore = 2, alert = 3
    }

    struct Info: Sendable {
        var kind: UInt8
        var deviceId: UInt8
        var sequence: UInt32
    }

    /// mb_report_seal: encrypt to the app, sign with the device's binding key.
    static func seal(kind: Kind, deviceId: UInt8, sequence: UInt32, payload: [UInt8], appPub: [UInt8],
                     device: BindingKeyPair) throws(ModbattError) -> [UInt8] {
        var info = mb_report_info()
        info.type = kind.rawValue
        info.device_id = deviceId
        info.sequence = sequence
        var out = [UInt8](repeating: 0, count: CCore.reportMax)
        let cap = out.count
        var len = 0
        let code = device.privateKey.withUnsafeBytes { priv in
            mb_report_seal(&info, payload, payload.count, appPub, priv.bindMemory(to: UInt8.self).baseAddress,
                           device.publicKey, CCore.rng, nil, &out, cap, &len)
        }
        try CCore.check(code)
        return Array(out.prefix(len))
    }

    /// mb_report_open: verify the signature, decrypt, check the sequence.
    static func open(_ bytes: [UInt8], devicePub: [UInt8], app: BindingKeyPair,
                     minSequence: UInt32) throws(ModbattError) -> (Info, [UInt8]) {
        var info = mb_report_info()
        var pt = [UInt8](repeating: 0, count: Int(MB_REPORT_PT_MAX))
        let cap = pt.count
        var len = 0
        let code = app.privateKey.withUnsafeBytes { priv in
            mb_report_open(bytes, bytes.count, devicePub, priv.bindMemory(to: UInt8.self).baseAddress,
                           app.publicKey, minSequence, CCore.rng, nil, &info, &pt, cap, &len)
        }
        try CCore.check(code)
        return (Info(kind: info.type, deviceId: info.device_id, sequence: info.sequence), Array(pt.prefix(len)))
    }
}
