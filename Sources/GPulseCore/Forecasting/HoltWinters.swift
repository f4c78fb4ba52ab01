/// Additive Holt-Winters (level, damped trend, additive season) updated online in O(1).
///
/// Cold start: until one whole season has been seen the model runs as damped Holt (level and trend
/// only) and is already usable; at the end of the first season the seasonal indices are initialised
/// from that season's deviations from its mean, and from then on the forecasts are seasonal.
///
/// α can be fitted online, as statsmodels fits it by least squares: with `fitLevel` the model keeps one
/// level and trend per α on a grid from 0.05 to 0.95, all sharing one seasonal profile (the profile
/// does not depend on α, see below), scores each pair's one-step forecast as the value arrives, and
/// forecasts from the pair whose recent squared error (weights 0.999^age) is lowest.
///
/// The seasonal index of a slot is its value in the `SeasonalProfile` of y (running means per slot,
/// gain max(γ, 1/(k+1)) in season k, read through a short moving average) less the mean over all
/// slots. Estimating it against y − level, as the textbook update does, lets the level's lag leak
/// into the season.
public struct HoltWinters: OnlineForecaster, Codable {
    public struct Parameters: Sendable, Hashable, Codable {
        /// Level smoothing α; with `fitLevel`, one of the candidates (and the one used before any has
        /// a record).
        public var level: Double
        /// Trend smoothing β.
        public var trend: Double
        /// Seasonal smoothing γ.
        public var seasonal: Double
        /// Trend damping φ (1 = undamped); damping keeps long horizons from running away.
        public var damping: Double
        /// Choose α online from `levelGrid` (plus `level`) by recent one-step squared error.
        public var fitLevel: Bool

        public init(level: Double = 0.3, trend: Double = 0.0, seasonal: Double = 0.05, damping: Double = 0.98, fitLevel: Bool = true) {
            self.level = level
            self.trend = trend
            self.seasonal = seasonal
            self.damping = damping
            self.fitLevel = fitLevel
        }

        /// The α values tried when fitting the level.
        public static let levelGrid = [0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.95]

        /// The α values this model runs: `level` alone, or the grid with `level` in it.
        public var levelCandidates: [Double] { fitLevel ? Array(Set(Self.levelGrid + [level])).sorted() : [level] }
    }

    public var name: String { "holt_winters" }
    public let season: Int
    public let parameters: Parameters
    /// α per level/trend pair.
    public let alphas: [Double]
    private var levels: [Double]
    private var trends: [Double]
    /// Each pair's one-step squared error, weighted by `errorMemory`^age.
    private var squaredErrors: [Double]
    /// The pair forecasts come from.
    private var active: Int
    private static let errorMemory = 0.999
    private var profile: SeasonalProfile
    private var count = 0

    /// `season` in steps; 1 or less means no season (damped Holt).
    public init(season: Int, parameters: Parameters = Parameters()) {
        self.season = max(1, season)
        self.parameters = parameters
        alphas = parameters.levelCandidates
        levels = Array(repeating: 0, count: alphas.count)
        trends = levels
        squaredErrors = levels
        active = alphas.firstIndex(of: parameters.level) ?? 0
        profile = SeasonalProfile(season: self.season, smoothing: parameters.seasonal)
    }

    public var isReady: Bool { count > 0 }
    /// True once the seasonal indices have been initialised.
    public var hasSeason: Bool { season > 1 && count >= season }

    /// α of the pair forecasts come from.
    public var fittedLevel: Double { alphas[active] }

    public mutating func update(_ y: Double) {
        let (b, phi) = (parameters.trend, parameters.damping)
        defer { count += 1 }
        if count == 0 {
            for i in alphas.indices { levels[i] = y }
            if season > 1 { profile.learn(y, slot: 0) }
            return
        }
        let slot = count % season
        let seasonal = hasSeason ? seasonalIndex(slot) : 0
        for i in alphas.indices {
            let a = alphas[i]
            let predicted = levels[i] + phi * trends[i]
            let error = y - seasonal - predicted
            squaredErrors[i] = Self.errorMemory * squaredErrors[i] + error * error
            let previousLevel = levels[i]
            levels[i] = predicted + a * error
            trends[i] = b * (levels[i] - previousLevel) + (1 - b) * phi * trends[i]
        }
        for i in alphas.indices where squaredErrors[i] < squaredErrors[active] { active = i }
        guard season > 1 else { return }
        let wasComplete = profile.isComplete
        profile.learn(y, slot: slot)
        if !wasComplete && profile.isComplete { startSeason() }
    }

    /// The seasonal index of `slot`: its profile value less the profile's mean.
    private func seasonalIndex(_ slot: Int) -> Double { profile.value(slot) - profile.mean }

    /// At the end of the first season its mean becomes every pair's level; the trends and the error
    /// records restart at zero.
    private mutating func startSeason() {
        for i in alphas.indices {
            levels[i] = profile.mean
            trends[i] = 0
            squaredErrors[i] = 0
        }
        active = alphas.firstIndex(of: parameters.level) ?? 0
    }

    public func forecastPath(maxSteps: Int, into path: inout [Double]) {
        path.removeAll(keepingCapacity: true)
        guard count > 0 else { return }
        let phi = parameters.damping
        var dampedSum = 0.0
        var power = 1.0
        for h in 1...max(1, maxSteps) {
            power *= phi
            dampedSum += power
            let s = hasSeason ? seasonalIndex((count - 1 + h) % season) : 0
            path.append(levels[active] + dampedSum * trends[active] + s)
        }
    }
}
