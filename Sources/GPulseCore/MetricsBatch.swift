/// The gpulse release both executables report (`--version`, `agent_version` in batches).
public let gpulseVersion = "0.1.0"

/// The protocol version this build speaks; batches with another version are rejected.
public let gpulseProtocolVersion: UInt32 = 1

/// One signal of one subject over one publish interval, each value with its own timestamp.
public struct Series: Sendable, Hashable {
    public var kind: SignalKind
    /// What the values describe: "" for the whole host, an interface name, a GPU UUID, a probe target.
    public var subject: String
    /// Microseconds after the batch's `t0UnixNanos`, one per value.
    public var offsetsMicros: [UInt32]
    /// Values in the unit `kind` fixes.
    public var values: [Float]

    public init(kind: SignalKind, subject: String = "", offsetsMicros: [UInt32] = [], values: [Float] = []) {
        self.kind = kind
        self.subject = subject
        self.offsetsMicros = offsetsMicros
        self.values = values
    }

    public var sampleCount: Int { values.count }
}

/// Who sent a batch and what the node serves; set once in the agent config.
public struct NodeLabels: Sendable, Hashable, Codable {
    public var nodeID: String
    public var pool: String
    public var site: String
    public var tier: Tier
    public var workload: WorkloadClass
    public var instanceClass: String

    public init(
        nodeID: String, pool: String = "", site: String = "", tier: Tier = .unspecified,
        workload: WorkloadClass = .unspecified, instanceClass: String = ""
    ) {
        self.nodeID = nodeID
        self.pool = pool
        self.site = site
        self.tier = tier
        self.workload = workload
        self.instanceClass = instanceClass
    }
}

/// Probes to one target that got no answer within their timeout since the previous batch.
public struct ProbeLoss: Sendable, Hashable {
    public var target: String
    public var lost: UInt32
    public init(target: String, lost: UInt32) {
        self.target = target
        self.lost = lost
    }
}

/// What one agent sampled during one publish interval.
public struct MetricsBatch: Sendable, Hashable {
    public var labels: NodeLabels
    /// Random per agent start; a new value means the agent restarted.
    public var session: UInt64
    /// 0, 1, 2, ... within a session.
    public var seq: UInt64
    /// Wall-clock time of offset 0, nanoseconds since the Unix epoch.
    public var t0UnixNanos: Int64
    public var series: [Series]
    /// Samples the agent discarded since the previous batch.
    public var droppedSamples: UInt64
    public var probeLosses: [ProbeLoss]
    public var protocolVersion: UInt32
    public var agentVersion: String

    public init(
        labels: NodeLabels, session: UInt64, seq: UInt64, t0UnixNanos: Int64, series: [Series] = [],
        droppedSamples: UInt64 = 0, probeLosses: [ProbeLoss] = [],
        protocolVersion: UInt32 = gpulseProtocolVersion, agentVersion: String = ""
    ) {
        self.labels = labels
        self.session = session
        self.seq = seq
        self.t0UnixNanos = t0UnixNanos
        self.series = series
        self.droppedSamples = droppedSamples
        self.probeLosses = probeLosses
        self.protocolVersion = protocolVersion
        self.agentVersion = agentVersion
    }

    /// Total values over all series.
    public var sampleCount: Int {
        // By index: a reduce over the series copies each one, retaining and releasing its arrays.
        var n = 0
        for i in series.indices { n += series[i].values.count }
        return n
    }
    /// Time of the newest sample (t0 + the largest offset); t0 for a batch without samples. Saturates
    /// at Int64.max rather than wrapping, so a t0 near the end of time reads as far in the future.
    public var newestSampleNanos: Int64 {
        var newest: UInt32 = 0
        for i in series.indices { newest = max(newest, series[i].offsetsMicros.max() ?? 0) }
        return t0UnixNanos.addingSaturating(Int64(newest) * 1000)
    }
}
