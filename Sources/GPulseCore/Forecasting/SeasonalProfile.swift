/// The seasonal shape shared by the seasonal models: one running mean per slot of the season, read
/// through a centred moving average.
///
/// A slot's mean starts as its value in the first season, then follows the series with gain
/// max(`smoothing`, 1/(k+1)) in season k, so the first seasons are averaged instead of trusting one
/// noisy day, and later ones are weighted exponentially.
///
/// Reads go through a moving average over ±season/96 slots (15 minutes of a daily season): per-slot
/// means of a noisy series are noisy, and a model would otherwise forecast that noise as seasonal
/// structure. The averages are kept up to date as each mean moves (O(season/48) per value) and
/// recomputed once per season so that rounding cannot drift.
struct SeasonalProfile: Sendable, Codable {
    let season: Int
    let smoothing: Double
    let halfWidth: Int
    private var means: [Double]
    private var smoothed: [Double]
    private var total = 0.0
    /// Values of the first season seen so far; the profile is usable once it reaches `season`.
    private var filled = 0
    private var seasonsSeen = 0

    init(season: Int, smoothing: Double) {
        self.season = max(1, season)
        self.smoothing = smoothing
        halfWidth = self.season / 96
        means = Array(repeating: 0, count: self.season)
        smoothed = means
    }

    /// True once a whole season has been seen.
    var isComplete: Bool { filled == season }

    /// The smoothed mean of `slot`.
    func value(_ slot: Int) -> Double { smoothed[slot] }

    /// The mean over all slots (of the unsmoothed means, which is the same).
    var mean: Double { total / Double(season) }

    /// Learns `y` in `slot`; slots must come in order from 0, one per value.
    mutating func learn(_ y: Double, slot: Int) {
        guard isComplete else {
            means[slot] = y
            total += y
            filled += 1
            if isComplete { resmooth() }
            return
        }
        if slot == 0 {
            seasonsSeen += 1
            resmooth()
        }
        let old = means[slot]
        means[slot] += max(smoothing, 1 / Double(seasonsSeen + 1)) * (y - old)
        let delta = means[slot] - old
        total += delta
        let share = delta / Double(2 * halfWidth + 1)
        for d in -halfWidth...halfWidth { smoothed[(slot + d + season) % season] += share }
    }

    private mutating func resmooth() {
        total = means.reduce(0, +)
        for slot in 0..<season {
            var sum = 0.0
            for d in -halfWidth...halfWidth { sum += means[(slot + d + season) % season] }
            smoothed[slot] = sum / Double(2 * halfWidth + 1)
        }
    }
}
