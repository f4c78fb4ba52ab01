/// Additive Holt-Winters (level, damped trend, additive season) updated online in O(1).
///
/// Cold start: until one whole season has been seen the model runs as damped Holt (level and trend
/// only) and is already usable; at the end of the first season the seasonal indices are initialised
/// from that season's deviations from its mean, and from then on the forecasts are seasonal.
///
/// The seasonal index of a slot is that slot's running mean of y (gain max(γ, 1/(k+1)) in season k)
/// less the mean over all slots, re-centred as its slot comes round. Estimating it against y − level,
/// as the textbook update does, lets the level's lag leak into the season.
public struct HoltWinters: OnlineForecaster, Codable {
    public struct Parameters: Sendable, Hashable, Codable {
        /// Level smoothing α.
        public var level: Double
        /// Trend smoothing β.
        public var trend: Double
        /// Seasonal smoothing γ.
        public var seasonal: Double
        /// Trend damping φ (1 = undamped); damping keeps long horizons from running away.
        public var damping: Double

        public init(level: Double = 0.3, trend: Double = 0.0, seasonal: Double = 0.05, damping: Double = 0.98) {
            self.level = level
            self.trend = trend
            self.seasonal = seasonal
            self.damping = damping
        }
    }

    public var name: String { "holt_winters" }
    public let season: Int
    public let parameters: Parameters
    private var level = 0.0
    private var trend = 0.0
    private var seasonals: [Double]
    /// Seasons completed; while few, each seasonal index is the running mean of its deviations.
    private var seasonsSeen = 0
    private var profile: [Double] = []
    private var profileSum = 0.0
    private var firstSeason: [Double] = []
    private var count = 0

    /// `season` in steps; 1 or less means no season (damped Holt).
    public init(season: Int, parameters: Parameters = Parameters()) {
        self.season = max(1, season)
        self.parameters = parameters
        seasonals = Array(repeating: 0, count: self.season)
    }

    public var isReady: Bool { count > 0 }
    /// True once the seasonal indices have been initialised.
    public var hasSeason: Bool { season > 1 && count >= season }

    public mutating func update(_ y: Double) {
        let (a, b, g, phi) = (parameters.level, parameters.trend, parameters.seasonal, parameters.damping)
        defer { count += 1 }
        if count == 0 {
            level = y
            trend = 0
            if season > 1 { firstSeason.append(y) }
            return
        }
        let slot = count % season
        let seasonal = hasSeason ? seasonals[slot] : 0
        let previousLevel = level
        level = a * (y - seasonal) + (1 - a) * (previousLevel + phi * trend)
        trend = b * (level - previousLevel) + (1 - b) * phi * trend
        if hasSeason {
            // A gain of 1/(k+1) in season k averages the first seasons instead of trusting one
            // noisy day; it falls to γ after 1/γ seasons.
            if slot == 0 { seasonsSeen += 1 }
            let gain = max(g, 1 / Double(seasonsSeen + 1))
            // The season is the per-slot running mean of y less the mean over all slots, so the
            // level's lag does not leak into it.
            let old = profile[slot]
            profile[slot] += gain * (y - old)
            profileSum += profile[slot] - old
            seasonals[slot] = profile[slot] - profileSum / Double(season)
        } else if season > 1 {
            firstSeason.append(y)
            if firstSeason.count == season { initialiseSeason() }
        }
    }

    /// The first season's deviations from its mean become the seasonal indices and its mean the
    /// level; the trend restarts at zero.
    private mutating func initialiseSeason() {
        let mean = firstSeason.reduce(0, +) / Double(season)
        for i in 0..<season { seasonals[i] = firstSeason[i] - mean }
        profile = firstSeason
        profileSum = mean * Double(season)
        level = mean
        trend = 0
        firstSeason = []
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
            let s = hasSeason ? seasonals[(count - 1 + h) % season] : 0
            path.append(level + dampedSum * trend + s)
        }
    }
}
