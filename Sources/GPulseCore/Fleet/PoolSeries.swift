/// One aggregate point of a pool: load index mean and max over its live nodes, and demand D = Σ L.
public struct PoolPoint: Sendable, Hashable, Codable {
    /// Start of the period, Unix seconds.
    public var time: Int64
    public var liveNodes: Int
    public var loadMean: Double
    public var loadMax: Double
    public var demand: Double
    /// For minute points: the largest 1-second demand inside the minute.
    public var demandMax: Double

    /// The point of one instant from the load indexes of the live nodes.
    public init(second: Int64, loads: [Double]) {
        var tally = Fleet.PoolTally()
        for load in loads { tally.add(load) }
        self = tally.point(second: second)
    }

    public init(time: Int64, liveNodes: Int, loadMean: Double, loadMax: Double, demand: Double, demandMax: Double) {
        self.time = time
        self.liveNodes = liveNodes
        self.loadMean = loadMean
        self.loadMax = loadMax
        self.demand = demand
        self.demandMax = demandMax
    }
}

/// Flags a burst on the 1-second demand before the minute-level forecaster can see it: demand above
/// its recent mean by `sigmas` standard deviations and by at least `minExcess` replicas, for
/// `confirmSeconds` seconds in a row.
public struct BurstDetector: Sendable, Hashable, Codable {
    public var sigmas: Double
    public var minExcess: Double
    public var confirmSeconds: Int
    /// Weight of the newest second in the running mean and variance (1/60: about a minute).
    public var smoothing: Double
    public private(set) var mean: Double?
    public private(set) var variance = 0.0
    public private(set) var run = 0
    public private(set) var active = false
    /// Demand above the running mean in the last second (replicas), while active.
    public private(set) var excess = 0.0

    public init(sigmas: Double = 4, minExcess: Double = 0.5, confirmSeconds: Int = 2, smoothing: Double = 1.0 / 60) {
        self.sigmas = sigmas
        self.minExcess = minExcess
        self.confirmSeconds = confirmSeconds
        self.smoothing = smoothing
    }

    /// Feeds one second of demand; returns true when a burst starts on this second.
    public mutating func observe(_ demand: Double) -> Bool {
        guard let m = mean else {
            mean = demand
            return false
        }
        let deviation = demand - m
        let above = deviation > minExcess && deviation > sigmas * variance.squareRoot()
        run = above ? run + 1 : 0
        let wasActive = active
        active = run >= confirmSeconds
        excess = active ? deviation : 0
        // West's exponentially weighted mean and variance.
        let increment = smoothing * deviation
        mean = m + increment
        variance = (1 - smoothing) * (variance + deviation * increment)
        return active && !wasActive
    }
}

/// A pool's series: 1-second points for `secondsKept`, 1-minute points for `minutesKept`, the
/// demand forecaster fed one point a minute, and the burst detector fed one point a second.
public struct PoolSeries: Sendable, Codable {
    public let name: String
    public private(set) var seconds: RingBuffer<PoolPoint>
    public private(set) var minutes: RingBuffer<PoolPoint>
    public private(set) var forecaster: DemandForecaster
    public private(set) var burst = BurstDetector()
    /// The minute being summed, closed into a minute point when a second of the next one arrives.
    private struct OpenMinute: Sendable, Codable {
        var start: Int64
        var points: Int
        var loadMean: Double
        var loadMax: Double
        var demand: Double
        var demandMax: Double
        var nodes: Int
    }
    private var minute: OpenMinute?

    public init(name: String, forecast: ForecastSettings, secondsKept: Int = 3600, minutesKept: Int = 1440) {
        self.name = name
        seconds = RingBuffer(capacity: secondsKept)
        minutes = RingBuffer(capacity: minutesKept)
        forecaster = DemandForecaster(settings: forecast)
    }

    public var latest: PoolPoint? { seconds.last }
    /// The pool now: recomputed at every fleet refresh (several times a second).
    public internal(set) var current: PoolPoint?
    /// Work units queued now (APP_BACKLOG summed over live nodes), at the same refresh; nil when no
    /// live node reports it.
    public internal(set) var backlog: Double?
    /// What the pool's inference servers report now, at the same refresh; nil when none does.
    public internal(set) var traffic: PoolTraffic?
    /// Where `current.demand` came from, at the same refresh.
    public internal(set) var demandSource: DemandSource = .loadIndex
    /// Live serverless burst replicas, at the same refresh (not in `current.liveNodes`).
    public internal(set) var burstNodes = 0
    /// Live nodes left out of `liveNodes` because their GPUs reported a fault, at the same refresh.
    public internal(set) var unhealthyNodes = 0
    /// The workload class most of the pool's nodes report (online on a tie or when none says), at
    /// the same refresh; nil before the first.
    public internal(set) var workload: WorkloadClass?
    /// The forecaster's answer after the last closed minute (it only changes then).
    public private(set) var forecasts: [HorizonForecast] = []
    /// Minutes closed so far: what is derived from minute points only changes when this does.
    public private(set) var minutesClosed = 0

    /// Records the second starting at `unixSecond` from the load indexes of the live nodes; closes the
    /// minute (and feeds the forecaster) when the second starts a new one. Returns true when a burst starts.
    @discardableResult
    public mutating func record(unixSecond: Int64, loads: [Double]) -> Bool {
        record(PoolPoint(second: unixSecond, loads: loads))
    }

    /// Records a second's point (its `time` is the second); see `record(unixSecond:loads:)`.
    mutating func record(_ point: PoolPoint) -> Bool {
        let unixSecond = point.time
        let demand = point.demand
        seconds.append(point)
        let minuteStart = unixSecond - unixSecond % 60
        if let m = minute, m.start != minuteStart {
            closeMinute()
            fillMissedMinutes(before: minuteStart)
        }
        if var m = minute {
            m.points += 1
            m.loadMean += point.loadMean
            m.loadMax = max(m.loadMax, point.loadMax)
            m.demand += demand
            m.demandMax = max(m.demandMax, demand)
            m.nodes = max(m.nodes, point.liveNodes)
            minute = m
        } else {
            minute = OpenMinute(
                start: minuteStart, points: 1, loadMean: point.loadMean, loadMax: point.loadMax, demand: demand, demandMax: demand, nodes: point.liveNodes)
        }
        return burst.observe(demand)
    }

    /// Minutes with no seconds at all can only come from an aggregator that was not running (a live
    /// one records every second, nodes or not). The forecaster counts steps, not clock minutes, so
    /// each missed minute gets the last minute's point carried forward to keep the season aligned;
    /// at most one season of them (a longer outage has lost the phase information anyway).
    /// The history may come from a snapshot, so its last time is not trusted to be a whole minute
    /// or near now: a gap shorter than two minutes fills nothing, and the arithmetic saturates.
    private mutating func fillMissedMinutes(before minuteStart: Int64) {
        guard let last = minutes.last, minuteStart > last.time.addingSaturating(60) else { return }
        let missed = min(Int(clamping: minuteStart.subtractingSaturating(last.time) / 60) - 1, max(1, forecaster.settings.season), minutes.capacity)
        guard missed >= 1 else { return }
        for k in 1...missed {
            var point = last
            point.time = last.time.addingSaturating(Int64(k) * 60)
            minutes.append(point)
            forecaster.update(point.demand)
            minutesClosed += 1
        }
        forecasts = forecaster.forecasts()
    }

    private mutating func closeMinute() {
        guard let m = minute else { return }
        let n = Double(m.points)
        let point = PoolPoint(
            time: m.start, liveNodes: m.nodes, loadMean: m.loadMean / n, loadMax: m.loadMax, demand: m.demand / n, demandMax: m.demandMax)
        minutes.append(point)
        forecaster.update(point.demand)
        forecasts = forecaster.forecasts()
        minutesClosed += 1
        minute = nil
    }
}

extension PoolSeries {
    private enum CodingKeys: String, CodingKey {
        case name, seconds, minutes, forecaster, burst, minute, current, backlog, workload, forecasts, minutesClosed
    }

    /// Everything must decode except the forecaster: one saved by a build whose models had another
    /// layout is left as a placeholder, and `adopting` rebuilds it from the minute history, so an
    /// upgrade keeps the registry, the history and with it the learned season.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        name = try c.decode(String.self, forKey: .name)
        seconds = try c.decode(RingBuffer<PoolPoint>.self, forKey: .seconds)
        minutes = try c.decode(RingBuffer<PoolPoint>.self, forKey: .minutes)
        forecaster = (try? c.decode(DemandForecaster.self, forKey: .forecaster)) ?? DemandForecaster(settings: Self.unreadableForecast)
        burst = try c.decode(BurstDetector.self, forKey: .burst)
        minute = try c.decodeIfPresent(OpenMinute.self, forKey: .minute)
        current = try c.decodeIfPresent(PoolPoint.self, forKey: .current)
        backlog = try c.decodeIfPresent(Double.self, forKey: .backlog)
        workload = try c.decodeIfPresent(WorkloadClass.self, forKey: .workload)
        forecasts = try c.decode([HorizonForecast].self, forKey: .forecasts)
        minutesClosed = try c.decode(Int.self, forKey: .minutesClosed)
    }

    /// The placeholder's settings: no models, which no valid configuration has, so `adopting` always
    /// replaces it.
    static let unreadableForecast = ForecastSettings(models: [])

    /// This pool's saved history under the settings running now: rings keep their newest points in
    /// the configured sizes; a forecaster saved under other forecast settings (or one this build could
    /// not read) is rebuilt by replaying the minute points kept (`replayed` is true then), since its
    /// learned state would not fit.
    public func adopting(forecast: ForecastSettings, secondsKept: Int, minutesKept: Int) -> (series: PoolSeries, replayed: Bool) {
        var out = self
        out.seconds = seconds.resized(to: max(1, secondsKept))
        out.minutes = minutes.resized(to: max(1, minutesKept))
        out.current = nil
        out.backlog = nil
        out.traffic = nil
        guard forecaster.settings != forecast else { return (out, false) }
        out.forecaster = DemandForecaster(settings: forecast)
        for point in out.minutes.elements { out.forecaster.update(point.demand) }
        out.forecasts = out.forecaster.forecasts()
        return (out, true)
    }
}
