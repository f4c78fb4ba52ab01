/// The baseline: scale up by `step` when the pool's mean load index is above `high`, down by `step`
/// when below `low`, nothing in between (the band is the hysteresis), with cooldowns and an action
/// cap. The published comparisons this project builds on trigger near 75-80 % load.
public struct ThresholdPolicy: ScalingPolicy {
    public struct Settings: Sendable, Hashable {
        public var high: Double
        public var low: Double
        public var step: Int
        public var bounds: ReplicaBounds
        public var guardSettings: ActionGuard
        /// How long an asked-for change counts as in flight: until then the policy keeps asking for it
        /// rather than re-basing on the replicas it sees (the instance class's lead time).
        public var settleSeconds: Double
        /// The class every replica is bought as, for the allocation and cost lines.
        public var instanceClass: InstanceClass?

        public init(
            high: Double = 0.8, low: Double = 0.3, step: Int = 1, bounds: ReplicaBounds = .init(),
            guardSettings: ActionGuard = .init(), settleSeconds: Double = 180, instanceClass: InstanceClass? = nil
        ) {
            self.high = high
            self.low = low
            self.step = step
            self.bounds = bounds
            self.guardSettings = guardSettings
            self.settleSeconds = settleSeconds
            self.instanceClass = instanceClass
        }
    }

    public let name = "threshold"
    public let settings: Settings
    public private(set) var actions: ActionGuard
    private var desired: Int?

    public init(settings: Settings) {
        self.settings = settings
        actions = settings.guardSettings
    }

    public mutating func evaluate(_ input: PoolInput) -> ScalePlan {
        let now = input.nowNanos
        let current = input.liveReplicas
        let l = input.explain ? format(input.loadMean) : ""
        // An earlier change not yet visible in the live replicas stays wanted until it settles.
        var target = current
        if let d = desired, d != current, let last = actions.lastActionNanos, Double(now - last) / 1e9 < settings.settleSeconds {
            target = d
        }
        var reason = Reason(wanted: input.explain)
        var acted = false
        if input.loadMean > settings.high {
            if let wait = actions.blocked(.up, nowNanos: now) {
                reason.set("L \(l) > high \(format(settings.high)) but \(wait)")
            } else {
                target = max(target, current) + settings.step
                actions.record(.up, nowNanos: now)
                acted = true
                reason.set("L \(l) > high \(format(settings.high)): +\(settings.step)")
            }
        } else if input.loadMean < settings.low {
            if let wait = actions.blocked(.down, nowNanos: now) {
                reason.set("L \(l) < low \(format(settings.low)) but \(wait)")
            } else if min(target, current) <= settings.bounds.min {
                reason.set("L \(l) < low \(format(settings.low)), at min_replicas \(settings.bounds.min)")
            } else {
                target = min(target, current) - settings.step
                actions.record(.down, nowNanos: now)
                acted = true
                reason.set("L \(l) < low \(format(settings.low)): -\(settings.step)")
            }
        } else {
            reason.set("L \(l) within [\(format(settings.low)), \(format(settings.high))]")
        }
        if target != current && !acted { reason.add("; change to \(target) in flight") }
        let clamped = settings.bounds.clamp(target)
        if clamped != target { reason.add("; clamped to [\(settings.bounds.min), \(settings.bounds.max)]") }
        desired = clamped
        return ScalePlan(
            desiredReplicas: clamped, allocation: settings.instanceClass.map { [$0.allocation(clamped)] } ?? [], reason: reason.text)
    }
}

extension ThresholdPolicy {
    public var memory: PolicyMemory? { PolicyMemory(policy: name, actions: actions, desiredReplicas: desired) }

    public mutating func restore(_ memory: PolicyMemory) {
        actions.adoptClocks(of: memory.actions)
        desired = memory.desiredReplicas
    }
}
