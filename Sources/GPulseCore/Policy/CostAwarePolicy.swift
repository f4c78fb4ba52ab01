#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Buys capacity by workload class, pricing the risk of being short against the price of a node.
///
/// Online pools: provision for the q* quantile of the demand forecast at the on-demand lead time,
/// q* = p_sla / (p_sla + c_node), the newsvendor optimum when a node-hour short costs p_sla and a
/// node-hour bought costs c_node. Of those nodes, the demand's lower envelope (the least 1-minute
/// demand seen over the envelope window) is bought reserved and the rest on demand; the gap between
/// the demand now and the live replicas, which no node can fill before its lead time, goes to
/// serverless burst capacity.
///
/// Batch pools: spot nodes with checkpointing, sized to clear the reported backlog by the deadline
/// after the work preemptions destroy; when spot can no longer make the deadline (too few nodes
/// allowed, or too little time left after the spot lead time), the pool moves to on-demand.
public struct CostAwarePolicy: ScalingPolicy {
    public struct Settings: Sendable, Hashable {
        public var targetLoad: Double
        public var bounds: ReplicaBounds
        public var guardSettings: ActionGuard
        /// Cost of one node-hour of demand not served within the SLA.
        public var slaPenaltyPerNodeHour: Double
        public var reserved: InstanceClass?
        public var onDemand: InstanceClass
        public var spot: InstanceClass?
        public var serverless: InstanceClass?
        /// Batch: the backlog must be cleared within this many seconds.
        public var deadlineSeconds: Double
        /// Batch: work units one replica finishes per second.
        public var throughputPerReplica: Double
        /// Batch: work since the last checkpoint is lost on preemption (on average half an interval).
        public var checkpointIntervalSeconds: Double
        /// Batch: seconds a preempted job needs to resume from its checkpoint elsewhere.
        public var restartSeconds: Double

        public init(
            targetLoad: Double = 0.7, bounds: ReplicaBounds = .init(), guardSettings: ActionGuard = .init(),
            slaPenaltyPerNodeHour: Double, reserved: InstanceClass? = nil, onDemand: InstanceClass, spot: InstanceClass? = nil,
            serverless: InstanceClass? = nil, deadlineSeconds: Double = 4 * 3600, throughputPerReplica: Double = 1,
            checkpointIntervalSeconds: Double = 600, restartSeconds: Double = 120
        ) {
            self.targetLoad = targetLoad
            self.bounds = bounds
            self.guardSettings = guardSettings
            self.slaPenaltyPerNodeHour = slaPenaltyPerNodeHour
            self.reserved = reserved
            self.onDemand = onDemand
            self.spot = spot
            self.serverless = serverless
            self.deadlineSeconds = deadlineSeconds
            self.throughputPerReplica = throughputPerReplica
            self.checkpointIntervalSeconds = checkpointIntervalSeconds
            self.restartSeconds = restartSeconds
        }

        /// The newsvendor quantile p_sla / (p_sla + c_node), with the on-demand price as c_node.
        public var serviceQuantile: Double { slaPenaltyPerNodeHour / (slaPenaltyPerNodeHour + onDemand.hourlyPrice) }

        /// Share of spot work that survives preemptions: 1 − λ·(checkpoint/2 + restart) per hour.
        public var spotEfficiency: Double {
            guard let spot else { return 0 }
            return max(0, 1 - spot.preemptionsPerHour * (checkpointIntervalSeconds / 2 + restartSeconds) / 3600)
        }
    }

    public let name = "cost_aware"
    public let settings: Settings
    public private(set) var actions: ActionGuard
    private var nodes: Int?
    private var mix: [Allocation] = []

    public init(settings: Settings) {
        self.settings = settings
        actions = settings.guardSettings
    }

    public mutating func evaluate(_ input: PoolInput) -> ScalePlan {
        let plan = input.workload == .batch ? batchPlan(input) : onlinePlan(input)
        // Cooldowns and the action cap hold the node count; serverless burst is meant to react at once.
        // The first plan has no earlier mix to keep, so it always stands.
        let previous = nodes ?? input.liveReplicas
        if let wait = actions.admit(plan.desiredReplicas, over: previous, nowNanos: input.nowNanos), nodes != nil {
            let burst = plan.allocation.filter { $0.instanceClass == settings.serverless?.name }
            return ScalePlan(desiredReplicas: previous, allocation: mix + burst, reason: plan.reason + "; keeping \(previous) nodes: \(wait)")
        }
        nodes = plan.desiredReplicas
        mix = plan.allocation.filter { $0.instanceClass != settings.serverless?.name }
        return plan
    }

    func onlinePlan(_ input: PoolInput) -> ScalePlan {
        let s = settings
        let q = s.serviceQuantile
        let target = s.targetLoad
        var reason: String
        var need = input.demand
        if let f = input.forecast(covering: s.onDemand.leadTimeSeconds) {
            need = f.quantile(q)
            reason = "q* = \(format(q)) quantile of the \(f.horizonSeconds / 60)-min forecast: \(format(need))"
        } else {
            reason = "no forecast yet (cold start): demand now \(format(need))"
        }
        let total = s.bounds.clamp(Int((max(0, need) / target - 1e-9).rounded(.up)))
        var reserved = 0
        if let r = s.reserved {
            if let floor = input.demandFloor {
                reserved = min(total, Int((floor / target / r.capacity).rounded(.down)))
                reason += "; reserved \(reserved) from the demand floor \(format(floor))"
            } else {
                reason += "; no reserved baseline until the demand floor is learned"
            }
        }
        let onDemand = total - reserved
        var allocation: [Allocation] = []
        if let r = s.reserved { allocation.append(r.allocation(reserved)) }
        allocation.append(s.onDemand.allocation(onDemand))
        let shortNow = input.demand / target - Double(input.liveReplicas)
        if let b = s.serverless {
            let burst = shortNow > 0 ? Int((shortNow / b.capacity - 1e-9).rounded(.up)) : 0
            allocation.append(b.allocation(burst))
            if burst > 0 { reason += "; serverless \(burst) for the \(format(shortNow)) replicas short until nodes arrive" }
        }
        return ScalePlan(desiredReplicas: total, allocation: allocation, reason: reason)
    }

    func batchPlan(_ input: PoolInput) -> ScalePlan {
        let s = settings
        let backlog = input.backlog ?? 0
        let rate = s.throughputPerReplica
        if let spot = s.spot {
            let time = s.deadlineSeconds - spot.leadTimeSeconds
            let efficiency = s.spotEfficiency
            if time > 0, efficiency > 0 {
                let needed = s.bounds.clamp(Int((backlog / (rate * efficiency * time) - 1e-9).rounded(.up)))
                let clears = backlog / (Double(needed) * rate * efficiency) + spot.leadTimeSeconds
                if clears <= s.deadlineSeconds {
                    return ScalePlan(
                        desiredReplicas: needed, allocation: [spot.allocation(needed)],
                        reason: "backlog \(format(backlog)) on \(needed) spot (efficiency \(format(efficiency)) after preemptions) clears in \(format(clears)) s ≤ deadline \(format(s.deadlineSeconds)) s")
                }
            }
        }
        let time = s.deadlineSeconds - s.onDemand.leadTimeSeconds
        let needed = time > 0 ? s.bounds.clamp(Int((backlog / (rate * time) - 1e-9).rounded(.up))) : s.bounds.max
        let clears = backlog / (Double(max(1, needed)) * rate) + s.onDemand.leadTimeSeconds
        var reason = s.spot == nil ? "no spot class configured" : "backlog \(format(backlog)) cannot meet the deadline \(format(s.deadlineSeconds)) s on spot"
        reason += "; \(needed) on-demand clear it in \(format(clears)) s"
        if clears > s.deadlineSeconds { reason += ": deadline missed even at max_replicas \(s.bounds.max)" }
        return ScalePlan(desiredReplicas: needed, allocation: [s.onDemand.allocation(needed)], reason: reason)
    }
}

extension Forecast {
    /// The `q` quantile, reading the prediction interval as a normal one around the mean (the
    /// interval's own level fixes its spread); the mean when there is no interval yet.
    public func quantile(_ q: Double) -> Double {
        guard level > 0, level < 1, upper > lower else { return mean }
        let sigma = (upper - lower) / (2 * inverseNormal(0.5 + level / 2))
        return mean + inverseNormal(q) * sigma
    }
}

/// The standard normal quantile (Acklam's rational approximation, relative error below 1.2e-9).
public func inverseNormal(_ p: Double) -> Double {
    guard p > 0 else { return -.infinity }
    guard p < 1 else { return .infinity }
    let a = [-3.969683028665376e+01, 2.209460984245205e+02, -2.759285104469687e+02, 1.383577518672690e+02, -3.066479806614716e+01, 2.506628277459239e+00]
    let b = [-5.447609879822406e+01, 1.615858368580409e+02, -1.556989798598866e+02, 6.680131188771972e+01, -1.328068155288572e+01]
    let c = [-7.784894002430293e-03, -3.223964580411365e-01, -2.400758277161838e+00, -2.549732539343734e+00, 4.374664141464968e+00, 2.938163982698783e+00]
    let d = [7.784695709041462e-03, 3.224671290700398e-01, 2.445134137142996e+00, 3.754408661907416e+00]
    let low = 0.02425
    if p < low {
        let q = (-2 * log(p)).squareRoot()
        return (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    }
    if p > 1 - low {
        let q = (-2 * log(1 - p)).squareRoot()
        return -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1)
    }
    let q = p - 0.5
    let r = q * q
    return (((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q / (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1)
}

extension CostAwarePolicy {
    public var memory: PolicyMemory? { PolicyMemory(policy: name, actions: actions, desiredReplicas: nodes, allocation: mix) }

    public mutating func restore(_ memory: PolicyMemory) {
        actions.adoptClocks(of: memory.actions)
        nodes = memory.desiredReplicas
        mix = memory.allocation
    }
}
