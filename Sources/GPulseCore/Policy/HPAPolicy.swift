/// A re-statement of the Kubernetes Horizontal Pod Autoscaler (autoscaling/v2) with its upstream
/// defaults, as a baseline to compare with what users run today. The metric is the pool's mean
/// load index against `targetLoad`, as HPA compares average utilization against its target.
///
/// Upstream behaviour kept here (kubernetes.io "Horizontal Pod Autoscaling", pkg/controller/podautoscaler):
/// - one evaluation per sync period, `--horizontal-pod-autoscaler-sync-period` = 15 s;
/// - desired = ceil(ready pods × current / target), unless |current / target − 1| ≤ tolerance
///   (`--horizontal-pod-autoscaler-tolerance` = 0.1), in which case the spec replicas stay;
/// - scale-down stabilization: the highest recommendation of the last 300 s
///   (`behavior.scaleDown.stabilizationWindowSeconds` = 300); scale-up has no window (0 s);
/// - default scale-up rate: the larger of +100 % and +4 pods per 15 s; scale-down: −100 % per 15 s;
/// - then min/max replicas.
public struct HPAPolicy: ScalingPolicy {
    public struct Settings: Sendable, Hashable {
        public var targetLoad: Double
        public var tolerance: Double
        public var syncPeriodSeconds: Double
        public var scaleDownStabilizationSeconds: Double
        public var scaleUpPercent: Double
        public var scaleUpPods: Int
        public var scaleDownPercent: Double
        public var periodSeconds: Double
        public var bounds: ReplicaBounds
        public var instanceClass: InstanceClass?

        public init(
            targetLoad: Double = 0.7, tolerance: Double = 0.1, syncPeriodSeconds: Double = 15,
            scaleDownStabilizationSeconds: Double = 300, scaleUpPercent: Double = 100, scaleUpPods: Int = 4,
            scaleDownPercent: Double = 100, periodSeconds: Double = 15, bounds: ReplicaBounds = .init(),
            instanceClass: InstanceClass? = nil
        ) {
            self.targetLoad = targetLoad
            self.tolerance = tolerance
            self.syncPeriodSeconds = syncPeriodSeconds
            self.scaleDownStabilizationSeconds = scaleDownStabilizationSeconds
            self.scaleUpPercent = scaleUpPercent
            self.scaleUpPods = scaleUpPods
            self.scaleDownPercent = scaleDownPercent
            self.periodSeconds = periodSeconds
            self.bounds = bounds
            self.instanceClass = instanceClass
        }
    }

    public let name = "hpa"
    public let settings: Settings
    /// The scale target's spec.replicas: what this autoscaler last set.
    private var specReplicas: Int?
    private var recommendations: [(time: Int64, replicas: Int)] = []
    private var scaleEvents: [(time: Int64, change: Int)] = []
    private var lastSync: Int64?
    private var lastPlan: ScalePlan?

    public init(settings: Settings) { self.settings = settings }

    public mutating func evaluate(_ input: PoolInput) -> ScalePlan {
        let now = input.nowNanos
        if let last = lastSync, let plan = lastPlan, Double(now - last) / 1e9 < settings.syncPeriodSeconds { return plan }
        lastSync = now
        let current = specReplicas ?? input.liveReplicas
        let ready = input.liveReplicas
        let ratio = input.loadMean / settings.targetLoad
        var reason = Reason(wanted: input.explain)
        var proposal: Int
        if ready == 0 {
            proposal = current
            reason.set("no ready replicas report a load: keeping \(current)")
        } else if abs(ratio - 1) <= settings.tolerance {
            proposal = current
            reason.set("L \(format(input.loadMean)) / target \(format(settings.targetLoad)) = \(format(ratio)), within tolerance \(format(settings.tolerance))")
        } else {
            proposal = Int((ratio * Double(ready)).rounded(.up))
            reason.set("ceil(\(ready) × L \(format(input.loadMean)) / target \(format(settings.targetLoad))) = \(proposal)")
        }
        // Stabilization: remember every recommendation; scale down only to the highest of the window.
        recommendations.removeAll { Double(now - $0.time) / 1e9 > settings.scaleDownStabilizationSeconds }
        let downLimit = recommendations.reduce(proposal) { max($0, $1.replicas) }
        recommendations.append((now, proposal))
        var desired = proposal
        if desired < current {
            desired = min(current, downLimit)
            if desired != proposal { reason.add("; stabilized at \(desired) (highest in \(format(settings.scaleDownStabilizationSeconds)) s)") }
        }
        // Rate limits over the policy period, counted from the replicas at the period's start.
        scaleEvents.removeAll { Double(now - $0.time) / 1e9 >= settings.periodSeconds }
        let periodStart = current - scaleEvents.reduce(0) { $0 + $1.change }
        if desired > current {
            let byPercent = Int((Double(periodStart) * (1 + settings.scaleUpPercent / 100)).rounded(.up))
            let limit = max(byPercent, periodStart + settings.scaleUpPods)
            if desired > limit {
                desired = limit
                reason.add("; scale-up rate limit \(limit)")
            }
        } else if desired < current {
            let limit = Int((Double(periodStart) * (1 - settings.scaleDownPercent / 100)).rounded(.up))
            if desired < limit {
                desired = limit
                reason.add("; scale-down rate limit \(limit)")
            }
        }
        let clamped = settings.bounds.clamp(desired)
        if clamped != desired { reason.add("; clamped to [\(settings.bounds.min), \(settings.bounds.max)]") }
        if clamped != current { scaleEvents.append((now, clamped - current)) }
        specReplicas = clamped
        let plan = ScalePlan(
            desiredReplicas: clamped, allocation: settings.instanceClass.map { [$0.allocation(clamped)] } ?? [], reason: reason.text)
        lastPlan = plan
        return plan
    }
}
