import CZeroMQ

/// A libzmq context. Sockets hold a strong reference to their context, so it is terminated only after
/// the last socket made from it has been closed and released.
///
/// libzmq contexts are thread safe, hence `Sendable`; sockets are not.
public final class ZMQContext: @unchecked Sendable {
    let handle: UnsafeMutableRawPointer

    /// - Parameter ioThreads: libzmq I/O threads; one handles about a gigabit per second.
    public init(ioThreads: Int = 1) throws(ZMQError) {
        guard let handle = zmq_ctx_new() else { throw ZMQError.current("zmq_ctx_new") }
        self.handle = handle
        if zmq_ctx_set(handle, ZMQ_IO_THREADS, Int32(ioThreads)) != 0 {
            zmq_ctx_term(handle)
            throw ZMQError.invalidOption("ZMQ_IO_THREADS=\(ioThreads)")
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
