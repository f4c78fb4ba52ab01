/// Demand expected `horizonSeconds` ahead, in replica units, with a prediction interval.
public struct Forecast: Sendable, Hashable {
    public var horizonSeconds: UInt32
    public var mean: Double
    public var lower: Double
    public var upper: Double
    /// Interval coverage, 0...1.
    public var level: Double

    public init(horizonSeconds: UInt32, mean: Double, lower: Double, upper: Double, level: Double) {
        self.horizonSeconds = horizonSeconds
        self.mean = mean
        self.lower = lower
        self.upper = upper
        self.level = level
    }
}

/// A number of nodes of one instance class.
public struct Allocation: Sendable, Hashable, Codable {
    public var instanceClass: String
    public var count: Int32
    /// Currency units per node-hour.
    public var hourlyPrice: Double

    public init(instanceClass: String, count: Int32, hourlyPrice: Double) {
        self.instanceClass = instanceClass
        self.count = count
        self.hourlyPrice = hourlyPrice
    }
}

public struct ScaleDecision: Sendable, Hashable {
    public enum Action: Int32, Sendable, Hashable {
        case hold = 0
        case scaleUp = 1
        case scaleDown = 2
    }
    public var pool: String
    public var workload: WorkloadClass
    public var action: Action
    public var currentReplicas: Int32
    public var desiredReplicas: Int32
    public var allocation: [Allocation]
    /// Pool mean of the load index, 0...1.
    public var loadIndex: Double
    /// Pool max of the load index, 0...1.
    public var loadIndexMax: Double
    /// Offered load, replica units, from `demandSource`.
    public var demand: Double
    public var forecasts: [Forecast]
    public var policy: String
    public var reason: String
    /// Currency units per hour of `allocation`.
    public var expectedHourlyCost: Double
    public var demandSource: DemandSource
    /// What the pool's inference servers reported (arrival rate, service time, waiting, running).
    public var traffic: PoolTraffic
    /// The queueing model's P(wait > `sloMaxWaitSeconds`) at the desired replicas; nil when the
    /// policy uses no queueing model.
    public var predictedWaitProbability: Double?
    /// The pool's wait objective; 0 when the policy has none.
    public var sloMaxWaitSeconds: Double

    public init(
        pool: String, workload: WorkloadClass = .unspecified, action: Action, currentReplicas: Int32,
        desiredReplicas: Int32, allocation: [Allocation] = [], loadIndex: Double, loadIndexMax: Double = 0,
        demand: Double, forecasts: [Forecast] = [], policy: String, reason: String, expectedHourlyCost: Double = 0,
        demandSource: DemandSource = .loadIndex, traffic: PoolTraffic = .init(), predictedWaitProbability: Double? = nil,
        sloMaxWaitSeconds: Double = 0
    ) {
        self.demandSource = demandSource
        self.traffic = traffic
        self.predictedWaitProbability = predictedWaitProbability
        self.sloMaxWaitSeconds = sloMaxWaitSeconds
        self.pool = pool
        self.workload = workload
        self.action = action
        self.currentReplicas = currentReplicas
        self.desiredReplicas = desiredReplicas
        self.allocation = allocation
        self.loadIndex = loadIndex
        self.loadIndexMax = loadIndexMax
        self.demand = demand
        self.forecasts = forecasts
        self.policy = policy
        self.reason = reason
        self.expectedHourlyCost = expectedHourlyCost
    }
}

public struct OffloadDecision: Sendable, Hashable {
    public var site: String
    public var pool: String
    public var target: String
    /// Share of the site's requests to send to `target`, 0...1.
    public var fraction: Double
    public var edgeLoadIndex: Double
    public var rttMs: Double
    public var budgetMs: Double
    public var reason: String

    public init(
        site: String, pool: String, target: String, fraction: Double, edgeLoadIndex: Double, rttMs: Double,
        budgetMs: Double, reason: String
    ) {
        self.site = site
        self.pool = pool
        self.target = target
        self.fraction = fraction
        self.edgeLoadIndex = edgeLoadIndex
        self.rttMs = rttMs
        self.budgetMs = budgetMs
        self.reason = reason
    }
}

public struct NodeEvent: Sendable, Hashable {
    public enum Kind: Int32, Sendable, Hashable {
        case up = 0
        case stale = 1
        case down = 2
        case restarted = 3
        /// Its GPU reported a fault; its capacity is not counted until `healthy`.
        case unhealthy = 4
        case healthy = 5
    }
    public var nodeID: String
    public var kind: Kind
    public var pool: String
    public var site: String
    /// For `unhealthy`: what was reported. Empty otherwise.
    public var reason: String

    public init(nodeID: String, kind: Kind, pool: String = "", site: String = "", reason: String = "") {
        self.nodeID = nodeID
        self.kind = kind
        self.pool = pool
        self.site = site
        self.reason = reason
    }
}

/// One message of the decision stream.
public struct Decision: Sendable, Hashable {
    public enum Body: Sendable, Hashable {
        case scale(ScaleDecision)
        case offload(OffloadDecision)
        case node(NodeEvent)
    }
    public var id: String
    public var seq: UInt64
    public var issuedUnixNanos: Int64
    public var validUntilUnixNanos: Int64
    public var body: Body

    public init(id: String, seq: UInt64, issuedUnixNanos: Int64, validUntilUnixNanos: Int64, body: Body) {
        self.id = id
        self.seq = seq
        self.issuedUnixNanos = issuedUnixNanos
        self.validUntilUnixNanos = validUntilUnixNanos
        self.body = body
    }

    /// The PUB topic this decision goes out on: "scale/<pool>", "offload/<site>" or "node/<node_id>".
    public var topic: String { body.topic }
}

extension Decision.Body {
    public var topic: String {
        switch self {
        case .scale(let s): "scale/\(s.pool)"
        case .offload(let o): "offload/\(o.site)"
        case .node(let n): "node/\(n.nodeID)"
        }
    }
}
