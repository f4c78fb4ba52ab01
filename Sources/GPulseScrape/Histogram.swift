/// A Prometheus histogram as one scrape shows it: cumulative bucket counts by upper bound, the sum
/// and the count of observations, added up over the label sets that match (an engine serving two
/// models reports one histogram per model).
public struct ScrapedHistogram: Sendable, Equatable {
    public struct Bucket: Sendable, Equatable {
        /// `le`, `+Inf` for the last bucket.
        public var upperBound: Double
        /// Observations at or below `upperBound` (cumulative, as the format has them).
        public var count: Double
        public init(upperBound: Double, count: Double) {
            self.upperBound = upperBound
            self.count = count
        }
    }

    /// Sorted by upper bound.
    public var buckets: [Bucket]
    public var sum: Double
    public var count: Double

    public init(buckets: [Bucket], sum: Double, count: Double) {
        self.buckets = buckets.sorted { $0.upperBound < $1.upperBound }
        self.sum = sum
        self.count = count
    }

    /// What was observed between `earlier` and this scrape. A count that went down is a counter
    /// reset (the engine restarted): then this scrape alone is what is known since. nil when the
    /// buckets changed between the two (a reconfigured engine): no honest difference exists.
    public func since(_ earlier: ScrapedHistogram?) -> ScrapedHistogram? {
        guard let earlier else { return self }
        if count < earlier.count || sum < earlier.sum { return self }
        guard buckets.map(\.upperBound) == earlier.buckets.map(\.upperBound) else { return nil }
        let delta = zip(buckets, earlier.buckets).map { Bucket(upperBound: $0.upperBound, count: $0.count - $1.count) }
        // A bucket that went down while the count did not is a broken page, not a reset.
        guard delta.allSatisfy({ $0.count >= 0 }) else { return nil }
        return ScrapedHistogram(buckets: delta, sum: sum - earlier.sum, count: count - earlier.count)
    }

    /// Mean observation; nil without observations.
    public var mean: Double? { count > 0 && sum.isFinite ? sum / count : nil }

    /// The `q` quantile (0...1) as PromQL's `histogram_quantile` estimates it: linear within the
    /// bucket it falls in, from 0 for the first bucket; a quantile in the `+Inf` bucket is the highest
    /// finite bound. nil without observations or without buckets.
    public func quantile(_ q: Double) -> Double? {
        guard (0...1).contains(q), let total = buckets.last?.count, total > 0 else { return nil }
        let rank = q * total
        var lowerBound = 0.0
        var below = 0.0
        for bucket in buckets {
            if bucket.count >= rank {
                guard bucket.upperBound.isFinite else { return lowerBound }
                let inBucket = bucket.count - below
                guard inBucket > 0 else { return bucket.upperBound }
                return lowerBound + (bucket.upperBound - lowerBound) * (rank - below) / inBucket
            }
            lowerBound = bucket.upperBound
            below = bucket.count
        }
        return lowerBound
    }
}

extension ExpositionPage {
    /// Samples named `name` whose labels include every pair in `matching`.
    public func samples(named name: String, matching: [String: String] = [:]) -> [Sample] {
        samples.filter { s in s.name == name && matching.allSatisfy { s.label($0.key) == $0.value } }
    }

    /// The sum of `name` over its matching label sets; nil when the page has none, or one that is
    /// not a finite number (no value is made up from a NaN).
    public func total(_ name: String, matching: [String: String] = [:]) -> Double? {
        let found = samples(named: name, matching: matching)
        guard !found.isEmpty, found.allSatisfy({ $0.value.isFinite }) else { return nil }
        return found.reduce(0) { $0 + $1.value }
    }

    /// Histogram `family` (its `_bucket`, `_sum` and `_count` samples), buckets added up by `le`
    /// over the matching label sets; nil when the page lacks any of the three or a value is not a
    /// number.
    public func histogram(_ family: String, matching: [String: String] = [:]) -> ScrapedHistogram? {
        var byBound: [Double: Double] = [:]
        for s in samples(named: family + "_bucket", matching: matching) {
            guard let le = s.label("le"), let bound = Self.bound(le), !bound.isNaN, s.value.isFinite, s.value >= 0 else { return nil }
            byBound[bound, default: 0] += s.value
        }
        guard !byBound.isEmpty, let sum = total(family + "_sum", matching: matching), let count = total(family + "_count", matching: matching) else {
            return nil
        }
        return ScrapedHistogram(buckets: byBound.map { .init(upperBound: $0.key, count: $0.value) }, sum: sum, count: count)
    }

    private static func bound(_ le: String) -> Double? {
        switch le.lowercased() {
        case "+inf", "inf": .infinity
        default: Double(le)
        }
    }
}

/// A counter read scrape after scrape, turned into a rate: the increase over the seconds between
/// two readings, with a decrease taken as a reset (the engine restarted: the new value is what
/// counted since). Pure; the caller passes the reading times.
public struct CounterRate: Sendable {
    private var last: (value: Double, atSeconds: Double)?
    /// Resets seen so far.
    public private(set) var resets = 0

    public init() {}

    /// The rate since the previous reading, per second; nil for the first reading, for a reading
    /// no later than the previous one, or for a value that is not a finite number.
    public mutating func update(_ value: Double, atSeconds t: Double) -> Double? {
        guard value.isFinite, value >= 0 else { return nil }
        defer { last = (value, t) }
        guard let last, t > last.atSeconds else { return nil }
        let increase: Double
        if value < last.value {
            resets += 1
            increase = value
        } else {
            increase = value - last.value
        }
        return increase / (t - last.atSeconds)
    }
}
