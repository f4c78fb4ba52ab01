import Foundation
import GPulseAggregatorConfig
import GPulseConfig
import GPulseCore

/// What one row of a replay runs: a policy the live aggregator can run, or the oracle bound.
public enum ReplayPolicy: Hashable, Sendable {
    case live(PolicyKind)
    /// cost_aware fed the true future offered load: a perfect-forecast bound, not a policy to deploy.
    case oracle

    /// Every row `replay` can run, in the order it runs them by default.
    public static let all: [ReplayPolicy] = PolicyKind.allCases.map(ReplayPolicy.live) + [.oracle]

    /// The name `--policy` takes and the tables print.
    public var name: String {
        switch self {
        case .live(let kind): kind.rawValue
        case .oracle: "oracle"
        }
    }

    public init?(name: String) {
        guard let found = Self.all.first(where: { $0.name == name }) else { return nil }
        self = found
    }
}

/// The two baselines a sweep tunes on the trace.
public enum SweepFamily: String, Sendable, CaseIterable {
    case threshold
    case staticFleet = "static"

    /// How the goal line names the family's cheapest point.
    var title: String {
        switch self {
        case .threshold: "tuned threshold"
        case .staticFleet: "static fleet"
        }
    }
}

/// A baseline tuned on the trace itself, by replaying a grid of its settings: the cheapest point
/// whose SLA violations are at most a policy's is what that policy has to beat at equal SLA.
public struct SweepPoint: Sendable {
    public var family: SweepFamily
    /// The setting, e.g. "high 0.8 low 0.3 step 1" or "12 replicas".
    public var setting: String
    public var result: ReplayResult
}

/// Which baselines `--sweep` replays.
public struct SweepPlan: Sendable, Hashable {
    public var threshold: Bool
    public var staticFleet: Bool
    public init(threshold: Bool = false, staticFleet: Bool = false) {
        self.threshold = threshold
        self.staticFleet = staticFleet
    }
    public var isEmpty: Bool { !threshold && !staticFleet }

    /// The threshold grid: high × low × step (every low is below every high).
    public static let thresholdGrid: [(high: Double, low: Double, step: Int)] =
        [0.6, 0.7, 0.8, 0.9].flatMap { high in [0.2, 0.4].flatMap { low in [1, 3].map { (high, low, $0) } } }

    /// Static fleet sizes around the trace's peak minute of offered load (true demand, replica
    /// units): from 0.6× to 4× the peak (bursts within a minute need more than its mean).
    public static func staticSizes(peakDemand: Double, maxReplicas: Int) -> [Int] {
        let factors = [0.6, 0.8, 1.0, 1.25, 1.5, 2.0, 2.5, 3.0, 4.0]
        return Array(Set(factors.map { max(1, min(maxReplicas, Int((peakDemand * $0).rounded(.up)))) })).sorted()
    }
}

/// Replays one trace through several policies and renders what they did: a Markdown table, CSV rows
/// and an SVG of demand against capacity. Every figure comes from the SIMULATED fleet, and every
/// output says so.
public struct ReplayReport: Sendable {
    public var trace: ReplayTrace
    public var scenario: ReplayScenario
    public var results: [ReplayResult]
    /// Wall-clock seconds the policies' replays took together.
    public var elapsedSeconds: Double
    /// The sweep's points and its own wall-clock seconds (0 without a sweep).
    public var sweep: [SweepPoint] = []
    public var sweepSeconds = 0.0

    /// The files `--out DIR` writes for a trace: `<name>.md`, `.svg`, `.replay.csv` and
    /// `.timeline.csv`, never one of them over the input (a trace in DIR named like an output is
    /// refused before anything runs).
    public struct Outputs: Sendable {
        public var markdown: String
        public var svg: String
        public var csv: String
        public var timeline: String
        public var all: [String] { [markdown, svg, csv, timeline] }

        public struct Collision: Error, CustomStringConvertible {
            public var description: String
        }

        public init(directory: String, traceName: String, inputPath: String) throws(Collision) {
            let base = "\(directory)/\((traceName as NSString).deletingPathExtension)"
            markdown = base + ".md"
            svg = base + ".svg"
            csv = base + ".replay.csv"
            timeline = base + ".timeline.csv"
            func resolved(_ p: String) -> String { URL(fileURLWithPath: p).standardizedFileURL.resolvingSymlinksInPath().path }
            let input = resolved(inputPath)
            for path in all where resolved(path) == input {
                throw Collision(description: "--out \(directory) would write \(path) over the input trace; choose another directory")
            }
        }
    }

    /// The result of `policy`, when it ran.
    public func result(_ policy: ReplayPolicy) -> ReplayResult? {
        results.first { $0.policy == policy.name }
    }

    /// Runs `policies` on the trace with the config's pool
    /// defaults, on up to `threads` threads (each policy is independent; nil: one per policy), then
    /// the sweep's points the same way.
    public static func run(
        trace: ReplayTrace, config: AggregatorConfig, policies: [ReplayPolicy], seed: UInt64, threads: Int? = nil, sweep plan: SweepPlan = .init()
    ) -> ReplayReport {
        let pool = config.pool(trace.name)
        let slots = trace.format == .gentd26 ? config.replay.imageSlotsPerReplica : config.replay.slotsPerReplica
        let classes = config.classes.values.sorted { $0.name < $1.name }
        let scenario = ReplayScenario(
            pool: trace.name, requests: trace.requests, startUnixSeconds: trace.startUnixSeconds, durationSeconds: trace.durationSeconds,
            drainLimitSeconds: config.replay.drainLimitS, warmupSeconds: min(config.replay.warmupS, trace.durationSeconds / 4), model: config.replay.model(slots: slots), classes: classes,
            defaultClass: pool.instanceClass, initialTargetLoad: pool.targetLoad, fleet: config.fleetSettings, seed: seed)
        let oracle = policies.contains(.oracle) ? scenario.perfectForecast : nil
        func setup(_ p: PoolConfig, oracle: PerfectForecast? = nil) -> PoolSetup {
            PoolSetup(
                policy: p.makePolicy(classes: config.classes), workload: .online, envelopeMinutes: p.costAware.envelopeMinutes,
                floorQuantile: p.costAware.reservedQuantile, oracle: oracle)
        }
        let jobs = policies.map { policy -> @Sendable () -> ReplayResult in
            var p = pool
            let s: PoolSetup
            switch policy {
            case .live(let kind):
                p.policy = kind
                s = setup(p)
            case .oracle:
                p.policy = .costAware
                s = setup(p, oracle: oracle)
            }
            return { Replay.run(scenario, setup: s, name: policy.name) }
        }
        let started = Date()
        let results = parallel(jobs, threads: threads)
        let elapsed = Date().timeIntervalSince(started)

        var labels: [(SweepFamily, String)] = []
        var sweepJobs: [@Sendable () -> ReplayResult] = []
        if plan.threshold {
            for point in SweepPlan.thresholdGrid {
                var p = pool
                p.policy = .threshold
                p.threshold.high = point.high
                p.threshold.low = point.low
                p.threshold.step = point.step
                let s = setup(p)
                let setting = "high \(fmt(point.high)) low \(fmt(point.low)) step \(point.step)"
                labels.append((.threshold, setting))
                sweepJobs.append { Replay.run(scenario, setup: s, name: "threshold (\(setting))") }
            }
        }
        if plan.staticFleet {
            let peak = (oracle ?? scenario.perfectForecast).minuteDemand.max() ?? 1
            for n in SweepPlan.staticSizes(peakDemand: peak, maxReplicas: pool.maxReplicas) {
                labels.append((.staticFleet, "\(n) replicas"))
                sweepJobs.append { Replay.runStatic(scenario, replicas: n) }
            }
        }
        let sweepStarted = Date()
        let sweepResults = parallel(sweepJobs, threads: threads)
        let sweep = zip(labels, sweepResults).map { SweepPoint(family: $0.0, setting: $0.1, result: $1) }
        return ReplayReport(
            trace: trace, scenario: scenario, results: results, elapsedSeconds: elapsed, sweep: sweep,
            sweepSeconds: sweepJobs.isEmpty ? 0 : Date().timeIntervalSince(sweepStarted))
    }

    /// Runs `jobs` on up to `threads` plain threads, each worker taking the next job not yet started;
    /// results in job order. Plain threads rather than concurrentPerform, which runs no more at once
    /// than there are cores: with more jobs than cores the kernel then shares the cores among all of
    /// them, instead of the last jobs waiting for a core while the others' threads sit idle.
    static func parallel(_ jobs: [@Sendable () -> ReplayResult], threads: Int?) -> [ReplayResult] {
        guard !jobs.isEmpty else { return [] }
        let box = ResultBox(count: jobs.count)
        let workers = (0..<max(1, min(threads ?? jobs.count, jobs.count))).map { n in
            WorkerThread(name: "gpulse-replay-\(n)") { _ in
                while let i = box.claim() { box.set(i, jobs[i]()) }
            }
        }
        for worker in workers { worker.join() }
        return box.values
    }

    /// The cheapest sweep point of `family` whose SLA violations are at most `r`'s.
    public func cheapest(_ family: SweepFamily, atMost r: ReplayResult) -> SweepPoint? {
        sweep.filter { $0.family == family && $0.result.slaViolationRate <= r.slaViolationRate + 1e-12 }.min { $0.result.totalCost < $1.result.totalCost }
    }

    /// Cost relative to the threshold policy's, when it ran.
    func costVersusThreshold(_ r: ReplayResult) -> String {
        guard let base = result(.live(.threshold))?.totalCost, base > 0 else { return "" }
        return signedPercent((r.totalCost / base - 1) * 100)
    }

    /// Cost relative to the cheapest `family` sweep point at equal or better SLA.
    func costVersusSweep(_ family: SweepFamily, _ r: ReplayResult) -> String {
        guard sweep.contains(where: { $0.family == family }) else { return "" }
        guard let best = cheapest(family, atMost: r), best.result.totalCost > 0 else { return "none as good" }
        return signedPercent((r.totalCost / best.result.totalCost - 1) * 100)
    }

    /// Cost as a multiple of the oracle's, when it ran.
    func costVersusOracle(_ r: ReplayResult) -> String {
        guard let o = result(.oracle)?.totalCost, o > 0 else { return "" }
        return String(format: "%.2f×", r.totalCost / o)
    }

    public func markdown() -> String {
        let s = scenario
        var out = """
            ### \(trace.name): SIMULATED fleet replay

            \(s.requests.count) requests over \(hours(s.durationSeconds)) (\(trace.method)). \(s.model.slotsPerReplica) slots per replica; \
            \(s.initialReplicas) initial \(s.defaultClass) replicas run a \(s.warmupSeconds) s warm-up, with decisions made but not applied and \
            nothing counted; SLA: wait (latency minus service time) ≤ \(fmt(s.model.slaWaitSeconds)) s. \
            \(trace.rejected.count) rows rejected. `oracle` is cost_aware fed the true future offered load (a perfect-forecast bound that \
            cannot be deployed); the tuned threshold and static columns compare with the cheapest point of the sweep whose SLA \
            violations are at most the row's own.

            | policy | SLA viol. (requests) | SLA viol. (1-min p99) | wait p50 / p95 / p99 / peak (s) | latency p50 / p95 / p99 / peak (s) | cost | vs threshold | vs tuned threshold, equal SLA | vs static fleet, equal SLA | vs oracle | cost by class | util. eff. | actions | reversals ≤\(fmt(s.model.reversalWindowSeconds)) s | GPU util σ (pp) | surge → capacity (median s, surges) |
            |---|---:|---:|---|---|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---|

            """
        for r in results {
            let byClass = r.costByClass.filter { $0.cost > 0.005 }.map { "\($0.name) \(TextTable.number($0.cost, 2))" }.joined(separator: ", ")
            let surge = r.surgeToCapacityMedian.map { "\(fmt($0)) (\(r.surges))" } ?? "– (\(r.surges))"
            let unfinished = r.unfinished > 0 ? " (\(r.unfinished) unfinished)" : ""
            out += "| \(r.policy) | \(percent(r.slaViolationRate))\(unfinished) | \(percent(r.windowViolationRate)) | "
            out += "\(sec(r.waitP50)) / \(sec(r.waitP95)) / \(sec(r.waitP99)) / \(sec(r.waitPeak)) | "
            out += "\(sec(r.latencyP50)) / \(sec(r.latencyP95)) / \(sec(r.latencyP99)) / \(sec(r.latencyPeak)) | "
            out += "\(TextTable.number(r.totalCost, 2)) | \(costVersusThreshold(r)) | \(costVersusSweep(.threshold, r)) | \(costVersusSweep(.staticFleet, r)) | \(costVersusOracle(r)) | "
            out += "\(byClass) | \(percent(r.utilizationEfficiency)) | \(r.scalingActions) | \(r.reversals) | "
            out += "\(String(format: "%.1f", r.gpuUtilizationStdDev)) | \(surge) |\n"
        }
        if !sweep.isEmpty {
            out += "\nSweep (\(sweep.count) points, \(String(format: "%.1f", sweepSeconds)) s wall), tuned on this trace: "
            var parts: [String] = []
            for family in SweepFamily.allCases {
                let points = sweep.filter { $0.family == family }
                guard !points.isEmpty else { continue }
                let listed = points.sorted { $0.result.totalCost < $1.result.totalCost }.map {
                    "\($0.setting): \(TextTable.number($0.result.totalCost, 2)) at \(percent($0.result.slaViolationRate))"
                }
                parts.append("\(family.rawValue) \(listed.joined(separator: "; "))")
            }
            out += parts.joined(separator: ". ") + ".\n"
        }
        out += "\n" + goal() + "\n"
        return out
    }

    /// The goal, checked: cost_aware under 1 % SLA violations, cheaper than the cheapest tuned
    /// threshold and the cheapest static fleet at equal or better SLA, at most 1.3× the oracle; and
    /// where it stands against the published comparison this builds on.
    public func goal() -> String {
        guard let c = result(.live(.costAware)) else { return "" }
        var parts: [String] = []
        parts.append(c.slaViolationRate < 0.01 ? "SLA violations \(percent(c.slaViolationRate)) < 1 %: met" : "SLA violations \(percent(c.slaViolationRate)) ≥ 1 %: NOT met")
        for family in SweepFamily.allCases where sweep.contains(where: { $0.family == family }) {
            let name = family.title
            if let best = cheapest(family, atMost: c) {
                let ok = c.totalCost < best.result.totalCost
                parts.append("cheapest \(name) at equal or better SLA (\(best.setting)) \(TextTable.number(best.result.totalCost, 2)): \(ok ? "met" : "NOT met"), \(signedPercent((c.totalCost / best.result.totalCost - 1) * 100))")
            } else {
                parts.append("no \(name) in the sweep reaches \(percent(c.slaViolationRate)): met")
            }
        }
        if let o = result(.oracle), o.totalCost > 0 {
            let ratio = c.totalCost / o.totalCost
            parts.append("\(String(format: "%.2f", ratio))× the oracle's cost: \(ratio <= 1.3 ? "met" : "NOT met (goal ≤ 1.3×)")")
        }
        var line = "Goal for cost_aware: " + parts.joined(separator: "; ") + "."
        if let t = result(.live(.threshold)), t.totalCost > 0 {
            let saving = 1 - c.totalCost / t.totalCost
            line += " Against the published comparison (Gaddam, 'Cost-Aware Autoscaling for Batch vs. Online Inference': SLA violations 12 / 4 / under 1 %, cost −0 / −22 / −40 % for threshold / predictive / cost-aware): here threshold \(percent(t.slaViolationRate))"
            if let p = result(.live(.predictive)) {
                line += ", predictive \(percent(p.slaViolationRate)) at \(signedPercent((p.totalCost / t.totalCost - 1) * 100))"
            }
            line += ", cost_aware \(percent(c.slaViolationRate)) at \(signedPercent(-saving * 100)) against the shipped threshold."
        }
        return line
    }

    public static let csvHeader =
        "trace,policy,requests,unfinished,sla_violation_rate,window_violation_rate,wait_p50_s,wait_p95_s,wait_p99_s,wait_peak_s,latency_p50_s,latency_p95_s,latency_p99_s,latency_peak_s,cost_total,cost_by_class,utilization_efficiency,scaling_actions,reversals,gpu_util_std_pp,surges,surge_to_capacity_median_s,preemptions,simulated_seconds,seed"

    /// One row per policy, then one per sweep point.
    public func csvRows() -> [String] {
        (results + sweep.map(\.result)).map { r in
            let byClass = r.costByClass.map { "\($0.name)=\(String(format: "%.2f", $0.cost))" }.joined(separator: ";")
            let fields: [String] = [
                trace.name, r.policy, "\(r.requests)", "\(r.unfinished)", TextTable.number(r.slaViolationRate, 6), TextTable.number(r.windowViolationRate, 6),
                TextTable.number(r.waitP50, 3), TextTable.number(r.waitP95, 3), TextTable.number(r.waitP99, 3), TextTable.number(r.waitPeak, 3), TextTable.number(r.latencyP50, 3), TextTable.number(r.latencyP95, 3), TextTable.number(r.latencyP99, 3), TextTable.number(r.latencyPeak, 3),
                TextTable.number(r.totalCost, 2), byClass, TextTable.number(r.utilizationEfficiency, 6), "\(r.scalingActions)", "\(r.reversals)",
                TextTable.number(r.gpuUtilizationStdDev, 2), "\(r.surges)", r.surgeToCapacityMedian.map { TextTable.number($0, 3) } ?? "", "\(r.preemptions)",
                "\(r.simulatedSeconds)", "\(scenario.seed)",
            ]
            return fields.joined(separator: ",")
        }
    }

    /// Demand and capacity per `step` simulated seconds, one column pair per policy: mean offered
    /// load, its max, and mean ready capacity, in replica units.
    public func timelineCSV(step: Int) -> String {
        var out = "second" + results.map { ",\($0.policy)_demand_mean,\($0.policy)_demand_max,\($0.policy)_capacity_mean" }.joined() + "\n"
        let n = results.map(\.demand.count).max() ?? 0
        var i = 0
        while i < n {
            out += "\(i)"
            for r in results {
                let d = r.demand[min(i, r.demand.count)..<min(i + step, r.demand.count)]
                let c = r.capacity[min(i, r.capacity.count)..<min(i + step, r.capacity.count)]
                if d.isEmpty {
                    out += ",,,"
                } else {
                    out += String(format: ",%.3f,%.3f,%.3f", d.reduce(0, +) / Float(d.count), d.max()!, c.reduce(0, +) / Float(c.count))
                }
            }
            out += "\n"
            i += step
        }
        return out
    }

    /// One panel per policy: offered load (replica units) and ready capacity over simulated time.
    public func svg() -> String {
        let width = 960.0
        let panel = 150.0
        let left = 50.0
        let plotWidth = width - left - 20
        let height = 40 + panel * Double(results.count)
        let buckets = 800
        let peak = max(1, results.flatMap { [$0.demand.max() ?? 0, $0.capacity.max() ?? 0] }.max() ?? 1)
        var out = """
            <svg xmlns="http://www.w3.org/2000/svg" width="\(Int(width))" height="\(Int(height))" font-family="sans-serif" font-size="11">
            <rect width="100%" height="100%" fill="white"/>
            <text x="\(left)" y="16" font-size="13">\(escape(trace.name)): SIMULATED fleet, offered load (blue) vs ready capacity (orange), replica units; max per bucket</text>

            """
        for (k, r) in results.enumerated() {
            let top = 30 + panel * Double(k)
            let plotHeight = panel - 30
            func y(_ v: Float) -> Double { top + 10 + plotHeight * (1 - Double(v) / Double(peak)) }
            func path(_ values: [Float]) -> String {
                guard !values.isEmpty else { return "" }
                let per = max(1, (values.count + buckets - 1) / buckets)
                var points: [String] = []
                var i = 0
                while i < values.count {
                    let v = values[i..<min(values.count, i + per)].max() ?? 0
                    let x = left + plotWidth * Double(i) / Double(values.count)
                    points.append(String(format: "%.1f,%.1f", x, y(v)))
                    i += per
                }
                return points.joined(separator: " ")
            }
            out += """
                <text x="\(left)" y="\(Int(top + 8))">\(escape(r.policy)): cost \(TextTable.number(r.totalCost, 2)), SLA violations \(percent(r.slaViolationRate))</text>
                <line x1="\(left)" y1="\(y(0))" x2="\(left + plotWidth)" y2="\(y(0))" stroke="#999"/>
                <text x="4" y="\(y(Float(peak)) + 4)">\(fmt(Double(peak.rounded(.up))))</text><text x="4" y="\(y(0))">0</text>
                <polyline fill="none" stroke="#1f77b4" stroke-width="1" points="\(path(r.demand))"/>
                <polyline fill="none" stroke="#ff7f0e" stroke-width="1" points="\(path(r.capacity))"/>

                """
        }
        out += "<text x=\"\(left)\" y=\"\(Int(height - 4))\">simulated time 0 .. \(hours(results.first?.simulatedSeconds ?? 0))</text>\n</svg>\n"
        return out
    }

    private func escape(_ s: String) -> String {
        s.replacingOccurrences(of: "&", with: "&amp;").replacingOccurrences(of: "<", with: "&lt;").replacingOccurrences(of: ">", with: "&gt;")
    }
}

/// Results written by concurrent replays, each slot once.
private final class ResultBox: @unchecked Sendable {
    private let lock = NSLock()
    private var slots: [ReplayResult?]
    private var next = 0
    init(count: Int) { slots = Array(repeating: nil, count: count) }
    func claim() -> Int? {
        lock.lock()
        defer { lock.unlock() }
        guard next < slots.count else { return nil }
        next += 1
        return next - 1
    }
    func set(_ i: Int, _ r: ReplayResult) {
        lock.lock()
        slots[i] = r
        lock.unlock()
    }
    var values: [ReplayResult] { slots.compactMap { $0 } }
}

private func percent(_ x: Double) -> String { String(format: "%.2f %%", x * 100) }
private func signedPercent(_ x: Double) -> String { String(format: "%+.1f %%", x) }
private func sec(_ x: Double) -> String { x < 10 ? String(format: "%.2f", x) : String(format: "%.0f", x) }
private func hours(_ seconds: Int) -> String {
    seconds >= 2 * 86_400 ? String(format: "%.1f days", Double(seconds) / 86_400) : String(format: "%.2f h", Double(seconds) / 3600)
}
