import GPulseConfig
import GPulseCore

/// The `decisions:`, `instance_classes:`, `pools:` and `offload:` sections of the aggregator config,
/// and how they become the decision engine's policies.
public struct DecisionConfig: ConfigSection, Sendable, Equatable {
    public var evaluateIntervalMs = 100.0
    public var resendIntervalS = 10.0
    public var validForS = 30.0
    public init() {}
}

public struct InstanceClassConfig: ConfigSection, Sendable, Equatable {
    public var kind = CapacityKind.onDemand
    public var hourlyPrice = 0.0
    public var leadTimeS = 0.0
    public var preemptionsPerHour = 0.0
    public var capacity = 1.0
    public var commitmentHours = 24.0
    public init() {}
    public init(kind: CapacityKind, hourlyPrice: Double, leadTimeS: Double, preemptionsPerHour: Double = 0, capacity: Double = 1, commitmentHours: Double = 24) {
        self.commitmentHours = commitmentHours
        self.kind = kind
        self.hourlyPrice = hourlyPrice
        self.leadTimeS = leadTimeS
        self.preemptionsPerHour = preemptionsPerHour
        self.capacity = capacity
    }

    /// EXAMPLE prices (currency units per node-hour) for a GPU inference node; set your own.
    public static let examples: [String: InstanceClassConfig] = [
        "reserved": .init(kind: .reserved, hourlyPrice: 2.2, leadTimeS: 0),
        "on_demand": .init(kind: .onDemand, hourlyPrice: 3.9, leadTimeS: 180),
        "spot": .init(kind: .spot, hourlyPrice: 1.4, leadTimeS: 240, preemptionsPerHour: 0.05),
        "serverless": .init(kind: .serverless, hourlyPrice: 6.5, leadTimeS: 10),
    ]
}

/// `instance_classes.<name>.kind`: reserved, on_demand, spot or serverless.
extension CapacityKind: ConfigEnum {}

/// `pools.<name>.policy`: which scaling policy sizes the pool.
public enum PolicyKind: String, ConfigEnum {
    case threshold, hpa, kpa, predictive
    case costAware = "cost_aware"
}

public struct PoolConfig: ConfigSection, Sendable, Equatable {
    public struct Cooldown: ConfigSection, Sendable, Equatable {
        public var upS = 60.0
        public var downS = 300.0
        public var maxActionsPerMinute = 2
        public init() {}
    }
    public struct Threshold: ConfigSection, Sendable, Equatable {
        public var high = 0.8
        public var low = 0.3
        public var step = 1
        public init() {}
    }
    public struct HPA: ConfigSection, Sendable, Equatable {
        public var tolerance = 0.1
        public var syncPeriodS = 15.0
        public var scaleDownStabilizationS = 300.0
        public var scaleUpPercent = 100.0
        public var scaleUpPods = 4
        public var scaleDownPercent = 100.0
        public var periodS = 15.0
        public init() {}
    }
    public struct KPA: ConfigSection, Sendable, Equatable {
        public var stableWindowS = 60.0
        public var panicWindowPercentage = 10.0
        public var panicThresholdPercentage = 200.0
        public var maxScaleUpRate = 1000.0
        public var maxScaleDownRate = 2.0
        public var tickS = 2.0
        public init() {}
    }
    /// The pool's wait objective, which predictive and cost_aware size replicas for.
    public struct SLO: ConfigSection, Sendable, Equatable {
        public var maxWaitS = 2.0
        public var percentile = 0.99
        public var queueDrainS = 30.0
        public init() {}
    }
    public struct CostAware: ConfigSection, Sendable, Equatable {
        public var slaPenaltyPerNodeHour = 20.0
        public var reservedQuantile = 0.1
        public var reservedClass = "reserved"
        public var onDemandClass = "on_demand"
        public var spotClass = "spot"
        public var serverlessClass = "serverless"
        public var envelopeMinutes = 1440
        public var deadlineS = 14400.0
        public var throughputPerReplica = 1.0
        public var checkpointIntervalS = 600.0
        public var restartS = 120.0
        public init() {}
    }

    public var policy = PolicyKind.threshold
    public var workload = PoolWorkload.fromAgents
    public var minReplicas = 1
    public var maxReplicas = 100
    public var targetLoad = 0.7
    public var instanceClass = "on_demand"
    public var slotsPerReplica = 8
    public var slo = SLO()
    public var cooldown = Cooldown()
    public var threshold = Threshold()
    public var hpa = HPA()
    public var kpa = KPA()
    public var costAware = CostAware()

    public init() {}

    /// Problems as (key under the pool, message); `classes` are the configured instance classes.
    func problems(classes: [String: InstanceClassConfig]) -> [(String, String)] {
        var out: [(String, String)] = []
        if minReplicas < 0 { out.append(("min_replicas", "must be at least 0")) }
        if maxReplicas < max(1, minReplicas) { out.append(("max_replicas", "must be at least 1 and at least min_replicas (\(minReplicas))")) }
        if !(targetLoad > 0 && targetLoad <= 1) { out.append(("target_load", "must be in (0, 1]")) }
        if classes[instanceClass] == nil { out.append(("instance_class", "no instance class '\(instanceClass)' under instance_classes")) }
        if !(1...100_000).contains(slotsPerReplica) { out.append(("slots_per_replica", "must be 1 to 100000 (requests one replica serves at once)")) }
        if !(slo.maxWaitS > 0 && slo.maxWaitS <= 3600) { out.append(("slo.max_wait_s", "must be above 0 and at most 3600")) }
        if !(slo.percentile >= 0.5 && slo.percentile < 1) { out.append(("slo.percentile", "must be at least 0.5 and below 1 (e.g. 0.99)")) }
        if !(slo.queueDrainS > 0 && slo.queueDrainS <= 3600) { out.append(("slo.queue_drain_s", "must be above 0 and at most 3600")) }
        if !(cooldown.upS >= 0) { out.append(("cooldown.up_s", "must be at least 0")) }
        if !(cooldown.downS >= 0) { out.append(("cooldown.down_s", "must be at least 0")) }
        if !(0...60).contains(cooldown.maxActionsPerMinute) { out.append(("cooldown.max_actions_per_minute", "must be 0 to 60")) }
        if !(threshold.low >= 0 && threshold.high > threshold.low) { out.append(("threshold", "needs 0 <= low < high")) }
        if threshold.step < 1 { out.append(("threshold.step", "must be at least 1")) }
        if !(hpa.tolerance >= 0) { out.append(("hpa.tolerance", "must be at least 0")) }
        if !(hpa.syncPeriodS > 0) { out.append(("hpa.sync_period_s", "must be positive")) }
        if !(hpa.periodS > 0) { out.append(("hpa.period_s", "must be positive")) }
        if !(kpa.stableWindowS >= 6 && kpa.stableWindowS <= 3600) { out.append(("kpa.stable_window_s", "must be 6 to 3600 (Knative's range)")) }
        if !(kpa.panicWindowPercentage >= 1 && kpa.panicWindowPercentage <= 100) { out.append(("kpa.panic_window_percentage", "must be 1 to 100")) }
        if !(kpa.panicThresholdPercentage > 100) { out.append(("kpa.panic_threshold_percentage", "must be above 100")) }
        if !(kpa.maxScaleUpRate > 1) { out.append(("kpa.max_scale_up_rate", "must be above 1")) }
        if !(kpa.maxScaleDownRate > 1) { out.append(("kpa.max_scale_down_rate", "must be above 1")) }
        if !(kpa.tickS > 0) { out.append(("kpa.tick_s", "must be positive")) }
        if policy == .costAware {
            let c = costAware
            if !(c.slaPenaltyPerNodeHour > 0) { out.append(("cost_aware.sla_penalty_per_node_hour", "must be positive")) }
            for (key, name) in [("reserved_class", c.reservedClass), ("on_demand_class", c.onDemandClass), ("spot_class", c.spotClass), ("serverless_class", c.serverlessClass)]
            where !name.isEmpty && classes[name] == nil {
                out.append(("cost_aware.\(key)", "no instance class '\(name)' under instance_classes (empty: none)"))
            }
            if c.onDemandClass.isEmpty { out.append(("cost_aware.on_demand_class", "is required")) }
            if c.envelopeMinutes < 1 { out.append(("cost_aware.envelope_minutes", "must be at least 1")) }
            if !(c.reservedQuantile >= 0 && c.reservedQuantile < 1) { out.append(("cost_aware.reserved_quantile", "must be at least 0 and below 1")) }
            if !(c.deadlineS > 0) { out.append(("cost_aware.deadline_s", "must be positive")) }
            if !(c.throughputPerReplica > 0) { out.append(("cost_aware.throughput_per_replica", "must be positive")) }
            if !(c.checkpointIntervalS > 0) { out.append(("cost_aware.checkpoint_interval_s", "must be positive")) }
            if !(c.restartS >= 0) { out.append(("cost_aware.restart_s", "must be at least 0")) }
        }
        return out
    }

    /// A fresh policy for this pool; `classes` must hold every class the pool names (validated).
    public func makePolicy(classes: [String: InstanceClass]) -> any ScalingPolicy {
        let bounds = ReplicaBounds(min: minReplicas, max: maxReplicas)
        let actions = ActionGuard(upCooldownSeconds: cooldown.upS, downCooldownSeconds: cooldown.downS, maxActionsPerMinute: cooldown.maxActionsPerMinute)
        let instance = classes[instanceClass] ?? InstanceClass(name: instanceClass, kind: .onDemand, hourlyPrice: 0, leadTimeSeconds: 0)
        let planner = CapacityPlanner(
            objective: ServiceObjective(maxWaitSeconds: slo.maxWaitS, percentile: slo.percentile), queueDrainSeconds: slo.queueDrainS, targetLoad: targetLoad)
        switch policy {
        case .hpa:
            return HPAPolicy(
                settings: .init(
                    targetLoad: targetLoad, tolerance: hpa.tolerance, syncPeriodSeconds: hpa.syncPeriodS,
                    scaleDownStabilizationSeconds: hpa.scaleDownStabilizationS, scaleUpPercent: hpa.scaleUpPercent, scaleUpPods: hpa.scaleUpPods,
                    scaleDownPercent: hpa.scaleDownPercent, periodSeconds: hpa.periodS, bounds: bounds, instanceClass: instance))
        case .kpa:
            return KPAPolicy(
                settings: .init(
                    targetLoad: targetLoad, stableWindowSeconds: kpa.stableWindowS, panicWindowPercentage: kpa.panicWindowPercentage,
                    panicThresholdPercentage: kpa.panicThresholdPercentage, maxScaleUpRate: kpa.maxScaleUpRate,
                    maxScaleDownRate: kpa.maxScaleDownRate, tickSeconds: kpa.tickS, bounds: bounds, instanceClass: instance))
        case .predictive:
            return PredictivePolicy(settings: .init(targetLoad: targetLoad, bounds: bounds, guardSettings: actions, instanceClass: instance, planner: planner))
        case .costAware:
            let c = costAware
            return CostAwarePolicy(
                settings: .init(
                    targetLoad: targetLoad, bounds: bounds, guardSettings: actions, slaPenaltyPerNodeHour: c.slaPenaltyPerNodeHour,
                    reserved: classes[c.reservedClass], onDemand: classes[c.onDemandClass] ?? instance, spot: classes[c.spotClass],
                    serverless: classes[c.serverlessClass], deadlineSeconds: c.deadlineS, throughputPerReplica: c.throughputPerReplica,
                    checkpointIntervalSeconds: c.checkpointIntervalS, restartSeconds: c.restartS, planner: planner))
        case .threshold:
            return ThresholdPolicy(
                settings: .init(
                    high: threshold.high, low: threshold.low, step: threshold.step, bounds: bounds, guardSettings: actions,
                    settleSeconds: instance.leadTimeSeconds, instanceClass: instance))
        }
    }
}

public struct OffloadConfig: ConfigSection, Sendable, Equatable {
    public var target = ""
    public var probe = ""
    public var high = 0.85
    public var release = 0.6
    public var targetLoad = 0.7
    public var budgetMs = 150.0
    public var cloudLatencyMs = 60.0
    public var cloudTargetLoad = 0.7
    public var maxStep = 0.2
    public var stepIntervalS = 10.0
    public var sustainS = 5.0
    public init() {}

    func problems() -> [(String, String)] {
        var out: [(String, String)] = []
        if target.isEmpty { out.append(("target", "names the cloud pool that takes offloaded requests; required")) }
        if !(release >= 0 && release < high) { out.append(("release", "must be at least 0 and below high (\(high))")) }
        if !(targetLoad > 0 && targetLoad < high) { out.append(("target_load", "must be in (0, high)")) }
        if !(budgetMs > 0) { out.append(("budget_ms", "must be positive")) }
        if !(cloudLatencyMs >= 0) { out.append(("cloud_latency_ms", "must be at least 0")) }
        if !(cloudTargetLoad > 0 && cloudTargetLoad <= 1) { out.append(("cloud_target_load", "must be in (0, 1]")) }
        if !(maxStep > 0 && maxStep <= 1) { out.append(("max_step", "must be in (0, 1]")) }
        if !(stepIntervalS >= 0) { out.append(("step_interval_s", "must be at least 0")) }
        if !(sustainS >= 0) { out.append(("sustain_s", "must be at least 0")) }
        return out
    }

    func settings(site: String) -> OffloadPolicy.Settings {
        OffloadPolicy.Settings(
            site: site, target: target, probe: probe, high: high, release: release, targetLoad: targetLoad, budgetMs: budgetMs,
            cloudLatencyMs: cloudLatencyMs, cloudTargetLoad: cloudTargetLoad, maxStep: maxStep, stepIntervalSeconds: stepIntervalS,
            sustainSeconds: sustainS)
    }
}

extension AggregatorConfig {
    /// The instance classes as GPulseCore values.
    public var classes: [String: InstanceClass] {
        Dictionary(
            uniqueKeysWithValues: instanceClasses.map { name, c in
                (name, InstanceClass(
                    name: name, kind: c.kind, hourlyPrice: c.hourlyPrice, leadTimeSeconds: c.leadTimeS,
                    preemptionsPerHour: c.preemptionsPerHour, capacity: c.capacity, commitmentHours: c.commitmentHours))
            })
    }

    /// The pool's config: its own entry under `pools`, else the `default` entry, else the defaults.
    public func pool(_ name: String) -> PoolConfig { pools[name] ?? pools["default"] ?? PoolConfig() }

    /// The pools named under `pools` (not `default`, which is a template, not a pool).
    public var configuredPools: Set<String> { Set(pools.keys.filter { $0 != "default" }) }

    /// The decision engine's settings; policies are made fresh for each pool as it appears.
    public var engineSettings: EngineSettings {
        let classes = self.classes
        let config = self
        return EngineSettings(
            resendSeconds: decisions.resendIntervalS, validForSeconds: decisions.validForS,
            offload: offload.sorted { $0.key < $1.key }.map { $0.value.settings(site: $0.key) }
        ) { name in
            let p = config.pool(name)
            return PoolSetup(
                policy: p.makePolicy(classes: classes), workload: p.workload.workload,
                envelopeMinutes: p.costAware.envelopeMinutes, floorQuantile: p.costAware.reservedQuantile)
        }
    }

    func decisionProblems() -> [ConfigIssue] {
        var issues: [ConfigIssue] = []
        if !(decisions.resendIntervalS > 0 && decisions.resendIntervalS <= 86_400) {
            issues.append(.init(keyPath: "decisions.resend_interval_s", message: "must be above 0 and at most 86400 (a day)"))
        }
        if !(decisions.validForS >= decisions.resendIntervalS && decisions.validForS <= 7 * 86_400) {
            issues.append(.init(keyPath: "decisions.valid_for_s", message: "must be at least resend_interval_s (\(decisions.resendIntervalS)) and at most 604800 (a week)"))
        }
        for (name, c) in instanceClasses.sorted(by: { $0.key < $1.key }) {
            let key = "instance_classes.\(name)"
            if !(c.hourlyPrice >= 0) { issues.append(.init(keyPath: "\(key).hourly_price", message: "must be at least 0")) }
            if !(c.leadTimeS >= 0) { issues.append(.init(keyPath: "\(key).lead_time_s", message: "must be at least 0")) }
            if !(c.preemptionsPerHour >= 0) { issues.append(.init(keyPath: "\(key).preemptions_per_hour", message: "must be at least 0")) }
            if !(c.capacity > 0) { issues.append(.init(keyPath: "\(key).capacity", message: "must be positive")) }
            if !(c.commitmentHours > 0 && c.commitmentHours <= 3 * 8760) {
                issues.append(.init(keyPath: "\(key).commitment_hours", message: "must be above 0 and at most 26280 (3 years)"))
            }
        }
        for (name, p) in pools.sorted(by: { $0.key < $1.key }) {
            issues += p.problems(classes: instanceClasses).map { .init(keyPath: "pools.\(name).\($0.0)", message: $0.1) }
        }
        if pools["default"] == nil {
            issues += PoolConfig().problems(classes: instanceClasses).map { .init(keyPath: "pools.default.\($0.0)", message: $0.1 + " (built-in default)") }
        }
        for (site, o) in offload.sorted(by: { $0.key < $1.key }) {
            issues += o.problems().map { .init(keyPath: "offload.\(site).\($0.0)", message: $0.1) }
        }
        return issues
    }
}

extension PoolWorkload {
    /// The workload class a pool's policy runs for; nil: what its agents report.
    var workload: WorkloadClass? {
        switch self {
        case .fromAgents: nil
        case .online: .online
        case .batch: .batch
        }
    }
}
