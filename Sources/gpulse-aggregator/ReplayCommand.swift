import ArgumentParser
import Foundation
import GPulseAggregator
import GPulseAggregatorConfig
import GPulseCore
import GPulseReplay

struct Replay: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "replay",
        abstract: "Replay a real trace through scaling policies on a SIMULATED fleet and print the cost / SLA table.",
        discussion: """
            Every policy runs the same GPulseCore code as the live aggregator (Fleet, forecaster, \
            DecisionEngine) on a virtual clock. The fleet is SIMULATED: replicas with slots serve one \
            FCFS queue, nodes boot after their class's lead time and are billed per second, spot nodes \
            are preempted at random (seeded), serverless burst has a cold start and is billed per use. \
            Each simulated replica (serverless burst included) reports once a simulated second what its \
            inference server knows (requests waiting and running, arrival and completion rates, service \
            time, latency) and its GPU utilization, and the engine sees them through the live ingest path. The model's settings are the \
            config's `replay:` section; policies use the config's pool defaults (the pool named after \
            the trace file, else `default`), with only `policy` replaced.

            Formats (detected from the header): azure (TIMESTAMP,ContextTokens,GeneratedTokens; service \
            time from the token model), gentd26 (Alibaba text-to-image, recorded exec_time_seconds, one \
            request per replica at a time), rate (time,requests_per_s or time,requests per row; Poisson \
            arrivals, exponential service times; a numeric time column needs its unit in the header, \
            e.g. window_start_s or minute, or --time-unit).

            Policies: threshold, hpa, kpa, predictive, cost_aware, and oracle: cost_aware fed the true \
            future offered load from the trace itself, a perfect-forecast bound that cannot be deployed. \
            --sweep threshold,static also replays a grid of threshold settings and of static fleet \
            sizes, tuned on this very trace, and the table compares each policy with the cheapest of \
            them whose SLA violations are at most its own.

            Examples:
              gpulse-aggregator replay --trace ../shared/data/azure_llm_2023_conv.csv
              gpulse-aggregator replay --trace ../shared/data/servegen_m_small_rate_10min.csv --rate-scale 0.01 --out docs/replay
              gpulse-aggregator replay --trace t.csv --policy threshold,cost_aware --config config/aggregator.yaml --seed 7
              gpulse-aggregator replay --trace ../shared/data/azure_llm_2023_code.csv --sweep threshold,static --out /tmp/replay
            """)

    @Option(help: ArgumentHelp("Trace CSV (shared/data or the same layout).", valueName: "file"))
    var trace: String

    @Option(help: "azure, gentd26 or rate (default: from the header).")
    var format: String?

    @Option(help: ArgumentHelp("Policies to compare, comma-separated.", valueName: "p[,p...]"))
    var policy: String = ReplayPolicy.all.map(\.name).joined(separator: ",")

    @Option(help: ArgumentHelp("Baselines tuned on the trace: a grid of threshold settings and of static fleet sizes.", valueName: "threshold[,static]"))
    var sweep: String?

    @Option(help: ArgumentHelp("Rate traces with a numeric time column: its unit (default: from the column's name).", valueName: "s|min|h"))
    var timeUnit: String?

    @Option(help: ArgumentHelp("Aggregator config (instance classes, pools, replay model); built-in defaults when absent.", valueName: "file"))
    var config: String?

    @Option(help: "Seed for drawn arrivals, thinning and preemptions (default: replay.seed from the config).")
    var seed: UInt64?

    @Option(help: "Multiply the arrival rate (rate traces: λ; request traces: thin or repeat requests).")
    var rateScale: Double = 1

    @Option(help: "Play the trace this many times faster (arrival times divided; service times kept).")
    var timeCompression: Double = 1

    @Option(help: "Skip this many seconds at the start of the trace.")
    var skipSeconds: Double = 0

    @Option(help: "Replay only this many seconds of the trace (after --skip-seconds).")
    var limitSeconds: Double?

    @Option(help: ArgumentHelp("Write <trace>.md (the table), .csv (one row per policy), .svg (demand vs capacity) and -timeline.csv here.", valueName: "dir"))
    var out: String?

    @Option(help: "Policies replayed at once, each on its own thread (default: all; the kernel shares the cores among them).")
    var threads: Int?

    func run() throws {
        let cfg: AggregatorConfig
        if let config {
            do { cfg = try AggregatorConfig.load(path: config) } catch { throw ValidationError(error.description) }
        } else {
            cfg = AggregatorConfig()
        }
        let known = ReplayPolicy.all.map(\.name).joined(separator: ", ")
        let names = policy.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }
        guard !names.isEmpty else { throw ValidationError("--policy needs at least one of \(known)") }
        let policies = try names.map { name in
            guard let p = ReplayPolicy(name: name) else { throw ValidationError("--policy: unknown policy '\(name)'; choose from \(known)") }
            return p
        }
        var plan = SweepPlan()
        for family in (sweep ?? "").split(separator: ",").map({ $0.trimmingCharacters(in: .whitespaces) }) {
            switch family {
            case "threshold": plan.threshold = true
            case "static": plan.staticFleet = true
            default: throw ValidationError("--sweep: unknown baseline '\(family)'; choose from threshold, static")
            }
        }
        var unit: Int?
        if let timeUnit {
            guard let u = ["s": 1, "min": 60, "h": 3600][timeUnit] else { throw ValidationError("--time-unit must be s, min or h") }
            unit = u
        }
        var traceFormat: TraceFormat?
        if let format {
            guard let f = TraceFormat(rawValue: format) else {
                throw ValidationError("--format must be one of \(TraceFormat.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            traceFormat = f
        }
        guard rateScale > 0, timeCompression > 0, skipSeconds >= 0, (limitSeconds ?? 1) > 0 else {
            throw ValidationError("--rate-scale, --time-compression and --limit-seconds must be positive, --skip-seconds at least 0")
        }
        guard (threads ?? 1) >= 1 else { throw ValidationError("--threads must be at least 1") }
        let seed = self.seed ?? cfg.replay.seed
        let options = TraceOptions(
            prefillTokensPerSecond: cfg.replay.prefillTokensPerS, decodeTokensPerSecond: cfg.replay.decodeTokensPerS,
            rateServiceMeanSeconds: cfg.replay.rateServiceMeanS, rateScale: rateScale, timeCompression: timeCompression,
            skipSeconds: skipSeconds, limitSeconds: limitSeconds, seed: seed, timeUnitSeconds: unit)
        let loaded: ReplayTrace
        do { loaded = try ReplayTrace.load(path: trace, format: traceFormat, options: options) } catch { throw ValidationError(error.description) }
        for (line, reason) in loaded.rejected.prefix(10) {
            FileHandle.standardError.write(Data("\(loaded.name) line \(line): rejected: \(reason)\n".utf8))
        }
        if loaded.rejected.count > 10 {
            FileHandle.standardError.write(Data("\(loaded.name): \(loaded.rejected.count - 10) more rows rejected\n".utf8))
        }
        // Where the outputs go is checked before minutes of replay, and none may be the input.
        var outputs: ReplayReport.Outputs?
        if let out {
            do { outputs = try ReplayReport.Outputs(directory: out, traceName: loaded.name, inputPath: trace) } catch { throw ValidationError(error.description) }
        }
        let report = ReplayReport.run(trace: loaded, config: cfg, policies: policies, seed: seed, threads: threads, sweep: plan)
        print(report.markdown())
        print("Replayed \(policies.count) policies in \(String(format: "%.1f", report.elapsedSeconds)) s wall on \(min(threads ?? policies.count, policies.count)) threads, \(ProcessInfo.processInfo.activeProcessorCount) cores.")
        if !plan.isEmpty {
            print("Sweep: \(report.sweep.count) points in \(String(format: "%.1f", report.sweepSeconds)) s wall.")
        }
        if let outputs, let out {
            try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
            let csv = ([ReplayReport.csvHeader] + report.csvRows()).joined(separator: "\n") + "\n"
            try report.markdown().write(toFile: outputs.markdown, atomically: true, encoding: .utf8)
            try report.svg().write(toFile: outputs.svg, atomically: true, encoding: .utf8)
            try csv.write(toFile: outputs.csv, atomically: true, encoding: .utf8)
            let step = loaded.durationSeconds > 4 * 3600 ? 60 : 1
            try report.timelineCSV(step: step).write(toFile: outputs.timeline, atomically: true, encoding: .utf8)
            print("Wrote \(outputs.all.joined(separator: ", ")) (timeline per \(step) s)")
        }
    }
}
