import Testing

@testable import GPulseCore

@Suite struct ForecastingTests {
    @Test func theSortedResidualWindowFollowsTheRingAndGivesItsQuantiles() {
        var rng = SeededGenerator(seed: 11)
        var ring = RingBuffer<Double>(capacity: 50)
        var sorted: [Double] = []
        for i in 0..<400 {
            // Ties included: half the values come from a set of five.
            let value = i % 2 == 0 ? Double(Int(rng.unit() * 5)) : rng.unit() * 100 - 50
            DemandForecaster.replace(ring.append(value), with: value, in: &sorted)
            #expect(sorted == ring.elements.sorted(), "after \(i + 1) values")
        }
        for q in [0.0, 0.025, 0.1, 0.5, 0.9, 0.975, 1.0] {
            #expect(DemandForecaster.quantile(sorted, q) == quantile(sorted, q), "q=\(q)")
        }
    }

    @Test func seasonalNaiveRepeatsTheLastSeasonAndIsNaiveBeforeIt() {
        var model = SeasonalNaive(season: 3)
        model.update(1)
        model.update(2)
        #expect(!model.hasSeason)
        #expect(model.forecast(steps: 2) == 2)  // cold start: last value
        model.update(3)
        model.update(4)  // history now y1..y3 = 2, 3, 4
        var path: [Double] = []
        model.forecastPath(maxSteps: 4, into: &path)
        #expect(path == [2, 3, 4, 2])
    }

    @Test func seasonalProfileAveragesSlotsAndNeighbours() {
        // A season of 192 slots reads each mean through ±2 slots, wrapping round.
        var profile = SeasonalProfile(season: 192, smoothing: 0.1)
        var rng = SeededGenerator(seed: 5)
        var means = (0..<192).map { _ in rng.unit() * 10 }
        for (slot, y) in means.enumerated() { profile.learn(y, slot: slot) }
        #expect(profile.isComplete)
        func expected(_ slot: Int) -> Double { (-2...2).reduce(0) { $0 + means[(slot + $1 + 192) % 192] } / 5 }
        #expect(abs(profile.value(0) - expected(0)) < 1e-12)
        // Second season: gain ½ (the first two seasons are averaged); third: ⅓.
        for season in 2...3 {
            for slot in 0..<192 {
                let y = rng.unit() * 10
                means[slot] += (y - means[slot]) / Double(season)
                profile.learn(y, slot: slot)
                // Slot 100's neighbourhood is settled once slot 102 has been learned.
                if slot == 102 { #expect(abs(profile.value(100) - expected(100)) < 1e-9) }
            }
        }
        for slot in [0, 1, 191] { #expect(abs(profile.value(slot) - expected(slot)) < 1e-9) }
        #expect(abs(profile.mean - means.reduce(0, +) / 192) < 1e-9)
    }

    @Test func holtWithoutSeasonMatchesHandComputation() {
        // α = β = 0.5, φ = 1: after 10: l=10 b=0; after 12: l = 0.5·12 + 0.5·10 = 11, b = 0.5·1 = 0.5.
        var model = HoltWinters(season: 1, parameters: .init(level: 0.5, trend: 0.5, seasonal: 0, damping: 1, fitLevel: false))
        model.update(10)
        model.update(12)
        #expect(model.forecast(steps: 1) == 11.5)
        #expect(model.forecast(steps: 2) == 12)
    }

    @Test func holtWintersInitialisesItsSeasonAndUpdatesIt() {
        var model = HoltWinters(season: 2, parameters: .init(level: 0.5, trend: 0, seasonal: 0.5, damping: 1, fitLevel: false))
        model.update(1)
        #expect(!model.hasSeason)
        model.update(3)  // first season [1, 3]: level 2, indices [-1, +1]
        #expect(model.hasSeason)
        #expect(model.forecast(steps: 1) == 1)
        #expect(model.forecast(steps: 2) == 3)
        // y=2 in slot 0: l = 0.5·(2 − (−1)) + 0.5·2 = 2.5; slot 0's mean 1 + ½·(2 − 1) = 1.5, so the
        // means are [1.5, 3], their mean 2.25, and the indices [−0.75, +0.75].
        model.update(2)
        #expect(model.forecast(steps: 1) == 3.25)  // slot 1: 2.5 + 0.75
        #expect(model.forecast(steps: 2) == 1.75)  // slot 0: 2.5 − 0.75
    }

    @Test func recursiveLeastSquaresMatchesOrdinaryLeastSquares() {
        // y[t] = 1 + 0.5·y[t−1] + e[t], with a fixed deterministic e; λ = 1 makes RLS equal OLS
        // (up to the tiny ridge of its initial covariance).
        var ys: [Double] = [2]
        var seed: UInt64 = 42
        for _ in 0..<200 {
            seed = seed &* 6364136223846793005 &+ 1442695040888963407
            let e = Double(seed >> 11) / Double(1 << 53) - 0.5
            ys.append(1 + 0.5 * ys.last! + e)
        }
        var model = AutoRegressive(order: 1, forgetting: 1)
        for y in ys { model.update(y) }
        // OLS of y[t] on (1, y[t−1]) by the normal equations.
        let x = ys.dropLast(), y = ys.dropFirst()
        let n = Double(x.count)
        let sx = x.reduce(0, +), sy = y.reduce(0, +)
        let sxx = x.reduce(0) { $0 + $1 * $1 }, sxy = zip(x, y).reduce(0) { $0 + $1.0 * $1.1 }
        let slope = (n * sxy - sx * sy) / (n * sxx - sx * sx)
        let intercept = (sy - slope * sx) / n
        #expect(abs(model.weights[1] - slope) < 1e-4)
        #expect(abs(model.weights[0] - intercept) < 1e-3)
        let expected = intercept + slope * ys.last!
        #expect(abs(model.forecast(steps: 1)! - expected) < 1e-3)
        #expect(abs(model.forecast(steps: 2)! - (intercept + slope * expected)) < 1e-3)
    }

    @Test func differencedARContinuesATrend() {
        var model = AutoRegressive(order: 2, forgetting: 1, differencing: 1)
        for t in 0..<50 { model.update(3 * Double(t) + (t % 2 == 0 ? 1 : -1)) }
        // Differences alternate 5, 1, 5, 1 ...: last value 3·49 − 1 = 146 after a difference of 1,
        // so next come +5 and +1.
        #expect(abs(model.forecast(steps: 1)! - 151) < 1e-3)
        #expect(abs(model.forecast(steps: 2)! - 152) < 1e-3)
    }

    @Test func tailRegressorsFitLikeOrdinaryLeastSquares() {
        // AR(1) plus one tail (time constant 4 steps) with λ = 1: the weights are the OLS fit of
        // y[t] on (1, y[t−1], tail[t−1]) where tail[t] = tail[t−1] + (y[t] − tail[t−1]) / 4.
        var rng = SeededGenerator(seed: 7)
        var ys: [Double] = [5]
        var tail = 0.0
        for _ in 0..<300 {
            tail += (ys.last! - tail) / 4
            ys.append(2 + 0.3 * ys.last! + 0.4 * tail + rng.unit() - 0.5)
        }
        var model = AutoRegressive(order: 1, forgetting: 1, tailSteps: [4])
        for y in ys { model.update(y) }
        // Normal equations XᵀX w = Xᵀy, solved by Gaussian elimination.
        var a = Array(repeating: Array(repeating: 0.0, count: 4), count: 3)
        tail = 0
        for t in ys.indices {
            if t > 0 {
                let x = [1, ys[t - 1], tail]
                for i in 0..<3 {
                    for j in 0..<3 { a[i][j] += x[i] * x[j] }
                    a[i][3] += x[i] * ys[t]
                }
            }
            tail += (ys[t] - tail) / 4
        }
        for k in 0..<3 {
            for i in (k + 1)..<3 {
                let f = a[i][k] / a[k][k]
                for j in k..<4 { a[i][j] -= f * a[k][j] }
            }
        }
        var w = [0.0, 0, 0]
        for i in (0..<3).reversed() { w[i] = (a[i][3] - ((i + 1)..<3).reduce(0) { $0 + a[i][$1] * w[$1] }) / a[i][i] }
        for i in 0..<3 { #expect(abs(model.weights[i] - w[i]) < 1e-3, "weight \(i): \(model.weights[i]) vs \(w[i])") }
        // Two steps ahead the tail has moved by the one-step forecast.
        let one = w[0] + w[1] * ys.last! + w[2] * tail
        let tailAfter = tail + (one - tail) / 4
        #expect(abs(model.forecast(steps: 1)! - one) < 1e-2)
        #expect(abs(model.forecast(steps: 2)! - (w[0] + w[1] * one + w[2] * tailAfter)) < 1e-2)
    }

    @Test func holtWintersFitsTheLevelSmoothingToTheSeries() {
        var rng = SeededGenerator(seed: 3)
        // A random walk is best followed with α near 1, noise around a constant with α near 0.
        var walk = HoltWinters(season: 1)
        var noise = HoltWinters(season: 1)
        var y = 100.0
        for _ in 0..<3000 {
            y += rng.unit() - 0.5
            walk.update(y)
            noise.update(100 + rng.unit() - 0.5)
        }
        #expect(walk.fittedLevel >= 0.8)
        #expect(noise.fittedLevel <= 0.1)
        // The fitted model forecasts exactly as one run with that α alone.
        var rerun = HoltWinters(season: 1, parameters: .init(level: walk.fittedLevel, fitLevel: false))
        rng = SeededGenerator(seed: 3)
        y = 100
        for _ in 0..<3000 {
            y += rng.unit() - 0.5
            rerun.update(y)
            _ = rng.unit()
        }
        #expect(rerun.forecast(steps: 5) == walk.forecast(steps: 5))
    }

    @Test func seasonalARIsNotReadyBeforeASeasonAndForecastsTheProfile() {
        var model = AutoRegressive(order: 1, forgetting: 1, season: 4, profileSmoothing: 0.1)
        for y in [10.0, 20, 30, 40] { model.update(y) }
        #expect(!model.isReady)
        for _ in 0..<10 { for y in [10.0, 20, 30, 40] { model.update(y) } }
        #expect(model.isReady)
        var path: [Double] = []
        model.forecastPath(maxSteps: 4, into: &path)
        for (f, y) in zip(path, [10.0, 20, 30, 40]) { #expect(abs(f - y) < 1e-6) }
    }

    @Test func selectorFollowsTheModelWhoseErrorIsLowest() {
        let settings = ForecastSettings(season: 4, horizons: [1], models: [.seasonalNaive, .ar], arOrder: 1, arForgetting: 1, arTailSteps: [], errorDecay: 0.2)
        var forecaster = DemandForecaster(settings: settings)
        // A repeating season: seasonal naive is exact, AR(1) on differences is not.
        for _ in 0..<30 { for y in [1.0, 3, 2, 0] { forecaster.update(y) } }
        #expect(forecaster.forecasts().first?.model == "seasonal_naive")
        // A ramp: the differenced AR becomes exact, seasonal naive is off by 4 every step.
        for t in 0..<60 { forecaster.update(Double(t)) }
        #expect(forecaster.forecasts().first?.model == "ar")
        let f = forecaster.forecasts()[0]
        #expect(abs(f.value - 60) < 1)  // λ = 1 remembers the seasonal part too, so not exact
        // Intervals come from that model's own residuals, which are now tiny.
        #expect(f.lower != nil && f.upper != nil)
    }

    @Test func intervalsAreCalibratedToTheConfiguredShare() {
        // With 20 residuals kept, the interpolated 10th-90th percentiles of a continuous noise hold a
        // new draw only about 0.8 · 19/21 ≈ 72 % of the time; the online calibration widens them
        // until 80 % of the targets fall inside.
        let settings = ForecastSettings(season: 1, horizons: [1], models: [.seasonalNaive], residualMemory: 20)
        var forecaster = DemandForecaster(settings: settings)
        var rng = SeededGenerator(seed: 9)
        var served: (low: Double, high: Double)?
        var inside = 0
        var scored = 0
        for t in 0..<20_000 {
            let y = 100 + 10 * rng.unit()
            if t >= 2_000, let s = served {
                scored += 1
                if s.low <= y && y <= s.high { inside += 1 }
            }
            forecaster.update(y)
            served = forecaster.forecasts().first.flatMap { f in f.lower.flatMap { low in f.upper.map { (low, $0) } } }
        }
        let coverage = Double(inside) / Double(scored)
        #expect(abs(coverage - 0.8) < 0.015, "coverage \(coverage)")
    }

    /// (An unknown model name cannot get this far: `ForecastModel` is typed, and the config refuses it.)
    @Test func settingsRejectNoModelsAndBadParameters() {
        var s = ForecastSettings()
        #expect(s.problems().isEmpty)
        s.models = []
        s.arForgetting = 0.5
        s.horizons = []
        let settings = s.problems().map(\.setting)
        #expect(settings.contains(.models) && settings.contains(.arForgetting) && settings.contains(.horizons))
    }

    @Test func evaluationFillsGapsCausallyAndNeverScoresThem() {
        let filled = ForecastEvaluation.fillCausally([1, nil, 3, 4, nil, nil], season: 3)
        #expect(filled == [1, 1, 3, 4, 1, 3])
        var settings = ForecastSettings(season: 2, horizons: [1], models: [.seasonalNaive])
        settings.residualMemory = 10
        // Scale: warm-up t = 2, 3: |2 − 1| and |3 − 2|, so 1.
        let series: [Double?] = [1, 2, 2, 3, 1, nil, 1, 2]
        let evaluation = ForecastEvaluation(settings: settings, warmup: 4)
        #expect(evaluation.scale(series) == 1)
        let naive = evaluation.run(series).first { $0.model == "seasonal_naive" }!
        // Targets 4, 6, 7 (5 is missing): forecasts y2 = 2, y4 = 1, filled y5 = y3 = 3 → errors 1, 0, 1.
        #expect(naive.count == 3)
        #expect(abs(naive.mase - 2.0 / 3.0) < 1e-12)
    }
}

/// The reference quantile: linear interpolation on the sorted array.
private func quantile(_ sorted: [Double], _ q: Double) -> Double {
    guard !sorted.isEmpty else { return .nan }
    let position = q * Double(sorted.count - 1)
    let lower = Int(position.rounded(.down))
    let upper = min(sorted.count - 1, lower + 1)
    let fraction = position - Double(lower)
    return sorted[lower] + (sorted[upper] - sorted[lower]) * fraction
}
