/// The recent samples of one series, oldest first, bounded by age and by count. Storage grows as
/// samples arrive up to `capacity` and is then reused as a ring, so a slow series costs little and a
/// fast one never more than `capacity` samples.
public struct SampleWindow: Sendable {
    public let capacity: Int
    public let spanNanos: Int64
    private var times: [Int64] = []
    private var values: [Float] = []
    private var head = 0
    public private(set) var count = 0
    /// Samples pushed out by the count bound before they aged out (a node sending faster than planned).
    public private(set) var evictedEarly: UInt64 = 0

    public init(spanSeconds: Double, capacity: Int) {
        self.capacity = max(1, capacity)
        spanNanos = Int64(spanSeconds * 1e9)
    }

    /// Bytes held by the sample storage.
    public var bytes: Int { times.capacity * 8 + values.capacity * 4 }

    public var newestTime: Int64? { count > 0 ? times[index(count - 1)] : nil }
    public var newestValue: Float? { count > 0 ? values[index(count - 1)] : nil }

    private func index(_ i: Int) -> Int { wrap(head + i) }

    /// `k` mod the ring's size, for 0 ≤ k < 2 × size (head and i are both below it): a compare
    /// instead of a division, on the path every sample takes.
    @inline(__always) private func wrap(_ k: Int) -> Int { k >= times.count ? k - times.count : k }

    /// Appends a sample (times must not go backwards within a series; older ones are ignored) and
    /// drops what has left the span.
    public mutating func append(time: Int64, value: Float) {
        if let newest = newestTime, time < newest { return }
        if count == times.count && times.count < capacity {
            // Still growing: unroll the ring into the larger array first.
            if head != 0 {
                times = (0..<count).map { times[index($0)] }
                values = (0..<count).map { values[index($0)] }
                head = 0
            }
            times.append(time)
            values.append(value)
            count += 1
        } else if count == times.count {
            times[head] = time
            values[head] = value
            head = wrap(head + 1)
            evictedEarly += 1
        } else {
            let slot = wrap(head + count)
            times[slot] = time
            values[slot] = value
            count += 1
        }
        let cutoff = time.subtractingSaturating(spanNanos)
        while count > 0 && times[head] < cutoff {
            head = wrap(head + 1)
            count -= 1
        }
    }

    /// Appends a series' samples, `offsetsMicros` after `t0` (pairs up to the shorter of the two),
    /// as `append(time:value:)` would one by one. Read through buffer pointers: indexing the arrays
    /// sample by sample retained and released both of them each time, on the path every batch takes.
    mutating func append(offsetsMicros: borrowing [UInt32], values: borrowing [Float], t0: Int64) {
        let n = min(offsetsMicros.count, values.count)
        offsetsMicros.withUnsafeBufferPointer { offsets in
            values.withUnsafeBufferPointer { values in
                for j in 0..<n { append(time: t0.addingSaturating(Int64(offsets[j]) * 1000), value: values[j]) }
            }
        }
    }

    /// Mean of the samples at or after `since`, or nil when there are none.
    public func mean(since: Int64) -> Double? {
        var sum = 0.0
        var n = 0
        var i = count - 1
        while i >= 0 {
            let k = index(i)
            if times[k] < since { break }
            sum += Double(values[k])
            n += 1
            i -= 1
        }
        return n > 0 ? sum / Double(n) : nil
    }

    /// Mean over the last `seconds` before the newest sample, or the newest value alone when the
    /// series reports less often than that (e.g. NVML utilization at 1 Hz on a 1 s window).
    public func recentMean(seconds: Double) -> Double? {
        guard let newest = newestTime else { return nil }
        // (newest - span, newest]: a 1 Hz series on a 1 s window reads one sample, not two.
        return mean(since: newest.subtractingSaturating(Int64(seconds * 1e9)).addingSaturating(1)) ?? newestValue.map(Double.init)
    }
}

/// A node's raw windows, one per series, in the order the series first arrived. Kept as arrays with
/// a key index rather than a dictionary of windows, so that the walk over them at every refresh reads
/// each window in place instead of copying it out of the dictionary.
public struct SeriesWindows: Sendable {
    public private(set) var keys: [SeriesKey] = []
    public private(set) var windows: [SampleWindow] = []
    private var positions: [SeriesKey: Int] = [:]

    public init() {}

    public var count: Int { keys.count }

    /// Position of `key`'s window, or nil when the series has none yet.
    public func position(of key: SeriesKey) -> Int? { positions[key] }

    /// Position of the window of `series`, trying `hint` first: an agent sends its series in the same
    /// order batch after batch, so the i-th series of a batch is mostly at position i, and comparing
    /// there is cheaper than hashing the subject.
    func position(kind: SignalKind, subject: borrowing String, hint: Int) -> Int? {
        if hint < keys.count && keys[hint].kind == kind && keys[hint].subject == subject { return hint }
        return positions[SeriesKey(kind: kind, subject: copy subject)]
    }

    /// Adds the window of a series seen for the first time.
    mutating func add(_ key: SeriesKey, _ window: SampleWindow) {
        precondition(positions[key] == nil, "series already has a window")
        positions[key] = keys.count
        keys.append(key)
        windows.append(window)
    }

    mutating func append(time: Int64, value: Float, at position: Int) {
        windows[position].append(time: time, value: value)
    }

    mutating func append(offsetsMicros: borrowing [UInt32], values: borrowing [Float], t0: Int64, at position: Int) {
        windows[position].append(offsetsMicros: offsetsMicros, values: values, t0: t0)
    }

    /// Frees every window (a node gone down starts afresh when it returns).
    mutating func removeAll() {
        keys = []
        windows = []
        positions = [:]
    }

    /// Bytes held by the sample storage.
    public var bytes: Int { windows.reduce(0) { $0 + $1.bytes } }
}
