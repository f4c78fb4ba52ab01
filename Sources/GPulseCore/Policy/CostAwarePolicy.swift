#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Buys capacity by workload class, pricing the risk of being short against the price of a node.
///
/// Online pools: the planner sizes the pool for the q* quantile of the demand forecast at the
/// on-demand lead time (and never below the demand now), q* = p_sla / (p_sla + c_node), the
/// newsvendor optimum when a node-hour short costs p_sla and a node-hour bought costs c_node; with
/// the pool's arrival rate and service time that is Erlang C against the wait objective. Reserved
/// capacity is a commitment: bought for the class's term when a low quantile of a day's offered
/// demand (the floor) needs more than is committed, billed whether used or not, and always used
/// before on-demand is bought. Serverless burst covers what ready nodes cannot serve now (the
/// demand now beyond them plus what drains the queue) and is released as nodes become ready.
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
        public var planner: CapacityPlanner

        public init(
            targetLoad: Double = 0.7, bounds: ReplicaBounds = .init(), guardSettings: ActionGuard = .init(),
            slaPenaltyPerNodeHour: Double, reserved: InstanceClass? = nil, onDemand: InstanceClass, spot: InstanceClass? = nil,
            serverless: InstanceClass? = nil, deadlineSeconds: Double = 4 * 3600, throughputPerReplica: Double = 1,
            checkpointIntervalSeconds: Double = 600, restartSeconds: Double = 120, planner: CapacityPlanner? = nil
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
            self.planner = planner ?? CapacityPlanner(targetLoad: targetLoad)
        }

        /// The newsvendor quantile u / (u + c_node) for on-demand nodes (c_node their price), where u,
        /// what a node-hour short costs, is the SLA penalty; or, with a serverless class that starts
        /// within the wait objective, the premium of buying that hour as burst instead (c_burst −
        /// c_node) when that is less (the newsvendor with an emergency supplier). A burst that takes
        /// longer to start than a request may wait does not save the SLA, so it does not lower q*.
        public var serviceQuantile: Double {
            var underage = slaPenaltyPerNodeHour
            if let b = serverless, b.leadTimeSeconds <= planner.objective.maxWaitSeconds {
                underage = min(underage, max(0, b.hourlyPrice - onDemand.hourlyPrice))
            }
            return underage / (underage + onDemand.hourlyPrice)
        }

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
    /// Reserved purchases not yet expired.
    public private(set) var commitments: [Commitment] = []
    /// The reserved nodes the last floor needed: the floor changes once a minute, the policy runs
    /// every second.
    private var floorSizing: (floor: Double, wanted: Int)?

    public init(settings: Settings) {
        self.settings = settings
        actions = settings.guardSettings
    }

    /// Reserved nodes committed at `nowNanos`.
    public func committed(nowNanos: Int64) -> Int { commitments.reduce(0) { $0 + ($1.untilNanos > nowNanos ? $1.count : 0) } }

    public mutating func evaluate(_ input: PoolInput) -> ScalePlan {
        commitments.removeAll { $0.untilNanos <= input.nowNanos }
        let (plan, purchase, sizing) = input.workload == .batch ? (batchPlan(input), nil, nil) : onlinePlan(input)
        // Cooldowns and the action cap hold the node count; serverless burst is meant to react at once.
        // The first plan has no earlier mix to keep, so it always stands.
        let previous = nodes ?? input.liveReplicas
        if let wait = actions.admit(plan.desiredReplicas, over: previous, nowNanos: input.nowNanos), nodes != nil {
            let burst = plan.allocation.filter { $0.instanceClass == settings.serverless?.name }
            var kept = plan
            kept.desiredReplicas = previous
            kept.allocation = mix + burst
            kept.waitProbability = input.explain ? sizing?.waitProbability(atReplicas: previous) : nil
            if input.explain { kept.reason = plan.reason + "; keeping \(previous) nodes: \(wait)" }
            return kept
        }
        if let purchase { commitments.append(purchase) }
        nodes = plan.desiredReplicas
        mix = plan.allocation.filter { $0.instanceClass != settings.serverless?.name }
        return plan
    }

    /// The plan, the reserved purchase it makes (taken only if the plan is admitted) and the sizing behind it.
    mutating func onlinePlan(_ input: PoolInput) -> (ScalePlan, Commitment?, CapacityPlanner.Sizing?) {
        let s = settings
        let q = s.serviceQuantile
        var reason = Reason(wanted: input.explain)
        var need = input.demand
        if let f = input.forecast(covering: s.onDemand.leadTimeSeconds) {
            let quantile = f.quantile(q)
            need = max(quantile, input.demand)
            reason.add("q* = \(format(q)) quantile of the \(f.horizonSeconds / 60)-min forecast \(format(quantile)), demand now \(format(input.demand))")
        } else {
            reason.add("no forecast yet (cold start): demand now \(format(need))")
        }
        reason.add(" (\(input.demandSource.name))")
        let slots = input.slotsPerReplica
        let sizing = s.planner.size(demand: need, traffic: input.traffic, slots: slots, maxReplicas: s.bounds.max)
        reason.add("; \(sizing.reason)")
        // Without burst capacity, the queue's drain has to come from nodes.
        var total = s.bounds.clamp(sizing.steady + (s.serverless == nil ? sizing.drain : 0))

        var purchase: Commitment?
        var reserved = 0
        if let r = s.reserved {
            let committed = committed(nowNanos: input.nowNanos)
            reserved = committed
            if let floor = input.demandFloor {
                let wanted: Int
                if let known = floorSizing, known.floor == floor {
                    wanted = known.wanted
                } else {
                    wanted = min(s.bounds.max, s.planner.size(demand: floor, traffic: input.traffic, slots: slots, maxReplicas: s.bounds.max).steady)
                    floorSizing = (floor, wanted)
                }
                if wanted > committed, r.commitmentHours > 0 {
                    purchase = Commitment(count: wanted - committed, untilNanos: input.nowNanos + Int64(r.commitmentHours * 3600e9))
                    reserved = wanted
                    reason.add("; commit \(wanted - committed) more reserved for \(format(r.commitmentHours)) h (floor \(format(floor)) needs \(wanted))")
                } else {
                    reason.add("; reserved \(committed) committed (floor \(format(floor)) needs \(wanted))")
                }
            } else if committed > 0 {
                reason.add("; reserved \(committed) committed")
            } else {
                reason.add("; no reserved baseline until a day of demand is learned")
            }
            // Committed nodes are paid for: they serve before any on-demand node is bought.
            total = max(total, reserved)
        }
        let onDemand = total - reserved
        var allocation: [Allocation] = []
        if let r = s.reserved { allocation.append(r.allocation(reserved)) }
        allocation.append(s.onDemand.allocation(onDemand))
        if let b = s.serverless {
            // What ready nodes cannot serve now: the steady need at today's demand beyond them, and the queue's drain.
            let now = s.planner.size(demand: input.demand, traffic: input.traffic, slots: slots, maxReplicas: s.bounds.max + input.liveReplicas)
            let short = max(0, now.steady - input.liveReplicas) + now.drain
            let burst = short > 0 ? Int((Double(short) / b.capacity - 1e-9).rounded(.up)) : 0
            allocation.append(b.allocation(burst))
            if burst > 0 { reason.add("; serverless \(burst) for \(short) replicas short of \(input.liveReplicas) ready until nodes arrive") }
        }
        let plan = ScalePlan(
            desiredReplicas: total, allocation: allocation, reason: reason.text, waitProbability: input.explain ? sizing.waitProbability(atReplicas: total) : nil,
            objectiveWaitSeconds: sizing.objectiveWaitSeconds)
        return (plan, purchase, sizing)
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
    public var memory: PolicyMemory? { PolicyMemory(policy: name, actions: actions, desiredReplicas: nodes, allocation: mix, commitments: commitments) }

    public mutating func restore(_ memory: PolicyMemory) {
        actions.adoptClocks(of: memory.actions)
        nodes = memory.desiredReplicas
        mix = memory.allocation
        commitments = memory.commitments ?? []
    }
}
