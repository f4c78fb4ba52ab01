import Foundation
import GPulseCore

/// Replays one trace through several policies and renders what they did: a Markdown table, CSV rows
/// and an SVG of demand against capacity. Every figure comes from the SIMULATED fleet, and every
/// output says so.
public struct ReplayReport: Sendable {
    public var trace: ReplayTrace
    public var scenario: ReplayScenario
    public var results: [ReplayResult]
    /// Wall-clock seconds the replays took together.
    public var elapsedSeconds: Double

    /// Runs `policies` (names from `PoolConfig.policies`) on the trace with the config's pool
    /// defaults, on up to `threads` threads (each policy is independent; nil: one per policy).
    public static func run(trace: ReplayTrace, config: AggregatorConfig, policies: [String], seed: UInt64, threads: Int? = nil) -> ReplayReport {
        let pool = config.pool(trace.name)
        let slots = trace.format == .gentd26 ? config.replay.imageSlotsPerReplica : config.replay.slotsPerReplica
        let classes = config.classes.values.sorted { $0.name < $1.name }
        let scenario = ReplayScenario(
            pool: trace.name, requests: trace.requests, startUnixSeconds: trace.startUnixSeconds, durationSeconds: trace.durationSeconds,
            drainLimitSeconds: config.replay.drainLimitS, warmupSeconds: min(config.replay.warmupS, trace.durationSeconds / 4), model: config.replay.model(slots: slots), classes: classes,
            defaultClass: pool.instanceClass, initialTargetLoad: pool.targetLoad, fleet: config.fleetSettings, seed: seed)
        let setups = policies.map { name -> PoolSetup in
            var p = pool
            p.policy = name
            return PoolSetup(policy: p.makePolicy(classes: config.classes), workload: .online, envelopeMinutes: p.costAware.envelopeMinutes)
        }
        let started = Date()
        let box = ResultBox(count: setups.count)
        // Each worker takes the next policy not yet started. Plain threads rather than
        // concurrentPerform, which runs no more at once than there are cores: with more policies than
        // cores the kernel then shares the cores among all of them, instead of the last policies
        // waiting for a core while the others' threads sit idle.
        let workers = (0..<max(1, min(threads ?? setups.count, setups.count))).map { n in
            WorkerThread(name: "gpulse-replay-\(n)") { _ in
                while let i = box.claim() { box.set(i, Replay.run(scenario, setup: setups[i])) }
            }
        }
        for worker in workers { worker.join() }
        return ReplayReport(trace: trace, scenario: scenario, results: box.values, elapsedSeconds: Date().timeIntervalSince(started))
    }

    /// Cost relative to the threshold policy's, when it ran.
    func costVersusThreshold(_ r: ReplayResult) -> String {
        guard let base = results.first(where: { $0.policy == "threshold" })?.totalCost, base > 0 else { return "" }
        return signedPercent((r.totalCost / base - 1) * 100)
    }

    public func markdown() -> String {
        let s = scenario
        var out = """
            ### \(trace.name): SIMULATED fleet replay

            \(s.requests.count) requests over \(hours(s.durationSeconds)) (\(trace.method)). \(s.model.slotsPerReplica) slots per replica; \
            \(s.initialReplicas) initial \(s.defaultClass) replicas run a \(s.warmupSeconds) s warm-up, with decisions made but not applied and \
            nothing counted; SLA: wait (latency minus service time) ≤ \(fmt(s.model.slaWaitSeconds)) s. \
            \(trace.rejected.count) rows rejected.

            | policy | SLA viol. (requests) | SLA viol. (1-min p99) | wait p50 / p95 / p99 / peak (s) | latency p50 / p95 / p99 / peak (s) | cost | vs threshold | cost by class | util. eff. | actions | reversals ≤\(fmt(s.model.reversalWindowSeconds)) s | GPU util σ (pp) | surge → capacity (median s, surges) |
            |---|---:|---:|---|---|---:|---:|---|---:|---:|---:|---:|---|

            """
        for r in results {
            let byClass = r.costByClass.filter { $0.cost > 0.005 }.map { "\($0.name) \(format($0.cost, 2))" }.joined(separator: ", ")
            let surge = r.surgeToCapacityMedian.map { "\(fmt($0)) (\(r.surges))" } ?? "– (\(r.surges))"
            let unfinished = r.unfinished > 0 ? " (\(r.unfinished) unfinished)" : ""
            out += "| \(r.policy) | \(percent(r.slaViolationRate))\(unfinished) | \(percent(r.windowViolationRate)) | "
            out += "\(sec(r.waitP50)) / \(sec(r.waitP95)) / \(sec(r.waitP99)) / \(sec(r.waitPeak)) | "
            out += "\(sec(r.latencyP50)) / \(sec(r.latencyP95)) / \(sec(r.latencyP99)) / \(sec(r.latencyPeak)) | "
            out += "\(format(r.totalCost, 2)) | \(costVersusThreshold(r)) | \(byClass) | \(percent(r.utilizationEfficiency)) | \(r.scalingActions) | \(r.reversals) | "
            out += "\(String(format: "%.1f", r.gpuUtilizationStdDev)) | \(surge) |\n"
        }
        out += "\n" + goal() + "\n"
        return out
    }

    /// The issue's goal, checked: cost_aware under 1 % SLA violations, at least 40 % cheaper than
    /// threshold, and cheaper than hpa at equal or better SLA.
    public func goal() -> String {
        guard let c = results.first(where: { $0.policy == "cost_aware" }) else { return "" }
        var parts: [String] = []
        parts.append(c.slaViolationRate < 0.01 ? "SLA violations \(percent(c.slaViolationRate)) < 1 %: met" : "SLA violations \(percent(c.slaViolationRate)) ≥ 1 %: NOT met")
        if let t = results.first(where: { $0.policy == "threshold" }), t.totalCost > 0 {
            let saving = 1 - c.totalCost / t.totalCost
            parts.append("\(percent(saving)) cheaper than threshold: \(saving >= 0.4 ? "met" : "NOT met (goal 40 %)")")
        }
        if let h = results.first(where: { $0.policy == "hpa" }) {
            let ok = c.totalCost < h.totalCost && c.slaViolationRate <= h.slaViolationRate
            parts.append("vs hpa \(format(c.totalCost, 2)) vs \(format(h.totalCost, 2)) at \(percent(c.slaViolationRate)) vs \(percent(h.slaViolationRate)) SLA violations: \(ok ? "met" : "NOT met")")
        }
        return "Goal for cost_aware: " + parts.joined(separator: "; ") + "."
    }

    public static let csvHeader =
        "trace,policy,requests,unfinished,sla_violation_rate,window_violation_rate,wait_p50_s,wait_p95_s,wait_p99_s,wait_peak_s,latency_p50_s,latency_p95_s,latency_p99_s,latency_peak_s,cost_total,cost_by_class,utilization_efficiency,scaling_actions,reversals,gpu_util_std_pp,surges,surge_to_capacity_median_s,preemptions,simulated_seconds,seed"

    public func csvRows() -> [String] {
        results.map { r in
            let byClass = r.costByClass.map { "\($0.name)=\(String(format: "%.2f", $0.cost))" }.joined(separator: ";")
            let fields: [String] = [
                trace.name, r.policy, "\(r.requests)", "\(r.unfinished)", format(r.slaViolationRate, 6), format(r.windowViolationRate, 6),
                format(r.waitP50, 3), format(r.waitP95, 3), format(r.waitP99, 3), format(r.waitPeak, 3), format(r.latencyP50, 3), format(r.latencyP95, 3), format(r.latencyP99, 3), format(r.latencyPeak, 3),
                format(r.totalCost, 2), byClass, format(r.utilizationEfficiency, 6), "\(r.scalingActions)", "\(r.reversals)",
                format(r.gpuUtilizationStdDev, 2), "\(r.surges)", r.surgeToCapacityMedian.map { format($0, 3) } ?? "", "\(r.preemptions)",
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
                <text x="\(left)" y="\(Int(top + 8))">\(escape(r.policy)): cost \(format(r.totalCost, 2)), SLA violations \(percent(r.slaViolationRate))</text>
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
