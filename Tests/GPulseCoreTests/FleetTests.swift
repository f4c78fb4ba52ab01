import Testing

@testable import GPulseCore

private let second: Int64 = 1_000_000_000

private func batch(
    _ node: String, pool: String = "p", seq: UInt64, session: UInt64 = 1, at t0: Int64, series: [Series] = [], dropped: UInt64 = 0
) -> MetricsBatch {
    MetricsBatch(labels: NodeLabels(nodeID: node, pool: pool), session: session, seq: seq, t0UnixNanos: t0, series: series, droppedSamples: dropped)
}

private func series(_ kind: SignalKind, _ subject: String = "", values: [Float], everyMicros: UInt32 = 100_000) -> Series {
    Series(kind: kind, subject: subject, offsetsMicros: values.indices.map { UInt32($0) * everyMicros }, values: values)
}

@Suite struct LoadIndexTests {
    @Test func weightsMustBeNonNegativeAndSumToOne() {
        #expect(LoadIndexSettings().problems().isEmpty)
        let negative = LoadIndexSettings(alpha: 1.2, beta: -0.2, gamma: 0).problems()
        #expect(negative.contains { $0.setting == .beta })
        let sum = LoadIndexSettings(alpha: 0.5, beta: 0.5, gamma: 0.5).problems()
        #expect(sum.contains { $0.message.contains("sum to 1") })
        #expect(LoadIndexSettings(latencyRefMs: 0).problems().contains { $0.setting == .latencyRef })
    }

    @Test func severalGPUsAreAveragedWithTheChosenSignal() {
        let inputs = NodeInputs(
            gpus: [.init(uuid: "a", utilization: 0.9, memoryFraction: 0.2), .init(uuid: "b", utilization: 0.1, memoryFraction: 0.7)],
            cpuUtil: 0.5, rttMs: 50)
        // max: (0.9 + 0.7)/2 = 0.8 → 0.6·0.8 + 0.3·0.5 + 0.1·min(1, 50/100) = 0.48 + 0.15 + 0.05
        #expect(abs(LoadIndexSettings().loadIndex(inputs)! - 0.68) < 1e-12)
        // utilization: (0.9 + 0.1)/2 = 0.5 → 0.3 + 0.15 + 0.05
        #expect(abs(LoadIndexSettings(gpuSignal: .utilization).loadIndex(inputs)! - 0.5) < 1e-12)
        // memory: (0.2 + 0.7)/2 = 0.45 → 0.27 + 0.15 + 0.05
        #expect(abs(LoadIndexSettings(gpuSignal: .memory).loadIndex(inputs)! - 0.47) < 1e-12)
    }

    @Test func smActiveStandsForBusyWhereTheGPUHasGPM() {
        // GPU a: NVML says 100 % (a kernel ran), GPM says 35 % of SMs busy; GPU b has no GPM.
        let inputs = NodeInputs(gpus: [.init(uuid: "a", utilization: 1.0, memoryFraction: 0.2, smActive: 0.35), .init(uuid: "b", utilization: 0.5, memoryFraction: 0.1)])
        let gpuOnly = { (signal: GPUSignal) in LoadIndexSettings(alpha: 1, beta: 0, gamma: 0, gpuSignal: signal).loadIndex(inputs)! }
        #expect(abs(gpuOnly(.max) - (0.35 + 0.5) / 2) < 1e-12)
        #expect(abs(gpuOnly(.smActive) - (0.35 + 0.5) / 2) < 1e-12)
        #expect(abs(gpuOnly(.utilization) - (1.0 + 0.5) / 2) < 1e-12, "utilization stays NVML's")
        // Memory still wins under max where it is higher.
        let full = NodeInputs(gpus: [.init(uuid: "a", utilization: 1.0, memoryFraction: 0.9, smActive: 0.35)])
        #expect(LoadIndexSettings(alpha: 1, beta: 0, gamma: 0).loadIndex(full) == 0.9)
    }

    @Test func missingSignalsDropTheirTermAndRenormalise() {
        let settings = LoadIndexSettings(alpha: 0.6, beta: 0.3, gamma: 0.1, latencyRefMs: 100)
        // CPU-only node: only β·U_cpu and γ·D_net remain, over β+γ = 0.4. RTT 300 ms saturates at 1.
        let cpuOnly = NodeInputs(cpuUtil: 0.5, rttMs: 300)
        #expect(abs(settings.loadIndex(cpuOnly)! - (0.3 * 0.5 + 0.1 * 1) / 0.4) < 1e-12)
        // A GPU with only memory reported counts under .max with what it has.
        let memoryOnly = NodeInputs(gpus: [.init(uuid: "a", memoryFraction: 0.4)])
        #expect(abs(settings.loadIndex(memoryOnly)! - 0.4) < 1e-12)
        #expect(settings.loadIndex(NodeInputs()) == nil)
    }
}

@Suite struct FleetTests {
    @Test func aConflictingBatchTakesNothing() {
        var fleet = Fleet(settings: FleetSettings())
        let t0: Int64 = 1_700_000_000 * second
        let cpu = series(.cpuUtil, values: [0.5])
        _ = fleet.ingest(batch("n1", seq: 0, session: 1, at: t0, series: [cpu]), nowNanos: t0)
        _ = fleet.ingest(batch("n1", seq: 0, session: 2, at: t0, series: [cpu]), nowNanos: t0 + second)
        let r = fleet.ingest(batch("n1", seq: 5, session: 1, at: t0, series: [cpu], dropped: 9), nowNanos: t0 + 2 * second)
        #expect(r.outcome == .conflict)
        #expect(fleet.nodes["n1"]?.lastSeenNanos == t0 + second)
        #expect(fleet.nodes["n1"]?.samples == 2 && fleet.nodes["n1"]?.agentDroppedSamples == 0)
    }

    @Test func nodesGoLiveStaleDownAndAreForgottenOnAnInjectedClock() {
        var fleet = Fleet(settings: FleetSettings(staleAfterSeconds: 5, downAfterSeconds: 30, forgetAfterSeconds: 60))
        let t0: Int64 = 1_700_000_000 * second
        let first = fleet.ingest(batch("n1", seq: 0, at: t0), nowNanos: t0)
        #expect(first.transition?.from == nil && first.transition?.to == .live)
        let r1 = fleet.tick(nowNanos: t0 + 5 * second)
        #expect(r1?.transitions.isEmpty == true)  // 5 s silent: not yet stale
        let stale = fleet.tick(nowNanos: t0 + 6 * second)?.transitions ?? []
        #expect(stale.map(\.to) == [.stale])
        let r2 = fleet.tick(nowNanos: t0 + 31 * second)
        #expect(r2?.transitions.map(\.to) == [.down])
        // Back: live again, with a transition from down.
        let back = fleet.ingest(batch("n1", seq: 1, at: t0 + 40 * second), nowNanos: t0 + 40 * second)
        #expect(back.transition?.from == .down && back.transition?.to == .live)
        let r3 = fleet.tick(nowNanos: t0 + 101 * second)
        #expect(r3?.transitions.map(\.to) == [nil])
        #expect(fleet.tick(nowNanos: t0 + 101 * second + 50_000_000) == nil, "refreshed 50 ms ago: nothing to do")
        #expect(fleet.nodes.isEmpty)
    }

    @Test func gapsRestartsAndAgentDropsAreCountedApart() {
        var fleet = Fleet(settings: FleetSettings())
        let t: Int64 = 1_700_000_000 * second
        _ = fleet.ingest(batch("n1", seq: 0, at: t, series: [series(.cpuUtil, values: [0.5, 0.5])]), nowNanos: t)
        let r4 = fleet.ingest(batch("n1", seq: 3, at: t, dropped: 7), nowNanos: t)
        #expect(r4.outcome == .gap(missing: 2))
        let r5 = fleet.ingest(batch("n1", seq: 3, at: t), nowNanos: t)
        #expect(r5.outcome == .duplicate)
        let r6 = fleet.ingest(batch("n1", seq: 0, session: 2, at: t), nowNanos: t)
        #expect(r6.outcome == .restarted)
        let node = fleet.nodes["n1"]!
        #expect(node.sequence.missing == 2)
        #expect(node.sequence.restarts == 1)
        #expect(node.sequence.duplicates == 1)
        #expect(node.agentDroppedSamples == 7)
        #expect(node.samples == 2)
    }

    @Test func poolLoadAndDemandComeFromLiveNodesOnly() {
        var fleet = Fleet(settings: FleetSettings(loadIndex: LoadIndexSettings(alpha: 0, beta: 1, gamma: 0)))
        let t: Int64 = 1_700_000_000 * second
        _ = fleet.ingest(batch("a", seq: 0, at: t, series: [series(.cpuUtil, values: [0.2, 0.4])]), nowNanos: t)
        _ = fleet.ingest(batch("b", seq: 0, at: t, series: [series(.cpuUtil, values: [0.9])]), nowNanos: t)
        _ = fleet.ingest(batch("c", pool: "q", seq: 0, at: t, series: [series(.cpuUtil, values: [1])]), nowNanos: t)
        _ = fleet.tick(nowNanos: t + second)
        let p = fleet.pools["p"]!.latest!
        #expect(p.liveNodes == 2)
        #expect(abs(p.demand - 1.2) < 1e-6)  // 0.3 + 0.9
        #expect(abs(p.loadMax - 0.9) < 1e-6)
        #expect(abs(p.loadMean - 0.6) < 1e-6)
        // b goes silent past stale: p counts only a.
        _ = fleet.ingest(batch("a", seq: 1, at: t + 9 * second, series: [series(.cpuUtil, values: [0.5])]), nowNanos: t + 9 * second)
        _ = fleet.tick(nowNanos: t + 10 * second)
        #expect(fleet.pools["p"]!.latest!.liveNodes == 1)
        #expect(abs(fleet.pools["p"]!.latest!.demand - 0.5) < 1e-6)
    }

    @Test func windowsAreBoundedByAgeAndCountAndReportTheirMemory() {
        var window = SampleWindow(spanSeconds: 1, capacity: 100)
        for i in 0..<50 { window.append(time: Int64(i) * 100_000_000, value: Float(i)) }  // 10 Hz for 5 s
        #expect(window.count == 11)  // 4.0 ... 5.0 s after the newest at 4.9 s: 3.9 ... 4.9
        #expect(window.mean(since: 4_500_000_000) == Double(45 + 46 + 47 + 48 + 49) / 5)
        var tight = SampleWindow(spanSeconds: 10, capacity: 16)
        for i in 0..<40 { tight.append(time: Int64(i), value: 1) }
        #expect(tight.count == 16)
        #expect(tight.evictedEarly == 24)
        #expect(tight.bytes >= 16 * 12 && tight.bytes < 64 * 12)
        var fleet = Fleet(settings: FleetSettings(maxSamplesPerSeries: 16, maxSeriesPerNode: 2))
        let many = [series(.cpuUtil, values: [0.1]), series(.memUsedFrac, values: [0.1]), series(.rttMs, "x:1", values: [1])]
        _ = fleet.ingest(batch("n", seq: 0, at: 0, series: many), nowNanos: 0)
        #expect(fleet.nodes["n"]!.windows.count == 2)
        #expect(fleet.nodes["n"]!.seriesRefused == 1)
        #expect(fleet.windowBytes > 0)
    }

    @Test func secondsAreDownsampledIntoMinutesAndFeedTheForecaster() {
        var pool = PoolSeries(name: "p", forecast: ForecastSettings(season: 1, horizons: [1], models: [.seasonalNaive]))
        for s in 0..<120 { pool.record(unixSecond: Int64(s), loads: s < 60 ? [0.5, 0.25] : [Double(s % 2)]) }
        pool.record(unixSecond: 120, loads: [])  // closes the second minute
        let minutes = pool.minutes.elements
        #expect(minutes.count == 2)
        #expect(minutes[0].demand == 0.75 && minutes[0].demandMax == 0.75 && minutes[0].loadMax == 0.5 && minutes[0].liveNodes == 2)
        #expect(minutes[1].demand == 0.5 && minutes[1].demandMax == 1 && minutes[1].time == 60)
        #expect(pool.forecaster.observations == 2)
        #expect(pool.forecaster.forecasts().first?.value == 0.5)
    }

    @Test func aBurstIsFlaggedAfterConfirmingSeconds() {
        var detector = BurstDetector(sigmas: 4, minExcess: 0.5, confirmSeconds: 2)
        for i in 0..<120 {
            let started = detector.observe(2 + (i % 2 == 0 ? 0.05 : -0.05))
            #expect(!started)
        }
        let r7 = detector.observe(5)
        #expect(!r7)  // one second is not yet a burst
        let r8 = detector.observe(5)
        #expect(r8)
        #expect(detector.active && detector.excess > 2.5)
        let r9 = detector.observe(2)
        #expect(!r9)
        #expect(!detector.active)
    }
}

@Suite struct PoolAggregateTests {
    @Test func theNewestElementsFoldWithoutCopyingAcrossTheWrap() {
        var ring = RingBuffer<Int>(capacity: 4)
        for i in 1...3 { ring.append(i) }
        #expect(ring.reduceNewest(2, [Int]()) { $0 + [$1] } == [3, 2])
        for i in 4...6 { ring.append(i) }  // holds 3, 4, 5, 6; storage has wrapped
        #expect(ring.reduceNewest(3, [Int]()) { $0 + [$1] } == [6, 5, 4])
        let sum = ring.reduceNewest(10, 0) { $0 + $1 }
        #expect(sum == 18)
    }

    @Test func aPoolsBacklogIsTheSumOverItsLiveNodesAtEachRefresh() {
        var fleet = Fleet(settings: FleetSettings())
        let t0: Int64 = 1_700_000_000 * second
        _ = fleet.ingest(batch("a", pool: "jobs", seq: 0, at: t0, series: [series(.appBacklog, "app", values: [100, 100])]), nowNanos: t0)
        _ = fleet.ingest(batch("b", pool: "jobs", seq: 0, at: t0, series: [series(.appBacklog, "app", values: [40]), series(.cpuUtil, values: [0.5])]), nowNanos: t0)
        _ = fleet.ingest(batch("c", pool: "web", seq: 0, at: t0, series: [series(.cpuUtil, values: [0.5])]), nowNanos: t0)
        _ = fleet.tick(nowNanos: t0 + second / 2)
        #expect(fleet.pools["jobs"]?.backlog == 140)
        #expect(fleet.pools["web"]?.backlog == nil, "nobody reports a backlog there")
    }
}
