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
