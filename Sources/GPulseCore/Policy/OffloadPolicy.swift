/// What the offload rule sees of one edge site and its cloud target at one evaluation.
public struct OffloadInput: Sendable, Hashable {
    public var nowNanos: Int64
    /// Mean load index over the site's live nodes; nil when none reports.
    public var edgeLoad: Double?
    public var edgeLiveNodes: Int
    /// Round trip the site's agents measure to the cloud probe target (mean over nodes); nil when
    /// no probe answered.
    public var rttMs: Double?
    public var cloudLiveNodes: Int
    public var cloudDemand: Double

    public init(nowNanos: Int64, edgeLoad: Double?, edgeLiveNodes: Int, rttMs: Double?, cloudLiveNodes: Int, cloudDemand: Double) {
        self.nowNanos = nowNanos
        self.edgeLoad = edgeLoad
        self.edgeLiveNodes = edgeLiveNodes
        self.rttMs = rttMs
        self.cloudLiveNodes = cloudLiveNodes
        self.cloudDemand = cloudDemand
    }
}

/// The edge-offload rule (docs/decisions.md). When a site's load index stays above `high` for `sustainSeconds`,
/// and the RTT to the cloud plus the cloud's expected latency fits the latency budget, and the cloud
/// pool has headroom, send the share of the site's requests that brings it back to `targetLoad`,
/// at most `maxStep` more per `stepIntervalSeconds`; below `release` take it back by the same steps
/// (the band between is the hysteresis). When the RTT breaks the budget, no offload at all, and the
/// reason says to scale the edge pool instead.
public struct OffloadPolicy: Sendable {
    public struct Settings: Sendable, Hashable {
        public var site: String
        /// The cloud pool that takes the offloaded requests.
        public var target: String
        /// The `host:port` RTT probe (agent config `samplers.rtt.targets`) that stands for the path to
        /// the cloud; empty: the slowest probe the site's agents run.
        public var probe: String
        public var high: Double
        public var release: Double
        public var targetLoad: Double
        public var budgetMs: Double
        /// Latency the cloud adds on top of the network (queueing and service), ms.
        public var cloudLatencyMs: Double
        /// The cloud pool's load per node above which it has no room for offloaded work.
        public var cloudTargetLoad: Double
        public var maxStep: Double
        public var stepIntervalSeconds: Double
        public var sustainSeconds: Double

        public init(
            site: String, target: String, probe: String = "", high: Double = 0.85, release: Double = 0.6, targetLoad: Double = 0.7,
            budgetMs: Double = 150, cloudLatencyMs: Double = 60, cloudTargetLoad: Double = 0.7, maxStep: Double = 0.2,
            stepIntervalSeconds: Double = 10, sustainSeconds: Double = 5
        ) {
            self.site = site
            self.target = target
            self.probe = probe
            self.high = high
            self.release = release
            self.targetLoad = targetLoad
            self.budgetMs = budgetMs
            self.cloudLatencyMs = cloudLatencyMs
            self.cloudTargetLoad = cloudTargetLoad
            self.maxStep = maxStep
            self.stepIntervalSeconds = stepIntervalSeconds
            self.sustainSeconds = sustainSeconds
        }
    }

    public let settings: Settings
    /// Share of the site's requests sent to the cloud now.
    public private(set) var fraction = 0.0
    /// True while offload is refused (no RTT measured, or RTT over the budget).
    public private(set) var refused = false
    private var aboveSince: Int64?
    private var lastStep: Int64?

    public init(settings: Settings) { self.settings = settings }

    public mutating func evaluate(_ input: OffloadInput) -> OffloadDecision {
        let s = settings
        let now = input.nowNanos
        var decision = OffloadDecision(
            site: s.site, pool: s.site, target: s.target, fraction: fraction, edgeLoadIndex: input.edgeLoad ?? 0, rttMs: input.rttMs ?? 0,
            budgetMs: s.budgetMs, reason: "")
        guard let load = input.edgeLoad, input.edgeLiveNodes > 0 else {
            decision.reason = "no live node reports from site \(s.site): keeping \(format(fraction))"
            return decision
        }
        guard let rtt = input.rttMs else {
            return refuse(&decision, "no RTT measured from \(s.site) to \(s.probe.isEmpty ? "the cloud" : s.probe): no offload")
        }
        if rtt + s.cloudLatencyMs > s.budgetMs {
            return refuse(
                &decision,
                "RTT \(format(rtt)) ms + cloud \(format(s.cloudLatencyMs)) ms breaks the budget \(format(s.budgetMs)) ms: no offload; scale the edge pool (L \(format(load)))")
        }
        refused = false
        aboveSince = load > s.high ? (aboveSince ?? now) : nil
        let stepDue = lastStep.map { Double(now - $0) / 1e9 >= s.stepIntervalSeconds } ?? true
        let l = format(load)
        if let since = aboveSince, Double(now - since) / 1e9 >= s.sustainSeconds {
            // The site's load without offload, and the share that brings it to targetLoad.
            let raw = load / max(1e-9, 1 - fraction)
            let wanted = min(1, max(0, 1 - s.targetLoad / raw))
            let headroom = Double(input.cloudLiveNodes) * s.cloudTargetLoad - input.cloudDemand
            let roomFor = fraction + max(0, headroom) / (raw * Double(input.edgeLiveNodes))
            let next = min(wanted, fraction + s.maxStep, roomFor)
            if next <= fraction {
                decision.reason = headroom <= 0 || roomFor <= fraction
                    ? "L \(l) > \(format(s.high)) but cloud pool \(s.target) has no headroom (\(input.cloudLiveNodes) nodes, demand \(format(input.cloudDemand))): holding \(format(fraction))"
                    : "L \(l) > \(format(s.high)), offloading \(format(fraction)) already"
            } else if !stepDue {
                decision.reason = "L \(l) > \(format(s.high)), next step after \(format(s.stepIntervalSeconds)) s: holding \(format(fraction))"
            } else {
                fraction = next
                lastStep = now
                decision.reason = "L \(l) > \(format(s.high)) for \(format(s.sustainSeconds)) s, RTT \(format(rtt)) + \(format(s.cloudLatencyMs)) ms within \(format(s.budgetMs)) ms: offload \(format(fraction)) to \(s.target)"
            }
        } else if load < s.release && fraction > 0 {
            if stepDue {
                fraction = max(0, fraction - s.maxStep)
                lastStep = now
                decision.reason = "L \(l) < release \(format(s.release)): offload down to \(format(fraction))"
            } else {
                decision.reason = "L \(l) < release \(format(s.release)), next step after \(format(s.stepIntervalSeconds)) s: holding \(format(fraction))"
            }
        } else {
            decision.reason = "L \(l) within hysteresis [\(format(s.release)), \(format(s.high))] or not yet sustained: holding \(format(fraction))"
        }
        decision.fraction = fraction
        return decision
    }

    private mutating func refuse(_ decision: inout OffloadDecision, _ reason: String) -> OffloadDecision {
        refused = true
        fraction = 0
        aboveSince = nil
        decision.fraction = 0
        decision.reason = reason
        return decision
    }
}
