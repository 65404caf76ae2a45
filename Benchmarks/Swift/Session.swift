// Case 2 (session): the Swift safety layer's wrapper over the C core's
// session API (mb_session). Until the package has one, there is nothing to
// measure here and the report says so; the Swift layer is then measured
// through AESGCMContext (swift_aead.*) against the C primitive (c_aead.*).

enum SessionCases {
    /// What case 2 measured, for swift.json and the report.
    static let apiDescription = "none: the package has no Swift session wrapper yet"

    static func make() -> [any MessageBench] { [] }
}
