#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import GPulseCore
import Synchronization

/// Outcome of one TCP-connect probe.
public enum ProbeResult: Sendable, Hashable {
    /// The handshake completed after this many milliseconds.
    case connected(milliseconds: Double)
    /// No answer within the timeout.
    case timedOut
    /// The target answered with a reset (nothing listens) or the network said no.
    case failed(errno: Int32)
}

/// A probe target, "host:port", resolved once (and again after failures).
public struct ProbeTarget: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: UInt16

    /// Parses "host:port" or "[v6addr]:port".
    public init?(_ text: String) {
        let hostPart: Substring
        let portPart: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            hostPart = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { return nil }
            portPart = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { return nil }
            hostPart = text[..<colon]
            portPart = text[text.index(after: colon)...]
        }
        guard !hostPart.isEmpty, let port = UInt16(portPart), port > 0 else { return nil }
        host = String(hostPart)
        self.port = port
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Measures TCP connect round trips: the time from connect() to the handshake's completion, which
/// is one network round trip plus the peer kernel's SYN handling. No payload is sent.
public enum TCPProbe {
    public static func probe(_ target: ProbeTarget, timeoutMilliseconds: Int32) -> ProbeResult {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        hints.ai_flags = AI_NUMERICSERV
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(target.host, String(target.port), &hints, &list) == 0, let info = list else {
            return .failed(errno: EHOSTUNREACH)
        }
        defer { freeaddrinfo(list) }
        let fd = socket(info.pointee.ai_family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return .failed(errno: errno) }
        defer { close(fd) }
        // Close with RST, not FIN, so probes leave no TIME_WAIT sockets behind on either side.
        var lingerOption = linger(l_onoff: 1, l_linger: 0)
        setsockopt(fd, SOL_SOCKET, SO_LINGER, &lingerOption, socklen_t(MemoryLayout<linger>.size))

        let start = SystemClock.monotonicNanos()
        if connect(fd, info.pointee.ai_addr, info.pointee.ai_addrlen) != 0 {
            guard errno == EINPROGRESS else { return .failed(errno: errno) }
            var pfd = pollfd(fd: fd, events: Int16(POLLOUT), revents: 0)
            var remaining = Int64(timeoutMilliseconds)
            while true {
                let rc = poll(&pfd, 1, Int32(remaining))
                if rc > 0 { break }
                if rc == 0 { return .timedOut }
                guard errno == EINTR else { return .failed(errno: errno) }
                remaining = Int64(timeoutMilliseconds) - Int64((SystemClock.monotonicNanos() - start) / 1_000_000)
                if remaining <= 0 { return .timedOut }
            }
            var soError: Int32 = 0
            var length = socklen_t(MemoryLayout<Int32>.size)
            getsockopt(fd, SOL_SOCKET, SO_ERROR, &soError, &length)
            if soError != 0 { return .failed(errno: soError) }
        }
        return .connected(milliseconds: Double(SystemClock.monotonicNanos() - start) / 1e6)
    }
}

/// Probe losses per target, shared between the probe sampler and the publisher, which moves them into
/// each batch's `probe_losses`.
public final class ProbeLossCounter: Sendable {
    private let counts = Mutex<[String: UInt32]>([:])

    public init() {}

    public func record(_ target: String) {
        counts.withLock { $0[target, default: 0] &+= 1 }
    }

    /// The losses since the last call, sorted by target; resets them.
    public func take() -> [ProbeLoss] {
        counts.withLock { c in
            defer { c.removeAll(keepingCapacity: true) }
            return c.sorted { $0.key < $1.key }.map { ProbeLoss(target: $0.key, lost: $0.value) }
        }
    }

    /// Puts losses back when the batch carrying them could not be queued.
    public func restore(_ losses: [ProbeLoss]) {
        counts.withLock { c in for l in losses { c[l.target, default: 0] &+= l.lost } }
    }
}

/// TCP-connect RTT to each configured target. A probe that gets no connection is counted as a loss,
/// never sent as a number.
public final class RTTProbeSampler: Sampler {
    public let name = "rtt"
    private let targets: [(target: ProbeTarget, label: String, signal: SignalID)]
    private let timeoutMilliseconds: Int32
    private let losses: ProbeLossCounter
    public private(set) var lastFailure: [String: ProbeResult] = [:]

    public init(targets: [ProbeTarget], timeoutMilliseconds: Int32, losses: ProbeLossCounter, signals: SignalTable) {
        self.targets = targets.map { ($0, $0.description, signals.id(.rttMs, subject: $0.description)) }
        self.timeoutMilliseconds = timeoutMilliseconds
        self.losses = losses
    }

    public func sample(into sink: inout SampleSink) throws {
        for t in targets {
            let result = TCPProbe.probe(t.target, timeoutMilliseconds: timeoutMilliseconds)
            if case .connected(let ms) = result {
                sink.emit(t.signal, Float(ms), at: SystemClock.monotonicNanos())
            } else {
                losses.record(t.label)
                lastFailure[t.label] = result
            }
        }
    }
}
