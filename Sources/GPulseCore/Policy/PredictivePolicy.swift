/// Provisions now for the demand forecast at the instance class's lead time, so capacity arrives
/// when the demand does: the planner's replicas for max(forecast mean at lead time, demand now)
/// (Erlang C on the arrival rate and service time when the pool reports them, else demand over
/// target load), plus what drains a standing queue. Never below today's demand: a forecast that
/// undershoots must not take away serving replicas. During the cold start (no forecast yet) it
/// follows the demand alone and says so.
public struct PredictivePolicy: ScalingPolicy {
    public struct Settings: Sendable, Hashable {
        public var targetLoad: Double
        public var bounds: ReplicaBounds
        public var guardSettings: ActionGuard
        public var instanceClass: InstanceClass
        public var planner: CapacityPlanner

        public init(
            targetLoad: Double = 0.7, bounds: ReplicaBounds = .init(), guardSettings: ActionGuard = .init(), instanceClass: InstanceClass,
            planner: CapacityPlanner? = nil
        ) {
            self.planner = planner ?? CapacityPlanner(targetLoad: targetLoad)
            self.targetLoad = targetLoad
            self.bounds = bounds
            self.guardSettings = guardSettings
            self.instanceClass = instanceClass
        }
    }

    public let name = "predictive"
    public let settings: Settings
    public private(set) var actions: ActionGuard
    private var desired: Int?

    public init(settings: Settings) {
        self.settings = settings
        actions = settings.guardSettings
    }

    public mutating func evaluate(_ input: PoolInput) -> ScalePlan {
        let lead = settings.instanceClass.leadTimeSeconds
        var reason = Reason(wanted: input.explain)
        var need = input.demand
        if let f = input.forecast(covering: lead) {
            need = max(f.mean, input.demand)
            reason.add("forecast \(format(f.mean)) at \(f.horizonSeconds / 60) min (lead time \(format(lead)) s), demand now \(format(input.demand))")
        } else {
            reason.add("no forecast yet (cold start): demand now \(format(input.demand))")
        }
        reason.add(" (\(input.demandSource.name))")
        let sizing = settings.planner.size(demand: need, traffic: input.traffic, slots: input.slotsPerReplica, maxReplicas: settings.bounds.max)
        let proposal = settings.bounds.clamp(sizing.total)
        reason.add("; \(sizing.reason) → \(proposal)")
        let previous = desired ?? input.liveReplicas
        var chosen = proposal
        if let wait = actions.admit(proposal, over: previous, nowNanos: input.nowNanos) {
            chosen = previous
            reason.add("; keeping \(previous): \(wait)")
        }
        desired = chosen
        return ScalePlan(
            desiredReplicas: chosen, allocation: [settings.instanceClass.allocation(chosen)], reason: reason.text,
            waitProbability: input.explain ? sizing.waitProbability(atReplicas: chosen) : nil, objectiveWaitSeconds: sizing.objectiveWaitSeconds)
    }
}

extension PredictivePolicy {
    public var memory: PolicyMemory? { PolicyMemory(policy: name, actions: actions, desiredReplicas: desired) }

    public mutating func restore(_ memory: PolicyMemory) {
        actions.adoptClocks(of: memory.actions)
        desired = memory.desiredReplicas
    }
}
