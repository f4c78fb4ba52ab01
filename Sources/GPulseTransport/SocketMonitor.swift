import CZeroMQ

#if canImport(Glibc)
import Glibc
#endif

/// Something libzmq did with one of a bound socket's connections, which it otherwise does silently:
/// a peer that sends a frame over ZMQ_MAXMSGSIZE, or a plaintext peer at a CURVE server, is cut off
/// inside libzmq and never reaches the application.
public enum SocketEvent: Sendable, Hashable {
    case accepted
    /// The connection is gone: the peer closed it, or libzmq dropped it for a broken or oversized
    /// frame. libzmq reports both the same way.
    case disconnected
    /// The peer spoke a different security mechanism (a plaintext peer at a CURVE socket, or the reverse).
    case mechanismMismatch
    /// Some other ZMTP violation during the handshake (libzmq's ZMQ_PROTOCOL_ERROR_* code).
    case handshakeProtocolError(code: UInt32)
    /// The ZAP handler refused the peer (its status code, e.g. 400).
    case handshakeRefused(status: UInt32)
    /// The connection failed before the handshake completed, with no more detail (errno).
    case handshakeFailed(errno: UInt32)
    case handshakeSucceeded
}

/// Reads a socket's events (zmq_socket_monitor) from an inproc PAIR socket. Owned, like the socket it
/// watches, by one thread; register `socket` with a `ZMQPoller` and call `next()` when it is readable.
public final class SocketMonitor {
    /// The PAIR end the events arrive on.
    public let socket: ZMQSocket
    private let endpoint: String
    private var buffer = MessageBuffer(reservingCapacity: 256)

    /// Starts monitoring `watched`; `name` makes the inproc endpoint unique within its context.
    public init(watching watched: ZMQSocket, name: String) throws(ZMQError) {
        endpoint = "inproc://gpulse-monitor-\(name)"
        let events =
            ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
            | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_SUCCEEDED
        guard zmq_socket_monitor(try watched.pollHandle(), endpoint, events) == 0 else {
            throw ZMQError.current("zmq_socket_monitor", endpoint: endpoint)
        }
        socket = try ZMQSocket(context: watched.context, type: .pair)
        try socket.set(.lingerMilliseconds(0))
        try socket.connect(endpoint)
    }

    /// The next event, or nil when none is waiting.
    public func next() throws(ZMQError) -> SocketEvent? {
        while try socket.receive(into: &buffer, blocking: false) {
            // Frame 1: uint16 event and uint32 value, host byte order; frame 2: the endpoint.
            guard buffer.frameCount == 2, let (event, value) = buffer.withFrame(0, { Self.parse($0) }) else { continue }
            switch Int32(event) {
            case ZMQ_EVENT_ACCEPTED: return .accepted
            case ZMQ_EVENT_DISCONNECTED: return .disconnected
            case ZMQ_EVENT_HANDSHAKE_SUCCEEDED: return .handshakeSucceeded
            case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH: return .handshakeRefused(status: value)
            case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL: return .handshakeFailed(errno: value)
            case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
                return Int32(bitPattern: value) == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH ? .mechanismMismatch : .handshakeProtocolError(code: value)
            default: continue
            }
        }
        return nil
    }

    static func parse(_ frame: UnsafeRawBufferPointer) -> (UInt16, UInt32)? {
        guard frame.count == 6 else { return nil }
        return (frame.loadUnaligned(fromByteOffset: 0, as: UInt16.self), frame.loadUnaligned(fromByteOffset: 2, as: UInt32.self))
    }

    /// Stops the monitor and closes the PAIR end.
    public func close() {
        socket.close()
    }
}
