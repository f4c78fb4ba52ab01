import GPulseCore
import Synchronization

/// Index of a (kind, subject) pair in a `SignalTable`, so samples on the hot path carry no strings.
public typealias SignalID = UInt16

/// One measured value, stamped with CLOCK_MONOTONIC.
public struct Sample: Sendable, Hashable {
    public var signal: SignalID
    public var monotonicNanos: UInt64
    public var value: Float

    public init(signal: SignalID, monotonicNanos: UInt64, value: Float) {
        self.signal = signal
        self.monotonicNanos = monotonicNanos
        self.value = value
    }
}

/// The (kind, subject) pairs samplers emit. Samplers register at setup or when a new subject appears
/// (a hot-plugged interface); lookups from the batcher are by index.
public final class SignalTable: Sendable {
    public struct Entry: Sendable, Hashable {
        public var kind: SignalKind
        public var subject: String
    }
    private let state = Mutex<(entries: [Entry], index: [Entry: SignalID])>(([], [:]))

    public init() {}

    /// The id of (kind, subject), registering it on first use.
    public func id(_ kind: SignalKind, subject: String = "") -> SignalID {
        let entry = Entry(kind: kind, subject: subject)
        return state.withLock { s in
            if let id = s.index[entry] { return id }
            let id = SignalID(truncatingIfNeeded: s.entries.count)
            s.entries.append(entry)
            s.index[entry] = id
            return id
        }
    }

    public func entry(_ id: SignalID) -> Entry? {
        state.withLock { s in Int(id) < s.entries.count ? s.entries[Int(id)] : nil }
    }

    public var count: Int { state.withLock { $0.entries.count } }
}

/// A bounded ring between the sampling thread and the publisher thread. When full, new samples are
/// dropped and counted: memory stays bounded when the aggregator is away for long.
public final class SampleRing: Sendable {
    private struct State {
        var storage: [Sample]
        var head = 0  // next to read
        var count = 0
        var dropped: UInt64 = 0
    }
    private let state: Mutex<State>
    public let capacity: Int

    public init(capacity: Int) {
        precondition(capacity > 0, "ring capacity must be positive")
        self.capacity = capacity
        state = Mutex(State(storage: Array(repeating: Sample(signal: 0, monotonicNanos: 0, value: 0), count: capacity)))
    }

    /// Appends a sample; returns false (and counts a drop) when the ring is full.
    @discardableResult
    public func push(_ sample: Sample) -> Bool {
        state.withLock { s in
            guard s.count < s.storage.count else {
                s.dropped &+= 1
                return false
            }
            s.storage[(s.head + s.count) % s.storage.count] = sample
            s.count += 1
            return true
        }
    }

    /// Moves up to `limit` samples, oldest first, into `out` (appending); returns how many.
    @discardableResult
    public func drain(into out: inout [Sample], limit: Int = .max) -> Int {
        state.withLock { s in
            let n = min(limit, s.count)
            for i in 0..<n { out.append(s.storage[(s.head + i) % s.storage.count]) }
            s.head = (s.head + n) % s.storage.count
            s.count -= n
            return n
        }
    }

    /// Samples dropped because the ring was full, since the last call; resets the count.
    public func takeDropped() -> UInt64 {
        state.withLock { s in
            defer { s.dropped = 0 }
            return s.dropped
        }
    }

    public var count: Int { state.withLock { $0.count } }
}

/// Where a sampler puts its values: resolves nothing, allocates nothing.
public struct SampleSink {
    let ring: SampleRing
    public let monotonicNanos: UInt64
    public private(set) var emitted = 0
    public private(set) var rejectedNonFinite = 0

    public init(ring: SampleRing, monotonicNanos: UInt64) {
        self.ring = ring
        self.monotonicNanos = monotonicNanos
    }

    /// Emits `value` stamped with this tick's time. NaN and infinity are never sent: they are counted.
    public mutating func emit(_ signal: SignalID, _ value: Float, at time: UInt64? = nil) {
        guard value.isFinite else {
            rejectedNonFinite += 1
            return
        }
        ring.push(Sample(signal: signal, monotonicNanos: time ?? monotonicNanos, value: value))
        emitted += 1
    }
}

/// One source of samples (one per file, like node_exporter's collectors). Called on the sampling
/// thread only, so implementations keep their state without locks.
public protocol Sampler: AnyObject {
    /// Short name used in logs and counters, e.g. "cpu".
    var name: String { get }
    /// Takes one reading and emits its values. Throws when the reading failed; the loop counts it.
    func sample(into sink: inout SampleSink) throws
    /// Bad input received from outside and dropped so far (only samplers that take input have any).
    var rejectedInputs: UInt64 { get }
    /// Stops what the sampler runs beside its `sample` calls (a thread waiting on the driver), before
    /// the libraries it uses are closed. Called once, after its group stopped.
    func shutdown()
}

extension Sampler {
    public var rejectedInputs: UInt64 { 0 }
    public func shutdown() {}
}
