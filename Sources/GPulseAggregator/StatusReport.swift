import Foundation
import GPulseConfig
import GPulseCore
import GPulseExposition
import GPulseSnapshot

/// What `gpulse-aggregator status` shows, sent as JSON by the control endpoint.
public struct StatusReport: Codable, Sendable {
    public struct Ingest: Codable, Sendable {
        public var batches: UInt64
        public var samples: UInt64
        public var duplicateBatches: UInt64
        public var rejected: UInt64
        public var rejectedByReason: [String: UInt64]
        public var unknownSeriesIgnored: UInt64
        /// Sum over nodes of batches that never arrived (sequence gaps).
        public var missingBatches: UInt64
        /// Sum over nodes of samples the agents dropped themselves.
        public var agentDroppedSamples: UInt64
        /// Agent connections accepted, and ended (closed by the peer or cut off by libzmq).
        public var connectionsAccepted: UInt64
        public var connectionsClosed: UInt64
        /// The ingest loop's longest time between two rounds since start, seconds (its worst stall).
        public var longestLoopGapSeconds: Double?
    }
    public struct Node: Codable, Sendable {
        public var id: String
        public var pool: String
        public var site: String
        public var tier: String
        public var state: String
        /// "healthy", or "unhealthy" while its GPUs' latest fault holds (`healthReason` says which).
        public var health: String
        public var healthReason: String?
        public var lastSeenSecondsAgo: Double
        public var batches: UInt64
        public var samples: UInt64
        public var missingBatches: UInt64
        public var restarts: UInt64
        public var duplicates: UInt64
        public var agentDroppedSamples: UInt64
        public var probesLost: UInt64
        public var seriesRefused: UInt64
        public var load: Double?
        public var gpus: Int
        public var windowBytes: Int
        public var agentVersion: String
    }
    public struct Forecast: Codable, Sendable {
        public var horizonMinutes: Int
        public var model: String
        public var demand: Double
        public var lower: Double?
        public var upper: Double?
    }
    public struct Pool: Codable, Sendable {
        public var name: String
        public var nodes: Int
        public var liveNodes: Int
        public var loadMean: Double
        public var loadMax: Double
        /// Offered load, replica units, and where it came from (arrival_rate, queue, load_index).
        public var demand: Double
        public var demandSource: String
        /// Requests per second arriving, mean service time (s), waiting and running, as the pool's
        /// inference servers report them; nil when none does.
        public var arrivalRate: Double?
        public var serviceSeconds: Double?
        public var requestsWaiting: Double?
        public var requestsRunning: Double?
        /// Live serverless burst replicas.
        public var burstReplicas: Int
        /// Live nodes whose GPUs reported a fault: not in `liveNodes`, their load still in `demand`.
        public var unhealthyNodes: Int
        /// The standing decision's predicted P(wait > its objective) at the desired replicas.
        public var predictedWaitProbability: Double?
        public var burst: Bool
        public var burstExcess: Double
        /// Minutes of demand the forecaster has learned from.
        public var minutesLearned: Int
        public var forecasts: [Forecast]
        /// The standing scale decision (nil before the first one).
        public var policy: String?
        public var action: String?
        public var desiredReplicas: Int?
        public var reason: String?
    }
    public struct Offload: Codable, Sendable {
        public var site: String
        public var target: String
        public var fraction: Double
        public var reason: String
    }
    public struct Decisions: Codable, Sendable {
        /// Decisions sent for the first time, and re-sends of standing ones.
        public var published: UInt64
        public var resent: UInt64
        /// Subscriber handshakes the CURVE allowlist refused on the decision stream (0 in plaintext).
        public var subscribersRefused: UInt64?
    }
    public var version: String
    public var generatedAtUnix: Double
    public var uptimeSeconds: Double
    public var ingest: Ingest
    public var nodes: [Node]
    public var pools: [Pool]
    public var offload: [Offload]?
    public var decisions: Decisions?
    public var windowBytes: Int
    public var rssBytes: Int?
    /// nil when snapshots are off.
    public var snapshot: SnapshotStats?

    public init(
        fleet: Fleet, ledger: IngestLedger, nowNanos: Int64, startedNanos: Int64, standing: [String: Decision] = [:],
        published: UInt64 = 0, resent: UInt64 = 0, subscribersRefused: UInt64 = 0, snapshot: SnapshotStats? = nil,
        longestLoopGapSeconds: Double? = nil
    ) {
        self.snapshot = snapshot
        version = gpulseVersion
        generatedAtUnix = Double(nowNanos) / 1e9
        uptimeSeconds = Double(nowNanos - startedNanos) / 1e9
        let entries = fleet.nodes.sorted { $0.key < $1.key }
        nodes = entries.map { id, n in
            Node(
                id: id, pool: n.labels.pool, site: n.labels.site, tier: n.labels.tier.name, state: n.state.rawValue,
                health: n.health.isHealthy ? "healthy" : "unhealthy", healthReason: n.health.isHealthy ? nil : n.health.reason,
                lastSeenSecondsAgo: Double(nowNanos - n.lastSeenNanos) / 1e9, batches: n.sequence.received, samples: n.samples,
                missingBatches: n.sequence.missing, restarts: n.sequence.restarts, duplicates: n.sequence.duplicates,
                agentDroppedSamples: n.agentDroppedSamples, probesLost: n.probesLost, seriesRefused: n.seriesRefused, load: n.load,
                gpus: n.inputs.gpus.count, windowBytes: n.windowBytes, agentVersion: n.agentVersion)
        }
        ingest = Ingest(
            batches: ledger.batchesAccepted, samples: ledger.samplesAccepted, duplicateBatches: ledger.batchesDuplicate,
            rejected: ledger.batchesRejected, rejectedByReason: ledger.rejectedByReason, unknownSeriesIgnored: ledger.unknownSeriesIgnored,
            missingBatches: nodes.reduce(0) { $0 + $1.missingBatches }, agentDroppedSamples: nodes.reduce(0) { $0 + $1.agentDroppedSamples },
            connectionsAccepted: ledger.connectionsAccepted, connectionsClosed: ledger.connectionsClosed,
            longestLoopGapSeconds: longestLoopGapSeconds)
        // Counted in one pass: asking each pool to count its nodes was pools × nodes string compares.
        var nodesPerPool: [String: Int] = [:]
        for n in fleet.nodes.values { nodesPerPool[n.labels.pool, default: 0] += 1 }
        pools = zip(fleet.poolNames, fleet.poolSeries).map { name, series in
            let point = series.latest
            var scale: ScaleDecision?
            if case .scale(let s) = standing["scale/\(name)"]?.body { scale = s }
            return Pool(
                name: name, nodes: nodesPerPool[name] ?? 0, liveNodes: point?.liveNodes ?? 0,
                loadMean: point?.loadMean ?? 0, loadMax: point?.loadMax ?? 0, demand: series.current?.demand ?? point?.demand ?? 0,
                demandSource: series.demandSource.name, arrivalRate: series.traffic?.arrivalRate, serviceSeconds: series.traffic?.serviceSeconds,
                requestsWaiting: series.traffic?.waiting, requestsRunning: series.traffic?.running, burstReplicas: series.burstNodes,
                unhealthyNodes: series.unhealthyNodes,
                predictedWaitProbability: scale?.predictedWaitProbability, burst: series.burst.active,
                burstExcess: series.burst.excess, minutesLearned: series.forecaster.observations,
                forecasts: series.forecasts.map {
                    Forecast(horizonMinutes: $0.steps, model: $0.model, demand: $0.value, lower: $0.lower, upper: $0.upper)
                }, policy: scale?.policy, action: scale?.action.name, desiredReplicas: scale.map { Int($0.desiredReplicas) }, reason: scale?.reason)
        }
        offload = standing.values.compactMap { d -> Offload? in
            guard case .offload(let o) = d.body else { return nil }
            return Offload(site: o.site, target: o.target, fraction: o.fraction, reason: o.reason)
        }.sorted { $0.site < $1.site }
        decisions = Decisions(published: published, resent: resent, subscribersRefused: subscribersRefused)
        windowBytes = fleet.windowBytes
        rssBytes = Self.residentBytes()
    }

    /// Resident set size of this process from /proc/self/stat, nil where there is none.
    static func residentBytes() -> Int? {
        guard let text = try? String(contentsOfFile: "/proc/self/stat", encoding: .utf8), let stat = ProcSelfStat(text) else { return nil }
        return stat.residentPages * Int(sysconf(Int32(_SC_PAGESIZE)))
    }

    public func json(pretty: Bool = true) -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = pretty ? [.prettyPrinted, .sortedKeys] : [.sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    public static func decode(json: [UInt8]) throws -> StatusReport {
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return try decoder.decode(StatusReport.self, from: Data(json))
    }

    /// Readable tables for a terminal.
    public func text() -> String {
        var lines = [
            "gpulse-aggregator \(version), up \(TextTable.number(uptimeSeconds, 0)) s; raw windows \(bytes(windowBytes))"
                + (rssBytes.map { ", RSS \(bytes($0))" } ?? ""),
            "ingest: \(ingest.batches) batches, \(ingest.samples) samples; missing \(ingest.missingBatches) batches (gaps), "
                + "agents dropped \(ingest.agentDroppedSamples) samples, \(ingest.duplicateBatches) duplicates, rejected \(ingest.rejected)"
                + (ingest.rejectedByReason.isEmpty ? "" : " (" + ingest.rejectedByReason.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") + ")"),
            "connections: \(ingest.connectionsAccepted) accepted, \(ingest.connectionsClosed) ended (closed by the agent, or cut off by libzmq for an oversized or broken frame)",
            "",
            "pools:",
        ]
        var poolRows = [["pool", "live/nodes", "L mean", "L max", "demand (source)", "arrivals/s × S", "waiting/running", "P(wait>SLO)", "burst", "decision", "forecast (model) [interval]"]]
        for p in pools {
            let f = p.forecasts.map { f in
                "\(f.horizonMinutes)m \(TextTable.number(f.demand, 2)) (\(f.model))" + (f.lower.map { l in " [\(TextTable.number(l, 2)), \(TextTable.number(f.upper ?? .nan, 2))]" } ?? "")
            }.joined(separator: "; ")
            poolRows.append([
                p.name, "\(p.liveNodes)/\(p.nodes)" + (p.burstReplicas > 0 ? " +\(p.burstReplicas) serverless" : "")
                    + (p.unhealthyNodes > 0 ? " (\(p.unhealthyNodes) unhealthy)" : ""), TextTable.number(p.loadMean, 3), TextTable.number(p.loadMax, 3),
                "\(TextTable.number(p.demand, 3)) (\(p.demandSource))",
                p.arrivalRate.map { "\(TextTable.number($0, 2)) × \(p.serviceSeconds.map { TextTable.number($0, 2) + " s" } ?? "?")" } ?? "-",
                "\(p.requestsWaiting.map { TextTable.number($0, 1) } ?? "-")/\(p.requestsRunning.map { TextTable.number($0, 1) } ?? "-")",
                p.predictedWaitProbability.map { TextTable.number($0 * 100, 2) + " %" } ?? "-",
                p.burst ? "yes +\(TextTable.number(p.burstExcess, 2))" : "no",
                p.action.map { "\($0) → \(p.desiredReplicas ?? 0) (\(p.policy ?? ""))" } ?? "-",
                f.isEmpty ? "learning (\(p.minutesLearned) min seen)" : f,
            ])
        }
        lines += TextTable.render(poolRows).map { "  " + $0 }
        lines += pools.compactMap { p in p.reason.map { "  \(p.name): \($0)" } }
        if let offload, !offload.isEmpty {
            lines += ["", "offload:"] + offload.map { "  \($0.site) → \($0.target): \(TextTable.number($0.fraction, 2)) (\($0.reason))" }
        }
        if let decisions {
            let refused = (decisions.subscribersRefused ?? 0) > 0 ? ", \(decisions.subscribersRefused!) subscriber handshakes refused" : ""
            lines += ["", "decisions: \(decisions.published) published, \(decisions.resent) re-sent\(refused)"]
        }
        if let s = snapshot {
            lines.append(
                "snapshots: \(s.path), \(s.writes) written, \(s.failures) failed"
                    + (s.lastBytes.map { ", last \(bytes($0)) in \(TextTable.number(s.lastWriteMilliseconds ?? 0, 0)) ms" } ?? "")
                    + (s.restoredAgeSeconds.map { "; started from one \(TextTable.number($0, 0)) s old" } ?? "; started fresh")
                    + (s.lastError.map { "; last error: \($0)" } ?? ""))
        } else {
            lines.append("snapshots: off")
        }
        lines += ["", "nodes:"]
        var nodeRows = [["node", "pool", "state", "health", "last seen", "L", "batches", "missing", "restarts", "agent drops", "window"]]
        for n in nodes {
            nodeRows.append([
                n.id, n.pool, n.state, n.healthReason.map { "UNHEALTHY: \($0)" } ?? "ok", "\(TextTable.number(n.lastSeenSecondsAgo, 1)) s ago", n.load.map { TextTable.number($0, 3) } ?? "-", "\(n.batches)",
                "\(n.missingBatches)", "\(n.restarts)", "\(n.agentDroppedSamples)", bytes(n.windowBytes),
            ])
        }
        lines += TextTable.render(nodeRows).map { "  " + $0 }
        return lines.joined(separator: "\n")
    }

    private func bytes(_ n: Int) -> String {
        n >= 1 << 20 ? "\(TextTable.number(Double(n) / 1_048_576, 1)) MiB" : n >= 1024 ? "\(TextTable.number(Double(n) / 1024, 1)) KiB" : "\(n) B"
    }
}
