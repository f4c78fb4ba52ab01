/// A fixed-size histogram of durations in microseconds: 1 us buckets up to 1 ms, 100 us buckets up to
/// 100 ms, then one overflow bucket. Recording is O(1) and never allocates, so the sampling loop can
/// record every tick's lateness.
public struct LatencyHistogram: Sendable, Hashable {
    private static let fineLimit = 1000        // us, 1 us buckets below
    private static let coarseLimit = 100_000   // us, 100 us buckets below
    private static let coarseWidth = 100
    private var buckets = [UInt64](repeating: 0, count: fineLimit + (coarseLimit - fineLimit) / coarseWidth + 1)
    public private(set) var count: UInt64 = 0
    public private(set) var maxMicros: UInt64 = 0

    public init() {}

    public mutating func record(micros: UInt64) {
        let index: Int
        if micros < UInt64(Self.fineLimit) {
            index = Int(micros)
        } else if micros < UInt64(Self.coarseLimit) {
            index = Self.fineLimit + (Int(micros) - Self.fineLimit) / Self.coarseWidth
        } else {
            index = buckets.count - 1
        }
        buckets[index] &+= 1
        count &+= 1
        maxMicros = max(maxMicros, micros)
    }

    /// The upper edge of the bucket holding quantile `q` (0...1), in microseconds; nil when empty.
    public func quantile(_ q: Double) -> UInt64? {
        guard count > 0 else { return nil }
        let rank = UInt64((Double(count) * min(1, max(0, q))).rounded(.up))
        var seen: UInt64 = 0
        for (i, n) in buckets.enumerated() {
            seen += n
            if seen >= max(rank, 1) {
                if i < Self.fineLimit { return UInt64(i) }
                if i < buckets.count - 1 { return UInt64(Self.fineLimit + (i - Self.fineLimit + 1) * Self.coarseWidth) }
                return maxMicros
            }
        }
        return maxMicros
    }

    public mutating func merge(_ other: LatencyHistogram) {
        for i in buckets.indices { buckets[i] &+= other.buckets[i] }
        count &+= other.count
        maxMicros = max(maxMicros, other.maxMicros)
    }
}
