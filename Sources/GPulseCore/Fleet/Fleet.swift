/// A node's liveness as the aggregator sees it.
public enum NodeState: String, Sendable, Hashable, Codable {
    /// Batches are arriving.
    case live
    /// Silent for longer than `staleAfter`: left out of pool load and demand.
    case stale
    /// Silent for longer than `downAfter`: its window is freed; it is forgotten after `forgetAfter`.
    case down
}

/// The aggregator's fleet settings; the `registry:`, `windows:`, `load_index:` and `forecast:`
/// sections of its config.
public struct FleetSettings: Sendable, Hashable {
    public var staleAfterSeconds: Double
    public var downAfterSeconds: Double
    public var forgetAfterSeconds: Double
    /// Raw samples kept per node series.
    public var rawWindowSeconds: Double
    /// Window the load index averages over.
    public var loadWindowSeconds: Double
    /// Hard bound per series (samples), whatever the rate.
    public var maxSamplesPerSeries: Int
    /// Hard bound of series per node; more are counted and ignored.
    public var maxSeriesPerNode: Int
    public var secondsKept: Int
    public var minutesKept: Int
    /// How often node loads and the pools' current points are recomputed (decisions follow them).
    public var refreshSeconds: Double
    public var loadIndex: LoadIndexSettings
    public var forecast: ForecastSettings
    /// Concurrent requests one replica serves, by pool (`defaultReplicaSlots` for the others): the
    /// unit that turns requests in service into replica units of demand.
    public var replicaSlots: [String: Int]
    public var defaultReplicaSlots: Int
    /// Instance classes whose nodes are serverless burst replicas: their requests count in the pool's
    /// traffic, but they are not live nodes (policies size nodes) and their load stays out of L.
    public var burstClasses: Set<String>
    /// Nodes the registry holds at most (`registry.max_nodes`). At the cap a new node takes the place
    /// of the longest-silent down node; with none down it is refused (`node_limit`).
    public var maxNodes: Int
    /// Pools at most (`registry.max_pools`), listed ones included. At the cap a new unlisted pool takes
    /// the place of an unlisted pool without nodes; with none it is refused (`pool_limit`).
    public var maxPools: Int
    /// Pools named in the config's `pools:` (not `default`): always admitted, never reclaimed.
    public var listedPools: Set<String>
    public var unlistedPools: UnlistedPools
    /// An unlisted pool left without nodes is reclaimed after this long (`registry.forget_pool_after_s`),
    /// its history and forecasters with it.
    public var forgetPoolAfterSeconds: Double
    /// New node ids one peer address may create per second, sustained (10 s worth at once);
    /// `registry.new_nodes_per_peer_per_s`. 0 means no limit.
    public var newNodesPerPeerPerSecond: Double
    /// Which GPU faults take a node's capacity out of its pool, and for how long (`health:`).
    public var health: HealthSettings

    public init(
        staleAfterSeconds: Double = 5, downAfterSeconds: Double = 30, forgetAfterSeconds: Double = 3600,
        rawWindowSeconds: Double = 10, loadWindowSeconds: Double = 1, maxSamplesPerSeries: Int = 10_000,
        maxSeriesPerNode: Int = 256, secondsKept: Int = 3600, minutesKept: Int = 1440, refreshSeconds: Double = 0.1,
        loadIndex: LoadIndexSettings = .init(), forecast: ForecastSettings = .init(), replicaSlots: [String: Int] = [:],
        defaultReplicaSlots: Int = 8, burstClasses: Set<String> = [], maxNodes: Int = 10_000, maxPools: Int = 256,
        listedPools: Set<String> = [], unlistedPools: UnlistedPools = .accept, forgetPoolAfterSeconds: Double = 86_400,
        newNodesPerPeerPerSecond: Double = 1000, health: HealthSettings = .init()
    ) {
        self.health = health
        self.maxNodes = maxNodes
        self.maxPools = maxPools
        self.listedPools = listedPools
        self.unlistedPools = unlistedPools
        self.forgetPoolAfterSeconds = forgetPoolAfterSeconds
        self.newNodesPerPeerPerSecond = newNodesPerPeerPerSecond
        self.replicaSlots = replicaSlots
        self.defaultReplicaSlots = defaultReplicaSlots
        self.burstClasses = burstClasses
        self.staleAfterSeconds = staleAfterSeconds
        self.downAfterSeconds = downAfterSeconds
        self.forgetAfterSeconds = forgetAfterSeconds
        self.rawWindowSeconds = rawWindowSeconds
        self.loadWindowSeconds = loadWindowSeconds
        self.maxSamplesPerSeries = maxSamplesPerSeries
        self.maxSeriesPerNode = maxSeriesPerNode
        self.secondsKept = secondsKept
        self.minutesKept = minutesKept
        self.refreshSeconds = refreshSeconds
        self.loadIndex = loadIndex
        self.forecast = forecast
    }

    /// Concurrent requests one replica of `pool` serves.
    public func slots(pool: String) -> Int { max(1, replicaSlots[pool] ?? defaultReplicaSlots) }

    /// The settings `problems()` can name.
    public enum Setting: Sendable, Hashable {
        case staleAfter, downAfter, forgetAfter, rawWindow, loadWindow, maxSamplesPerSeries, maxSeriesPerNode, secondsKept, minutesKept
        case refresh, maxNodes, maxPools, forgetPoolAfter, newNodesPerPeer, healthRecoverAfter, healthIgnoredXIDs
        case loadIndex(LoadIndexSettings.Setting)
        case forecast(ForecastSettings.Setting)
    }

    /// What is out of range (the load index's and the forecast's problems included).
    public func problems() -> [SettingProblem<Setting>] {
        var out: [SettingProblem<Setting>] = []
        let month = 30.0 * 86_400
        if !(staleAfterSeconds > 0 && staleAfterSeconds <= 86_400) { out.append(.init(.staleAfter, "must be above 0 and at most 86400 (a day)")) }
        if !(forgetAfterSeconds <= month) { out.append(.init(.forgetAfter, "must be at most 2592000 (30 days)")) }
        if !(rawWindowSeconds <= 3600) { out.append(.init(.rawWindow, "must be at most 3600 (an hour of raw samples per series)")) }
        if !(downAfterSeconds > staleAfterSeconds) { out.append(.init(.downAfter, "must be longer than {related} (\(staleAfterSeconds))", related: .staleAfter)) }
        if !(forgetAfterSeconds >= downAfterSeconds) { out.append(.init(.forgetAfter, "must be at least {related} (\(downAfterSeconds))", related: .downAfter)) }
        if !(rawWindowSeconds >= loadWindowSeconds && loadWindowSeconds > 0) {
            out.append(.init(.rawWindow, "must be at least {related} (\(loadWindowSeconds)), which must be positive", related: .loadWindow))
        }
        if maxSamplesPerSeries < 16 { out.append(.init(.maxSamplesPerSeries, "must be at least 16")) }
        if maxSeriesPerNode < 1 { out.append(.init(.maxSeriesPerNode, "must be at least 1")) }
        if secondsKept < 60 { out.append(.init(.secondsKept, "must be at least 60")) }
        if minutesKept < 60 { out.append(.init(.minutesKept, "must be at least 60")) }
        if !(0.01...1).contains(refreshSeconds) { out.append(.init(.refresh, "must be 10 to 1000 ms")) }
        if !(1...1_000_000).contains(maxNodes) { out.append(.init(.maxNodes, "must be 1 to 1000000")) }
        if !(1...100_000).contains(maxPools) { out.append(.init(.maxPools, "must be 1 to 100000")) }
        if listedPools.count > maxPools { out.append(.init(.maxPools, "must be at least the \(listedPools.count) pools listed")) }
        if !(forgetPoolAfterSeconds >= 0 && forgetPoolAfterSeconds <= 365 * 86_400) {
            out.append(.init(.forgetPoolAfter, "must be 0 to 31536000 (a year)"))
        }
        if !(newNodesPerPeerPerSecond >= 0 && newNodesPerPeerPerSecond <= 1e6) {
            out.append(.init(.newNodesPerPeer, "must be 0 (no limit) to 1000000"))
        }
        if !(health.recoverAfterSeconds >= 1 && health.recoverAfterSeconds <= 30 * 86_400) {
            out.append(.init(.healthRecoverAfter, "must be 1 to 2592000 (30 days)"))
        }
        if health.ignoredXIDs.count > HealthSettings.maxIgnoredXIDs || health.ignoredXIDs.contains(where: { !(1...100_000).contains($0) }) {
            out.append(.init(.healthIgnoredXIDs, "must be at most \(HealthSettings.maxIgnoredXIDs) XID codes, each 1 to 100000"))
        }
        out += loadIndex.problems().map { $0.lifted(Setting.loadIndex) }
        out += forecast.problems().map { $0.lifted(Setting.forecast) }
        return out
    }
}

/// What happens to a batch naming a pool the config's `pools:` does not list (`registry.unlisted_pools`).
public enum UnlistedPools: String, Sendable, Hashable, CaseIterable {
    /// Created on first sight, up to `registry.max_pools`, and reclaimed when left empty.
    case accept
    /// Refused and counted (`unlisted_pool`): the listed pools are an allowlist.
    case refuse
}

/// A series of one node: its signal and subject.
public struct SeriesKey: Sendable, Hashable {
    public var kind: SignalKind
    public var subject: String
}

/// Everything the aggregator keeps about one node.
public struct NodeEntry: Sendable {
    public var labels: NodeLabels
    public internal(set) var state: NodeState = .live
    public internal(set) var firstSeenNanos: Int64
    /// Aggregator clock when the last batch arrived.
    public internal(set) var lastSeenNanos: Int64
    public internal(set) var sequence = SequenceTracker()
    public internal(set) var samples: UInt64 = 0
    /// Samples the agent said it dropped itself.
    public internal(set) var agentDroppedSamples: UInt64 = 0
    public internal(set) var probesLost: UInt64 = 0
    /// Series over `maxSeriesPerNode`, ignored.
    public internal(set) var seriesRefused: UInt64 = 0
    public internal(set) var agentVersion = ""
    public internal(set) var windows = SeriesWindows()
    /// Load index over the last load window, at the last tick (nil: no inputs).
    public internal(set) var load: Double?
    public internal(set) var inputs = NodeInputs()
    /// Its instance class is a serverless burst class (`FleetSettings.burstClasses`), kept with the
    /// labels so the refresh does not hash the class name for every node. Set whenever the labels are
    /// (a new node, a label change, a restore under possibly other settings).
    public internal(set) var isBurst = false
    /// Its GPUs' faults: an unhealthy node's capacity is not counted (its demand still is).
    public internal(set) var health = NodeHealth()

    mutating func classify(burstClasses: Set<String>) {
        isBurst = !burstClasses.isEmpty && burstClasses.contains(labels.instanceClass)
    }

    /// Bytes held by this node's raw windows.
    public var windowBytes: Int { windows.bytes }
}

extension NodeEntry {
    /// Takes a batch from this node's agent. Returns the sequence outcome, the state the node came
    /// back from when the batch made a stale or down node live again, and whether its pool changed.
    mutating func take(
        _ batch: borrowing MetricsBatch, nowNanos: Int64, settings: FleetSettings
    ) -> (SequenceTracker.Outcome, wasState: NodeState?, poolChanged: Bool) {
        let outcome = sequence.observe(session: batch.session, seq: batch.seq)
        // Another agent's batch under this id: nothing of it is taken, not even its liveness.
        guard outcome != .conflict else { return (outcome, nil, false) }
        var wasState: NodeState?
        if state != .live {
            wasState = state
            state = .live
        }
        var poolChanged = false
        if labels != batch.labels {
            poolChanged = labels.pool != batch.labels.pool
            labels = batch.labels
            classify(burstClasses: settings.burstClasses)
        }
        lastSeenNanos = nowNanos
        if agentVersion != batch.agentVersion { agentVersion = batch.agentVersion }
        guard outcome != .duplicate else { return (outcome, wasState, poolChanged) }
        samples.addSaturating(UInt64(batch.sampleCount))
        agentDroppedSamples.addSaturating(batch.droppedSamples)
        for i in batch.probeLosses.indices { probesLost.addSaturating(UInt64(batch.probeLosses[i].lost)) }
        // Through a buffer pointer, reading each series in place: `batch.series[i]` copies the series
        // out (a retain and release of its subject and both arrays), for every series of every batch,
        // which was a fifth of a replay's time.
        let t0 = batch.t0UnixNanos
        batch.series.withUnsafeBufferPointer { all in
            for i in all.indices {
                if all[i].kind.isHealthFault {
                    health.observe(kind: all[i].kind, subject: all[i].subject, values: all[i].values, nowNanos: nowNanos, settings: settings.health)
                }
                if let w = windows.position(kind: all[i].kind, subject: all[i].subject, hint: i) {
                    if all[i].offsetsMicros.count == 1 && all[i].values.count == 1 {
                        // One sample (a 1 Hz series, every simulated one) goes in by value: passing the
                        // arrays retained and released both around the append.
                        let offset = all[i].offsetsMicros[0]
                        let value = all[i].values[0]
                        windows.append(time: t0.addingSaturating(Int64(offset) * 1000), value: value, at: w)
                    } else {
                        windows.append(offsetsMicros: all[i].offsetsMicros, values: all[i].values, t0: t0, at: w)
                    }
                    continue
                }
                guard windows.count < settings.maxSeriesPerNode else {
                    seriesRefused += 1
                    continue
                }
                var window = SampleWindow(spanSeconds: settings.rawWindowSeconds, capacity: settings.maxSamplesPerSeries)
                window.appendSeries(all[i], t0: t0)
                windows.add(SeriesKey(kind: all[i].kind, subject: all[i].subject), window)
            }
        }
        return (outcome, wasState, poolChanged)
    }
}

extension Optional where Wrapped == Double {
    /// Adds `value` to a sum that stays nil until something is added (a signal nobody reports is
    /// not a zero).
    @inline(__always) mutating func accumulate(_ value: Double?) {
        if let value { self = (self ?? 0) + value }
    }
}

/// A change of a node's state, to be logged and published as a node event.
public struct NodeTransition: Sendable, Hashable {
    public var nodeID: String
    public var pool: String
    public var site: String
    /// nil when the node is new.
    public var from: NodeState?
    /// nil when the node is forgotten.
    public var to: NodeState?
    public var atNanos: Int64
}

/// The fleet as the aggregator knows it: node registry, raw windows, pools with their series and
/// forecasts. Pure state with an injected clock: the live aggregator and replay drive it alike.
public struct Fleet: Sendable {
    public let settings: FleetSettings
    public private(set) var nodes: [String: NodeEntry] = [:]
    /// Pool names, sorted, and each pool's series at the same position. Arrays rather than a
    /// dictionary, so that the tick and the decision engine read a pool in place instead of copying
    /// its history out. A pool goes only when it has no node left (reclaimed or evicted at the cap).
    public private(set) var poolNames: [String] = []
    public private(set) var poolSeries: [PoolSeries] = []

    /// Every pool by name (a copy; the hot paths use `poolNames` and `poolSeries`).
    public var pools: [String: PoolSeries] { Dictionary(uniqueKeysWithValues: zip(poolNames, poolSeries)) }

    /// Position of pool `name` in `poolNames` and `poolSeries`.
    public func poolPosition(_ name: String) -> Int? { Self.position(of: name, in: poolNames) }

    /// A copy of pool `name`'s series.
    public func pool(_ name: String) -> PoolSeries? { poolPosition(name).map { poolSeries[$0] } }

    private static func position(of name: String, in names: [String]) -> Int? {
        let i = names.insertionIndex(of: name)
        return i < names.count && names[i] == name ? i : nil
    }

    private mutating func addPool(_ series: PoolSeries) {
        let i = poolNames.insertionIndex(of: series.name)
        poolNames.insert(series.name, at: i)
        poolSeries.insert(series, at: i)
    }
    private var lastTickSecond: Int64?
    private var lastRefreshNanos: Int64?
    /// Pools restored from a snapshot whose forecaster was rebuilt from minute history (forecast
    /// settings had changed); empty otherwise.
    public private(set) var forecastsRebuilt: [String] = []
    /// Down nodes, longest silent last, gathered at each refresh: who makes room at the node cap.
    private var evictable: [String] = []
    /// Since when (unix second) each pool has had no node at all; only pools that are empty now.
    private var poolEmptySince: [String: Int64] = [:]
    /// Node-creation budget per peer address (`newNodesPerPeerPerSecond`).
    private var peerBudgets = PeerBudgets()
    /// Transitions made outside a tick (nodes evicted at the cap), handed out by the next tick.
    private var pendingTransitions: [NodeTransition] = []

    public init(settings: FleetSettings) { self.settings = settings }

    /// Why a batch's node or pool is not let into the registry (counted as the rejection reason).
    public enum Refusal: String, Sendable, CaseIterable {
        /// `registry.max_nodes` reached and no down node to make room.
        case nodeLimit = "node_limit"
        /// `registry.max_pools` reached and no empty unlisted pool to make room.
        case poolLimit = "pool_limit"
        /// `registry.unlisted_pools: refuse` and the pool is not under `pools:`.
        case unlistedPool = "unlisted_pool"
        /// One peer address created new node ids faster than `registry.new_nodes_per_peer_per_s`.
        case nodeRate = "node_rate_limit"
    }

    /// Decides whether a batch with `labels` from `peer` (its address; nil when unknown) may enter:
    /// known nodes of known pools pass at the cost of one lookup. A new node or pool is checked
    /// against the caps, and room is made by evicting a down node or an empty unlisted pool. Call it
    /// before `ingest` (the live gate does; replay, whose fleets are its own, does not).
    public mutating func admit(_ labels: NodeLabels, peer: String?, nowNanos: Int64) -> Refusal? {
        let known = nodes[labels.nodeID]
        if let known, known.labels.pool == labels.pool { return nil }
        if let refusal = admitPool(labels.pool, nowNanos: nowNanos) { return refusal }
        guard known == nil else { return nil }
        if let peer, settings.newNodesPerPeerPerSecond > 0,
            !peerBudgets.spend(peer: peer, ratePerSecond: settings.newNodesPerPeerPerSecond, nowNanos: nowNanos)
        {
            return .nodeRate
        }
        guard nodes.count >= settings.maxNodes else { return nil }
        while let id = evictable.popLast() {
            guard let entry = nodes[id], entry.state == .down else { continue }
            nodes[id] = nil
            pendingTransitions.append(
                NodeTransition(nodeID: id, pool: entry.labels.pool, site: entry.labels.site, from: .down, to: nil, atNanos: nowNanos))
            return nil
        }
        return .nodeLimit
    }

    private mutating func admitPool(_ pool: String, nowNanos: Int64) -> Refusal? {
        guard poolPosition(pool) == nil else { return nil }
        let listed = settings.listedPools.contains(pool)
        if !listed && settings.unlistedPools == .refuse { return .unlistedPool }
        guard poolNames.count >= settings.maxPools, !listed else { return nil }
        // The unlisted pool empty the longest makes room.
        var victim: (name: String, since: Int64)?
        for (name, since) in poolEmptySince where !settings.listedPools.contains(name) && since < (victim?.since ?? .max) {
            victim = (name, since)
        }
        guard let victim else { return .poolLimit }
        removePool(victim.name)
        return nil
    }

    private mutating func removePool(_ name: String) {
        guard let i = poolPosition(name) else { return }
        poolNames.remove(at: i)
        poolSeries.remove(at: i)
        poolEmptySince[name] = nil
    }

    /// Takes one validated batch received at `nowNanos` (aggregator clock).
    public mutating func ingest(_ batch: borrowing MetricsBatch, nowNanos: Int64) -> (outcome: SequenceTracker.Outcome, transition: NodeTransition?) {
        let id = batch.labels.nodeID
        var transition: NodeTransition?
        let index: Dictionary<String, NodeEntry>.Index
        var poolMayBeNew = false
        if let existing = nodes.index(forKey: id) {
            index = existing
        } else {
            var entry = NodeEntry(labels: batch.labels, firstSeenNanos: nowNanos, lastSeenNanos: nowNanos)
            entry.classify(burstClasses: settings.burstClasses)
            nodes[id] = entry
            index = nodes.index(forKey: id)!
            transition = NodeTransition(nodeID: id, pool: batch.labels.pool, site: batch.labels.site, from: nil, to: .live, atNanos: nowNanos)
            poolMayBeNew = true
        }
        // Updated in place (`nodes.values[index]` is a modify access): no copy of the node's windows.
        let (outcome, wasState, poolChanged) = nodes.values[index].take(batch, nowNanos: nowNanos, settings: settings)
        if let wasState {
            transition = NodeTransition(nodeID: id, pool: batch.labels.pool, site: batch.labels.site, from: wasState, to: .live, atNanos: nowNanos)
        }
        // A node's pool exists from its first batch on (only a pool without nodes is ever removed), so
        // the pool is looked up only when the node is new or names another pool.
        if poolMayBeNew || poolChanged {
            if poolPosition(batch.labels.pool) == nil {
                addPool(PoolSeries(name: batch.labels.pool, forecast: settings.forecast, secondsKept: settings.secondsKept, minutesKept: settings.minutesKept))
            }
            // Not empty any more, so not a pool `admit` may evict before the next refresh sees it.
            if !poolEmptySince.isEmpty { poolEmptySince[batch.labels.pool] = nil }
        }
        return (outcome, transition)
    }

    /// Call often (work is done once per `refreshSeconds`). Ages nodes, computes each live node's
    /// load index and each pool's current point; records a pool second point on the first refresh
    /// of each new second. Returns the state changes and nil when nothing was recomputed.
    public mutating func tick(nowNanos: Int64) -> (transitions: [NodeTransition], burstsStarted: [String], health: [HealthChange])? {
        let second = nowNanos / 1_000_000_000
        if let last = lastRefreshNanos, second == lastTickSecond, Double(nowNanos - last) / 1e9 < settings.refreshSeconds { return nil }
        lastRefreshNanos = nowNanos
        var transitions: [NodeTransition] = []
        var healthChanges: [HealthChange] = []
        // Per pool, in `poolNames` order. This runs for every node several times a second, so a node's
        // pool is found by comparing with the previous node's (nodes of one pool mostly follow each
        // other) before falling back to a binary search, rather than hashing its name every time.
        var tallies = [PoolTally](repeating: PoolTally(), count: poolNames.count)
        var lastPool = -1
        var forgotten: [String] = []
        // Down nodes are candidates to make room only at the node cap; below it they are not gathered
        // (this loop runs over every node several times a second).
        let nearCap = nodes.count >= settings.maxNodes - 1
        var down: [(id: String, lastSeen: Int64)] = []
        let settings = self.settings
        let poolNames = self.poolNames
        var index = nodes.startIndex
        while index != nodes.endIndex {
            defer { index = nodes.index(after: index) }
            let id = nodes.keys[index]
            // Updated in place: this runs over every known node several times a second.
            Self.update(&nodes.values[index]) { entry in
                let silence = Double(nowNanos - entry.lastSeenNanos) / 1e9
                let state: NodeState? =
                    silence > settings.forgetAfterSeconds ? nil
                    : silence > settings.downAfterSeconds ? .down : silence > settings.staleAfterSeconds ? .stale : .live
                if state != entry.state {
                    transitions.append(
                        NodeTransition(
                            nodeID: id, pool: entry.labels.pool, site: entry.labels.site, from: entry.state, to: state, atNanos: nowNanos))
                }
                guard let state else {
                    forgotten.append(id)
                    return
                }
                if !entry.health.isHealthy || entry.health.episodes > 0 {
                    let reason = entry.health.reason
                    if entry.health.takeChange(nowNanos: nowNanos, settings: settings.health) {
                        let healthy = entry.health.isHealthy
                        healthChanges.append(
                            HealthChange(
                                nodeID: id, pool: entry.labels.pool, site: entry.labels.site, healthy: healthy,
                                reason: healthy ? reason : entry.health.reason, atNanos: nowNanos))
                    }
                }
                if lastPool < 0 || poolNames[lastPool] != entry.labels.pool {
                    lastPool = Self.position(of: entry.labels.pool, in: poolNames) ?? -1
                }
                if lastPool >= 0 {
                    tallies[lastPool].count(entry.labels.workload)
                    tallies[lastPool].nodes += 1
                }
                if nearCap && state == .down { down.append((id, entry.lastSeenNanos)) }
                if state == .down && entry.state == .down { return }
                entry.state = state
                switch state {
                case .live:
                    let (backlog, traffic) = Self.refreshInputs(of: &entry, settings: settings)
                    let load = settings.loadIndex.loadIndex(entry.inputs)
                    entry.load = load
                    guard lastPool >= 0 else { break }
                    if let traffic { tallies[lastPool].traffic.add(traffic) }
                    if entry.isBurst {
                        tallies[lastPool].burstNodes += 1
                        break
                    }
                    if let backlog { tallies[lastPool].backlog = (tallies[lastPool].backlog ?? 0) + backlog }
                    if !entry.health.isHealthy {
                        // Its demand is still there; its capacity is not (the policies size without it).
                        tallies[lastPool].unhealthyNodes += 1
                        if let load { tallies[lastPool].unhealthyDemand += load }
                    } else if let load {
                        tallies[lastPool].add(load)
                    }
                case .stale:
                    entry.load = nil
                case .down:
                    entry.load = nil
                    entry.windows.removeAll()  // free the memory; a returning node starts a fresh window
                }
            }
        }
        for id in forgotten { nodes[id] = nil }
        if !pendingTransitions.isEmpty {
            transitions = pendingTransitions + transitions
            pendingTransitions.removeAll()
        }
        if nearCap {
            down.sort { $0.lastSeen > $1.lastSeen }
            evictable = down.map(\.id)
        } else if !evictable.isEmpty {
            evictable.removeAll()
        }
        var bursts: [String] = []
        let newSecond = second != lastTickSecond
        lastTickSecond = second
        for (i, name) in poolNames.enumerated() {
            let traffic = tallies[i].traffic.total
            var point = tallies[i].point(second: second)
            if let traffic, let offered = traffic.offeredReplicas(slots: settings.slots(pool: name)) {
                point.demand = offered
                point.demandMax = offered
            }
            poolSeries[i].current = point
            poolSeries[i].traffic = traffic
            poolSeries[i].demandSource = traffic?.source ?? .loadIndex
            poolSeries[i].burstNodes = tallies[i].burstNodes
            poolSeries[i].unhealthyNodes = tallies[i].unhealthyNodes
            poolSeries[i].backlog = tallies[i].backlog
            poolSeries[i].workload = tallies[i].majorityWorkload
            if newSecond && poolSeries[i].record(point) { bursts.append(name) }
            if tallies[i].nodes == 0 {
                if poolEmptySince[name] == nil { poolEmptySince[name] = second }
            } else if !poolEmptySince.isEmpty {
                poolEmptySince[name] = nil
            }
        }
        // Unlisted pools empty for longer than forget_pool_after_s go, their history with them.
        if newSecond && !poolEmptySince.isEmpty {
            for (name, since) in poolEmptySince
            where Double(second - since) >= settings.forgetPoolAfterSeconds && !settings.listedPools.contains(name) {
                removePool(name)
            }
        }
        if transitions.count > 1 { transitions.sort { $0.nodeID < $1.nodeID } }
        if healthChanges.count > 1 { healthChanges.sort { $0.nodeID < $1.nodeID } }
        return (transitions, bursts, healthChanges)
    }

    /// The load-index inputs of a node from its windows, the backlog its applications report (Σ
    /// over reporting apps of APP_BACKLOG, nil when none does) and their traffic, in one pass over
    /// the windows. Gauges (waiting, running) are read over the load window; rates and service
    /// times over the raw window, which smooths a rate counted per second.
    /// Writes `entry.inputs` in place (its GPU list keeps its storage: this runs for every node at
    /// every refresh).
    static func refreshInputs(of entry: inout NodeEntry, settings: FleetSettings) -> (backlog: Double?, traffic: TrafficTally?) {
        let span = settings.loadWindowSeconds
        let rateSpan = settings.rawWindowSeconds
        var gpus = entry.inputs.gpus
        entry.inputs.gpus = []
        gpus.removeAll(keepingCapacity: true)
        var inputs = NodeInputs()
        var rtt: Double?
        var backlog: Double?
        var traffic = TrafficTally()
        var serviceMs: Double?
        // A linear search: a node has a handful of GPUs, and a dictionary would cost more.
        func gpu(_ uuid: String) -> Int {
            if let i = gpus.firstIndex(where: { $0.uuid == uuid }) { return i }
            gpus.append(.init(uuid: uuid))
            return gpus.count - 1
        }
        let keys = entry.windows.keys
        for i in keys.indices {
            func mean() -> Double? { entry.windows.windows[i].recentMean(seconds: span) }
            switch keys[i].kind {
            case .gpuUtil: gpus[gpu(keys[i].subject)].utilization = mean()
            case .gpuMemUsedFrac: gpus[gpu(keys[i].subject)].memoryFraction = mean()
            case .gpuSMActive: gpus[gpu(keys[i].subject)].smActive = mean()
            case .cpuUtil where keys[i].subject.isEmpty: inputs.cpuUtil = mean()
            case .rttMs:
                if let v = mean() { rtt = max(rtt ?? v, v) }
            case .appBacklog:
                if let v = mean() { backlog = (backlog ?? 0) + v }
            case .appQueueDepth: traffic.waiting.accumulate(mean())
            case .appRequestsRunning: traffic.running.accumulate(mean())
            case .appRequestRate: traffic.arrivals.accumulate(entry.windows.windows[i].recentMean(seconds: rateSpan))
            case .appCompletionRate: traffic.completions.accumulate(entry.windows.windows[i].recentMean(seconds: rateSpan))
            case .appServiceTimeMs:
                if let v = entry.windows.windows[i].recentMean(seconds: rateSpan) { serviceMs = max(serviceMs ?? v, v) }
            default: break
            }
        }
        if let serviceMs {
            // One node's service time, weighted in the pool by its completions (1 when it reports none).
            let weight = max(traffic.completions ?? 1, 1e-6)
            traffic.serviceWeighted = serviceMs / 1000 * weight
            traffic.serviceWeight = weight
        }
        if gpus.count > 1 { gpus.sort { $0.uuid < $1.uuid } }
        inputs.gpus = gpus
        inputs.rttMs = rtt
        entry.inputs = inputs
        return (backlog, traffic.isEmpty ? nil : traffic)
    }

    /// Sums of the traffic signals over nodes; each nil until some node reports it.
    struct TrafficTally: Sendable {
        var waiting: Double?
        var running: Double?
        var arrivals: Double?
        var completions: Double?
        var serviceWeighted: Double?
        var serviceWeight: Double?

        /// Field by field (not by key path: this runs for every node at every refresh).
        mutating func add(_ other: TrafficTally) {
            waiting.accumulate(other.waiting)
            running.accumulate(other.running)
            arrivals.accumulate(other.arrivals)
            completions.accumulate(other.completions)
            serviceWeighted.accumulate(other.serviceWeighted)
            serviceWeight.accumulate(other.serviceWeight)
        }

        var isEmpty: Bool { waiting == nil && running == nil && arrivals == nil && completions == nil && serviceWeight == nil }

        /// The pool's traffic; nil when no node reports any.
        var total: PoolTraffic? {
            guard !isEmpty else { return nil }
            var service: Double?
            if let w = serviceWeight, w > 0, let sum = serviceWeighted { service = sum / w }
            return PoolTraffic(arrivalRate: arrivals, serviceSeconds: service, waiting: waiting, running: running, completionRate: completions)
        }
    }

    /// What a tick sums up for one pool while it walks the nodes.
    struct PoolTally {
        var loads = 0
        /// Nodes of the pool in any state.
        var nodes = 0
        var sum = 0.0
        var max = 0.0
        var backlog: Double?
        var traffic = TrafficTally()
        /// Live serverless burst replicas (not in `loads`).
        var burstNodes = 0
        /// Live nodes whose GPUs reported a fault (not in `loads`), and their load: demand, not capacity.
        var unhealthyNodes = 0
        var unhealthyDemand = 0.0
        /// Nodes reporting each workload class (those that report none are not counted).
        var online = 0
        var batch = 0

        mutating func add(_ load: Double) {
            max = loads == 0 ? load : Swift.max(max, load)
            sum += load
            loads += 1
        }

        mutating func count(_ workload: WorkloadClass) {
            switch workload {
            case .unspecified: break
            case .online: online += 1
            case .batch: batch += 1
            }
        }

        /// The class most nodes report; online on a tie or when none says.
        var majorityWorkload: WorkloadClass { batch > online ? .batch : .online }

        func point(second: Int64) -> PoolPoint {
            PoolPoint(
                time: second, liveNodes: loads, loadMean: loads == 0 ? 0 : sum / Double(loads), loadMax: max, demand: sum + unhealthyDemand,
                demandMax: sum + unhealthyDemand)
        }
    }

    /// Runs `body` on a value in place (called with `&dictionary.values[index]`, a modify access).
    private static func update<R>(_ value: inout NodeEntry, _ body: (inout NodeEntry) -> R) -> R { body(&value) }

    /// Bytes held by all nodes' raw windows.
    public var windowBytes: Int { nodes.values.reduce(0) { $0 + $1.windowBytes } }
}

/// Token buckets of node creations, one per peer address: `rate` a second, up to 10 s saved.
/// Bounded: a new peer past 4,096 drops the full buckets (peers that have not created nodes lately),
/// or every bucket when none is full (a flood of addresses then only resets their budgets).
struct PeerBudgets: Sendable {
    private var buckets: [String: (tokens: Double, atNanos: Int64)] = [:]
    static let maxPeers = 4096

    mutating func spend(peer: String, ratePerSecond rate: Double, nowNanos: Int64) -> Bool {
        let capacity = rate * 10
        var bucket = buckets[peer] ?? (capacity, nowNanos)
        let elapsed = max(0, Double(nowNanos.subtractingSaturating(bucket.atNanos)) / 1e9)
        bucket.tokens = min(capacity, bucket.tokens + elapsed * rate)
        bucket.atNanos = nowNanos
        let granted = bucket.tokens >= 1
        if granted { bucket.tokens -= 1 }
        if buckets[peer] == nil && buckets.count >= Self.maxPeers {
            buckets = buckets.filter { $0.value.tokens + max(0, Double(nowNanos.subtractingSaturating($0.value.atNanos)) / 1e9) * rate < capacity }
            if buckets.count >= Self.maxPeers { buckets.removeAll() }
        }
        buckets[peer] = bucket
        return granted
    }
}

extension SampleWindow {
    mutating func appendSeries(_ series: borrowing Series, t0: Int64) {
        append(offsetsMicros: series.offsetsMicros, values: series.values, t0: t0)
    }
}

/// A snapshot keeps a node's identity, liveness and counts; its raw windows and derived load are
/// seconds old by the time a restart reads them, so they are left out and start empty.
extension NodeEntry: Codable {
    private enum CodingKeys: String, CodingKey {
        case labels, state, firstSeenNanos, lastSeenNanos, sequence, samples, agentDroppedSamples, probesLost, seriesRefused, agentVersion
        case health
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        labels = try c.decode(NodeLabels.self, forKey: .labels)
        state = try c.decode(NodeState.self, forKey: .state)
        firstSeenNanos = try c.decode(Int64.self, forKey: .firstSeenNanos)
        lastSeenNanos = try c.decode(Int64.self, forKey: .lastSeenNanos)
        sequence = try c.decode(SequenceTracker.self, forKey: .sequence)
        samples = try c.decode(UInt64.self, forKey: .samples)
        agentDroppedSamples = try c.decode(UInt64.self, forKey: .agentDroppedSamples)
        probesLost = try c.decode(UInt64.self, forKey: .probesLost)
        seriesRefused = try c.decode(UInt64.self, forKey: .seriesRefused)
        agentVersion = try c.decode(String.self, forKey: .agentVersion)
        // Snapshots written before health existed have none: the node starts healthy.
        health = try c.decodeIfPresent(NodeHealth.self, forKey: .health) ?? NodeHealth()
    }
}

extension Fleet {
    /// What a snapshot keeps of the fleet: the registry (without raw windows) and every pool's
    /// history and forecaster.
    public struct Snapshot: Sendable, Codable {
        public var nodes: [String: NodeEntry]
        public var pools: [String: PoolSeries]
        public var lastTickSecond: Int64?
    }

    /// The windows are dropped from the copy, so the ingest path never copies them because a
    /// snapshot still shares their storage.
    public var snapshot: Snapshot {
        Snapshot(nodes: nodes.mapValues { var n = $0; n.windows.removeAll(); return n }, pools: pools, lastTickSecond: lastTickSecond)
    }

    /// A fleet that carries on from `snapshot` under `settings`. Nodes come back with their sequence
    /// trackers (so batches lost while the aggregator was down show as gaps) and age from their last
    /// batch as usual. Pools whose forecaster had to be rebuilt from their minute history (the
    /// forecast settings changed) are listed in `forecastsRebuilt`.
    public init(settings: FleetSettings, restoring snapshot: Snapshot) {
        self.init(settings: settings)
        nodes = snapshot.nodes.mapValues { var n = $0; n.classify(burstClasses: settings.burstClasses); return n }
        for (name, saved) in snapshot.pools.sorted(by: { $0.key < $1.key }) {
            let adopted = saved.adopting(forecast: settings.forecast, secondsKept: settings.secondsKept, minutesKept: settings.minutesKept)
            addPool(adopted.series)
            if adopted.replayed { forecastsRebuilt.append(name) }
        }
        lastTickSecond = snapshot.lastTickSecond
    }
}
