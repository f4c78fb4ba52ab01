/// Reusable storage for received multi-frame messages: one contiguous byte store plus frame bounds.
/// Receiving into the same buffer again reuses its capacity, so a steady receive loop does not allocate.
public struct MessageBuffer: Sendable {
    public private(set) var bytes: [UInt8] = []
    private var bounds: [Range<Int>] = []
    /// The User-Id the ZAP authenticator gave the sending peer (CURVE sockets); nil without one.
    public internal(set) var peerUserID: String?
    /// The sending peer's IP address as libzmq reports it (`Peer-Address`); nil when it gives none.
    public internal(set) var peerAddress: String?

    public init(reservingCapacity capacity: Int = 64 << 10) {
        bytes.reserveCapacity(capacity)
        bounds.reserveCapacity(4)
    }

    public var frameCount: Int { bounds.count }

    /// Byte count of frame `index`.
    public func frameSize(_ index: Int) -> Int { bounds[index].count }

    /// Calls `body` with frame `index`'s bytes, valid only inside `body`.
    public func withFrame<R, E: Error>(_ index: Int, _ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        let range = bounds[index]
        let result = bytes.withUnsafeBytes { raw in
            Result { () throws(E) -> R in try body(UnsafeRawBufferPointer(rebasing: raw[range])) }
        }
        return try result.get()
    }

    /// A copy of frame `index`.
    public func frame(_ index: Int) -> [UInt8] { Array(bytes[bounds[index]]) }

    /// Frame `index` read as UTF-8 text (topics).
    public func frameString(_ index: Int) -> String { String(decoding: bytes[bounds[index]], as: UTF8.self) }

    mutating func removeAll() {
        peerUserID = nil
        peerAddress = nil
        bytes.removeAll(keepingCapacity: true)
        bounds.removeAll(keepingCapacity: true)
    }

    mutating func append(_ frame: UnsafeRawBufferPointer) {
        let start = bytes.count
        bytes.append(contentsOf: frame)
        bounds.append(start..<bytes.count)
    }
}
