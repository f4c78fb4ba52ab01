import CZeroMQ

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A libzmq failure, with errno already classified. `EINTR` never reaches callers: it is retried.
public enum ZMQError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Non-blocking call found nothing to receive, or no room to send (EAGAIN).
    case wouldBlock
    /// The context was terminated while the call ran (ETERM).
    case contextTerminated
    /// The socket was closed by its owner before this call.
    case socketClosed
    /// The endpoint string is malformed, or its transport is unknown (EINVAL, EPROTONOSUPPORT).
    case invalidEndpoint(String)
    /// Another socket or process already binds this address (EADDRINUSE).
    case addressInUse(String)
    /// The address is not local to this host (EADDRNOTAVAIL, ENODEV).
    case addressNotAvailable(String)
    /// The operation does not fit the socket's state, e.g. two sends on a REQ socket (EFSM).
    case invalidState(operation: String)
    /// An option value libzmq refused (EINVAL on setsockopt).
    case invalidOption(String)
    /// A received frame did not fit the caller's buffer.
    case frameTooLarge(size: Int, capacity: Int)
    /// Anything else, with the errno and libzmq's own text.
    case system(operation: String, errno: Int32, message: String)

    public var description: String {
        switch self {
        case .wouldBlock: "operation would block"
        case .contextTerminated: "ZeroMQ context terminated"
        case .socketClosed: "socket already closed"
        case .invalidEndpoint(let e): "invalid endpoint '\(e)' (expected e.g. tcp://127.0.0.1:7461, ipc:///run/x, inproc://name)"
        case .addressInUse(let e): "address \(e) is already in use"
        case .addressNotAvailable(let e): "address \(e) is not available on this host"
        case .invalidState(let op): "\(op) is not allowed in this socket's state"
        case .invalidOption(let o): "libzmq refused option \(o)"
        case .frameTooLarge(let size, let capacity): "frame of \(size) bytes does not fit a \(capacity)-byte buffer"
        case .system(let op, let errno, let message): "\(op) failed: \(message) (errno \(errno))"
        }
    }

    /// Classifies the calling thread's current `zmq_errno()`.
    static func current(_ operation: String, endpoint: String = "") -> ZMQError {
        let code = zmq_errno()
        switch code {
        case EAGAIN: return .wouldBlock
        case zmqETERM: return .contextTerminated
        case zmqEFSM: return .invalidState(operation: operation)
        case EPROTONOSUPPORT, zmqENOCOMPATPROTO: return .invalidEndpoint(endpoint)
        case EINVAL where !endpoint.isEmpty: return .invalidEndpoint(endpoint)
        case EADDRINUSE: return .addressInUse(endpoint)
        case EADDRNOTAVAIL, ENODEV: return .addressNotAvailable(endpoint)
        case ENOTSOCK: return .socketClosed
        default:
            return .system(operation: operation, errno: code, message: String(cString: zmq_strerror(code)))
        }
    }
}

// libzmq's own error numbers (ZMQ_HAUSNUMERO + n), spelled out because Swift does not import
// macros that refer to other macros on every platform.
private let zmqHausnumero: Int32 = 156_384_712
let zmqETERM: Int32 = zmqHausnumero + 53
let zmqEFSM: Int32 = zmqHausnumero + 51
let zmqENOCOMPATPROTO: Int32 = zmqHausnumero + 52

/// Runs a libzmq call that returns -1 on failure, retrying on EINTR.
@inline(__always)
func retryingEINTR(_ call: () -> Int32) -> Int32 {
    while true {
        let rc = call()
        if rc != -1 || zmq_errno() != EINTR { return rc }
    }
}
