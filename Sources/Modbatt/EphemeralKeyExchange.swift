internal import CModbatt

/// The state of one session's ephemeral P-256 exchange (`mb_kex`,
/// docs/PROTOCOL.md 6.6) at a stable address for the C session that points
/// to it. The owner keeps it alive longer than the C session: `mb_session_free`
/// wipes the secrets in it, and `deinit` wipes the rest. Opaque outside
/// this module (`cfg.kex = UnsafeMutablePointer(exchange.opaque)`).
package final class EphemeralKeyExchange {
    let pointer: UnsafeMutablePointer<mb_kex>

    /// The `mb_kex *` for `mb_session_cfg.kex`.
    package var opaque: OpaquePointer { OpaquePointer(pointer) }

    package init() {
        pointer = .allocate(capacity: 1)
        pointer.initialize(to: mb_kex())
        mb_kex_p256_init(pointer)
    }

    deinit {
        mb_wipe(pointer, MemoryLayout<mb_kex>.size)
        pointer.deallocate()
    }
}
