/// How one pool is scaled: its policy (with fresh memory) and what the engine needs around it.
public struct PoolSetup: Sendable {
    public var policy: any ScalingPolicy
    /// Overrides the workload class the pool's agents report.
    public var workload: WorkloadClass?
    /// Minutes of 1-minute demand whose low quantile is the demand floor (the reserved baseline).
    public var envelopeMinutes: Int
    /// The quantile of those minutes that is the floor (0: their minimum).
    public var floorQuantile: Double
    /// Replay only: the true future demand in place of the forecaster's (a perfect-forecast bound,
    /// which no live pool can have).
    public var oracle: PerfectForecast?

    public init(
        policy: any ScalingPolicy, workload: WorkloadClass? = nil, envelopeMinutes: Int = 1440, floorQuantile: Double = 0.1,
        oracle: PerfectForecast? = nil
    ) {
        self.policy = policy
        self.workload = workload
        self.envelopeMinutes = envelopeMinutes
        self.floorQuantile = floorQuantile
        self.oracle = oracle
    }
}

public struct EngineSettings: Sendable {
    /// A decision that has not changed is sent again after this long, so late subscribers learn it.
    public var resendSeconds: Double
    /// A decision's validity after it is (re)sent.
    public var validForSeconds: Double
    /// The setup of a pool, asked for once when the pool first appears.
    public var pool: @Sendable (String) -> PoolSetup
    public var offload: [OffloadPolicy.Settings]
    /// Whether decisions carry their policy's reason (replay, which reads none, turns it off).
    public var explain: Bool

    public init(
        resendSeconds: Double = 10, validForSeconds: Double = 30, offload: [OffloadPolicy.Settings] = [], explain: Bool = true,
        pool: @escaping @Sendable (String) -> PoolSetup
    ) {
        self.explain = explain
        self.resendSeconds = resendSeconds
        self.validForSeconds = validForSeconds
        self.pool = pool
        self.offload = offload
    }
}

/// Turns the fleet's state into the decision stream: runs each pool's policy and each edge site's
/// offload rule, numbers what changed, re-sends what did not at `resendSeconds`, and wraps node
/// transitions as node events. Pure state with an injected clock, like `Fleet`.
public struct DecisionEngine: Sendable {
    struct Stream: Sendable {
        var last: Decision
        var sentNanos: Int64
    }

    public private(set) var settings: EngineSettings
    /// Decision ids are "<idPrefix>-<seq>"; the prefix tells one aggregator run from another.
    public let idPrefix: String
    public private(set) var seq: UInt64
    private var policies: [String: PoolSetup] = [:]
    /// Memories restored from a snapshot, handed to each pool's policy when it is first set up.
    private var restoredMemories: [String: PolicyMemory] = [:]
    private var offloads: [String: OffloadPolicy]
    /// Scale and offload topics.
    private var streams: [String: Stream] = [:]
    /// Node-event topics, apart: a fleet that churns holds many (a node's stays until it is forgotten),
    /// and only they are walked for re-sends, only when the earliest of them is due.
    private var nodeStreams: [String: Stream] = [:]
    /// No node stream is due before this (aggregator clock); `Int64.min` forces a walk.
    private var nodeResendDueNanos = Int64.min
    /// Each pool's demand floor (it folds up to a day of minutes) and forecasts as decisions carry
    /// them, recomputed only when a minute closes.
    private struct PerMinute: Sendable {
        var minutesClosed: Int
        var floor: Double?
        var forecasts: [Forecast]
    }
    private var perMinute: [String: PerMinute] = [:]

    public init(settings: EngineSettings, idPrefix: String, lastSeq: UInt64 = 0) {
        self.settings = settings
        self.idPrefix = idPrefix
        seq = lastSeq
        offloads = Dictionary(settings.offload.map { ($0.site, OffloadPolicy(settings: $0)) }, uniquingKeysWith: { a, _ in a })
    }

    /// Takes new pool and offload settings (a config reload). Every policy starts again from fresh
    /// memory with its new settings at the next evaluation; the sequence, the standing decisions and
    /// their re-send clocks are kept, so decision ids keep increasing and subscribers see no gap.
    public mutating func reconfigure(_ settings: EngineSettings) {
        self.settings = settings
        nodeResendDueNanos = .min
        policies.removeAll()
        restoredMemories.removeAll()
        offloads = Dictionary(settings.offload.map { ($0.site, OffloadPolicy(settings: $0)) }, uniquingKeysWith: { a, _ in a })
    }

    /// Every pool policy's memory, by pool, for the snapshot (restored ones not yet taken up included).
    public var policyMemories: [String: PolicyMemory] {
        var out = restoredMemories
        for (pool, setup) in policies { out[pool] = setup.policy.memory }
        return out
    }

    /// Memories from a snapshot: each goes to its pool's policy when that pool is first evaluated,
    /// if the same policy runs there; a pool now under another policy starts fresh.
    public mutating func restore(policyMemories: [String: PolicyMemory]) {
        restoredMemories = policyMemories
    }

    /// The latest decision on every topic, by topic.
    public var current: [String: Decision] { streams.merging(nodeStreams) { a, _ in a }.mapValues(\.last) }

    /// The policy a pool runs ("" until the pool is first evaluated).
    public func policyName(pool: String) -> String { policies[pool]?.policy.name ?? "" }

    /// A node event for a registry transition or an agent restart; always sent.
    public mutating func nodeEvent(_ event: NodeEvent, nowNanos: Int64) -> Decision {
        let decision = next(.node(event), nowNanos: nowNanos)
        nodeStreams[decision.topic] = Stream(last: decision, sentNanos: nowNanos)
        nodeResendDueNanos = min(nodeResendDueNanos, nowNanos.addingSaturating(resendNanos))
        return decision
    }

    /// A node event for a registry transition; nil for a node being forgotten (its DOWN was sent).
    public mutating func nodeEvent(_ t: NodeTransition) -> Decision? {
        let kind: NodeEvent.Kind
        switch t.to {
        case .live: kind = .up
        case .stale: kind = .stale
        case .down: kind = .down
        case nil:
            nodeStreams["node/\(t.nodeID)"] = nil
            return nil
        }
        return nodeEvent(NodeEvent(nodeID: t.nodeID, kind: kind, pool: t.pool, site: t.site), nowNanos: t.atNanos)
    }

    /// A node event for a node becoming unhealthy or healthy again; always sent.
    public mutating func nodeEvent(_ change: HealthChange) -> Decision {
        nodeEvent(
            NodeEvent(nodeID: change.nodeID, kind: change.healthy ? .healthy : .unhealthy, pool: change.pool, site: change.site, reason: change.reason),
            nowNanos: change.atNanos)
    }

    /// Runs every pool's policy and every site's offload rule on the fleet as it is now. Returns
    /// what must be sent: decisions that changed, and unchanged ones due for a re-send.
    public mutating func evaluate(fleet: Fleet, nowNanos: Int64) -> [Decision] {
        var out: [Decision] = []
        if policies.count > fleet.poolNames.count || perMinute.count > fleet.poolNames.count { forgetRemovedPools(fleet) }
        for (p, name) in fleet.poolNames.enumerated() {
            // Read in place: copying a PoolSeries out would retain all its history.
            // A pool whose every node is unhealthy still has demand to place.
            guard let point = fleet.poolSeries[p].current, point.liveNodes > 0 || fleet.poolSeries[p].unhealthyNodes > 0 else { continue }
            if policies[name] == nil {
                var setup = settings.pool(name)
                if let memory = restoredMemories.removeValue(forKey: name), memory.policy == setup.policy.name { setup.policy.restore(memory) }
                policies[name] = setup
            }
            // By index, in place: a copy of the setup would retain its policy and the oracle's table.
            let at = policies.index(forKey: name)!
            // What is derived from minute points only changes when a minute closes.
            let minutesClosed = fleet.poolSeries[p].minutesClosed
            if perMinute[name]?.minutesClosed != minutesClosed {
                perMinute[name] = PerMinute(
                    minutesClosed: minutesClosed,
                    floor: fleet.poolSeries[p].demandFloor(minutes: policies.values[at].envelopeMinutes, quantile: policies.values[at].floorQuantile),
                    forecasts: fleet.poolSeries[p].forecasts.map { $0.forecast(level: fleet.settings.forecast.intervalLevel) })
            }
            let derived = perMinute[name]!
            var input = PoolInput(
                pool: name, workload: policies.values[at].workload ?? fleet.poolSeries[p].workload ?? .online, nowNanos: nowNanos,
                liveReplicas: point.liveNodes, loadMean: point.loadMean, loadMax: point.loadMax, demand: point.demand,
                forecasts: derived.forecasts, demandFloor: derived.floor, backlog: fleet.poolSeries[p].backlog, demandSource: fleet.poolSeries[p].demandSource,
                traffic: fleet.poolSeries[p].traffic ?? .init(), slotsPerReplica: fleet.settings.slots(pool: name),
                burstReplicas: fleet.poolSeries[p].burstNodes)
            input.explain = settings.explain
            if policies.values[at].oracle != nil {
                input.forecasts = policies.values[at].oracle!.forecasts(nowNanos: nowNanos, horizonMinutes: fleet.settings.forecast.horizons)
            }
            let plan = policies.values[at].policy.evaluate(input)
            let policyName = policies.values[at].policy.name
            let current = Int32(clamping: point.liveNodes)
            let desired = Int32(clamping: plan.desiredReplicas)
            let scale = ScaleDecision(
                pool: name, workload: input.workload, action: desired > current ? .scaleUp : desired < current ? .scaleDown : .hold,
                currentReplicas: current, desiredReplicas: desired, allocation: plan.allocation, loadIndex: point.loadMean,
                loadIndexMax: point.loadMax, demand: point.demand, forecasts: input.forecasts, policy: policyName,
                reason: plan.reason, expectedHourlyCost: plan.expectedHourlyCost, demandSource: input.demandSource, traffic: input.traffic,
                predictedWaitProbability: plan.waitProbability, sloMaxWaitSeconds: plan.objectiveWaitSeconds)
            if let d = publish(.scale(scale), changed: { old in
                guard case .scale(let o) = old else { return true }
                // A new policy (config reload) is news too: subscribers learn which policy now decides.
                return o.action != scale.action || o.desiredReplicas != scale.desiredReplicas || o.allocation != scale.allocation
                    || o.policy != scale.policy
            }, nowNanos: nowNanos) { out.append(d) }
        }
        for site in offloads.keys.sorted() {
            let s = offloads[site]!.settings
            let edge = fleet.siteLoad(site: site)
            let cloud = fleet.poolPosition(s.target).flatMap { fleet.poolSeries[$0].current }
            let input = OffloadInput(
                nowNanos: nowNanos, edgeLoad: edge.load, edgeLiveNodes: edge.liveNodes, rttMs: fleet.siteRTT(site: site, probe: s.probe),
                cloudLiveNodes: cloud?.liveNodes ?? 0, cloudDemand: cloud?.demand ?? 0)
            guard edge.liveNodes > 0 || streams["offload/\(site)"] != nil else { continue }
            let wasRefused = offloads[site]!.refused
            var offload = offloads[site]!.evaluate(input)
            offload.pool = edge.pool
            // A refusal starting or ending is news even when the fraction was already 0.
            let refusalChanged = wasRefused != offloads[site]!.refused
            if let d = publish(.offload(offload), changed: { old in
                guard case .offload(let o) = old else { return true }
                return abs(o.fraction - offload.fraction) > 1e-9 || refusalChanged
            }, nowNanos: nowNanos) { out.append(d) }
        }
        // Node events are re-sent with the node's current state, like any other topic.
        if !nodeStreams.isEmpty && nowNanos >= nodeResendDueNanos {
            var earliest = Int64.max
            for i in nodeStreams.indices {
                if due(nodeStreams.values[i], nowNanos) {
                    refresh(&nodeStreams.values[i], nowNanos: nowNanos)
                    out.append(nodeStreams.values[i].last)
                }
                earliest = min(earliest, nodeStreams.values[i].sentNanos.addingSaturating(resendNanos))
            }
            nodeResendDueNanos = earliest
        }
        return out
    }

    /// A pool the fleet reclaimed (or evicted at its cap) takes its policy, per-minute cache and
    /// standing scale decision with it, so that pool churn leaves nothing behind here either.
    private mutating func forgetRemovedPools(_ fleet: Fleet) {
        let gone = Set(policies.keys).union(perMinute.keys).filter { fleet.poolPosition($0) == nil }
        for pool in gone {
            policies[pool] = nil
            perMinute[pool] = nil
            streams["scale/\(pool)"] = nil
        }
    }

    private func due(_ stream: Stream, _ now: Int64) -> Bool { Double(now - stream.sentNanos) / 1e9 >= settings.resendSeconds }

    /// The re-send interval, rounded down: a walk of the node streams at this lag after a send is never
    /// later than `due` says.
    private var resendNanos: Int64 { Int64((settings.resendSeconds * 1e9).rounded(.down)) }

    /// The standing decision, re-issued now.
    private func refresh(_ stream: inout Stream, nowNanos: Int64) {
        stream.last.issuedUnixNanos = nowNanos
        stream.last.validUntilUnixNanos = nowNanos + Int64(settings.validForSeconds * 1e9)
        stream.sentNanos = nowNanos
    }

    /// Numbers `body` as a new decision when it changed, refreshes and re-sends the standing one when
    /// due, else keeps the standing one's numbers fresh without sending.
    private mutating func publish(_ body: Decision.Body, changed: (Decision.Body) -> Bool, nowNanos: Int64) -> Decision? {
        let topic = body.topic
        // Updated in place: this runs for every pool at every evaluation, and a copy out of the
        // dictionary and back would hash the topic twice and copy the standing decision.
        guard let i = streams.index(forKey: topic), !changed(streams.values[i].last.body) else {
            let decision = next(body, nowNanos: nowNanos)
            streams[topic] = Stream(last: decision, sentNanos: nowNanos)
            return decision
        }
        streams.values[i].last.body = body
        guard due(streams.values[i], nowNanos) else { return nil }
        refresh(&streams.values[i], nowNanos: nowNanos)
        return streams.values[i].last
    }

    private mutating func next(_ body: Decision.Body, nowNanos: Int64) -> Decision {
        seq += 1
        return Decision(
            id: "\(idPrefix)-\(seq)", seq: seq, issuedUnixNanos: nowNanos, validUntilUnixNanos: nowNanos + Int64(settings.validForSeconds * 1e9),
            body: body)
    }
}

extension HorizonForecast {
    /// As a decision's forecast: horizon in seconds (forecast steps are minutes), the interval at
    /// `level` when there is one, else a zero-width interval with level 0.
    public func forecast(level: Double) -> Forecast {
        Forecast(
            horizonSeconds: UInt32(steps * 60), mean: value, lower: lower ?? value, upper: upper ?? value,
            level: lower == nil ? 0 : level)
    }
}

extension Array where Element == Double {
    /// The element that would stand at `k` if the array were sorted (Hoare's quickselect, expected
    /// linear time; the array is reordered): the floor is taken once a minute over a day of minutes.
    mutating func select(_ k: Int) -> Double {
        var lo = 0
        var hi = count - 1
        while lo < hi {
            let pivot = self[(lo + hi) / 2]
            var i = lo
            var j = hi
            while i <= j {
                while self[i] < pivot { i += 1 }
                while self[j] > pivot { j -= 1 }
                if i <= j {
                    swapAt(i, j)
                    i += 1
                    j -= 1
                }
            }
            if k <= j { hi = j } else if k >= i { lo = i } else { return self[k] }
        }
        return self[k]
    }
}

extension PoolSeries {
    /// The `quantile` (nearest rank; 0: the least) of the 1-minute demand over the last `minutes`
    /// minutes; nil until that many are recorded. A low quantile rather than the minimum, so one
    /// outage or quiet minute does not wipe out the reserved baseline.
    public func demandFloor(minutes window: Int, quantile: Double = 0) -> Double? {
        guard window > 0, minutes.count >= window else { return nil }
        guard quantile > 0 else { return minutes.reduceNewest(window, Double.infinity) { min($0, $1.demand) } }
        var values: [Double] = []
        values.reserveCapacity(window)
        _ = minutes.reduceNewest(window, 0) { n, p in values.append(p.demand); return n }
        let rank = max(1, Int((quantile * Double(values.count)).rounded(.up)))
        return values.select(min(values.count, rank) - 1)
    }
}

extension Fleet {
    /// The workload class most of a pool's nodes report (online on a tie or when none says), as of
    /// the last `tick`.
    public func workload(pool: String) -> WorkloadClass { poolPosition(pool).flatMap { poolSeries[$0].workload } ?? .online }

    /// Mean load index over a site's live nodes, their count, and the pool most of them belong to.
    public func siteLoad(site: String) -> (load: Double?, liveNodes: Int, pool: String) {
        var loads: [Double] = []
        var pools: [String: Int] = [:]
        for node in nodes.values where node.state == .live && node.labels.site == site {
            if let l = node.load { loads.append(l) }
            pools[node.labels.pool, default: 0] += 1
        }
        let pool = pools.max { $0.value < $1.value || ($0.value == $1.value && $0.key > $1.key) }?.key ?? ""
        return (loads.isEmpty ? nil : loads.reduce(0, +) / Double(loads.count), loads.count, pool)
    }

    /// Mean over a site's live nodes of their latest RTT to `probe` (any probe when empty: each
    /// node's slowest); nil when none measured one.
    public func siteRTT(site: String, probe: String) -> Double? {
        var values: [Double] = []
        for node in nodes.values where node.state == .live && node.labels.site == site {
            var worst: Double?
            for (key, window) in zip(node.windows.keys, node.windows.windows) where key.kind == .rttMs && (probe.isEmpty || key.subject == probe) {
                if let v = window.recentMean(seconds: 10) { worst = max(worst ?? v, v) }
            }
            if let worst { values.append(worst) }
        }
        return values.isEmpty ? nil : values.reduce(0, +) / Double(values.count)
    }
}
