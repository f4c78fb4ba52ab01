#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where a pool's demand comes from, best first. Raw values are the protobuf enum numbers.
public enum DemandSource: Int32, Sendable, Hashable, Codable, CaseIterable {
    case unspecified = 0
    /// Σ L over live nodes: saturates at the live replicas, so it cannot say how short a pool is.
    case loadIndex = 1
    /// (requests waiting + running) / slots per replica: grows with the queue.
    case queue = 2
    /// Arrival rate × service time / slots per replica (the offered load): does not depend on the
    /// capacity serving it.
    case arrivalRate = 3

    /// The snake_case name used in reasons, status, Prometheus labels and `tail`.
    public var name: String {
        switch self {
        case .unspecified: "unspecified"
        case .loadIndex: "load_index"
        case .queue: "queue"
        case .arrivalRate: "arrival_rate"
        }
    }
}

/// What a pool's inference servers report, summed over its live replicas (serverless burst
/// included); each nil when no replica reports it.
public struct PoolTraffic: Sendable, Hashable, Codable {
    /// Requests per second arriving (APP_REQUEST_RATE).
    public var arrivalRate: Double?
    /// Mean service time per request, seconds (APP_SERVICE_TIME_MS, weighted by completions).
    public var serviceSeconds: Double?
    /// Requests queued (APP_QUEUE_DEPTH).
    public var waiting: Double?
    /// Requests being served (APP_REQUESTS_RUNNING).
    public var running: Double?
    /// Requests per second finished (APP_COMPLETION_RATE).
    public var completionRate: Double?

    public init(
        arrivalRate: Double? = nil, serviceSeconds: Double? = nil, waiting: Double? = nil, running: Double? = nil, completionRate: Double? = nil
    ) {
        self.arrivalRate = arrivalRate
        self.serviceSeconds = serviceSeconds
        self.waiting = waiting
        self.running = running
        self.completionRate = completionRate
    }

    /// The best demand source these reports allow.
    public var source: DemandSource {
        if arrivalRate != nil, let s = serviceSeconds, s > 0 { return .arrivalRate }
        if waiting != nil || running != nil { return .queue }
        return .loadIndex
    }

    /// Offered load in replica units of `slots` concurrent requests each; nil when the source is
    /// the load index (the caller's Σ L stands).
    public func offeredReplicas(slots: Int) -> Double? {
        let c = Double(max(1, slots))
        switch source {
        case .arrivalRate: return arrivalRate! * serviceSeconds! / c
        case .queue: return ((waiting ?? 0) + (running ?? 0)) / c
        default: return nil
        }
    }
}

/// A pool's wait objective: a request waits (queues, excluding its own service) at most
/// `maxWaitSeconds` with probability `percentile`.
public struct ServiceObjective: Sendable, Hashable {
    public var maxWaitSeconds: Double
    public var percentile: Double

    public init(maxWaitSeconds: Double = 2, percentile: Double = 0.99) {
        self.maxWaitSeconds = maxWaitSeconds
        self.percentile = percentile
    }
}

/// The M/M/N queue (Erlang C): N servers, Poisson arrivals, exponential service. A replica of
/// `slots` concurrent requests is `slots` servers. Exponential service is the conservative choice
/// for LLM requests (their service times vary by an order of magnitude); the replay measures how
/// the planner does on real service-time distributions.
public enum ErlangC {
    /// P(an arrival waits at all) with `servers` servers and `offered` Erlangs (λ × mean service);
    /// 1 when the queue is unstable (offered ≥ servers).
    public static func waitProbability(servers: Int, offered a: Double) -> Double {
        guard servers > 0, a < Double(servers) else { return 1 }
        guard a > 0 else { return 0 }
        // Erlang B by its stable recursion, kept as 1/B (1/B(k) = 1 + (k/a)/B(k−1): no division in the
        // loop), then C = B / (1 − ρ(1 − B)). 1/B overflowing to infinity reads as B = 0, which it is.
        let inverseA = 1 / a
        var r = 1.0
        for k in 1...servers { r = 1 + r * Double(k) * inverseA }
        return erlangC(inverseB: r, servers: servers, offered: a)
    }

    /// Erlang C from 1 / Erlang B at the same servers and load: C = B / (1 − ρ(1 − B)).
    @inline(__always) static func erlangC(inverseB r: Double, servers: Int, offered a: Double) -> Double {
        let b = 1 / r
        let rho = a / Double(servers)
        return b / (1 - rho * (1 - b))
    }

    /// P(wait > t) = C(N, a) · exp(−(N − a) · t / S).
    public static func waitExceeds(_ t: Double, servers: Int, offered a: Double, serviceSeconds s: Double) -> Double {
        guard servers > 0, a < Double(servers), s > 0 else { return 1 }
        return waitProbability(servers: servers, offered: a) * exp(-(Double(servers) - a) * t / s)
    }

    /// The fewest replicas of `slots` servers each, from `minReplicas` up to `maxReplicas`, whose
    /// P(wait > objective) is at most 1 − percentile; `maxReplicas` (and its probability) when none
    /// is enough. One pass of the Erlang B recursion serves every candidate.
    public static func replicas(
        arrivalRate λ: Double, serviceSeconds s: Double, slots: Int, objective: ServiceObjective, minReplicas: Int = 0, maxReplicas: Int
    ) -> (replicas: Int, waitProbability: Double) {
        let c = max(1, slots)
        let a = max(0, λ) * max(0, s)
        let allowed = max(0, 1 - objective.percentile)
        guard a > 0 else { return (max(0, minReplicas), 0) }
        guard maxReplicas > 0 else { return (0, 1) }
        let inverseA = 1 / a
        var r = 1.0  // 1 / Erlang B at k servers (see waitProbability)
        var k = 0
        var last = 1.0
        for n in 1...maxReplicas {
            let servers = n * c
            while k < servers {
                k += 1
                r = 1 + r * Double(k) * inverseA
            }
            guard a < Double(servers) else { continue }
            let p = erlangC(inverseB: r, servers: servers, offered: a) * exp(-(Double(servers) - a) * objective.maxWaitSeconds / s)
            last = p
            if n >= minReplicas && p <= allowed { return (n, p) }
        }
        return (maxReplicas, last)
    }
}

/// How predictive and cost_aware turn offered demand into replicas: with arrival rate and service
/// time known, the fewest replicas whose Erlang C wait meets the objective, plus what drains the
/// standing queue within `queueDrainSeconds`; without them, demand over the target load.
public struct CapacityPlanner: Sendable, Hashable {
    public var objective: ServiceObjective
    /// A standing queue is drained within this long (on top of what steady state needs).
    public var queueDrainSeconds: Double
    /// Used when no arrival rate and service time are reported: replicas = demand / targetLoad.
    public var targetLoad: Double

    public init(objective: ServiceObjective = .init(), queueDrainSeconds: Double = 30, targetLoad: Double = 0.7) {
        self.objective = objective
        self.queueDrainSeconds = queueDrainSeconds
        self.targetLoad = targetLoad
    }

    public struct Sizing: Sendable, Hashable {
        /// Replicas for the steady state at the planned demand.
        public var steady: Int
        /// Extra replicas that drain the standing queue within `queueDrainSeconds`.
        public var drain: Int
        /// P(wait > objective) at `steady` replicas (nil without a queueing model).
        public var waitProbability: Double?
        /// Requests per second the steady state was sized for (nil without a queueing model).
        public var arrivalRate: Double?
        var demand: Double
        var serviceSeconds: Double
        var slots: Int
        var waiting: Double
        var planner: CapacityPlanner

        public var total: Int { steady + drain }

        /// The objective the sizing is for; 0 without a queueing model.
        public var objectiveWaitSeconds: Double { waitProbability == nil ? 0 : planner.objective.maxWaitSeconds }

        /// P(wait > objective) at `replicas` (a plan held by a cooldown or clamped to its bounds asks
        /// for another count than it sized); nil without a queueing model.
        public func waitProbability(atReplicas replicas: Int) -> Double? {
            guard let λ = arrivalRate, waitProbability != nil else { return nil }
            if replicas == steady { return waitProbability }
            return ErlangC.waitExceeds(planner.objective.maxWaitSeconds, servers: replicas * slots, offered: λ * serviceSeconds, serviceSeconds: serviceSeconds)
        }

        /// What was sized, with its numbers (built only when asked: policies run every second).
        public var reason: String {
            guard let λ = arrivalRate, let p = waitProbability else {
                return "ceil(\(format(demand)) / target \(format(planner.targetLoad))) → \(steady) (no arrival rate and service time reported)"
            }
            let objective = planner.objective
            var reason = "Erlang C: λ \(format(λ))/s × S \(format(serviceSeconds)) s on \(steady) × \(slots) slots, P(wait > \(format(objective.maxWaitSeconds)) s) \(formatProbability(p))"
            if p > 1 - objective.percentile { reason += " (objective \(formatProbability(1 - objective.percentile)) not reachable within max_replicas)" }
            if drain > 0 { reason += "; +\(drain) drain \(format(waiting)) queued in \(format(planner.queueDrainSeconds)) s" }
            return reason
        }
    }

    /// Replicas for `demand` (offered load, replica units) in a pool reporting `traffic`, with
    /// replicas of `slots` concurrent requests, at most `maxReplicas`.
    public func size(demand: Double, traffic: PoolTraffic, slots: Int, maxReplicas: Int) -> Sizing {
        let c = max(1, slots)
        if let s = traffic.serviceSeconds, s > 0, traffic.source == .arrivalRate {
            let λ = max(0, demand) * Double(c) / s
            let (n, p) = ErlangC.replicas(arrivalRate: λ, serviceSeconds: s, slots: c, objective: objective, maxReplicas: maxReplicas)
            return Sizing(
                steady: n, drain: drainReplicas(traffic: traffic, slots: c), waitProbability: p, arrivalRate: λ, demand: demand, serviceSeconds: s,
                slots: c, waiting: traffic.waiting ?? 0, planner: self)
        }
        let n = Int((max(0, demand) / targetLoad - 1e-9).rounded(.up))
        return Sizing(
            steady: n, drain: 0, waitProbability: nil, arrivalRate: nil, demand: demand, serviceSeconds: 0, slots: c, waiting: 0, planner: self)
    }

    /// Replicas whose extra throughput clears the queue within `queueDrainSeconds`:
    /// waiting × S / drain requests in service at once, over the slots.
    public func drainReplicas(traffic: PoolTraffic, slots: Int) -> Int {
        guard let w = traffic.waiting, w > 0, let s = traffic.serviceSeconds, s > 0, queueDrainSeconds > 0 else { return 0 }
        return Int((w * s / queueDrainSeconds / Double(max(1, slots)) - 1e-9).rounded(.up))
    }
}

/// A probability for a reason string, in percent: two decimals down to 0.01 %, then "< 0.01 %".
func formatProbability(_ p: Double) -> String {
    guard p.isFinite else { return "\(p)" }
    if p <= 0 { return "0 %" }
    if p < 0.0001 { return "< 0.01 %" }
    return "\(format(p * 100)) %"
}
