/// A perfect-forecast bound for replay: the true offered demand of each future minute, computed
/// from the trace's own arrivals and service times, served to a policy in place of the forecaster.
/// No deployed aggregator can know this; the `oracle` row of a replay uses it to show what forecast
/// errors cost, never as a policy to run.
public struct PerfectForecast: Sendable, Hashable {
    /// Unix second of minute 0.
    public var startUnixSeconds: Int64
    /// Mean offered load of each minute from the start, replica units: the service seconds of the
    /// requests arriving in it, over 60 s and the slots of a replica.
    public var minuteDemand: [Double]

    public init(startUnixSeconds: Int64, minuteDemand: [Double]) {
        self.startUnixSeconds = startUnixSeconds
        self.minuteDemand = minuteDemand
    }

    /// The truth for each horizon (minutes ahead of `nowNanos`): the demand of the minute then, as a
    /// zero-width interval (level 0, so quantiles read the mean).
    public func forecasts(nowNanos: Int64, horizonMinutes: [Int]) -> [Forecast] {
        let minuteNow = (nowNanos / 1_000_000_000 - startUnixSeconds) / 60
        return horizonMinutes.map { h in
            let i = Int(minuteNow) + h
            let value = i >= 0 && i < minuteDemand.count ? minuteDemand[i] : 0
            return Forecast(horizonSeconds: UInt32(h * 60), mean: value, lower: value, upper: value, level: 0)
        }
    }
}
