/// Forecasts each step as the value one season earlier (`y[t+h-m]`); before a full season has been
/// seen it degrades to the plain naive forecast (the last value).
public struct SeasonalNaive: OnlineForecaster, Codable {
    public var name: String { "seasonal_naive" }
    public let season: Int
    private var history: [Double]
    private var count = 0

    /// `season` in steps (1440 for one day of 1-minute values); 1 or less means plain naive.
    public init(season: Int) {
        self.season = max(1, season)
        history = Array(repeating: 0, count: self.season)
    }

    public var isReady: Bool { count > 0 }
    /// True once a whole season is remembered, so forecasts are truly seasonal.
    public var hasSeason: Bool { count >= season }

    public mutating func update(_ value: Double) {
        history[count % season] = value
        count += 1
    }

    public func forecastPath(maxSteps: Int, into path: inout [Double]) {
        path.removeAll(keepingCapacity: true)
        guard count > 0 else { return }
        let last = history[(count - 1) % season]
        for h in 1...max(1, maxSteps) {
            if hasSeason {
                // y[t+h-m·k] for the smallest k that lands in the past.
                let back = season - ((h - 1) % season)
                path.append(history[(count - back) % season])
            } else {
                path.append(last)
            }
        }
    }
}
