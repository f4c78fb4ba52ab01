import Foundation
import GPulseAggregatorConfig
import GPulseConfig
import GPulseCore
import GPulseExposition
import GPulseWire
import Prometheus
import Testing

@testable import GPulseAggregator

private let second: Int64 = 1_000_000_000

/// Forty virtual minutes of two nodes on a fleet with a short season, so that every metric the
/// aggregator can serve (forecasts and decisions included) exists when the registry is emitted.
private struct Scenario {
    var fleet: Fleet
    var engine: DecisionEngine
    var ledger = IngestLedger()
    var metrics = AggregatorMetrics()
    var now: Int64 = 1_700_000_000 * second

    init() {
        var config = AggregatorConfig()
        config.forecast.seasonSteps = 10
        config.forecast.horizonsMin = [1, 5]
        fleet = Fleet(settings: config.fleetSettings)
        engine = DecisionEngine(settings: config.engineSettings, idPrefix: "test")
        // As AggregatorService composes it: process metrics on the same registry, read on scrape.
        ProcessMetrics(registry: metrics.registry).update()
    }

    mutating func run(minutes: Int, nodes: [String] = ["n1", "n2"]) {
        var seq: [String: UInt64] = [:]
        for s in 0..<(minutes * 60) {
            now += second
            for (i, node) in nodes.enumerated() {
                let u = Float(0.3 + 0.2 * sin(Double(s) / 90) + 0.1 * Double(i))
                let batch = MetricsBatch(
                    labels: NodeLabels(nodeID: node, pool: "llm"), session: 1, seq: seq[node, default: 0], t0UnixNanos: now,
                    series: [Series(kind: .cpuUtil, offsetsMicros: [0, 500_000], values: [u, u])])
                seq[node, default: 0] += 1
                let (outcome, transition) = fleet.ingest(batch, nowNanos: now)
                ledger.accept(DecodedBatch(batch: batch), outcome: outcome)
                if let transition, let event = engine.nodeEvent(transition) { issue(event) }
            }
            if let (transitions, _, _) = fleet.tick(nowNanos: now) {
                for t in transitions { if let event = engine.nodeEvent(t) { issue(event) } }
                for decision in engine.evaluate(fleet: fleet, nowNanos: now) { issue(decision) }
            }
        }
        metrics.update(fleet: fleet, ledger: ledger, standing: engine.current, nowNanos: now)
    }

    /// Counted the way the service counts: only the first send of each decision, not re-sends.
    private var lastSeq: [String: UInt64] = [:]
    private mutating func issue(_ decision: Decision) {
        guard lastSeq[decision.topic] != decision.seq else { return }
        lastSeq[decision.topic] = decision.seq
        metrics.issued(decision)
    }

    var exposition: String { String(decoding: metrics.exposition(), as: UTF8.self) }
}

/// `name{labels} value` lines of the text format, keyed by everything before the value.
private func samples(_ text: String) -> [String: Double] {
    var out: [String: Double] = [:]
    for line in text.split(separator: "\n") where !line.hasPrefix("#") {
        guard let space = line.lastIndex(of: " ") else { continue }
        out[String(line[..<space])] = Double(line[line.index(after: space)...])
    }
    return out
}

private func metricNames(_ text: String) -> Set<String> {
    Set(text.split(separator: "\n").compactMap { line in
        line.hasPrefix("# TYPE ") ? line.split(separator: " ")[2].description : nil
    })
}

@Suite struct AggregatorMetricsTests {
    @Test func poolNodeAndIngestSeriesCarryTheFleetsValues() throws {
        var s = Scenario()
        s.run(minutes: 40)
        let values = samples(s.exposition)
        let pool = try #require(s.fleet.pools["llm"]?.latest)
        #expect(values[#"gpulse_pool_load_index_mean{pool="llm"}"#] == pool.loadMean)
        #expect(values[#"gpulse_pool_load_index_max{pool="llm"}"#] == pool.loadMax)
        #expect(values[#"gpulse_pool_demand{pool="llm"}"#] == pool.demand)
        #expect(values[#"gpulse_pool_live_replicas{pool="llm"}"#] == 2)
        #expect(values["gpulse_ingest_batches_total"] == Double(s.ledger.batchesAccepted))
        let batches = try #require(values["gpulse_ingest_batches_total"])
        #expect(batches == Double(2 * 40 * 60))
        #expect(values["gpulse_ingest_samples_total"] == Double(4 * 40 * 60))
        #expect(values[#"gpulse_node_state{node_id="n1",pool="llm",state="live"}"#] == 1)
        #expect(values[#"gpulse_node_state{node_id="n1",pool="llm",state="down"}"#] == 0)
        #expect(values[#"gpulse_nodes{state="live"}"#] == 2)
        #expect(values[#"gpulse_decisions_total{kind="node",action="up"}"#] == 2)
        // Forty minutes at a 10-minute season: the forecasters answer at both horizons.
        let forecasts = try #require(s.fleet.pools["llm"]?.forecasts)
        #expect(forecasts.map(\.steps) == [1, 5])
        #expect(values[#"gpulse_pool_forecast_demand{pool="llm",horizon_minutes="5"}"#] == forecasts[1].value)
        #expect(values[#"gpulse_pool_desired_replicas{pool="llm"}"#] != nil)
    }

    @Test func countersNeverGoDownAndForgottenNodesLeaveTheEndpoint() {
        var s = Scenario()
        s.run(minutes: 2)
        let before = samples(s.exposition)["gpulse_ingest_batches_total"] ?? 0
        // n2 falls silent for longer than forget_after_s (3600 s by default).
        s.run(minutes: 62, nodes: ["n1"])
        let text = s.exposition
        #expect(!text.contains(#"node_id="n2""#))
        #expect(text.contains(#"node_id="n1""#))
        #expect((samples(text)["gpulse_ingest_batches_total"] ?? 0) > before)
    }

    /// Every query of the shipped Grafana dashboard names metrics the aggregator serves.
    @Test func dashboardQueriesNameServedMetrics() throws {
        var s = Scenario()
        s.run(minutes: 40)
        let served = metricNames(s.exposition)
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let data = try Data(contentsOf: root.appendingPathComponent("config/grafana/gpulse.json"))
        let dashboard = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        var queries: [String] = []
        func collect(_ any: Any) {
            if let d = any as? [String: Any] {
                for (k, v) in d {
                    if (k == "expr" || k == "query" || k == "definition"), let q = v as? String { queries.append(q) }
                    collect(v)
                }
            } else if let a = any as? [Any] {
                a.forEach(collect)
            }
        }
        collect(dashboard)
        #expect(queries.count >= 25)
        let pattern = try Regex(#"\b(gpulse_[a-z0-9_]+|process_[a-z0-9_]+)"#)
        var named = Set<String>()
        for q in queries { for m in q.matches(of: pattern) { named.insert(String(q[m.range])) } }
        #expect(named.count >= 15)
        let missing = named.subtracting(served).sorted()
        #expect(missing.isEmpty, "dashboard queries name metrics the endpoint does not serve: \(missing)")
    }
}

@Suite struct ExpositionHelpersTests {
    @Test func procSelfStatIsReadPastACommandNameWithSpacesAndParentheses() throws {
        let line = "4242 (gpulse (agent) x) S 1 4242 4242 0 -1 4194560 900 0 0 0 150 37 0 0 20 0 9 0 12345 629403648 8478 18446744073709551615 1 1 0 0 0 0 0 4096 0 0 0 0 17 1 0 0 0 0 0\n"
        let stat = try #require(ProcSelfStat(line))
        #expect(stat.userTicks == 150 && stat.systemTicks == 37)
        #expect(stat.threads == 9)
        #expect(stat.startTicks == 12345)
        #expect(stat.virtualBytes == 629_403_648)
        #expect(stat.residentPages == 8478)
        #expect(abs(stat.cpuSeconds(ticksPerSecond: 100) - 1.87) < 1e-12)
        #expect(ProcSelfStat("4242 (truncated") == nil)
        #expect(ProcSelfStat("4242 (x) S 1 2 3") == nil)
    }

    @Test func listenAddresses() {
        #expect(ListenAddress("127.0.0.1:9473") == ListenAddress("127.0.0.1:9473"))
        #expect(ListenAddress("127.0.0.1:9473")?.port == 9473)
        #expect(ListenAddress("[::1]:0")?.host == "::1")
        #expect(ListenAddress("[::1]:0")?.description == "[::1]:0")
        #expect(ListenAddress("localhost") == nil)
        #expect(ListenAddress(":9473") == nil)
        #expect(ListenAddress("h:70000") == nil)
    }

    @Test func mirroredCountersFollowGrowthAndIgnoreResets() {
        let registry = PrometheusCollectorRegistry()
        let mirrored = MirroredCounter(registry: registry, name: "x_total", help: "x")
        mirrored.advance(to: UInt64(5))
        mirrored.advance(to: UInt64(8))
        mirrored.advance(to: UInt64(2))  // the source restarted: no decrease
        mirrored.advance(to: UInt64(4))
        #expect(samples(registry.emitToString())["x_total"] == 10)
    }

    @Test func perNodeSeriesEscapeTheirLabelsAndFollowTheTable() {
        let table = NodeExposition()
        var empty: [UInt8] = []
        table.emit(into: &empty)
        #expect(empty.isEmpty)
        table.replace([
            .init(id: #"b"\x"#, pool: "p\nq", state: .stale, healthy: true, ageSeconds: 7.5),
            .init(id: "a", pool: "llm", state: .live, healthy: false, ageSeconds: 0),
        ])
        var out: [UInt8] = []
        table.emit(into: &out)
        let text = String(decoding: out, as: UTF8.self)
        let values = samples(text)
        #expect(values[#"gpulse_node_state{node_id="a",pool="llm",state="live"}"#] == 1)
        #expect(values[#"gpulse_node_state{node_id="b\"\\x",pool="p\nq",state="stale"}"#] == 1)
        #expect(values[#"gpulse_node_state{node_id="b\"\\x",pool="p\nq",state="live"}"#] == 0)
        #expect(values[#"gpulse_node_last_seen_age_seconds{node_id="b\"\\x",pool="p\nq"}"#] == 7.5)
        #expect(values[#"gpulse_node_healthy{node_id="a",pool="llm"}"#] == 0 && values[#"gpulse_node_healthy{node_id="b\"\\x",pool="p\nq"}"#] == 1)
        // Sorted by node id, each family once.
        #expect(text.components(separatedBy: "# TYPE gpulse_node_state gauge").count == 2)
        #expect(text.range(of: #"node_id="a""#)!.lowerBound < text.range(of: #"node_id="b"#)!.lowerBound)
        table.replace([])
        var gone: [UInt8] = []
        table.emit(into: &gone)
        #expect(gone.isEmpty)
    }

    @Test func aLogBudgetWritesItsLinesPerWindowAndCountsTheRest() {
        var budget = LogBudget(lines: 2, windowSeconds: 10)
        #expect(budget.take(at: 0) == (true, 0))
        #expect(budget.take(at: 1) == (true, 0))
        #expect(budget.take(at: 2) == (false, 0))
        #expect(budget.take(at: 9.9) == (false, 0))
        // The next window opens at the first event 10 s after the last one opened, and reports two held back.
        #expect(budget.take(at: 10) == (true, 2))
        #expect(budget.take(at: 11) == (true, 0))
        #expect(budget.take(at: 30) == (true, 0))
    }

    @Test func listenSettings() {
        #expect(ListenAddress.Setting("off") == .off)
        #expect(ListenAddress.Setting("") == .off)
        #expect(ListenAddress.Setting("127.0.0.1:9473").address == ListenAddress("127.0.0.1:9473"))
        #expect(ListenAddress.Setting("nowhere").problem?.contains("host:port") == true)
    }

    @Test func prometheusListenIsCheckedByKeyPath() throws {
        #expect(throws: ConfigError.self) { try AggregatorConfig.parse(yaml: "prometheus:\n  listen: nowhere\n") }
        do {
            _ = try AggregatorConfig.parse(yaml: "prometheus:\n  listen: nowhere\n")
        } catch {
            #expect(error.issues.map(\.keyPath) == ["prometheus.listen"])
        }
        #expect(try AggregatorConfig.parse(yaml: "prometheus:\n  listen: off\n").prometheus.address == nil)
        #expect(AggregatorConfig().prometheus.address == ListenAddress("127.0.0.1:9473"))
    }
}
