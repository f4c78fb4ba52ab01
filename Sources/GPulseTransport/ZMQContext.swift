import CZeroMQ

/// A libzmq context. Sockets hold a strong reference to their context, so it is terminated only after
/// the last socket made from it has been closed and released.
///
/// libzmq contexts are thread safe, hence `Sendable`; sockets are not.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    /// - Parameters:
    ///   - ioThreads: libzmq I/O threads; one handles about a gigabit per second.
    ///   - maxSockets: sockets this context may open (libzmq's ZMQ_MAX_SOCKETS, 1023 unless raised);
    ///     each socket also needs file descriptors, so `ulimit -n` must allow as many.
    public init(ioThreads: Int = 1, maxSockets: Int? = nil) throws(ZMQError) {
        guard let handle = zmq_ctx_new() else { throw ZMQError.current("zmq_ctx_new") }
        self.handle = handle
        if zmq_ctx_set(handle, ZMQ_IO_THREADS, Int32(ioThreads)) != 0 {
            zmq_ctx_term(handle)
            throw ZMQError.invalidOption("ZMQ_IO_THREADS=\(ioThreads)")
        }
        if let maxSockets, zmq_ctx_set(handle, ZMQ_MAX_SOCKETS, Int32(clamping: maxSockets)) != 0 {
            zmq_ctx_term(handle)
            throw ZMQError.invalidOption("ZMQ_MAX_SOCKETS=\(maxSockets)")
        }
    }

    deinit {
        // Every socket made from this context kept it alive, so none is open now and this returns at once.
        _ = retryingEINTR { zmq_ctx_term(handle) }
    }

    /// The libzmq version this process runs against, e.g. "4.3.4".
    public static var libraryVersion: String {
        var major: Int32 = 0, minor: Int32 = 0, patch: Int32 = 0
        zmq_version(&major, &minor, &patch)
        return "\(major).\(minor).\(patch)"
    }

    /// Whether this libzmq was built with CURVE security (libsodium).
    public static var hasCurve: Bool { zmq_has("curve") != 0 }
}
