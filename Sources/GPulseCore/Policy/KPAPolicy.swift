/// A re-statement of the Knative Pod Autoscaler with its upstream defaults (knative.dev "Configuring
/// the autoscaler" and pkg/autoscaler/scaling/autoscaler.go), as a baseline. Knative scales on
/// observed concurrency against a per-pod target; here the observed quantity is the pool's demand
/// D = Σ L and the per-replica target is `targetLoad` (Knative's default target utilization is 70 %).
///
/// Upstream behaviour kept here:
/// - a decision every 2 s (the autoscaler's tick interval);
/// - `stable-window` 60 s and `panic-window-percentage` 10 % (a 6 s panic window), plain averages;
/// - desired = ceil(average / target) for both windows, kept within
///   [floor(ready / `max-scale-down-rate` 2), ceil(ready × `max-scale-up-rate` 1000)];
/// - panic when desired(panic) / ready ≥ `panic-threshold-percentage` 200 %; while panicking the
///   count never goes down; panic ends a full stable window after the last time it was over the threshold.
public struct KPAPolicy: ScalingPolicy {
    public struct Settings: Sendable, Hashable {
        public var targetLoad: Double
        public var stableWindowSeconds: Double
        public var panicWindowPercentage: Double
        public var panicThresholdPercentage: Double
        public var maxScaleUpRate: Double
        public var maxScaleDownRate: Double
        public var tickSeconds: Double
        public var bounds: ReplicaBounds
        public var instanceClass: InstanceClass?

        public init(
            targetLoad: Double = 0.7, stableWindowSeconds: Double = 60, panicWindowPercentage: Double = 10,
            panicThresholdPercentage: Double = 200, maxScaleUpRate: Double = 1000, maxScaleDownRate: Double = 2,
            tickSeconds: Double = 2, bounds: ReplicaBounds = .init(), instanceClass: InstanceClass? = nil
        ) {
            self.targetLoad = targetLoad
            self.stableWindowSeconds = stableWindowSeconds
            self.panicWindowPercentage = panicWindowPercentage
            self.panicThresholdPercentage = panicThresholdPercentage
            self.maxScaleUpRate = maxScaleUpRate
            self.maxScaleDownRate = maxScaleDownRate
            self.tickSeconds = tickSeconds
            self.bounds = bounds
            self.instanceClass = instanceClass
        }
    }

    public let name = "kpa"
    public let settings: Settings
    private var observations: [(time: Int64, demand: Double)] = []
    private var panicSince: Int64?
    private var lastOverPanic: Int64?
    private var maxPanicPods = 0
    private var lastTick: Int64?
    private var lastPlan: ScalePlan?

    public init(settings: Settings) { self.settings = settings }

    public var isPanicking: Bool { panicSince != nil }

    public mutating func evaluate(_ input: PoolInput) -> ScalePlan {
        let now = input.nowNanos
        observations.append((now, input.demand))
        let stableNanos = Int64(settings.stableWindowSeconds * 1e9)
        observations.removeAll { now - $0.time >= stableNanos }
        if let last = lastTick, let plan = lastPlan, Double(now - last) / 1e9 < settings.tickSeconds { return plan }
        lastTick = now

        let panicNanos = Int64(settings.stableWindowSeconds * settings.panicWindowPercentage / 100 * 1e9)
        let stable = average(since: now - stableNanos)
        let panic = average(since: now - panicNanos)
        let ready = Double(max(1, input.liveReplicas))
        let maxUp = (settings.maxScaleUpRate * ready).rounded(.up)
        let maxDown = (ready / settings.maxScaleDownRate).rounded(.down)
        let dspc = (stable / settings.targetLoad).rounded(.up)
        let dppc = (panic / settings.targetLoad).rounded(.up)
        let stablePods = Int(min(max(dspc, maxDown), maxUp))
        let panicPods = Int(min(max(dppc, maxDown), maxUp))
        let overPanic = dppc / ready >= settings.panicThresholdPercentage / 100

        if overPanic {
            if panicSince == nil { panicSince = now }
            lastOverPanic = now
        } else if let last = lastOverPanic, panicSince != nil, now - last >= stableNanos {
            panicSince = nil
            maxPanicPods = 0
        }
        var desired = stablePods
        var reason = Reason(wanted: input.explain)
        reason.set("stable: ceil(D \(format(stable)) over \(format(settings.stableWindowSeconds)) s / target \(format(settings.targetLoad))) = \(Int(dspc))")
        if panicSince != nil {
            maxPanicPods = max(maxPanicPods, panicPods)
            desired = maxPanicPods
            reason.set(
                "panic: ceil(D \(format(panic)) over \(format(Double(panicNanos) / 1e9)) s / target \(format(settings.targetLoad))) = \(Int(dppc)), "
                    + "≥ \(format(settings.panicThresholdPercentage)) % of \(Int(ready)) ready; holding \(maxPanicPods) (no scale-down while panicking)")
        }
        if panicSince == nil && desired != Int(dspc) { reason.add("; rate limited to [\(Int(maxDown)), \(Int(maxUp))]") }
        let clamped = settings.bounds.clamp(desired)
        if clamped != desired { reason.add("; clamped to [\(settings.bounds.min), \(settings.bounds.max)]") }
        let plan = ScalePlan(
            desiredReplicas: clamped, allocation: settings.instanceClass.map { [$0.allocation(clamped)] } ?? [], reason: reason.text)
        lastPlan = plan
        return plan
    }

    private func average(since: Int64) -> Double {
        let window = observations.filter { $0.time > since }  // the last N seconds, N one-second buckets
        guard !window.isEmpty else { return 0 }
        return window.reduce(0) { $0 + $1.demand } / Double(window.count)
    }
}
