import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The ZeroMQ socket patterns gpulse uses.
public enum SocketType: Sendable, Hashable {
    case push, pull, pub, sub, req, rep, dealer, router, pair

    var raw: Int32 {
        switch self {
        case .push: ZMQ_PUSH
        case .pull: ZMQ_PULL
        case .pub: ZMQ_PUB
        case .sub: ZMQ_SUB
        case .req: ZMQ_REQ
        case .rep: ZMQ_REP
        case .dealer: ZMQ_DEALER
        case .router: ZMQ_ROUTER
        case .pair: ZMQ_PAIR
        }
    }
}

/// What `receiveFrame(into:)` got.
public struct ReceivedFrame: Sendable, Hashable {
    /// Bytes written into the caller's buffer.
    public var count: Int
    /// More frames of the same message follow.
    public var hasMore: Bool
}

/// One libzmq socket with one owner. libzmq sockets are not thread safe, so this type is not `Sendable`:
/// create it on the thread that uses it, and close it there. It keeps its context alive until closed.
public final class ZMQSocket {
    public let type: SocketType
    let context: ZMQContext
    private var handle: UnsafeMutableRawPointer?
    /// One zmq_msg_t reused by every receive, so receiving does not allocate.
    private let message = UnsafeMutablePointer<zmq_msg_t>.allocate(capacity: 1)

    public init(context: ZMQContext, type: SocketType) throws(ZMQError) {
        guard let handle = zmq_socket(context.handle, type.raw) else { throw ZMQError.current("zmq_socket") }
        self.context = context
        self.type = type
        self.handle = handle
        zmq_msg_init(message)
    }

    deinit {
        close()
        zmq_msg_close(message)
        message.deallocate()
    }

    public var isClosed: Bool { handle == nil }

    /// Closes the socket; unsent messages are kept for the LINGER period by libzmq's I/O thread.
    /// Closing twice is harmless.
    public func close() {
        guard let h = handle else { return }
        handle = nil
        zmq_close(h)
    }

    private func open() throws(ZMQError) -> UnsafeMutableRawPointer {
        guard let handle else { throw .socketClosed }
        return handle
    }

    public func bind(_ endpoint: String) throws(ZMQError) {
        let h = try open()
        try enableIPv6(for: endpoint)
        guard zmq_bind(h, endpoint) == 0 else { throw ZMQError.current("zmq_bind", endpoint: endpoint) }
    }

    public func connect(_ endpoint: String) throws(ZMQError) {
        let h = try open()
        try enableIPv6(for: endpoint)
        guard zmq_connect(h, endpoint) == 0 else { throw ZMQError.current("zmq_connect", endpoint: endpoint) }
    }

    /// libzmq speaks IPv4 only unless ZMQ_IPV6 is set: `tcp://[::1]:7461` would fail to bind ("not
    /// available") and a connect to it would never complete, silently. Set for every bracketed address.
    private func enableIPv6(for endpoint: String) throws(ZMQError) {
        guard Self.isIPv6(endpoint) else { return }
        try set([.ipv6(true)])
    }

    /// Whether `endpoint` is TCP to a bracketed IPv6 address (`tcp://[::1]:7461`, `tcp://[fe80::1%eth0]:1`).
    static func isIPv6(_ endpoint: String) -> Bool {
        guard endpoint.hasPrefix("tcp://") else { return false }
        // A connect may name a source address first: tcp://source;destination.
        return endpoint.dropFirst(6).contains("[")
    }

    /// The endpoint last bound, with the port libzmq picked for "tcp://127.0.0.1:*".
    public func lastEndpoint() throws(ZMQError) -> String {
        let h = try open()
        var buffer = [CChar](repeating: 0, count: 512)
        var size = buffer.count
        guard zmq_getsockopt(h, ZMQ_LAST_ENDPOINT, &buffer, &size) == 0 else {
            throw ZMQError.current("zmq_getsockopt(ZMQ_LAST_ENDPOINT)")
        }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    public func set(_ option: SocketOption) throws(ZMQError) {
        let h = try open()
        guard option.apply(to: h) == 0 else {
            let error = ZMQError.current("zmq_setsockopt(\(option.name))")
            if case .system(_, EINVAL, _) = error { throw .invalidOption(option.name) }
            throw error
        }
    }

    public func set(_ options: [SocketOption]) throws(ZMQError) {
        for option in options { try set(option) }
    }

    // MARK: Sending

    /// Sends one frame. Returns false when `blocking` is false and the queue is full (high-water mark).
    @discardableResult
    public func send(_ bytes: UnsafeRawBufferPointer, more: Bool = false, blocking: Bool = true) throws(ZMQError) -> Bool {
        let h = try open()
        let flags = (more ? ZMQ_SNDMORE : 0) | (blocking ? 0 : ZMQ_DONTWAIT)
        let rc = retryingEINTR { zmq_send(h, bytes.baseAddress, bytes.count, flags) }
        if rc >= 0 { return true }
        let error = ZMQError.current("zmq_send")
        if error == .wouldBlock { return false }
        throw error
    }

    @discardableResult
    public func send(_ bytes: [UInt8], more: Bool = false, blocking: Bool = true) throws(ZMQError) -> Bool {
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(ZMQError) -> Bool in try send(raw, more: more, blocking: blocking) }
        }
        return try result.get()
    }

    /// Sends a multi-frame message atomically: libzmq delivers all frames or none.
    /// Returns false when non-blocking and the first frame found the queue full.
    @discardableResult
    public func send(frames: [[UInt8]], blocking: Bool = true) throws(ZMQError) -> Bool {
        for (i, frame) in frames.enumerated() {
            let sent = try send(frame, more: i < frames.count - 1, blocking: blocking)
            // Once the first frame is queued, the rest always are (libzmq queues whole messages).
            if !sent { return false }
        }
        return true
    }

    // MARK: Receiving

    /// Receives one frame into `buffer`. Returns nil when `blocking` is false and nothing is waiting.
    /// A frame larger than `buffer` is consumed and reported as `frameTooLarge`.
    public func receiveFrame(into buffer: UnsafeMutableRawBufferPointer, blocking: Bool = true) throws(ZMQError) -> ReceivedFrame? {
        let h = try open()
        let flags = blocking ? 0 : ZMQ_DONTWAIT
        let rc = retryingEINTR { zmq_recv(h, buffer.baseAddress, buffer.count, flags) }
        if rc < 0 {
            let error = ZMQError.current("zmq_recv")
            if error == .wouldBlock { return nil }
            throw error
        }
        let more = try hasMore(h)
        if Int(rc) > buffer.count {
            if more { try discardRest(h) }
            throw .frameTooLarge(size: Int(rc), capacity: buffer.count)
        }
        return ReceivedFrame(count: Int(rc), hasMore: more)
    }

    /// Receives a whole multi-frame message into `buffer`, replacing what it held.
    /// Returns false when `blocking` is false and nothing is waiting.
    @discardableResult
    public func receive(into buffer: inout MessageBuffer, blocking: Bool = true) throws(ZMQError) -> Bool {
        let h = try open()
        buffer.removeAll()
        var flags = blocking ? 0 : ZMQ_DONTWAIT
        while true {
            let rc = retryingEINTR { zmq_msg_recv(message, h, flags) }
            if rc < 0 {
                let error = ZMQError.current("zmq_msg_recv")
                if error == .wouldBlock && buffer.frameCount == 0 { return false }
                throw error
            }
            buffer.append(UnsafeRawBufferPointer(start: zmq_msg_data(message), count: zmq_msg_size(message)))
            if buffer.frameCount == 1 {
                if let user = zmq_msg_gets(message, "User-Id") { buffer.peerUserID = String(cString: user) }
                if let address = zmq_msg_gets(message, "Peer-Address") { buffer.peerAddress = String(cString: address) }
            }
            if zmq_msg_more(message) == 0 { return true }
            flags = 0  // the rest of a message is already here
        }
    }

    /// Receives a whole message as separate arrays (convenient, allocates; not for hot paths).
    public func receiveFrames(blocking: Bool = true) throws(ZMQError) -> [[UInt8]]? {
        var buffer = MessageBuffer(reservingCapacity: 0)
        guard try receive(into: &buffer, blocking: blocking) else { return nil }
        return (0..<buffer.frameCount).map { buffer.frame($0) }
    }

    /// Waits up to `timeoutMilliseconds` (-1 forever) for a message to receive.
    public func waitReadable(timeoutMilliseconds: Int) throws(ZMQError) -> Bool {
        let h = try open()
        var item = zmq_pollitem_t(socket: h, fd: 0, events: Int16(ZMQ_POLLIN), revents: 0)
        let rc = retryingEINTR { zmq_poll(&item, 1, timeoutMilliseconds) }
        guard rc >= 0 else { throw ZMQError.current("zmq_poll") }
        return item.revents & Int16(ZMQ_POLLIN) != 0
    }

    private func hasMore(_ h: UnsafeMutableRawPointer) throws(ZMQError) -> Bool {
        var more: Int32 = 0
        var size = MemoryLayout<Int32>.size
        guard zmq_getsockopt(h, ZMQ_RCVMORE, &more, &size) == 0 else { throw ZMQError.current("zmq_getsockopt(ZMQ_RCVMORE)") }
        return more != 0
    }

    private func discardRest(_ h: UnsafeMutableRawPointer) throws(ZMQError) {
        while true {
            guard retryingEINTR({ zmq_msg_recv(message, h, 0) }) >= 0 else { throw ZMQError.current("zmq_msg_recv") }
            if zmq_msg_more(message) == 0 { return }
        }
    }

    /// The raw handle, for `ZMQPoller` in this module only.
    func pollHandle() throws(ZMQError) -> UnsafeMutableRawPointer { try open() }
}
