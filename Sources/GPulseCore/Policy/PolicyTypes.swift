/// What a scaling policy sees of one pool at one evaluation. Built by the decision engine from the
/// live fleet, or by replay from a simulated one: policies cannot tell the difference.
public struct PoolInput: Sendable, Hashable {
    public var pool: String
    public var workload: WorkloadClass
    public var nowNanos: Int64
    /// Live nodes of the pool (the replicas that are running and reporting).
    public var liveReplicas: Int
    /// Mean and max of the load index over live nodes, over the load window.
    public var loadMean: Double
    public var loadMax: Double
    /// Offered load in replica units, from `demandSource` (Σ L over live nodes as the fallback).
    public var demand: Double
    public var demandSource: DemandSource
    /// What the pool's inference servers report (serverless burst replicas included).
    public var traffic: PoolTraffic
    /// Concurrent requests one replica serves.
    public var slotsPerReplica: Int
    /// Live serverless burst replicas (not in `liveReplicas`).
    public var burstReplicas: Int
    /// Whether the plan's reason and predicted wait are wanted. Replay, which reads neither, asks for
    /// none: building them was a tenth of a planner policy's time there.
    public var explain = true
    /// Demand forecasts, ascending horizons, replica units; empty during the cold start.
    public var forecasts: [Forecast]
    /// Lower envelope of the demand (minimum 1-minute demand over the envelope window); nil until
    /// that much history exists.
    public var demandFloor: Double?
    /// Work units queued (APP_BACKLOG summed over live nodes); nil when nobody reports it.
    public var backlog: Double?

    public init(
        pool: String, workload: WorkloadClass = .online, nowNanos: Int64, liveReplicas: Int, loadMean: Double,
        loadMax: Double? = nil, demand: Double? = nil, forecasts: [Forecast] = [], demandFloor: Double? = nil,
        backlog: Double? = nil, demandSource: DemandSource = .loadIndex, traffic: PoolTraffic = .init(), slotsPerReplica: Int = 8,
        burstReplicas: Int = 0
    ) {
        self.demandSource = demandSource
        self.traffic = traffic
        self.slotsPerReplica = slotsPerReplica
        self.burstReplicas = burstReplicas
        self.pool = pool
        self.workload = workload
        self.nowNanos = nowNanos
        self.liveReplicas = liveReplicas
        self.loadMean = loadMean
        self.loadMax = loadMax ?? loadMean
        self.demand = demand ?? loadMean * Double(liveReplicas)
        self.forecasts = forecasts
        self.demandFloor = demandFloor
        self.backlog = backlog
    }

    /// The forecast for the shortest horizon covering `seconds`, else the longest there is.
    public func forecast(covering seconds: Double) -> Forecast? {
        forecasts.first { Double($0.horizonSeconds) >= seconds } ?? forecasts.last
    }
}

/// What a policy wants for a pool: the replica count, its split by instance class, and why.
public struct ScalePlan: Sendable, Hashable {
    public var desiredReplicas: Int
    public var allocation: [Allocation]
    public var reason: String
    /// The queueing model's P(wait > the objective) at the planned replicas; nil without one.
    public var waitProbability: Double?
    /// The wait objective the plan was sized for; 0 when the policy has none.
    public var objectiveWaitSeconds: Double

    public init(desiredReplicas: Int, allocation: [Allocation] = [], reason: String, waitProbability: Double? = nil, objectiveWaitSeconds: Double = 0) {
        self.desiredReplicas = desiredReplicas
        self.allocation = allocation
        self.reason = reason
        self.waitProbability = waitProbability
        self.objectiveWaitSeconds = objectiveWaitSeconds
    }

    /// Currency units per hour of the allocation.
    public var expectedHourlyCost: Double {
        allocation.reduce(0) { $0 + Double($1.count) * $1.hourlyPrice }
    }
}

/// A scaling policy. Each is a value type whose stored properties are its settings and its memory
/// (windows, the time of its last action), so one evaluation is a pure function
/// (memory, input, now) → (memory', plan): no clock, no I/O, no randomness. The live aggregator and
/// replay run the same code.
public protocol ScalingPolicy: Sendable {
    /// The name used in config files and in decisions.
    var name: String { get }
    mutating func evaluate(_ input: PoolInput) -> ScalePlan
    /// What a restart must not forget, for the snapshot; nil when the policy keeps nothing of the
    /// kind (hpa and kpa keep only short observation windows, which a restart loses, as it does
    /// for Kubernetes' own controllers).
    var memory: PolicyMemory? { get }
    /// Takes back what `memory` gave (under this policy's current settings).
    mutating func restore(_ memory: PolicyMemory)
}

extension ScalingPolicy {
    public var memory: PolicyMemory? { nil }
    public mutating func restore(_ memory: PolicyMemory) {}
}

/// A cooldown-keeping policy's memory: when it last acted, and the capacity it stands by. Without
/// it a restarted aggregator could undo a scale-up made seconds before the restart, or act twice
/// inside one cooldown.
public struct PolicyMemory: Sendable, Hashable, Codable {
    /// The policy that wrote it; another policy in the pool's place ignores it.
    public var policy: String
    public var actions: ActionGuard
    public var desiredReplicas: Int?
    /// The standing allocation (cost_aware's instance mix, serverless burst excluded).
    public var allocation: [Allocation]
    /// Reserved purchases still committed (cost_aware); nil in snapshots from before commitments.
    public var commitments: [Commitment]?

    public init(policy: String, actions: ActionGuard, desiredReplicas: Int?, allocation: [Allocation] = [], commitments: [Commitment]? = nil) {
        self.commitments = commitments
        self.policy = policy
        self.actions = actions
        self.desiredReplicas = desiredReplicas
        self.allocation = allocation
    }
}

/// Reserved nodes bought together: paid for until `untilNanos` whether used or not.
public struct Commitment: Sendable, Hashable, Codable {
    public var count: Int
    public var untilNanos: Int64

    public init(count: Int, untilNanos: Int64) {
        self.count = count
        self.untilNanos = untilNanos
    }
}

/// The kinds of capacity a pool can buy.
public enum CapacityKind: String, Sendable, Hashable, CaseIterable {
    case reserved
    case onDemand = "on_demand"
    case spot
    case serverless
}

/// One instance class from the config: what a node of it costs, how long it takes to arrive, how
/// often it is taken away, and how much load it carries.
public struct InstanceClass: Sendable, Hashable {
    public var name: String
    public var kind: CapacityKind
    /// Currency units per node-hour (for serverless: per replica-hour of burst capacity).
    public var hourlyPrice: Double
    /// Seconds from asking for a node to it serving.
    public var leadTimeSeconds: Double
    /// Expected preemptions per node-hour (spot).
    public var preemptionsPerHour: Double
    /// Replica units one node of this class carries (1 = one reference node).
    public var capacity: Double
    /// Reserved: hours each purchase is committed (and billed) for, used or not.
    public var commitmentHours: Double

    public init(
        name: String, kind: CapacityKind, hourlyPrice: Double, leadTimeSeconds: Double, preemptionsPerHour: Double = 0,
        capacity: Double = 1, commitmentHours: Double = 24
    ) {
        self.commitmentHours = commitmentHours
        self.name = name
        self.kind = kind
        self.hourlyPrice = hourlyPrice
        self.leadTimeSeconds = leadTimeSeconds
        self.preemptionsPerHour = preemptionsPerHour
        self.capacity = capacity
    }

    /// `count` nodes of this class as an allocation line.
    public func allocation(_ count: Int) -> Allocation {
        Allocation(instanceClass: name, count: Int32(clamping: count), hourlyPrice: hourlyPrice)
    }
}

/// Bounds every policy keeps to.
public struct ReplicaBounds: Sendable, Hashable {
    public var min: Int
    public var max: Int

    public init(min: Int = 1, max: Int = 100) {
        self.min = min
        self.max = max
    }

    public func clamp(_ n: Int) -> Int { Swift.min(max, Swift.max(min, n)) }
}

/// Cooldowns and a cap on actions per minute, shared by the threshold, predictive and cost-aware
/// policies. A scale-up waits `upCooldown` after the last scale-up; a scale-down waits
/// `downCooldown` after the last action of either kind, so a fresh scale-up is not undone at once.
public struct ActionGuard: Sendable, Hashable, Codable {
    public enum Direction: Sendable { case up, down }

    public var upCooldownSeconds: Double
    public var downCooldownSeconds: Double
    /// At most this many actions in any 60 s (the comparison this project builds on allows 0 to 6).
    public var maxActionsPerMinute: Int
    public private(set) var lastUpNanos: Int64?
    public private(set) var lastActionNanos: Int64?
    /// The replicas the last admitted scale-up asked for (absolute-count policies).
    public private(set) var lastUpTarget: Int?
    private var recent: [Int64] = []

    public init(upCooldownSeconds: Double = 60, downCooldownSeconds: Double = 300, maxActionsPerMinute: Int = 2) {
        self.upCooldownSeconds = upCooldownSeconds
        self.downCooldownSeconds = downCooldownSeconds
        self.maxActionsPerMinute = maxActionsPerMinute
    }

    /// Why an action in `direction` must wait now, or nil when it may go ahead.
    public func blocked(_ direction: Direction, nowNanos: Int64) -> String? {
        let inLastMinute = recent.filter { nowNanos - $0 < 60_000_000_000 }.count
        if inLastMinute >= maxActionsPerMinute {
            return "action cap reached (\(inLastMinute) of \(maxActionsPerMinute) per minute)"
        }
        switch direction {
        case .up:
            if let last = lastUpNanos, let wait = remaining(upCooldownSeconds, since: last, nowNanos) {
                return "scale-up cooldown, \(format(wait)) s left"
            }
        case .down:
            if let last = lastActionNanos, let wait = remaining(downCooldownSeconds, since: last, nowNanos) {
                return "scale-down cooldown, \(format(wait)) s left"
            }
        }
        return nil
    }

    /// For policies that propose an absolute replica count: lets `proposal` replace `previous` and
    /// records the action, or returns why it must wait (then `previous` stands). The up cooldown
    /// holds back a repeat, not growth: a scale-up to at least 10 % (one replica) more than the last
    /// scale-up asked for goes ahead inside it (the demand outgrew what that one was sized for, and
    /// waiting would add capacity one cooldown at a time); the action cap still applies.
    public mutating func admit(_ proposal: Int, over previous: Int, nowNanos: Int64) -> String? {
        guard proposal != previous else { return nil }
        let direction: Direction = proposal > previous ? .up : .down
        if let wait = blocked(direction, nowNanos: nowNanos) {
            let outgrown = direction == .up && !capReached(nowNanos: nowNanos)
                && lastUpTarget.map { Double(proposal) >= max(Double($0 + 1), Double($0) * 1.1) } ?? false
            guard outgrown else { return wait }
        }
        record(direction, nowNanos: nowNanos)
        if direction == .up { lastUpTarget = proposal }
        return nil
    }

    /// True when the last minute already holds `maxActionsPerMinute` actions.
    func capReached(nowNanos: Int64) -> Bool { recent.filter { nowNanos - $0 < 60_000_000_000 }.count >= maxActionsPerMinute }

    public mutating func record(_ direction: Direction, nowNanos: Int64) {
        if direction == .up { lastUpNanos = nowNanos }
        lastActionNanos = nowNanos
        recent.removeAll { nowNanos - $0 >= 60_000_000_000 }
        recent.append(nowNanos)
    }

    /// The action clocks of `saved`, under this guard's cooldowns and cap.
    public mutating func adoptClocks(of saved: ActionGuard) {
        lastUpNanos = saved.lastUpNanos
        lastActionNanos = saved.lastActionNanos
        lastUpTarget = saved.lastUpTarget
        recent = saved.recent
    }

    private func remaining(_ cooldown: Double, since: Int64, _ now: Int64) -> Double? {
        let left = cooldown - Double(now - since) / 1e9
        return left > 0 ? left : nil
    }
}

/// A reason built only when it is wanted: each part's text is not even formatted otherwise.
struct Reason {
    let wanted: Bool
    private(set) var text = ""
    init(wanted: Bool) { self.wanted = wanted }
    mutating func add(_ part: @autoclosure () -> String) { if wanted { text += part() } }
    mutating func set(_ whole: @autoclosure () -> String) { if wanted { text = whole() } }
}

/// A number for a reason string: at most two decimals, no trailing zeros.
func format(_ x: Double) -> String {
    guard x.isFinite else { return "\(x)" }
    let rounded = (x * 100).rounded() / 100
    if rounded == rounded.rounded() { return String(Int(rounded)) }
    var s = String(rounded)
    while s.hasSuffix("0") { s.removeLast() }
    return s
}
