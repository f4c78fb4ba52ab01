import NIOCore
import NIOHTTP1
import NIOPosix

/// An `http://host:port/path` address of a metrics page (no TLS: engines serve /metrics on the host).
public struct PageURL: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int
    public var path: String

    /// nil when `text` is not `http://host[:port][/path]` (port 80 when absent).
    public init?(_ text: String) {
        guard text.hasPrefix("http://") else { return nil }
        let rest = text.dropFirst("http://".count)
        let slash = rest.firstIndex(of: "/") ?? rest.endIndex
        let authority = rest[..<slash]
        path = slash == rest.endIndex ? "/" : String(rest[slash...])
        var h = Substring(authority)
        var p = 80
        if let colon = authority.lastIndex(of: ":"), !authority.hasSuffix("]") {
            guard let n = Int(authority[authority.index(after: colon)...]), (1...65535).contains(n) else { return nil }
            p = n
            h = authority[..<colon]
        }
        if h.hasPrefix("[") && h.hasSuffix("]") { h = h.dropFirst().dropLast() }
        guard !h.isEmpty, !h.contains(where: { $0 == " " || $0 == "@" }), !path.contains(" ") else { return nil }
        host = String(h)
        port = p
    }

    public var description: String { "http://\(host.contains(":") ? "[\(host)]" : host):\(port)\(path)" }
}

/// Why a page could not be read: each names what an SRE would check first.
public enum FetchError: Error, Equatable, CustomStringConvertible {
    case connect(String)
    case timeout(milliseconds: Int)
    case status(Int)
    case tooLarge(limit: Int)
    case closedEarly

    public var description: String {
        switch self {
        case .connect(let e): "cannot connect: \(e)"
        case .timeout(let ms): "no complete answer within \(ms) ms"
        case .status(let s): "HTTP status \(s)"
        case .tooLarge(let limit): "page larger than \(limit) bytes"
        case .closedEarly: "connection closed before the page ended"
        }
    }
}

/// GETs one page at a time, on a fresh connection each time (a few a second, on loopback), with one
/// deadline for the whole exchange and a cap on the body: an engine that hangs, trickles or serves
/// gigabytes costs the calling thread at most the timeout and the agent at most the cap. Blocking:
/// called from a sampling thread, never from an event loop.
public final class HTTPPageFetcher: Sendable {
    public let url: PageURL
    public let timeoutMilliseconds: Int
    public let maxBytes: Int
    private let group: any EventLoopGroup

    public init(url: PageURL, timeoutMilliseconds: Int, maxBytes: Int, group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton) {
        self.url = url
        self.timeoutMilliseconds = timeoutMilliseconds
        self.maxBytes = maxBytes
        self.group = group
    }

    public func fetch() throws(FetchError) -> [UInt8] {
        let loop = group.next()
        let done = Outcome(loop.makePromise(of: [UInt8].self))
        let (url, maxBytes) = (self.url, self.maxBytes)
        let timeout = TimeAmount.milliseconds(Int64(timeoutMilliseconds))
        let ms = timeoutMilliseconds
        let deadline = loop.scheduleTask(in: timeout) { done.complete(.failure(FetchError.timeout(milliseconds: ms))) }
        let connected = ClientBootstrap(group: loop)
            .connectTimeout(timeout)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHTTPClientHandlers()
                    try channel.pipeline.syncOperations.addHandler(PageCollector(done: done, maxBytes: maxBytes))
                }
            }
            .connect(host: url.host, port: url.port)
        connected.whenFailure { done.complete(.failure(FetchError.connect("\($0)"))) }
        connected.whenSuccess { channel in
            var head = HTTPRequestHead(version: .http1_1, method: .GET, uri: url.path)
            head.headers.add(name: "Host", value: "\(url.host):\(url.port)")
            head.headers.add(name: "Accept", value: "text/plain;version=0.0.4, */*;q=0.1")
            head.headers.add(name: "User-Agent", value: "gpulse-agent")
            head.headers.add(name: "Connection", value: "close")
            channel.write(HTTPClientRequestPart.head(head), promise: nil)
            channel.writeAndFlush(HTTPClientRequestPart.end(nil), promise: nil)
            // Whatever ends the exchange (page, error, deadline) closes the connection.
            done.promise.futureResult.whenComplete { _ in channel.close(promise: nil) }
        }
        done.promise.futureResult.whenComplete { _ in deadline.cancel() }
        do {
            return try done.promise.futureResult.wait()
        } catch let e as FetchError {
            throw e
        } catch {
            throw .connect("\(error)")
        }
    }
}

/// The exchange's result, set once by whichever comes first: the page, an error, the deadline.
/// Touched only on the one event loop that runs the exchange.
private final class Outcome: @unchecked Sendable {
    let promise: EventLoopPromise<[UInt8]>
    private var completed = false
    init(_ promise: EventLoopPromise<[UInt8]>) { self.promise = promise }
    func complete(_ result: Result<[UInt8], any Error>) {
        promise.futureResult.eventLoop.assertInEventLoop()
        guard !completed else { return }
        completed = true
        promise.completeWith(result)
    }
}

/// Collects one response body up to the cap; fails on any status but 200.
private final class PageCollector: ChannelInboundHandler, @unchecked Sendable {
    typealias InboundIn = HTTPClientResponsePart
    private let done: Outcome
    private let maxBytes: Int
    private var body: [UInt8] = []
    private var finished = false

    init(done: Outcome, maxBytes: Int) {
        self.done = done
        self.maxBytes = maxBytes
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        guard !finished else { return }
        switch unwrapInboundIn(data) {
        case .head(let head):
            if head.status != .ok { finish(.failure(FetchError.status(Int(head.status.code)))) }
        case .body(let buffer):
            guard body.count + buffer.readableBytes <= maxBytes else {
                finish(.failure(FetchError.tooLarge(limit: maxBytes)))
                return
            }
            body.append(contentsOf: buffer.readableBytesView)
        case .end:
            finish(.success(body))
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        finish(.failure(FetchError.closedEarly))
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        finish(.failure(FetchError.connect("\(error)")))
        context.close(promise: nil)
    }

    private func finish(_ result: Result<[UInt8], any Error>) {
        guard !finished else { return }
        finished = true
        done.complete(result)
    }
}
