import GPulseConfig
import GPulseCore
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix
import Prometheus
import ServiceLifecycle

/// An HTTP endpoint serving a Prometheus registry in the text exposition format on `GET /metrics`
/// and the caller's health verdict on `GET /healthz` (200 or 503). HTTP is SwiftNIO's; this type
/// only routes. It runs until graceful shutdown.
public final class MetricsServer: Service, Sendable {
    public let host: String
    public let port: Int
    private let registry: PrometheusCollectorRegistry
    private let health: @Sendable () -> Health
    private let beforeScrape: (@Sendable () -> Void)?
    private let appendToScrape: (@Sendable (inout [UInt8]) -> Void)?
    private let logger: Logger
    /// A connection that sends nothing for this long (a request left half-sent, an idle keep-alive)
    /// is closed, so slow or stuck clients cannot hold sockets open indefinitely.
    public static let idleTimeoutSeconds: Int64 = 10

    /// - Parameters:
    ///   - listen: `host:port`; port 0 picks a free one (logged as `metrics endpoint listening`).
    ///   - beforeScrape: brings gauges up to date from state readable on any thread (run on each scrape).
    ///   - appendToScrape: writes series kept outside the registry after the registry's own.
    public init(
        listen: ListenAddress, registry: PrometheusCollectorRegistry, logger: Logger, beforeScrape: (@Sendable () -> Void)? = nil,
        appendToScrape: (@Sendable (inout [UInt8]) -> Void)? = nil, health: @escaping @Sendable () -> Health
    ) {
        self.appendToScrape = appendToScrape
        host = listen.host
        port = listen.port
        self.registry = registry
        self.health = health
        self.beforeScrape = beforeScrape
        self.logger = logger
    }

    public func run() async throws {
        let group = MultiThreadedEventLoopGroup(numberOfThreads: 1)
        let routes = Routes(registry: registry, health: health, beforeScrape: beforeScrape, appendToScrape: appendToScrape)
        let channel: any Channel
        do {
            channel = try await ServerBootstrap(group: group)
                .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .childChannelInitializer { channel in
                    channel.eventLoop.makeCompletedFuture {
                        try channel.pipeline.syncOperations.addHandler(IdleStateHandler(allTimeout: .seconds(Self.idleTimeoutSeconds)))
                        try channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
                        try channel.pipeline.syncOperations.addHandler(HTTPHandler(routes: routes))
                    }
                }
                .bind(host: host, port: port).get()
        } catch {
            try? await group.shutdownGracefully()
            throw MetricsServerError.cannotListen(address: "\(host):\(port)", reason: "\(error)")
        }
        let bound = channel.localAddress?.port ?? port
        logger.info("metrics endpoint listening", metadata: ["address": "http://\(host):\(bound)/metrics", "healthz": "http://\(host):\(bound)/healthz"])
        try? await gracefulShutdown()
        try? await channel.close()
        try? await group.shutdownGracefully()
    }
}

public enum MetricsServerError: Error, CustomStringConvertible, Equatable {
    case cannotListen(address: String, reason: String)
    public var description: String {
        switch self {
        case .cannotListen(let address, let reason): "cannot listen for metrics scrapes on \(address): \(reason)"
        }
    }
}

private struct Routes: Sendable {
    let registry: PrometheusCollectorRegistry
    let health: @Sendable () -> Health
    let beforeScrape: (@Sendable () -> Void)?
    let appendToScrape: (@Sendable (inout [UInt8]) -> Void)?

    func respond(method: HTTPMethod, uri: String) -> (HTTPResponseStatus, String, [UInt8]) {
        let path = uri.split(separator: "?", maxSplits: 1).first.map(String.init) ?? uri
        guard method == .GET || method == .HEAD else {
            return (.methodNotAllowed, "text/plain; charset=utf-8", Array("only GET and HEAD\n".utf8))
        }
        switch path {
        case "/metrics":
            beforeScrape?()
            var body = registry.emitToBuffer()
            appendToScrape?(&body)
            return (.ok, "text/plain; version=0.0.4; charset=utf-8", body)
        case "/healthz":
            let h = health()
            return (h.healthy ? .ok : .serviceUnavailable, "text/plain; charset=utf-8", Array("\(h.healthy ? "ok" : "unhealthy"): \(h.detail)\n".utf8))
        case "/":
            return (.ok, "text/plain; charset=utf-8", Array("gpulse: /metrics (Prometheus text format), /healthz\n".utf8))
        default:
            return (.notFound, "text/plain; charset=utf-8", Array("not found; try /metrics or /healthz\n".utf8))
        }
    }
}

/// One request at a time per connection (NIO's pipelining assistance orders them).
private final class HTTPHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let routes: Routes
    private var head: HTTPRequestHead?

    init(routes: Routes) { self.routes = routes }

    /// `IdleStateHandler` (first in the pipeline) saw nothing for `idleTimeoutSeconds`: close.
    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        if event is IdleStateHandler.IdleStateEvent {
            context.close(promise: nil)
        } else {
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
        case .body:
            break  // scrapes carry no body; anything sent is ignored
        case .end:
            guard let h = head else { return }
            head = nil
            let (status, contentType, body) = routes.respond(method: h.method, uri: h.uri)
            var headers = HTTPHeaders()
            headers.add(name: "Content-Type", value: contentType)
            headers.add(name: "Content-Length", value: "\(body.count)")
            context.write(wrapOutboundOut(.head(HTTPResponseHead(version: h.version, status: status, headers: headers))), promise: nil)
            if h.method != .HEAD {
                context.write(wrapOutboundOut(.body(.byteBuffer(context.channel.allocator.buffer(bytes: body)))), promise: nil)
            }
            let keepAlive = h.isKeepAlive
            let loopBound = NIOLoopBound(context, eventLoop: context.eventLoop)
            context.writeAndFlush(wrapOutboundOut(.end(nil))).whenComplete { _ in
                if !keepAlive { loopBound.value.close(promise: nil) }
            }
        }
    }
}
