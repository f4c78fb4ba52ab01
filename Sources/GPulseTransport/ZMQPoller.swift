import CZeroMQ

/// Waits on several sockets at once. Owned by the same thread as the sockets it holds.
public final class ZMQPoller {
    private var sockets: [ZMQSocket] = []
    private var items: [zmq_pollitem_t] = []

    public init() {}

    /// Adds `socket` for readability; returns the index to ask `isReadable` about.
    @discardableResult
    public func register(_ socket: ZMQSocket) throws(ZMQError) -> Int {
        items.append(zmq_pollitem_t(socket: try socket.pollHandle(), fd: 0, events: Int16(ZMQ_POLLIN), revents: 0))
        sockets.append(socket)
        return items.count - 1
    }

    /// Waits up to `timeoutMilliseconds` (-1 forever); returns how many sockets are readable.
    public func poll(timeoutMilliseconds: Int) throws(ZMQError) -> Int {
        for i in items.indices {
            guard !sockets[i].isClosed else { throw .socketClosed }
            items[i].revents = 0
        }
        let count = items.count
        let rc = items.withUnsafeMutableBufferPointer { buffer in
            retryingEINTR { zmq_poll(buffer.baseAddress, Int32(count), timeoutMilliseconds) }
        }
        guard rc >= 0 else { throw ZMQError.current("zmq_poll") }
        return Int(rc)
    }

    public func isReadable(_ index: Int) -> Bool { items[index].revents & Int16(ZMQ_POLLIN) != 0 }
}
