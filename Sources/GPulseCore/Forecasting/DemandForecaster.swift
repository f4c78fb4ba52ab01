/// A forecasting model the selector can run (`forecast.models`); the raw value is its config name.
public enum ForecastModel: String, Sendable, Hashable, CaseIterable, Codable {
    case holtWinters = "holt_winters"
    case seasonalAR = "seasonal_ar"
    case ar
    case arShort = "ar_short"
    case seasonalNaive = "seasonal_naive"

    /// From its name; anything else is an error that names the known models (a config file's and a
    /// snapshot's alike).
    public init(from decoder: any Decoder) throws {
        let name = try decoder.singleValueContainer().decode(String.self)
        guard let model = Self(rawValue: name) else {
            let known = Self.allCases.map(\.rawValue).joined(separator: ", ")
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "unknown model '\(name)' (known: \(known))"))
        }
        self = model
    }
}

/// What the forecaster is configured with; the aggregator config's `forecast:` section.
public struct ForecastSettings: Sendable, Hashable, Codable {
    /// Season length in steps (1440 = one day of 1-minute steps); 1 disables the seasonal models.
    public var season: Int
    /// Horizons in steps, ascending.
    public var horizons: [Int]
    /// Models to run.
    public var models: [ForecastModel]
    public var holtWinters: HoltWinters.Parameters
    public var arOrder: Int
    public var arForgetting: Double
    /// Time constants (steps) of the AR models' exponentially weighted tail regressors.
    public var arTailSteps: [Int]
    /// 1 fits the AR models to first differences (ARI), 0 to the values.
    public var arDifferencing: Int
    /// Weight of the newest absolute error in each model's running error (per horizon).
    public var errorDecay: Double
    /// Share of targets the prediction interval should hold (0.8 starts at the 10th to 90th residual
    /// percentiles; the online calibration moves the tails from there).
    public var intervalLevel: Double
    /// Residuals remembered per model and horizon for the interval.
    public var residualMemory: Int

    public init(
        season: Int = 1440, horizons: [Int] = [1, 5, 15, 60], models: [ForecastModel] = ForecastModel.allCases,
        holtWinters: HoltWinters.Parameters = .init(), arOrder: Int = 16, arForgetting: Double = 0.9999, arTailSteps: [Int] = [4, 8, 16, 32, 64], arDifferencing: Int = 1,
        errorDecay: Double = 0.01, intervalLevel: Double = 0.8, residualMemory: Int = 500
    ) {
        self.season = season
        self.horizons = horizons
        self.models = models
        self.holtWinters = holtWinters
        self.arOrder = arOrder
        self.arForgetting = arForgetting
        self.arTailSteps = arTailSteps
        self.arDifferencing = arDifferencing
        self.errorDecay = errorDecay
        self.intervalLevel = intervalLevel
        self.residualMemory = residualMemory
    }

    /// The settings `problems()` can name.
    public enum Setting: Sendable, Hashable, CaseIterable {
        case season, horizons, models, holtWintersLevel, holtWintersTrend, holtWintersSeasonal, holtWintersDamping
        case arOrder, arTailSteps, arDifferencing, arForgetting, errorDecay, intervalLevel, residualMemory
    }

    /// What makes these settings unusable.
    public func problems() -> [SettingProblem<Setting>] {
        var out: [SettingProblem<Setting>] = []
        if !(1...1_000_000).contains(season) { out.append(.init(.season, "must be 1 to 1000000")) }
        if horizons.isEmpty || horizons.contains(where: { !(1...10_080).contains($0) }) {
            out.append(.init(.horizons, "must list at least one horizon of 1 to 10080 steps (a week of minutes)"))
        }
        if models.isEmpty { out.append(.init(.models, "must name at least one model")) }
        let hw = holtWinters
        for (setting, v) in [(Setting.holtWintersLevel, hw.level), (.holtWintersTrend, hw.trend), (.holtWintersSeasonal, hw.seasonal)] where !(0...1).contains(v) {
            out.append(.init(setting, "must be within 0 to 1, got \(v)"))
        }
        if !(0.5...1).contains(hw.damping) { out.append(.init(.holtWintersDamping, "must be within 0.5 to 1, got \(hw.damping)")) }
        if !(1...64).contains(arOrder) { out.append(.init(.arOrder, "must be 1 to 64, got \(arOrder)")) }
        if arTailSteps.count > 8 || arTailSteps.contains(where: { !(2...100_000).contains($0) }) {
            out.append(.init(.arTailSteps, "must list at most 8 time constants of 2 to 100000 steps, got \(arTailSteps)"))
        }
        if !(0...1).contains(arDifferencing) { out.append(.init(.arDifferencing, "must be 0 or 1, got \(arDifferencing)")) }
        if !(0.9...1).contains(arForgetting) { out.append(.init(.arForgetting, "must be within 0.9 to 1, got \(arForgetting)")) }
        if !(errorDecay > 0 && errorDecay <= 1) { out.append(.init(.errorDecay, "must be within (0, 1], got \(errorDecay)")) }
        if !(intervalLevel > 0 && intervalLevel < 1) { out.append(.init(.intervalLevel, "must be within (0, 1), got \(intervalLevel)")) }
        if residualMemory < 10 { out.append(.init(.residualMemory, "must be at least 10")) }
        return out
    }

    /// A fresh model of kind `model`.
    public func makeModel(_ model: ForecastModel) -> any OnlineForecaster {
        switch model {
        case .holtWinters: HoltWinters(season: season, parameters: holtWinters)
        case .seasonalAR: AutoRegressive(
                order: arOrder, forgetting: arForgetting, season: season, profileSmoothing: holtWinters.seasonal, differencing: arDifferencing, tailSteps: arTailSteps)
        case .ar: AutoRegressive(order: arOrder, forgetting: arForgetting, differencing: arDifferencing, tailSteps: arTailSteps)
        // A low-order AR on the same data: fewer weights to learn, so it wins on short or young series.
        case .arShort: AutoRegressive(order: max(1, arOrder / 4), forgetting: arForgetting, differencing: arDifferencing, name: "ar_short")
        case .seasonalNaive: SeasonalNaive(season: season)
        }
    }
}

/// One horizon's forecast: the chosen model's point forecast and a prediction interval from that
/// model's own recent residuals at that horizon.
public struct HorizonForecast: Sendable, Hashable, Codable {
    public var steps: Int
    public var model: String
    public var value: Double
    /// Interval bounds; nil until enough residuals at this horizon have been seen.
    public var lower: Double?
    public var upper: Double?
}

/// Runs several online models side by side on one series, scores each one's forecasts at every
/// horizon when the truth arrives, and answers with the candidate whose recent error is lowest there.
/// The candidates are the models plus `combined`, the mean of the two models with the lowest recent
/// error at that horizon weighted by inverse error (a combination is often better than either member;
/// it is scored like the others).
///
/// Prediction intervals are quantiles of the served candidate's own recent residuals at that horizon,
/// calibrated online (adaptive conformal inference, Gibbs and Candès 2021): each served interval is
/// checked when its target arrives, and the tail probability used for the next ones moves by
/// γ·(target miss rate − missed), γ = 0.005. Raw residual quantiles under-cover, because the selector
/// serves whichever model was recently lucky and errors grow at peaks (measured: 68 to 77 % inside an
/// "80 %" interval on ServeGen and NASA); the calibrated ones hold the configured share over time.
public struct DemandForecaster: Sendable {
    public let settings: ForecastSettings
    private var models: [any OnlineForecaster]
    /// pending[model][horizon][t % h]: the forecast made at t for t+h.
    private var pending: [[[Double?]]]
    /// Running mean absolute error per model and horizon; nil until first scored.
    private var error: [[Double?]]
    private var scored: [[Int]]
    private var residuals: [[RingBuffer<Double>]]
    /// The same residuals kept sorted (a binary-search insert and removal per value), so that an
    /// interval is two reads instead of two selections over the window at every update; rebuilt
    /// from `residuals` when a snapshot is read, not saved.
    private var sortedResiduals: [[[Double]]]
    /// Per horizon: the miss probability the next intervals are cut at (both tails together).
    private var miscoverage: [Double]
    /// servedLow/High[horizon][t % h]: the interval served at t for t+h.
    private var servedLow: [[Double?]]
    private var servedHigh: [[Double?]]
    /// The answer after the last update (see `forecasts()`).
    private var latest: [HorizonForecast] = []
    private var path: [Double] = []
    public private(set) var observations = 0
    /// Step of the online interval calibration.
    static let calibrationStep = 0.005

    public init(settings: ForecastSettings = ForecastSettings()) {
        self.settings = settings
        models = settings.models.map { settings.makeModel($0) }
        let hs = settings.horizons
        let candidates = 0...models.count
        pending = candidates.map { _ in hs.map { Array(repeating: nil, count: $0) } }
        error = candidates.map { _ in hs.map { _ in nil } }
        scored = candidates.map { _ in hs.map { _ in 0 } }
        residuals = candidates.map { _ in hs.map { _ in RingBuffer(capacity: settings.residualMemory) } }
        sortedResiduals = candidates.map { _ in hs.map { _ in [] } }
        miscoverage = hs.map { _ in 1 - settings.intervalLevel }
        servedLow = hs.map { Array(repeating: nil, count: $0) }
        servedHigh = servedLow
    }

    /// Candidate names, in index order: the models, then "combined".
    public var modelNames: [String] { models.map(\.name) + ["combined"] }
    private var combined: Int { models.count }

    /// Scores the forecasts that were made for this observation, then learns it.
    public mutating func update(_ value: Double) {
        let t = observations
        let decay = settings.errorDecay
        let maxSteps = settings.horizons.last ?? 1
        for (k, h) in settings.horizons.enumerated() {
            guard let low = servedLow[k][t % h], let high = servedHigh[k][t % h] else { continue }
            let missed = value < low || value > high ? 1.0 : 0.0
            // Kept within [0, 1]: beyond, the interval is already the whole residual range (or its
            // median), and a level run far past that would take hours to come back (NASA's 3-day
            // outage drove it to −6 and over-covered the week after).
            miscoverage[k] = min(1, max(0, miscoverage[k] + Self.calibrationStep * ((1 - settings.intervalLevel) - missed)))
        }
        for m in 0...models.count {
            for (k, h) in settings.horizons.enumerated() {
                guard let predicted = pending[m][k][t % h] else { continue }
                let residual = value - predicted
                let e = abs(residual)
                error[m][k] = error[m][k].map { $0 + decay * (e - $0) } ?? e
                scored[m][k] += 1
                let evicted = residuals[m][k].append(residual)
                Self.replace(evicted, with: residual, in: &sortedResiduals[m][k])
            }
            guard m < models.count else { break }
            models[m].update(value)
            let ready = models[m].isReady
            if ready { models[m].forecastPath(maxSteps: maxSteps, into: &path) }
            for (k, h) in settings.horizons.enumerated() {
                pending[m][k][t % h] = ready ? path[h - 1] : nil
            }
        }
        for (k, h) in settings.horizons.enumerated() {
            // The two models with the lowest recent error here, weighted by inverse error.
            let best = models.indices.compactMap { m -> (error: Double, forecast: Double)? in
                guard let f = pending[m][k][t % h], let e = error[m][k] else { return nil }
                return (max(e, 1e-9), f)
            }.sorted { $0.error < $1.error }.prefix(2)
            let weights = best.reduce(0) { $0 + 1 / $1.error }
            pending[combined][k][t % h] = best.isEmpty ? nil : best.reduce(0) { $0 + $1.forecast / $1.error } / weights
        }
        observations += 1
        latest = serve()
        for (k, h) in settings.horizons.enumerated() {
            let served = latest.first { $0.steps == h }
            servedLow[k][t % h] = served?.lower
            servedHigh[k][t % h] = served?.upper
        }
    }

    /// The latest forecast of model `model` at horizon index `horizon` (made after the last update).
    public func modelForecast(model: Int, horizon: Int) -> Double? {
        guard observations > 0 else { return nil }
        return pending[model][horizon][(observations - 1) % settings.horizons[horizon]]
    }

    /// The model index with the lowest running error at horizon index `horizon`. Models whose
    /// forecasts at that horizon have not been scored yet rank after every scored one, so a model
    /// that just left its cold start does not win on an empty record.
    public func selectedModel(horizon: Int) -> Int? {
        var best: (index: Int, scored: Bool, error: Double)?
        for m in 0...models.count where modelForecast(model: m, horizon: horizon) != nil {
            let e = error[m][horizon]
            let candidate = (index: m, scored: e != nil && scored[m][horizon] >= settings.horizons[horizon], error: e ?? .infinity)
            if let b = best {
                if (candidate.scored && !b.scored) || (candidate.scored == b.scored && candidate.error < b.error) { best = candidate }
            } else {
                best = candidate
            }
        }
        return best?.index
    }

    /// The selected forecast at every configured horizon, as of the last update; empty while no
    /// model is ready.
    public func forecasts() -> [HorizonForecast] { latest }

    /// Removes `old` (if any) from the sorted `values` and inserts `new` in order.
    static func replace(_ old: Double?, with new: Double, in values: inout [Double]) {
        if let old {
            let i = values.insertionIndex(of: old)
            if i < values.count && values[i] == old { values.remove(at: i) }
        }
        values.insert(new, at: values.insertionIndex(of: new))
    }

    /// The `q` quantile of sorted `values`, interpolated between neighbouring ranks.
    static func quantile(_ values: [Double], _ q: Double) -> Double {
        let position = q * Double(values.count - 1)
        let lower = Int(position.rounded(.down))
        guard lower + 1 < values.count else { return values[lower] }
        return values[lower] + (values[lower + 1] - values[lower]) * (position - Double(lower))
    }

    private func serve() -> [HorizonForecast] {
        settings.horizons.indices.compactMap { k in
            guard let m = selectedModel(horizon: k), let value = modelForecast(model: m, horizon: k) else { return nil }
            var forecast = HorizonForecast(steps: settings.horizons[k], model: modelNames[m], value: value)
            if sortedResiduals[m][k].count >= 20 {
                // Both tails together miss `miscoverage`; past either end the interval is the whole
                // range of the residuals kept, or collapses to their median.
                let tail = min(0.5, max(0, miscoverage[k] / 2))
                forecast.lower = value + Self.quantile(sortedResiduals[m][k], tail)
                forecast.upper = value + Self.quantile(sortedResiduals[m][k], 1 - tail)
            }
            return forecast
        }
    }
}

/// Snapshots: the forecaster is encoded whole (every model's learned state, pending forecasts, running
/// errors and residuals), so a restarted aggregator forecasts exactly as the one that stopped.
extension DemandForecaster: Codable {
    private enum CodingKeys: String, CodingKey {
        case settings, models, pending, error, scored, residuals, observations, miscoverage, servedLow, servedHigh
    }

    /// One model, tagged by its kind.
    private enum Model: Codable {
        case holtWinters(HoltWinters)
        case autoRegressive(AutoRegressive)
        case seasonalNaive(SeasonalNaive)

        init(_ model: any OnlineForecaster) throws {
            switch model {
            case let m as HoltWinters: self = .holtWinters(m)
            case let m as AutoRegressive: self = .autoRegressive(m)
            case let m as SeasonalNaive: self = .seasonalNaive(m)
            default: throw EncodingError.invalidValue(model.name, .init(codingPath: [], debugDescription: "no snapshot form for model \(model.name)"))
            }
        }

        var model: any OnlineForecaster {
            switch self {
            case .holtWinters(let m): m
            case .autoRegressive(let m): m
            case .seasonalNaive(let m): m
            }
        }
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let settings = try c.decode(ForecastSettings.self, forKey: .settings)
        // Settings a config would refuse would trap building the models (found by the snapshot fuzzer).
        if let problem = settings.problems().first {
            throw DecodingError.dataCorruptedError(forKey: .settings, in: c, debugDescription: "forecast settings: \(problem.setting) \(problem.message)")
        }
        self.init(settings: settings)
        let models = try c.decode([Model].self, forKey: .models).map(\.model)
        let pending = try c.decode([[[Double?]]].self, forKey: .pending)
        let error = try c.decode([[Double?]].self, forKey: .error)
        let scored = try c.decode([[Int]].self, forKey: .scored)
        let residuals = try c.decode([[RingBuffer<Double>]].self, forKey: .residuals)
        let miscoverage = try c.decode([Double].self, forKey: .miscoverage)
        let servedLow = try c.decode([[Double?]].self, forKey: .servedLow)
        let servedHigh = try c.decode([[Double?]].self, forKey: .servedHigh)
        // The shapes must be those of a fresh forecaster with these settings; anything else would
        // index out of range on the first update.
        let shapeMatches =
            models.map(\.name) == self.models.map(\.name) && pending.map { $0.map(\.count) } == self.pending.map { $0.map(\.count) }
            && error.map(\.count) == self.error.map(\.count) && scored.map(\.count) == self.scored.map(\.count)
            && residuals.map(\.count) == self.residuals.map(\.count) && miscoverage.count == self.miscoverage.count
            && servedLow.map(\.count) == self.servedLow.map(\.count) && servedHigh.map(\.count) == self.servedHigh.map(\.count)
        guard shapeMatches else {
            throw DecodingError.dataCorruptedError(forKey: .models, in: c, debugDescription: "forecaster state does not match its own settings")
        }
        self.models = models
        self.pending = pending
        self.error = error
        self.scored = scored
        self.residuals = residuals
        sortedResiduals = residuals.map { $0.map { $0.elements.sorted() } }
        self.miscoverage = miscoverage
        self.servedLow = servedLow
        self.servedHigh = servedHigh
        observations = try c.decode(Int.self, forKey: .observations)
        latest = serve()
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(settings, forKey: .settings)
        try c.encode(models.map(Model.init), forKey: .models)
        try c.encode(pending, forKey: .pending)
        try c.encode(error, forKey: .error)
        try c.encode(scored, forKey: .scored)
        try c.encode(residuals, forKey: .residuals)
        try c.encode(observations, forKey: .observations)
        try c.encode(miscoverage, forKey: .miscoverage)
        try c.encode(servedLow, forKey: .servedLow)
        try c.encode(servedHigh, forKey: .servedHigh)
    }
}
