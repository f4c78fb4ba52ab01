import GPulseCore
import Synchronization

/// What a ScaledObject's trigger may ask for (`metric:` in its metadata).
public enum KEDAMetric: String, CaseIterable, Sendable {
    /// The pool's desired replicas from its scale decision; target 1 with KEDA's default
    /// `AverageValue`, so the HPA's `ceil(value / target)` is gpulse's number.
    case desiredReplicas = "desired_replicas"
    /// Offered load in replica units; target the pool's `target_load`, so the HPA sizes for it the
    /// way a plain utilization target would (gpulse's own planning is then bypassed).
    case offeredDemand = "offered_demand"
    /// The pool's mean load index, 0-1; target `target_load`, meant for `metricType: Value`.
    case loadIndex = "load_index"
}

/// Why a question gets no number. Each maps to a gRPC status the service sends; KEDA treats every
/// one as a scaler error, which makes it hold the replicas it has (it never scales to zero on one).
public enum ScalerRefusal: Error, Equatable, Sendable, CustomStringConvertible {
    /// The trigger's metadata has no `pool:`.
    case missingPool
    case unknownMetric(String)
    /// `target:` is not a positive number.
    case badTarget(String)
    /// Not a pool of the config and never decided on.
    case unknownPool(String)
    /// A configured pool without a decision yet (no agent has reported, or the aggregator just started).
    case noDecision(String)
    /// The pool's last decision is past its `valid_until` (its agents went quiet, or the aggregator stalled).
    case expired(pool: String, secondsAgo: Double)

    /// The gRPC status family: invalid argument, not found, or unavailable (retry later).
    public enum Kind: Sendable { case invalidArgument, notFound, unavailable }

    public var kind: Kind {
        switch self {
        case .missingPool, .unknownMetric, .badTarget: .invalidArgument
        case .unknownPool: .notFound
        case .noDecision, .expired: .unavailable
        }
    }

    public var description: String {
        switch self {
        case .missingPool: "the trigger's metadata has no 'pool' (set metadata.pool to a gpulse pool name)"
        case .unknownMetric(let m): "unknown metric '\(m)'; use \(KEDAMetric.allCases.map(\.rawValue).joined(separator: ", "))"
        case .badTarget(let t): "metadata.target must be a positive number, got '\(t)'"
        case .unknownPool(let p): "pool '\(p)' is not in the aggregator's config and has had no decision"
        case .noDecision(let p): "pool '\(p)' has no scale decision yet (no agent has reported); holding"
        case .expired(let p, let s): "pool '\(p)': the last scale decision expired \(Int(s.rounded())) s ago (its agents are silent?); holding"
        }
    }
}

/// One trigger's question, from its metadata: which pool, which metric, which target.
public struct ScalerQuery: Sendable, Hashable {
    public var pool: String
    public var metric: KEDAMetric
    /// `target:` from the metadata; nil: the metric's default.
    public var target: Double?

    public init(metadata: [String: String]) throws(ScalerRefusal) {
        guard let pool = metadata["pool"]?.trimmed, !pool.isEmpty else { throw .missingPool }
        self.pool = pool
        let name = metadata["metric"]?.trimmed ?? ""
        if name.isEmpty {
            metric = .desiredReplicas
        } else if let m = KEDAMetric(rawValue: name) {
            metric = m
        } else {
            throw .unknownMetric(name)
        }
        if let t = metadata["target"]?.trimmed, !t.isEmpty {
            guard let v = Double(t), v.isFinite, v > 0 else { throw .badTarget(t) }
            target = v
        }
    }

    /// The HPA metric name (KEDA prefixes it with `s<trigger index>-`): lower case, digits and `-`.
    public var metricName: String {
        let safe = pool.lowercased().map { $0.isLetter && $0.isASCII || $0.isNumber && $0.isASCII ? String($0) : "-" }.joined()
        return "gpulse-\(metric.rawValue.replacingOccurrences(of: "_", with: "-"))-\(safe)"
    }
}

/// The latest scale decision of every pool, as the KEDA endpoint sees it: written by the ingest
/// thread each time it sends a scale decision (new or re-sent), read by the gRPC handlers.
public final class DecisionBoard: Sendable {
    public struct Entry: Sendable, Equatable {
        public var decision: ScaleDecision
        public var validUntilUnixNanos: Int64
        /// The pool's `target_load`, the default target of the load metrics.
        public var targetLoad: Double
    }

    private struct State {
        var entries: [String: Entry] = [:]
        var configured: Set<String> = []
        var watchers: [Int: AsyncStream<Void>.Continuation] = [:]
        var nextWatcher = 0
        var closed = false
    }
    private let state = Mutex(State())

    public init() {}

    /// Records a pool's scale decision; watchers hear of it when the pool's answer may have changed
    /// (its desired replicas, or it was expired and is valid again).
    public func post(_ decision: ScaleDecision, validUntilUnixNanos: Int64, targetLoad: Double, nowNanos: Int64) {
        let watchers: [AsyncStream<Void>.Continuation] = state.withLock { s in
            let before = s.entries[decision.pool]
            s.entries[decision.pool] = Entry(decision: decision, validUntilUnixNanos: validUntilUnixNanos, targetLoad: targetLoad)
            let changed = before == nil || before!.decision.desiredReplicas != decision.desiredReplicas || before!.validUntilUnixNanos < nowNanos
            return changed ? Array(s.watchers.values) : []
        }
        for w in watchers { w.yield() }
    }

    /// The pools of the config (`pools:` keys but `default`): known even before their first decision.
    public func setConfigured(_ pools: Set<String>) { state.withLock { $0.configured = pools } }

    public func entry(pool: String) -> Entry? { state.withLock { $0.entries[pool] } }
    public func isConfigured(pool: String) -> Bool { state.withLock { $0.configured.contains(pool) } }

    /// Wakes on each change `post` reports, and otherwise every `recheckSeconds` so that a decision
    /// that expires (nothing posts then) is noticed too. Ends when the caller stops iterating.
    public func changes() -> AsyncStream<Void> {
        let (stream, continuation) = AsyncStream<Void>.makeStream(bufferingPolicy: .bufferingNewest(1))
        let id: Int? = state.withLock { s in
            guard !s.closed else { return nil }
            defer { s.nextWatcher += 1 }
            s.watchers[s.nextWatcher] = continuation
            return s.nextWatcher
        }
        guard let id else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in _ = self?.state.withLock { $0.watchers.removeValue(forKey: id) } }
        return stream
    }

    /// Ends every watcher's stream, now and from now on: at shutdown, so that open `StreamIsActive`
    /// calls return and the server's graceful stop does not wait on them forever.
    public func closeWatchers() {
        let watchers = state.withLock { s in
            s.closed = true
            defer { s.watchers = [:] }
            return Array(s.watchers.values)
        }
        for w in watchers { w.finish() }
    }

    /// Wakes every watcher (the service's once-a-second expiry check).
    public func nudge() {
        for w in state.withLock({ Array($0.watchers.values) }) { w.yield() }
    }

    public var watcherCount: Int { state.withLock { $0.watchers.count } }
}

/// Which pools are being refused, so that a refusal is logged when it starts and an answer when
/// it resumes, not once per poll. Pool names come from callers' metadata: at most `capacity` are
/// tracked, and refusals past that are not logged (still answered and counted), so a caller cycling
/// through names cannot grow it.
public struct RefusalLog: Sendable {
    public static let capacity = 1024
    private var refused: [String: ScalerRefusal.Kind] = [:]

    public init() {}

    /// Whether this refusal is news for `pool` (a first refusal, or another kind than the last).
    public mutating func refusing(_ pool: String, _ kind: ScalerRefusal.Kind) -> Bool {
        if refused[pool] == kind { return false }
        guard refused[pool] != nil || refused.count < Self.capacity else { return false }
        refused[pool] = kind
        return true
    }

    /// Whether `pool` was being refused until this answer.
    public mutating func answering(_ pool: String) -> Bool { refused.removeValue(forKey: pool) != nil }

    public var count: Int { refused.count }
}

/// The answers to KEDA's four questions, from the board alone: no gRPC here, so they are unit-tested
/// as values and the service only translates.
public enum ScalerAnswers {
    /// The metric KEDA puts in the HPA and its target.
    public static func spec(_ q: ScalerQuery, board: DecisionBoard) throws(ScalerRefusal) -> (name: String, target: Double) {
        let entry = board.entry(pool: q.pool)
        guard entry != nil || board.isConfigured(pool: q.pool) else { throw .unknownPool(q.pool) }
        return (q.metricName, target(q, entry: entry))
    }

    /// The metric's current value from the pool's standing decision.
    public static func value(_ q: ScalerQuery, board: DecisionBoard, nowNanos: Int64) throws(ScalerRefusal) -> Double {
        let d = try standing(q.pool, board: board, nowNanos: nowNanos).decision
        switch q.metric {
        case .desiredReplicas: return Double(d.desiredReplicas)
        case .offeredDemand: return d.demand.isFinite ? max(0, d.demand) : 0
        case .loadIndex: return d.loadIndex.isFinite ? max(0, d.loadIndex) : 0
        }
    }

    /// Whether the pool should run at all: its decision wants at least one replica.
    public static func isActive(_ q: ScalerQuery, board: DecisionBoard, nowNanos: Int64) throws(ScalerRefusal) -> Bool {
        try standing(q.pool, board: board, nowNanos: nowNanos).decision.desiredReplicas > 0
    }

    static func target(_ q: ScalerQuery, entry: DecisionBoard.Entry?) -> Double {
        if let t = q.target { return t }
        switch q.metric {
        case .desiredReplicas: return 1
        case .offeredDemand, .loadIndex: return entry?.targetLoad ?? 0.7
        }
    }

    static func standing(_ pool: String, board: DecisionBoard, nowNanos: Int64) throws(ScalerRefusal) -> DecisionBoard.Entry {
        guard let entry = board.entry(pool: pool) else {
            throw board.isConfigured(pool: pool) ? .noDecision(pool) : .unknownPool(pool)
        }
        guard nowNanos <= entry.validUntilUnixNanos else {
            throw .expired(pool: pool, secondsAgo: Double(nowNanos - entry.validUntilUnixNanos) / 1e9)
        }
        return entry
    }
}

/// The Kubernetes HPA's arithmetic for an external metric (controller `replica_calculator`), used
/// to show what the HPA KEDA manages does with what gpulse serves. KEDA hands values and targets to
/// the HPA in milli-units, as here.
public enum HPAArithmetic {
    public enum MetricType: Sendable { case averageValue, value }

    /// The replicas the HPA asks for, before its min/max and its stabilization window: with
    /// `averageValue`, `ceil(value / target)`; with `value`, `ceil(current × value / target)`; and
    /// `current` itself when the ratio is within `tolerance` of 1 (the HPA's default is 0.1).
    public static func desired(current: Int, value: Double, target: Double, type: MetricType = .averageValue, tolerance: Double = 0.1) -> Int {
        let usage = (value * 1000).rounded(.down)
        let targetMilli = (target * 1000).rounded(.down)
        guard targetMilli > 0 else { return current }
        switch type {
        case .averageValue:
            if current > 0 {
                let ratio = usage / (targetMilli * Double(current))
                if abs(ratio - 1) <= tolerance { return current }
            }
            return Int((usage / targetMilli).rounded(.up))
        case .value:
            let ratio = usage / targetMilli
            if abs(ratio - 1) <= tolerance { return current }
            return Int((ratio * Double(current)).rounded(.up))
        }
    }
}

extension String {
    fileprivate var trimmed: String { String(self.drop(while: \.isWhitespace).reversed().drop(while: \.isWhitespace).reversed()) }
}
