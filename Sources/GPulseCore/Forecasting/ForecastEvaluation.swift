/// Rolling-origin evaluation of the forecasters on a recorded series, the same procedure that
/// `bench/forecast_baseline.py` applies to statsmodels so that the two tables can be compared.
///
/// Procedure: missing values are filled causally (the value one season earlier, else the last
/// value); every model learns the series one value at a time; after each observation from the end of
/// the warm-up on, each model's forecast for every horizon is recorded and scored when its target
/// arrives, but only against targets that were present in the trace. MASE divides by the in-sample
/// mean absolute error of the seasonal-naive forecast over the warm-up.
public struct ForecastEvaluation: Sendable {
    public struct Score: Sendable, Hashable, Codable {
        public var model: String
        public var horizon: Int
        public var mase: Double
        public var smape: Double
        public var count: Int
        /// For `gpulse_selected`: the share of scored targets inside the prediction interval it
        /// served (the settings' `intervalLevel` is what it should be); nil for the other models.
        public var coverage: Double?
    }

    public var settings: ForecastSettings
    /// Steps at the start used only for learning (and for statsmodels' fit).
    public var warmup: Int

    public init(settings: ForecastSettings, warmup: Int) {
        self.settings = settings
        self.warmup = warmup
    }

    /// Fills gaps with the value one season earlier (already filled if that was a gap too), else the
    /// previous value, else 0; uses only the past, as a live forecaster would.
    public static func fillCausally(_ series: [Double?], season: Int) -> [Double] {
        var out: [Double] = []
        out.reserveCapacity(series.count)
        for (i, v) in series.enumerated() {
            if let v { out.append(v) } else if i >= season, season > 1 { out.append(out[i - season]) } else { out.append(out.last ?? 0) }
        }
        return out
    }

    /// Mean absolute error of y[t] vs y[t-season] over the warm-up, on present values only.
    public func scale(_ series: [Double?]) -> Double {
        let m = max(1, settings.season)
        var sum = 0.0
        var n = 0
        for t in m..<min(warmup, series.count) {
            if let a = series[t], let b = series[t - m] {
                sum += abs(a - b)
                n += 1
            }
        }
        return n > 0 ? sum / Double(n) : .nan
    }

    /// Scores of every model, and of the selector as `gpulse_selected`, at every horizon.
    public func run(_ series: [Double?]) -> [Score] {
        let filled = Self.fillCausally(series, season: settings.season)
        let denominator = scale(series)
        var forecaster = DemandForecaster(settings: settings)
        let names = forecaster.modelNames + ["gpulse_selected"]
        let hs = settings.horizons
        var absSum = Array(repeating: Array(repeating: 0.0, count: hs.count), count: names.count)
        var smapeSum = absSum
        var counts = Array(repeating: Array(repeating: 0, count: hs.count), count: names.count)
        // pending[model][horizon][t % h] = forecast for t (made at t - h), only for scored origins.
        var pending = names.map { _ in hs.map { [Double?](repeating: nil, count: $0) } }
        // The served interval per horizon, like `pending`, and how many targets fell inside.
        var intervals = hs.map { [(low: Double, high: Double)?](repeating: nil, count: $0) }
        var inside = hs.map { _ in 0 }
        var withInterval = hs.map { _ in 0 }
        for t in filled.indices {
            for m in names.indices {
                for (k, h) in hs.enumerated() {
                    guard let f = pending[m][k][t % h] else { continue }
                    pending[m][k][t % h] = nil
                    guard let y = series[t] else { continue }
                    absSum[m][k] += abs(y - f)
                    let d = abs(y) + abs(f)
                    smapeSum[m][k] += d > 0 ? 200 * abs(y - f) / d : 0
                    counts[m][k] += 1
                }
            }
            for (k, h) in hs.enumerated() {
                guard let interval = intervals[k][t % h] else { continue }
                intervals[k][t % h] = nil
                guard let y = series[t] else { continue }
                withInterval[k] += 1
                if interval.low <= y && y <= interval.high { inside[k] += 1 }
            }
            forecaster.update(filled[t])
            guard t >= warmup - 1 else { continue }
            for served in forecaster.forecasts() {
                guard let k = hs.firstIndex(of: served.steps), t + served.steps < filled.count, let low = served.lower, let high = served.upper
                else { continue }
                intervals[k][(t + served.steps) % served.steps] = (low, high)
            }
            for (k, h) in hs.enumerated() where t + h < filled.count {
                for m in 0..<(names.count - 1) { pending[m][k][(t + h) % h] = forecaster.modelForecast(model: m, horizon: k) }
                if let chosen = forecaster.selectedModel(horizon: k) {
                    pending[names.count - 1][k][(t + h) % h] = forecaster.modelForecast(model: chosen, horizon: k)
                }
            }
        }
        var scores: [Score] = []
        for m in names.indices {
            for (k, h) in hs.enumerated() {
                let n = counts[m][k]
                scores.append(
                    Score(
                        model: names[m], horizon: h, mase: n > 0 ? absSum[m][k] / Double(n) / denominator : .nan,
                        smape: n > 0 ? smapeSum[m][k] / Double(n) : .nan, count: n,
                        coverage: m == names.count - 1 && withInterval[k] > 0 ? Double(inside[k]) / Double(withInterval[k]) : nil))
            }
        }
        return scores
    }
}
