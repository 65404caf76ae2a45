import Foundation
import Hummingbird
import Logging
import NIOConcurrencyHelpers
import NIOCore
import ServiceLifecycle

/// An API-Bridge in this process: the same REST subset and JSON shapes as
/// the real service, backed by SQLite.
///
/// ```swift
/// let bridge = try await EmbeddedBridge.start(.ephemeral(token: "t0ken"))
/// defer { Task { await bridge.stop() } }
/// let client = try BridgeClient(configuration: .init(baseURL: bridge.baseURL, token: "t0ken"))
/// ```
public final class EmbeddedBridge: Sendable {
    /// The address the server is bound to.
    public let host: String
    /// The bound port (the real one when the configuration asked for 0).
    public let port: Int
    /// `http://host:port`.
    public var baseURL: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)" }

    let store: BridgeStore
    private let group: ServiceGroup
    private let task: Task<Void, Never>
    private let stopped = NIOLockedValueBox(false)

    private init(host: String, port: Int, store: BridgeStore, group: ServiceGroup, task: Task<Void, Never>) {
        self.host = host
        self.port = port
        self.store = store
        self.group = group
        self.task = task
    }

    /// Open the database, bind, and return once the server accepts connections.
    public static func start(_ configuration: BridgeServerConfiguration) async throws -> EmbeddedBridge {
        let store = try makeStore(configuration)
        let started = StartSignal()
        let app = makeApplication(configuration, store: store) { channel in
            started.resolve(.success(channel.localAddress?.port ?? configuration.port))
        }
        let group = ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [],
                                                      logger: configuration.logger))
        let task = Task {
            do {
                try await group.run()
                started.resolve(.failure(BridgeServerError.stoppedBeforeStart))
            } catch {
                started.resolve(.failure(error))
            }
        }
        do {
            let port = try await started.value()
            return EmbeddedBridge(host: configuration.host, port: port, store: store, group: group, task: task)
        } catch {
            task.cancel()
            _ = await task.value
            store.close()
            throw error
        }
    }

    /// Run in the foreground until SIGINT or SIGTERM, then shut down
    /// gracefully (for `modbatt bridge serve`). `onRunning` gets the bound port.
    public static func serve(_ configuration: BridgeServerConfiguration,
                             onRunning: @escaping @Sendable (Int) -> Void = { _ in }) async throws {
        let store = try makeStore(configuration)
        defer { store.close() }
        let app = makeApplication(configuration, store: store) { channel in
            onRunning(channel.localAddress?.port ?? configuration.port)
        }
        try await app.runService(gracefulShutdownSignals: [.sigterm, .sigint])
    }

    /// Stop accepting connections, let calls in flight finish (at most
    /// `grace`, then they are cancelled), and close the database. Idempotent.
    public func stop(grace: Duration = .seconds(2)) async {
        let first = stopped.withLockedValue { wasStopped in
            defer { wasStopped = true }
            return !wasStopped
        }
        guard first else { return }
        await group.triggerGracefulShutdown()
        let task = self.task
        let watchdog = Task {
            try await Task.sleep(for: grace)
            task.cancel()
        }
        _ = await task.value
        watchdog.cancel()
        store.close()
    }

    /// The LCTs a component is part of (for tests: counting orphans).
    public func relationships(of componentId: String) async throws -> [LCT] {
        try await store.relationships(of: componentId)
    }

    /// Number of registered components and LCTs (for tests and the demo).
    public func counts() async throws -> (components: Int, lcts: Int) {
        (try await store.componentCount(), try await store.lctCount())
    }

    // MARK: Assembly

    static func makeStore(_ configuration: BridgeServerConfiguration) throws -> BridgeStore {
        let path: String?
        switch configuration.storage {
        case .memory: path = nil
        case .file(let p): path = p
        case .defaultFile: path = try DataDirectory.file("bridge.sqlite")
        }
        do {
            return try BridgeStore(path: path, challengeLifetime: Int64(configuration.challengeLifetimeSeconds),
                                   oneLCTPerPair: configuration.oneLCTPerPair)
        } catch {
            throw BridgeServerError.database(path: path ?? ":memory:", reason: "\(error)")
        }
    }

    static func makeApplication(_ configuration: BridgeServerConfiguration, store: BridgeStore,
                                onRunning: @escaping @Sendable (any Channel) async -> Void) -> some ApplicationProtocol {
        let logger = configuration.logger
        let router = Router(context: BasicRequestContext.self)
        // Middleware first (Hummingbird wraps routes added after it), outermost first.
        router.add(middleware: JSONErrorMiddleware(logger: logger))
        router.add(middleware: RequestLogMiddleware(logger: logger))
        if configuration.faults.isActive {
            router.add(middleware: FaultMiddleware(injector: FaultInjector(configuration.faults), logger: logger))
        }
        if !configuration.scriptedFaults.isEmpty {
            router.add(middleware: ScriptedFaultMiddleware(faults: configuration.scriptedFaults, logger: logger))
        }
        if let rate = configuration.rateLimitPerSecond, rate > 0 {
            router.add(middleware: RateLimitMiddleware(limiter: RateLimiter(perSecond: rate),
                                                       retryAfterSeconds: max(configuration.faults.retryAfterSeconds, 1)))
        }
        switch configuration.auth {
        case .token(let token): router.add(middleware: TokenAuthMiddleware(token: token, schemes: configuration.authSchemes))
        case .disabled: logger.warning("authentication DISABLED (--no-auth): any local client may call the bridge")
        }
        BridgeRoutes(store: store, maxBodyBytes: configuration.maxBodyBytes, logger: logger).add(to: router)
        // Hummingbird's own logger stays quiet below warnings: it is not ours to vet.
        var hbLogger = logger
        hbLogger.logLevel = max(logger.logLevel, .warning)
        return Application(
            router: router,
            configuration: .init(address: .hostname(configuration.host, port: configuration.port),
                                 serverName: "modbatt-bridge"),
            onServerRunning: onRunning,
            logger: hbLogger)
    }
}

/// Errors from starting the embedded bridge.
public enum BridgeServerError: Error, CustomStringConvertible, Sendable {
    case stoppedBeforeStart
    case database(path: String, reason: String)

    public var description: String {
        switch self {
        case .stoppedBeforeStart: return "the bridge server stopped before it started listening"
        case .database(let path, let reason): return "cannot open the bridge database \(path): \(reason)"
        }
    }
}

/// Resolves once with the bound port or the start error.
private final class StartSignal: Sendable {
    private let state = NIOLockedValueBox<(result: Result<Int, any Error>?, waiter: CheckedContinuation<Int, any Error>?)>((nil, nil))

    func resolve(_ result: Result<Int, any Error>) {
        let waiter: CheckedContinuation<Int, any Error>? = state.withLockedValue { s in
            guard s.result == nil else { return nil }
            s.result = result
            defer { s.waiter = nil }
            return s.waiter
        }
        waiter?.resume(with: result)
    }

    func value() async throws -> Int {
        try await withCheckedThrowingContinuation { continuation in
            let ready: Result<Int, any Error>? = state.withLockedValue { s in
                if let r = s.result { return r }
                s.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(with: ready) }
        }
    }
}
