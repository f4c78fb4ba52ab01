import GPulseCore
import GPulseExposition
import GPulseKEDA
import Prometheus

/// The aggregator's Prometheus metrics. Owned by the ingest thread, which brings them up to date
/// once a second from the state it owns (fleet, ledger, standing decisions); the registry itself is
/// thread-safe, so the HTTP endpoint reads it from its own thread. Label sets are bounded: pools by
/// `registry.max_pools`, nodes by `registry.max_nodes` (their series live in `NodeExposition`, not
/// the registry, and a forgotten node leaves it), reasons and actions are fixed lists.
struct AggregatorMetrics {
    let registry: PrometheusCollectorRegistry

    private let batches, samples, duplicates, missing, agentDrops, restarts, unknownSeries, accepted, closed, subscribersRefused: MirroredCounter
    private var rejected: [String: MirroredCounter] = [:]
    private var decisions: [String: Counter] = [:]
    private let windowBytes: Gauge
    private let nodesByState: [NodeState: Gauge]

    private struct PoolGauges {
        var loadMean, loadMax, demand, nodes, live, desired: Gauge
        var arrivalRate, serviceSeconds, waiting, running, predictedWait: Gauge
        /// One gauge per demand source, 1 for the one in use.
        var source: [DemandSource: Gauge]
        var forecasts: [Int: (mean: Gauge, lower: Gauge, upper: Gauge)] = [:]
        var allocation: [String: Gauge] = [:]
    }
    private var pools: [String: PoolGauges] = [:]

    /// Per-node series, rendered on scrape rather than registered (see `NodeExposition`).
    let nodeTable = NodeExposition()

    /// The `process_*` metrics are not here: they are read on each scrape (`ProcessMetrics`), off this thread.
    init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        registry.makeGauge(name: "gpulse_build_info", labels: [("version", gpulseVersion)], help: "Always 1; the version is the label.").set(to: 1.0)
        func counter(_ name: String, _ help: String) -> MirroredCounter { MirroredCounter(registry: registry, name: name, help: help) }
        batches = counter("gpulse_ingest_batches_total", "Metric batches accepted (duplicates not counted).")
        samples = counter("gpulse_ingest_samples_total", "Samples in accepted batches.")
        duplicates = counter("gpulse_ingest_duplicate_batches_total", "Batches that repeated a sequence number already seen; ignored.")
        missing = counter("gpulse_ingest_missing_batches_total", "Batches that never arrived, from sequence gaps.")
        agentDrops = counter("gpulse_ingest_agent_dropped_samples_total", "Samples the agents report they dropped themselves (full ring or send queue).")
        restarts = counter("gpulse_ingest_agent_restarts_total", "Agent sessions that replaced an earlier session of the same node.")
        unknownSeries = counter("gpulse_ingest_unknown_series_total", "Series skipped because their signal kind is newer than this build.")
        accepted = counter("gpulse_ingest_connections_accepted_total", "Agent connections accepted on the metrics socket.")
        closed = counter(
            "gpulse_ingest_connections_closed_total", "Agent connections ended: closed by the agent, or cut off by libzmq for an oversized or broken frame.")
        subscribersRefused = counter(
            "gpulse_decision_subscribers_refused_total", "Subscriber handshakes on the decision stream the CURVE allowlist refused.")
        windowBytes = registry.makeGauge(name: "gpulse_ingest_window_bytes", help: "Memory held by the raw per-node windows, bytes.")
        nodesByState = Dictionary(uniqueKeysWithValues: [NodeState.live, .stale, .down].map {
            ($0, registry.makeGauge(name: "gpulse_nodes", labels: [("state", $0.rawValue)], help: "Nodes known to the registry, by state."))
        })
        for reason in IngestLedger.rejectionReasons { addRejectionReason(reason) }
    }

    /// Every known reason is served from the start (at 0), so `rate()` works before the first rejection.
    private mutating func addRejectionReason(_ reason: String) {
        rejected[reason] = MirroredCounter(
            registry: registry, name: "gpulse_ingest_rejected_batches_total", labels: [("reason", reason)], help: "Messages rejected before ingest, by reason.")
    }

    /// Counts one call on the KEDA endpoint, from the gRPC handlers' threads (the registry is
    /// thread-safe; the same name and labels give back the same series). Methods and codes are
    /// fixed lists, so the label sets are bounded.
    static func observe(_ call: ScalerCall, registry: PrometheusCollectorRegistry) {
        registry.makeCounter(
            name: "gpulse_keda_requests_total", labels: [("method", call.method), ("code", call.code)],
            help: "Calls on the KEDA external scaler endpoint, by method and gRPC status (StreamIsActive counted when it ends)."
        ).increment()
        guard call.method != "StreamIsActive" else { return }
        registry.makeDurationHistogram(
            name: "gpulse_keda_request_duration_seconds", labels: [("method", call.method)],
            buckets: [.microseconds(50), .microseconds(200), .milliseconds(1), .milliseconds(5), .milliseconds(25), .milliseconds(100)],
            help: "Time to answer a unary call on the KEDA endpoint, seconds."
        ).recordNanoseconds(Int64(call.seconds * 1e9))
    }

    /// Counts one decision sent for the first time (re-sends of a standing decision are not counted).
    mutating func issued(_ decision: Decision) {
        let (kind, action): (String, String)
        switch decision.body {
        case .scale(let s): (kind, action) = ("scale", s.action.name.lowercased())
        case .offload: (kind, action) = ("offload", "offload")
        case .node(let n): (kind, action) = ("node", n.kind.name.lowercased())
        }
        let key = "\(kind)/\(action)"
        if decisions[key] == nil {
            decisions[key] = registry.makeCounter(
                name: "gpulse_decisions_total", labels: [("kind", kind), ("action", action)],
                help: "Decisions published for the first time, by kind and action.")
        }
        decisions[key]!.increment()
    }

    mutating func update(fleet: Fleet, ledger: IngestLedger, standing: [String: Decision], nowNanos: Int64, subscribersRefused refusedSubscribers: UInt64 = 0) {
        subscribersRefused.advance(to: refusedSubscribers)
        batches.advance(to: ledger.batchesAccepted)
        samples.advance(to: ledger.samplesAccepted)
        duplicates.advance(to: ledger.batchesDuplicate)
        missing.advance(to: ledger.missingBatches)
        agentDrops.advance(to: ledger.agentDroppedSamples)
        restarts.advance(to: ledger.agentRestarts)
        unknownSeries.advance(to: ledger.unknownSeriesIgnored)
        accepted.advance(to: ledger.connectionsAccepted)
        closed.advance(to: ledger.connectionsClosed)
        for (reason, count) in ledger.rejectedByReason {
            if rejected[reason] == nil { addRejectionReason(reason) }
            rejected[reason]!.advance(to: count)
        }
        windowBytes.set(Double(fleet.windowBytes))
        let nodesPerPool = updateNodes(fleet, nowNanos: nowNanos)
        updatePools(fleet, nodesPerPool: nodesPerPool, standing: standing)
    }

    /// Returns the number of nodes per pool, counted on the way. O(nodes), once a second.
    private mutating func updateNodes(_ fleet: Fleet, nowNanos: Int64) -> [String: Int] {
        var counts: [NodeState: Int] = [.live: 0, .stale: 0, .down: 0]
        var perPool: [String: Int] = [:]
        var rows: [NodeExposition.Row] = []
        rows.reserveCapacity(fleet.nodes.count)
        for (id, node) in fleet.nodes {
            counts[node.state, default: 0] += 1
            perPool[node.labels.pool, default: 0] += 1
            rows.append(.init(id: id, pool: node.labels.pool, state: node.state, healthy: node.health.isHealthy, ageSeconds: Double(max(0, nowNanos.subtractingSaturating(node.lastSeenNanos))) / 1e9))
        }
        nodeTable.replace(rows)
        for (state, gauge) in nodesByState { gauge.set(Double(counts[state] ?? 0)) }
        return perPool
    }

    /// A reclaimed pool's series leave the endpoint.
    private mutating func remove(pool name: String) {
        guard let g = pools.removeValue(forKey: name) else { return }
        var gauges = [g.loadMean, g.loadMax, g.demand, g.nodes, g.live, g.desired, g.arrivalRate, g.serviceSeconds, g.waiting, g.running, g.predictedWait]
        gauges += g.source.values
        gauges += g.allocation.values
        for f in g.forecasts.values { gauges += [f.mean, f.lower, f.upper] }
        for gauge in gauges { registry.unregisterGauge(gauge) }
    }

    /// The whole `/metrics` body: the registry, then the per-node table.
    func exposition() -> [UInt8] {
        var out = registry.emitToBuffer()
        nodeTable.emit(into: &out)
        return out
    }

    private mutating func updatePools(_ fleet: Fleet, nodesPerPool: [String: Int], standing: [String: Decision]) {
        if pools.count > fleet.poolNames.count {
            for name in pools.keys where fleet.poolPosition(name) == nil { remove(pool: name) }
        }
        for (name, series) in zip(fleet.poolNames, fleet.poolSeries) {
            if pools[name] == nil {
                let l = [("pool", name)]
                pools[name] = PoolGauges(
                    loadMean: registry.makeGauge(name: "gpulse_pool_load_index_mean", labels: l, help: "Mean load index L over the pool's live nodes (0 to 1)."),
                    loadMax: registry.makeGauge(name: "gpulse_pool_load_index_max", labels: l, help: "Largest load index L among the pool's live nodes (0 to 1)."),
                    demand: registry.makeGauge(name: "gpulse_pool_demand", labels: l, help: "Pool offered demand, replica units (see gpulse_pool_demand_source)."),
                    nodes: registry.makeGauge(name: "gpulse_pool_nodes", labels: l, help: "Nodes the registry knows in the pool, any state."),
                    live: registry.makeGauge(name: "gpulse_pool_live_replicas", labels: l, help: "Live nodes (replicas) in the pool."),
                    desired: registry.makeGauge(name: "gpulse_pool_desired_replicas", labels: l, help: "Replicas the standing scale decision asks for; NaN before the first decision."),
                    arrivalRate: registry.makeGauge(name: "gpulse_pool_arrival_rate", labels: l, help: "Requests per second arriving at the pool's inference servers; NaN when none reports it."),
                    serviceSeconds: registry.makeGauge(name: "gpulse_pool_service_time_seconds", labels: l, help: "Mean service time per request the pool's inference servers report; NaN when none does."),
                    waiting: registry.makeGauge(name: "gpulse_pool_requests_waiting", labels: l, help: "Requests queued in the pool; NaN when no server reports it."),
                    running: registry.makeGauge(name: "gpulse_pool_requests_running", labels: l, help: "Requests being served in the pool; NaN when no server reports it."),
                    predictedWait: registry.makeGauge(
                        name: "gpulse_pool_predicted_wait_probability", labels: l,
                        help: "The standing decision's predicted P(wait > the pool's slo.max_wait_s) at its desired replicas; NaN without a queueing model."),
                    source: Dictionary(uniqueKeysWithValues: [DemandSource.arrivalRate, .queue, .loadIndex].map { src in
                        (src, registry.makeGauge(
                            name: "gpulse_pool_demand_source", labels: l + [("source", src.name)],
                            help: "1 for the source the pool's demand comes from now (arrival_rate, queue or load_index), else 0."))
                    }))
            }
            var g = pools[name]!
            let point = series.latest
            g.loadMean.set(point?.loadMean ?? 0)
            g.loadMax.set(point?.loadMax ?? 0)
            g.demand.set(series.current?.demand ?? point?.demand ?? 0)
            g.arrivalRate.set(series.traffic?.arrivalRate ?? Double.nan)
            g.serviceSeconds.set(series.traffic?.serviceSeconds ?? Double.nan)
            g.waiting.set(series.traffic?.waiting ?? Double.nan)
            g.running.set(series.traffic?.running ?? Double.nan)
            for (src, gauge) in g.source { gauge.set(src == series.demandSource ? 1.0 : 0.0) }
            g.nodes.set(Double(nodesPerPool[name] ?? 0))
            g.live.set(Double(point?.liveNodes ?? 0))
            var scale: ScaleDecision?
            if case .scale(let s) = standing["scale/\(name)"]?.body { scale = s }
            g.desired.set(scale.map { Double($0.desiredReplicas) } ?? .nan)
            g.predictedWait.set(scale?.predictedWaitProbability ?? Double.nan)
            for a in scale?.allocation ?? [] {
                if g.allocation[a.instanceClass] == nil {
                    g.allocation[a.instanceClass] = registry.makeGauge(
                        name: "gpulse_pool_desired_replicas_by_class", labels: [("pool", name), ("instance_class", a.instanceClass)],
                        help: "Replicas of each instance class in the standing scale decision.")
                }
            }
            for (cls, gauge) in g.allocation { gauge.set(Double(scale?.allocation.first { $0.instanceClass == cls }?.count ?? 0)) }
            for f in series.forecasts {
                if g.forecasts[f.steps] == nil {
                    let l = [("pool", name), ("horizon_minutes", String(f.steps))]
                    g.forecasts[f.steps] = (
                        registry.makeGauge(name: "gpulse_pool_forecast_demand", labels: l, help: "Forecast pool demand at the horizon."),
                        registry.makeGauge(name: "gpulse_pool_forecast_demand_lower", labels: l, help: "Lower bound of the forecast interval (forecast.interval_level)."),
                        registry.makeGauge(name: "gpulse_pool_forecast_demand_upper", labels: l, help: "Upper bound of the forecast interval (forecast.interval_level).")
                    )
                }
                let fg = g.forecasts[f.steps]!
                fg.mean.set(f.value)
                fg.lower.set(f.lower ?? .nan)
                fg.upper.set(f.upper ?? .nan)
            }
            pools[name] = g
        }
    }
}
