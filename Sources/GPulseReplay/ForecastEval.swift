import Foundation
import GPulseConfig
import GPulseCore

/// `gpulse-aggregator forecast-eval`: accuracy of every forecaster on a trace plus the cost of one
/// update of each, as text or as JSON for bench/forecast_baseline.py.
public struct ForecastEvalReport: Codable, Sendable {
    public struct Cost: Codable, Sendable {
        public var model: String
        public var nanosPerUpdate: Double
    }
    public var trace: String
    public var stepSeconds: Int
    public var rows: Int
    public var missing: Int
    public var seasonSteps: Int
    public var warmupSteps: Int
    public var horizons: [Int]
    public var intervalLevel: Double
    public var scale: Double
    public var scores: [ForecastEvaluation.Score]
    public var updateCost: [Cost]

    public init(trace: TraceSeries, settings: ForecastSettings, warmup: Int) {
        let evaluation = ForecastEvaluation(settings: settings, warmup: warmup)
        self.trace = trace.name
        stepSeconds = trace.stepSeconds
        rows = trace.values.count
        missing = trace.values.count { $0 == nil }
        seasonSteps = settings.season
        warmupSteps = warmup
        horizons = settings.horizons
        intervalLevel = settings.intervalLevel
        scale = evaluation.scale(trace.values)
        scores = evaluation.run(trace.values)
        updateCost = Self.measureCost(settings: settings, series: ForecastEvaluation.fillCausally(trace.values, season: settings.season))
    }

    /// Runs each model alone over the whole series and divides the time by the number of updates;
    /// `gpulse_selected` is the whole selector: every model's update, forecast path and scoring.
    static func measureCost(settings: ForecastSettings, series: [Double]) -> [Cost] {
        var costs: [Cost] = []
        for name in settings.models {
            var model = settings.makeModel(name)
            let start = SystemClock.monotonicNanos()
            for y in series { model.update(y) }
            let elapsed = SystemClock.monotonicNanos() - start
            consume(model.forecast(steps: 1))
            costs.append(Cost(model: name.rawValue, nanosPerUpdate: Double(elapsed) / Double(max(1, series.count))))
        }
        var selector = DemandForecaster(settings: settings)
        let start = SystemClock.monotonicNanos()
        for y in series { selector.update(y) }
        let elapsed = SystemClock.monotonicNanos() - start
        costs.append(Cost(model: "gpulse_selected", nanosPerUpdate: Double(elapsed) / Double(max(1, series.count))))
        return costs
    }

    /// Uses the trained model's result so that the timed loop cannot be optimised away.
    @inline(never)
    private static func consume(_ value: Double?) { _ = value }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    public func text() -> String {
        var lines = [
            "forecast-eval: \(trace), \(rows) rows of \(stepSeconds) s (\(missing) missing, filled causally, never scored)",
            "season \(seasonSteps) steps, warm-up \(warmupSteps) steps, MASE scale (in-sample seasonal-naive MAE) \(TextTable.number(scale, 3))",
            "",
        ]
        let models = scores.map(\.model).reduce(into: [String]()) { if !$0.contains($1) { $0.append($1) } }
        let header = ["model"] + horizons.map { "h=\($0) (\(minutes($0)))" }
        var table: [[String]] = [header]
        for model in models {
            var row = [model]
            for h in horizons {
                let s = scores.first { $0.model == model && $0.horizon == h }!
                row.append("\(TextTable.number(s.mase, 3)) / \(TextTable.number(s.smape, 1))%")
            }
            table.append(row)
        }
        lines.append("MASE / sMAPE per horizon (lower is better):")
        lines += TextTable.render(table)
        let coverage = horizons.map { h in scores.first { $0.model == "gpulse_selected" && $0.horizon == h }?.coverage }
        lines.append("")
        lines.append(
            "gpulse_selected prediction interval, share of targets inside (configured \(TextTable.number(intervalLevel * 100, 0)) %): "
                + zip(horizons, coverage).map { h, c in "h=\(h) \(c.map { TextTable.number($0 * 100, 1) + " %" } ?? "n/a")" }.joined(separator: ", "))
        lines.append("")
        lines.append("cost of one update (whole series, one model at a time):")
        lines += TextTable.render([["model", "ns/update"]] + updateCost.map { [$0.model, TextTable.number($0.nanosPerUpdate, 0)] })
        return lines.joined(separator: "\n")
    }

    private func minutes(_ steps: Int) -> String {
        let s = steps * stepSeconds
        return s % 3600 == 0 ? "\(s / 3600) h" : s % 60 == 0 ? "\(s / 60) min" : "\(s) s"
    }
}
