import GPulseConfig
import GPulseCore
import GRPCCore
import GRPCNIOTransportHTTP2Posix
import GRPCProtobuf
import Logging
import ServiceLifecycle
import Synchronization

/// One finished call on the KEDA endpoint, for the aggregator's Prometheus counters.
public struct ScalerCall: Sendable {
    /// `IsActive`, `StreamIsActive`, `GetMetricSpec` or `GetMetrics`.
    public var method: String
    /// The gRPC status: `ok`, `invalid_argument`, `not_found`, `unavailable`.
    public var code: String
    public var seconds: Double
}

/// KEDA's `externalscaler.ExternalScaler` on the decision board: the translation between KEDA's
/// messages and `ScalerAnswers`, and one log line per pool and refusal kind when it changes (KEDA
/// asks every polling interval; the log says when an answer starts or stops being refused).
final class ExternalScalerHandler: Externalscaler_ExternalScaler.SimpleServiceProtocol {
    let board: DecisionBoard
    let logger: Logger
    let observe: @Sendable (ScalerCall) -> Void
    let now: @Sendable () -> Int64
    /// The pools being refused, for one log line per change.
    let refusals = Mutex(RefusalLog())

    init(board: DecisionBoard, logger: Logger, observe: @escaping @Sendable (ScalerCall) -> Void, now: @escaping @Sendable () -> Int64) {
        self.board = board
        self.logger = logger
        self.observe = observe
        self.now = now
    }

    func isActive(request: Externalscaler_ScaledObjectRef, context: ServerContext) async throws -> Externalscaler_IsActiveResponse {
        try answer("IsActive", request) { q throws(ScalerRefusal) in
            var r = Externalscaler_IsActiveResponse()
            r.result = try ScalerAnswers.isActive(q, board: board, nowNanos: now())
            return r
        }
    }

    func getMetricSpec(request: Externalscaler_ScaledObjectRef, context: ServerContext) async throws -> Externalscaler_GetMetricSpecResponse {
        try answer("GetMetricSpec", request) { q throws(ScalerRefusal) in
            let (name, target) = try ScalerAnswers.spec(q, board: board)
            var spec = Externalscaler_MetricSpec()
            spec.metricName = name
            spec.targetSizeFloat = target
            spec.targetSize = Int64(target.rounded(.up))
            var r = Externalscaler_GetMetricSpecResponse()
            r.metricSpecs = [spec]
            return r
        }
    }

    func getMetrics(request: Externalscaler_GetMetricsRequest, context: ServerContext) async throws -> Externalscaler_GetMetricsResponse {
        try answer("GetMetrics", request.scaledObjectRef) { q throws(ScalerRefusal) in
            let v = try ScalerAnswers.value(q, board: board, nowNanos: now())
            var value = Externalscaler_MetricValue()
            // KEDA sends back the name it was given in the spec; answer under the same name.
            value.metricName = request.metricName.isEmpty ? q.metricName : request.metricName
            value.metricValueFloat = v
            value.metricValue = Int64(v.rounded(.up))
            var r = Externalscaler_GetMetricsResponse()
            r.metricValues = [value]
            return r
        }
    }

    /// Sends the pool's activity at once, then each time it changes, until KEDA hangs up. A refusal
    /// (unknown pool, no or an expired decision) ends the stream with its status; KEDA reconnects.
    func streamIsActive(
        request: Externalscaler_ScaledObjectRef, response: RPCWriter<Externalscaler_IsActiveResponse>, context: ServerContext
    ) async throws {
        let started = ContinuousClock.now
        var code = "ok"
        defer { observe(ScalerCall(method: "StreamIsActive", code: code, seconds: (ContinuousClock.now - started).seconds)) }
        do {
            let q = try ScalerQuery(metadata: request.scalerMetadata)
            var changes = board.changes().makeAsyncIterator()
            var last: Bool?
            while !Task.isCancelled {
                let active = try ScalerAnswers.isActive(q, board: board, nowNanos: now())
                clearRefusal(q.pool)
                if active != last {
                    var r = Externalscaler_IsActiveResponse()
                    r.result = active
                    try await response.write(r)
                    last = active
                }
                // A change posted, or the once-a-second nudge that notices an expiry.
                guard await changes.next() != nil else { break }
            }
        } catch let refusal as ScalerRefusal {
            code = refusal.kind.code
            log(refusal, pool: request.scalerMetadata["pool"] ?? "", method: "StreamIsActive")
            throw RPCError(code: refusal.kind.rpcCode, message: refusal.description)
        }
    }

    private func answer<R>(_ method: String, _ ref: Externalscaler_ScaledObjectRef, _ body: (ScalerQuery) throws(ScalerRefusal) -> R) throws -> R {
        let started = ContinuousClock.now
        do {
            let q = try ScalerQuery(metadata: ref.scalerMetadata)
            let r = try body(q)
            clearRefusal(q.pool)
            observe(ScalerCall(method: method, code: "ok", seconds: (ContinuousClock.now - started).seconds))
            return r
        } catch {
            observe(ScalerCall(method: method, code: error.kind.code, seconds: (ContinuousClock.now - started).seconds))
            log(error, pool: ref.scalerMetadata["pool"] ?? "", method: method)
            throw RPCError(code: error.kind.rpcCode, message: error.description)
        }
    }

    private func log(_ refusal: ScalerRefusal, pool: String, method: String) {
        guard refusals.withLock({ $0.refusing(pool, refusal.kind) }) else { return }
        let level: Logger.Level = refusal.kind == .unavailable ? .warning : .notice
        logger.log(level: level, "keda: refused", metadata: ["pool": "\(pool)", "method": "\(method)", "reason": "\(refusal)"])
    }

    private func clearRefusal(_ pool: String) {
        if refusals.withLock({ $0.answering(pool) }) { logger.notice("keda: answering again", metadata: ["pool": "\(pool)"]) }
    }
}

extension ScalerRefusal.Kind {
    var rpcCode: RPCError.Code {
        switch self {
        case .invalidArgument: .invalidArgument
        case .notFound: .notFound
        case .unavailable: .unavailable
        }
    }
    var code: String {
        switch self {
        case .invalidArgument: "invalid_argument"
        case .notFound: "not_found"
        case .unavailable: "unavailable"
        }
    }
}

extension Duration {
    fileprivate var seconds: Double { Double(components.seconds) + Double(components.attoseconds) / 1e18 }
}

/// Where and how the KEDA endpoint listens (the config's `keda:` section, resolved).
public struct ScalerEndpoint: Sendable {
    public var address: ListenAddress
    /// PEM paths; nil: plaintext.
    public var tls: (cert: String, key: String, clientCA: String?)?

    public init(address: ListenAddress, tls: (cert: String, key: String, clientCA: String?)?) {
        self.address = address
        self.tls = tls
    }
}

/// The KEDA external scaler's gRPC server, a service of the aggregator's `ServiceGroup`. It reads
/// only the decision board; the ingest thread keeps writing it whether anyone asks or not.
public final class KEDAScalerService: Service, Sendable {
    private let endpoint: ScalerEndpoint
    private let board: DecisionBoard
    private let logger: Logger
    private let observe: @Sendable (ScalerCall) -> Void
    private let bound = Mutex<String?>(nil)

    /// The address it listens on once started (the real port when the config said 0).
    public var boundAddress: String? { bound.withLock { $0 } }

    public init(endpoint: ScalerEndpoint, board: DecisionBoard, logger: Logger, observe: @escaping @Sendable (ScalerCall) -> Void = { _ in }) {
        self.endpoint = endpoint
        self.board = board
        self.logger = logger
        self.observe = observe
    }

    public func run() async throws {
        let security: HTTP2ServerTransport.Posix.TransportSecurity
        if let tls = endpoint.tls {
            let chain: [TLSConfig.CertificateSource] = [.file(path: tls.cert, format: .pem)]
            let key = TLSConfig.PrivateKeySource.file(path: tls.key, format: .pem)
            if let ca = tls.clientCA {
                security = .mTLS(certificateChain: chain, privateKey: key) { config in
                    config.trustRoots = .certificates([.file(path: ca, format: .pem)])
                    config.clientCertificateVerification = .noHostnameVerification
                }
            } else {
                security = .tls(certificateChain: chain, privateKey: key)
            }
        } else {
            security = .plaintext
        }
        let (host, port) = (endpoint.address.host, endpoint.address.port)
        let transport = HTTP2ServerTransport.Posix(
            address: host.contains(":") ? .ipv6(host: host, port: port) : .ipv4(host: host, port: port), transportSecurity: security)
        let handler = ExternalScalerHandler(board: board, logger: logger, observe: observe, now: { SystemClock.wallNanos() })
        let server = GRPCServer(transport: transport, services: [handler])
        // Expiry happens without a post: wake the streams once a second so that they notice it.
        let nudger = Task { [board] in
            while (try? await Task.sleep(for: .seconds(1))) != nil { board.nudge() }
        }
        defer { nudger.cancel() }
        let board = self.board
        try await withThrowingDiscardingTaskGroup { group in
            group.addTask {
                // SIGTERM: stop taking calls, end the open streams (KEDA reconnects to the next
                // instance), let unary calls finish.
                try await withGracefulShutdownHandler {
                    try await server.serve()
                } onGracefulShutdown: { [board] in
                    board.closeWatchers()
                    server.beginGracefulShutdown()
                }
            }
            let listening = try await transport.listeningAddress
            if let address = listening.ipv4 ?? listening.ipv6.map({ SocketAddress.IPv4(host: "[\($0.host)]", port: $0.port) }) {
                let text = "\(address.host):\(address.port)"
                bound.withLock { $0 = text }
                logger.info(
                    "keda scaler listening",
                    metadata: [
                        "listen": "\(text)", "tls": "\(endpoint.tls == nil ? "off" : endpoint.tls?.clientCA == nil ? "server" : "mutual")",
                    ])
            }
        }
    }
}
