import Foundation
import Testing

@testable import GPulseCore

/// Numbers an agent sends are untrusted: the extremes a well-formed batch can carry must not trap.
@Suite struct HostileNumbersTests {
    @Test func aSequenceJumpBeyondAnyRealLossIsANewSessionNotMissingBatches() {
        var t = SequenceTracker()
        #expect(t.observe(session: 1, seq: 0) == .first)
        #expect(t.observe(session: 1, seq: UInt64.max) == .restarted)
        #expect(t.missing == 0 && t.restarts == 1)
        #expect(t.observe(session: 1, seq: 0) == .duplicate)
        var u = SequenceTracker()
        _ = u.observe(session: 1, seq: 0)
        #expect(u.observe(session: 1, seq: 11) == .gap(missing: 10))
    }

    /// Found by the snapshot fuzz target: a restored open minute whose start is not a whole minute
    /// made the next minute's gap-filling count -0 missed minutes and trap on `1...0`.
    @Test func aRestoredMinuteOffTheMinuteGridDoesNotTrap() throws {
        var pool = PoolSeries(name: "p", forecast: ForecastSettings(season: 10, horizons: [1]), secondsKept: 300, minutesKept: 60)
        for t in Int64(0)...61 { pool.record(unixSecond: t, loads: [0.5]) }
        let json = String(decoding: try JSONEncoder().encode(pool), as: UTF8.self)
        #expect(json.contains(#""start":60"#))
        var restored = try JSONDecoder().decode(PoolSeries.self, from: Data(json.replacingOccurrences(of: #""start":60"#, with: #""start":90"#).utf8))
        restored.record(unixSecond: 180, loads: [0.5])
        restored.record(unixSecond: Int64.max - 5, loads: [0.5])
        #expect(restored.minutes.elements.map(\.time).prefix(3) == [0, 90, 180])
    }

    @Test func countsSaturateInsteadOfTrapping() {
        var fleet = Fleet(settings: FleetSettings())
        let t0: Int64 = 1_700_000_000_000_000_000
        for seq in 0..<3 as Range<UInt64> {
            let b = MetricsBatch(
                labels: NodeLabels(nodeID: "n", pool: "p"), session: 1, seq: seq, t0UnixNanos: t0,
                series: [Series(kind: .cpuUtil, offsetsMicros: [0], values: [0.5])], droppedSamples: UInt64.max / 2 + 1)
            _ = fleet.ingest(b, nowNanos: t0)
        }
        #expect(fleet.nodes["n"]!.agentDroppedSamples == UInt64.max)
        var x: UInt64 = .max - 1
        x.addSaturating(5)
        #expect(x == .max)
    }

    @Test func timesAtTheEndsOfInt64DoNotTrap() {
        let late = MetricsBatch(
            labels: NodeLabels(nodeID: "n", pool: "p"), session: 1, seq: 0, t0UnixNanos: Int64.max - 10,
            series: [Series(kind: .cpuUtil, offsetsMicros: [UInt32.max], values: [0.5])])
        #expect(late.newestSampleNanos == Int64.max)
        #expect(Int64.min.subtractingSaturating(1) == Int64.min)
        #expect(Int64.max.addingSaturating(1) == Int64.max)
        // Straight into the fleet (replay and tests bypass the ingest gate): no trap either way.
        var fleet = Fleet(settings: FleetSettings())
        _ = fleet.ingest(late, nowNanos: 0)
        var early = late
        early.labels.nodeID = "m"
        early.t0UnixNanos = Int64.min
        _ = fleet.ingest(early, nowNanos: 0)
        _ = fleet.tick(nowNanos: 0)
        var w = SampleWindow(spanSeconds: 10, capacity: 16)
        w.append(time: Int64.min, value: 1)
        #expect(w.count == 1 && w.recentMean(seconds: 1) == 1)
        #expect(fleet.nodes.count == 2)
    }
}
