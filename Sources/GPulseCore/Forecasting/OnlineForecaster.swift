/// A forecasting model that learns one observation at a time at constant cost, so the aggregator can
/// keep one per pool and replay can run the same code over a months-long trace.
public protocol OnlineForecaster: Sendable {
    /// Short name used in config, logs, status and evaluation tables ("holt_winters", "ar", ...).
    var name: String { get }
    /// False while the model has not seen enough data to forecast (its cold start).
    var isReady: Bool { get }
    /// Learns the next observation of the series.
    mutating func update(_ value: Double)
    /// Point forecasts for 1...`maxSteps` steps ahead of the last observation, written into `into`
    /// (which is resized to `maxSteps`). Does nothing useful before `isReady`.
    func forecastPath(maxSteps: Int, into: inout [Double])
}

extension OnlineForecaster {
    /// The point forecast `steps` ahead (1 = next observation), or nil during the cold start.
    public func forecast(steps: Int) -> Double? {
        guard isReady, steps >= 1 else { return nil }
        var path: [Double] = []
        forecastPath(maxSteps: steps, into: &path)
        return path[steps - 1]
    }
}
