import ArgumentParser
import GPulseAggregator
import GPulseCore
import GPulseReplay

struct ForecastEval: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "forecast-eval",
        abstract: "Rolling-origin evaluation of the demand forecasters on a recorded trace.",
        discussion: """
            Reads a two-column CSV (time, value; an empty value is missing data), feeds it to every \
            forecaster one value at a time as the live aggregator would, and reports MASE and sMAPE at \
            each horizon for each model and for the selector (gpulse_selected), plus the cost of one \
            update. bench/forecast_baseline.py runs statsmodels on the same origins for comparison.

            Examples:
              gpulse-aggregator forecast-eval --trace ../shared/data/nasa_http_1995_per_minute.csv
              gpulse-aggregator forecast-eval --trace servegen_m_small_rate_10min.csv --json
            """)

    @Option(help: ArgumentHelp("CSV trace: time (seconds or YYYY-MM-DDTHH:MM) and value columns.", valueName: "file"))
    var trace: String

    @Option(help: "Season length in steps (default: one day at the trace's resolution).")
    var seasonSteps: Int?

    @Option(help: "Horizons in minutes, converted to whole steps of the trace (at least one step).")
    var horizonsMinutes: String = "1,5,15,60"

    @Option(help: "Days at the start used only for learning; forecasts are scored after it.")
    var warmupDays: Double = 7

    @Option(help: "Holt-Winters smoothing α, β, γ and damping φ, comma-separated; α is then fixed, not fitted online.")
    var holtWinters: String?

    @Option(help: "AR order p.")
    var arOrder: Int?

    @Option(help: "Time constants in steps of the AR models' exponentially weighted tail regressors, comma-separated; 'none' for none.")
    var arTailSteps: String?

    @Option(help: "AR forgetting factor λ.")
    var arForgetting: Double?

    @Option(help: "AR differencing: 1 = fit first differences (ARI), 0 = values.")
    var arDifferencing: Int?

    @Option(help: "Weight of the newest error in the selector's running error per model.")
    var errorDecay: Double?

    @Flag(help: "Print the report as JSON.")
    var json = false

    func run() throws {
        let series: TraceSeries
        do { series = try TraceSeries.load(path: trace) } catch { throw ValidationError(error.description) }
        var settings = ForecastSettings()
        settings.season = seasonSteps ?? max(1, 86_400 / series.stepSeconds)
        let minutes = horizonsMinutes.split(separator: ",").map { Double($0.trimmingCharacters(in: .whitespaces)) }
        guard !minutes.isEmpty, minutes.allSatisfy({ ($0 ?? 0) > 0 }) else {
            throw ValidationError("--horizons-minutes must be a comma-separated list of positive numbers")
        }
        let steps = minutes.map { max(1, Int(($0! * 60 / Double(series.stepSeconds)).rounded())) }
        settings.horizons = Array(Set(steps)).sorted()
        if let text = holtWinters {
            let p = text.split(separator: ",").compactMap { Double($0) }
            guard p.count == 4 else { throw ValidationError("--holt-winters takes four numbers: α,β,γ,φ") }
            settings.holtWinters = .init(level: p[0], trend: p[1], seasonal: p[2], damping: p[3], fitLevel: false)
        }
        if let arOrder { settings.arOrder = arOrder }
        if let arTailSteps {
            let steps = arTailSteps == "none" ? [] : arTailSteps.split(separator: ",").map { Int($0.trimmingCharacters(in: .whitespaces)) }
            guard steps.allSatisfy({ $0 != nil }) else { throw ValidationError("--ar-tail-steps takes whole numbers of steps, comma-separated, or 'none'") }
            settings.arTailSteps = steps.map { $0! }
        }
        if let arForgetting { settings.arForgetting = arForgetting }
        if let arDifferencing { settings.arDifferencing = arDifferencing }
        if let errorDecay { settings.errorDecay = errorDecay }
        for problem in settings.problems() { throw ValidationError("forecast.\(problem.setting.configKey): \(problem.message)") }
        let warmup = Int(warmupDays * 86_400) / series.stepSeconds
        guard warmup > settings.season, warmup < series.values.count - (settings.horizons.last ?? 1) else {
            throw ValidationError("--warmup-days must cover more than one season and leave data to score (trace has \(series.values.count) rows)")
        }
        let report = ForecastEvalReport(trace: series, settings: settings, warmup: warmup)
        print(json ? report.json() : report.text())
    }
}
