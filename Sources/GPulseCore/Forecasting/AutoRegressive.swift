/// AR(p) with an intercept, fitted by recursive least squares with exponential forgetting: each update
/// costs O(k²) in its k regressors (intercept, lags, tails) and the weights follow a drifting process.
///
/// Besides the p lags, the regressors include "tails": exponentially weighted means of all past
/// modelled values with time constants `tailSteps` (4 to 64 steps by default). A request rate is
/// mostly a noisy level, and its differences then behave like an MA with a root near one, whose AR
/// form decays geometrically over many lags (statsmodels picks ARIMA(1,1,2) with θ₁ ≈ −1.1 on NASA).
/// A few geometric tails reach those lags for one weight each, where more exact lags would cost
/// O(p²), and unlike lagged residuals (an ARMA by extended least squares) they keep the fit an
/// ordinary least squares problem that converges whatever the MA root.
///
/// With `season = m > 1` the model is fitted to the deseasonalised series `z[t] = y[t] - S[t mod m]`,
/// where `S` is the `SeasonalProfile` of y (per-slot running means, gain max(`profileSmoothing`,
/// 1/(k+1)) in season k, read through a short moving average). It forecasts
/// `y[t+h] = S[(t+h) mod m] + ẑ[t+h]` and becomes ready only once a whole season has been seen, so a
/// forecaster holding both kinds degrades to the plain AR at cold start.
public struct AutoRegressive: OnlineForecaster, Codable {
    public let name: String
    public let order: Int
    /// λ in (0, 1]: weight of an observation `k` steps old is λ^k.
    public let forgetting: Double
    public let season: Int
    public let profileSmoothing: Double
    /// 1 fits the AR to first differences (an ARI(p,1)), whose forecasts hold the level instead of
    /// reverting to a long-run mean; 0 fits it to the values.
    public let differencing: Int
    /// Time constants, in steps, of the tail regressors; the decay of each is 1 − 1/steps.
    public let tailSteps: [Int]
    /// The tails' current values: tail[j] = d·tail[j] + (1 − d)·z with d = 1 − 1/tailSteps[j].
    private var tails: [Double]
    /// The last deseasonalised value, for differencing.
    private var lastLevel: Double?
    /// Coefficients: [intercept, φ1 ... φp, one per tail].
    public private(set) var weights: [Double]
    private var covariance: [Double]
    private var regressor: [Double]
    private var gain: [Double]
    /// Recent modelled values (z, or y without a season), newest last, length `order`.
    private var lags: [Double]
    private var profile: SeasonalProfile
    private var count = 0
    private var fitted = 0
    /// P₀ = 10⁴·I: a weak prior, so the first fits follow the data.
    private static let initialCovariance = 1e4

    public init(
        order: Int = 8, forgetting: Double = 0.999, season: Int = 0, profileSmoothing: Double = 0.05, differencing: Int = 0,
        tailSteps: [Int] = [], name: String? = nil
    ) {
        precondition(order >= 1, "AR order must be at least 1")
        precondition(tailSteps.allSatisfy { $0 >= 2 }, "a tail's time constant must be at least 2 steps")
        self.order = order
        self.forgetting = min(1, max(0.9, forgetting))
        self.season = max(0, season)
        self.profileSmoothing = profileSmoothing
        self.differencing = min(1, max(0, differencing))
        self.tailSteps = tailSteps
        tails = Array(repeating: 0, count: tailSteps.count)
        self.name = name ?? (season > 1 ? "seasonal_ar" : "ar")
        let n = order + tailSteps.count + 1
        weights = Array(repeating: 0, count: n)
        covariance = Self.priorCovariance(n)
        regressor = Array(repeating: 0, count: n)
        gain = Array(repeating: 0, count: n)
        lags = []
        lags.reserveCapacity(order)
        profile = SeasonalProfile(season: self.season, smoothing: profileSmoothing)
    }

    /// Regressors: the intercept, the lags and the tails.
    private var regressors: Int { order + tails.count + 1 }

    /// Ready once `order` modelled values exist and a few fits have been made.
    public var isReady: Bool { fitted >= order + 1 }

    public mutating func update(_ y: Double) {
        defer { count += 1 }
        let m = season
        var z = y
        if m > 1 {
            let slot = count % m
            profile.learn(y, slot: slot)
            guard count >= m else { return }
            z = y - profile.value(slot)
        }
        if differencing == 1 {
            let previous = lastLevel
            lastLevel = z
            guard let previous else { return }
            z -= previous
        }
        if lags.count == order {
            fit(z)
            lags.removeFirst()
        }
        lags.append(z)
        Self.advance(&tails, by: z, steps: tailSteps)
    }

    private static func advance(_ tails: inout [Double], by z: Double, steps: [Int]) {
        for j in tails.indices { tails[j] += (z - tails[j]) / Double(steps[j]) }
    }

    /// One recursive least squares step for target `z` on the current lags and tails.
    private mutating func fit(_ z: Double) {
        let n = regressors
        regressor[0] = 1
        for i in 0..<order { regressor[i + 1] = lags[order - 1 - i] }
        for j in tails.indices { regressor[order + 1 + j] = tails[j] }
        // g = P x; denominator = λ + xᵀ P x
        var denominator = forgetting
        for i in 0..<n {
            var s = 0.0
            for j in 0..<n { s += covariance[i * n + j] * regressor[j] }
            gain[i] = s
            denominator += regressor[i] * s
        }
        var prediction = 0.0
        for i in 0..<n { prediction += weights[i] * regressor[i] }
        let error = z - prediction
        guard denominator.isFinite, denominator > 0, error.isFinite else { return }
        for i in 0..<n { weights[i] += gain[i] / denominator * error }
        // P = (P - g gᵀ / denominator) / λ, kept symmetric.
        let scale = 1 / forgetting
        var trace = 0.0
        for i in 0..<n {
            for j in i..<n {
                let v = (covariance[i * n + j] - gain[i] * gain[j] / denominator) * scale
                covariance[i * n + j] = v
                covariance[j * n + i] = v
            }
            trace += covariance[i * n + i]
        }
        // Forgetting inflates P when the input stops exciting it ("wind-up"); cap it.
        if !(trace.isFinite) || trace > Self.initialCovariance * Double(n) * 10 { covariance = Self.priorCovariance(n) }
        fitted += 1
    }

    /// P₀ = initialCovariance · I, for n weights.
    private static func priorCovariance(_ n: Int) -> [Double] {
        var p = Array(repeating: 0.0, count: n * n)
        for i in 0..<n { p[i * n + i] = initialCovariance }
        return p
    }

    public func forecastPath(maxSteps: Int, into path: inout [Double]) {
        path.removeAll(keepingCapacity: true)
        guard lags.count == order else { return }
        var window = lags
        var futureTails = tails
        let m = season
        var level = lastLevel ?? 0
        for h in 1...max(1, maxSteps) {
            var z = weights[0]
            for i in 0..<order { z += weights[i + 1] * window[window.count - 1 - i] }
            for j in futureTails.indices { z += weights[order + 1 + j] * futureTails[j] }
            window.append(z)
            Self.advance(&futureTails, by: z, steps: tailSteps)
            var x = z
            if differencing == 1 {
                level += z
                x = level
            }
            path.append(m > 1 ? profile.value((count - 1 + h) % m) + x : x)
        }
    }
}
