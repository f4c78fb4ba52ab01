import Prometheus
import Synchronization

/// A Prometheus counter that follows a total kept elsewhere (the ingest ledger, a sampler's stats):
/// `advance(to:)` adds the growth since the last call. A total that went down (its owner restarted
/// counting) is taken as the new base, so the exported counter never decreases.
public final class MirroredCounter: Sendable {
    public let counter: Counter
    private let last = Mutex<Double?>(nil)

    public init(_ counter: Counter) { self.counter = counter }

    public convenience init(registry: PrometheusCollectorRegistry, name: String, labels: [(String, String)] = [], help: String) {
        self.init(registry.makeCounter(name: name, labels: labels, help: help))
    }

    public func advance(to total: Double) {
        let d = delta(to: total)
        if d > 0 { counter.increment(by: d) }
    }

    /// Whole counts stay integers in the exposition (`12`, not `12.0`).
    public func advance(to total: UInt64) {
        let d = delta(to: Double(total))
        // A total an agent drove past 2^63 (dropped samples it claims) must not trap the conversion.
        if d > 0 { counter.increment(by: d < 9.2e18 ? Int64(d) : Int64.max) }
    }

    private func delta(to total: Double) -> Double {
        last.withLock { seen in
            defer { seen = total }
            guard let before = seen else { return total }
            return total > before ? total - before : 0
        }
    }
}
