#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Errors reading procfs-style files.
public enum ProcFileError: Error, Sendable, Hashable, CustomStringConvertible {
    case cannotOpen(path: String, errno: Int32)
    case readFailed(path: String, errno: Int32)
    case unparsable(path: String, why: String)

    public var description: String {
        switch self {
        case .cannotOpen(let path, let e): "cannot open \(path): \(String(cString: strerror(e)))"
        case .readFailed(let path, let e): "cannot read \(path): \(String(cString: strerror(e)))"
        case .unparsable(let path, let why): "cannot parse \(path): \(why)"
        }
    }
}

/// A procfs file opened once and re-read from offset 0 with pread into a buffer it owns, so a tick
/// costs one system call and no allocation (the technique Netdata uses at high rates).
public final class ProcFile {
    public let path: String
    private let fd: Int32
    private var buffer: UnsafeMutableRawBufferPointer

    public init(path: String, initialCapacity: Int = 16 << 10) throws(ProcFileError) {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw .cannotOpen(path: path, errno: errno) }
        self.path = path
        self.fd = fd
        self.buffer = .allocate(byteCount: initialCapacity, alignment: 8)
    }

    deinit {
        close(fd)
        buffer.deallocate()
    }

    /// The whole file as it is now. Valid until the next `read()`.
    public func read() throws(ProcFileError) -> UnsafeRawBufferPointer {
        while true {
            let n = pread(fd, buffer.baseAddress, buffer.count, 0)
            guard n >= 0 else {
                if errno == EINTR { continue }
                throw .readFailed(path: path, errno: errno)
            }
            // A full buffer may mean a longer file (many cores): grow once and read again.
            if n == buffer.count {
                let bigger = UnsafeMutableRawBufferPointer.allocate(byteCount: buffer.count * 2, alignment: 8)
                buffer.deallocate()
                buffer = bigger
                continue
            }
            return UnsafeRawBufferPointer(rebasing: buffer[0..<n])
        }
    }
}
