import Testing

@testable import GPulseCore

private let second: Int64 = 1_000_000_000
private let t0: Int64 = 1_700_000_000 * second

private func batch(_ node: String, pool: String = "p", seq: UInt64 = 0, at t: Int64) -> MetricsBatch {
    MetricsBatch(
        labels: NodeLabels(nodeID: node, pool: pool), session: 1, seq: seq, t0UnixNanos: t,
        series: [Series(kind: .cpuUtil, offsetsMicros: [0], values: [0.5])])
}

/// Admits and ingests as the live gate does; returns the refusal, if any.
@discardableResult
private func offer(_ fleet: inout Fleet, _ b: MetricsBatch, peer: String? = nil, at t: Int64) -> Fleet.Refusal? {
    if let refusal = fleet.admit(b.labels, peer: peer, nowNanos: t) { return refusal }
    _ = fleet.ingest(b, nowNanos: t)
    return nil
}

/// Bounded registry state (issue: nothing an agent sends can crash or stall the aggregator).
@Suite struct AdmissionTests {
    @Test func theNodeCapRefusesNewNodesUntilADownNodeCanMakeRoom() throws {
        var fleet = Fleet(settings: FleetSettings(maxNodes: 3, newNodesPerPeerPerSecond: 0))
        for i in 0..<3 { #expect(offer(&fleet, batch("n\(i)", at: t0), at: t0) == nil) }
        #expect(offer(&fleet, batch("n3", at: t0), at: t0) == .nodeLimit)
        #expect(fleet.nodes.count == 3)
        // Known nodes always pass.
        #expect(offer(&fleet, batch("n0", seq: 1, at: t0), at: t0) == nil)
        // n1 and n2 fall silent past down_after_s (30 s); n0 keeps sending.
        var t = t0
        for s in 1...40 {
            t = t0 + Int64(s) * second
            offer(&fleet, batch("n0", seq: UInt64(s + 1), at: t), at: t)
            _ = fleet.tick(nowNanos: t)
        }
        #expect(fleet.nodes["n1"]?.state == .down && fleet.nodes["n2"]?.state == .down)
        #expect(offer(&fleet, batch("n3", at: t), at: t) == nil)
        #expect(fleet.nodes.count == 3 && fleet.nodes["n3"] != nil)
        // The longest-silent down node made room, and its removal is reported as "forgotten".
        let gone = ["n1", "n2"].filter { fleet.nodes[$0] == nil }
        #expect(gone.count == 1)
        let ticked = fleet.tick(nowNanos: t + second)
        let (transitions, _, _) = try #require(ticked)
        #expect(transitions.contains { $0.nodeID == gone[0] && $0.to == nil })
        // The live one is never evicted.
        #expect(offer(&fleet, batch("n4", at: t), at: t) == nil)
        #expect(offer(&fleet, batch("n5", at: t), at: t) == .nodeLimit)
        #expect(fleet.nodes["n0"] != nil)
    }

    @Test func unlistedPoolsCanBeRefusedAndListedOnesAlwaysEnter() {
        var fleet = Fleet(settings: FleetSettings(maxPools: 2, listedPools: ["llm"], unlistedPools: .refuse))
        #expect(offer(&fleet, batch("a", pool: "llm", at: t0), at: t0) == nil)
        #expect(offer(&fleet, batch("b", pool: "junk", at: t0), at: t0) == .unlistedPool)
        #expect(fleet.poolNames == ["llm"])
        // A known node moving to a refused pool is refused too, and stays where it was.
        #expect(offer(&fleet, batch("a", pool: "junk", seq: 1, at: t0), at: t0) == .unlistedPool)
        #expect(fleet.nodes["a"]?.labels.pool == "llm")
    }

    @Test func thePoolCapMakesRoomOnlyFromEmptyUnlistedPools() {
        var fleet = Fleet(settings: FleetSettings(downAfterSeconds: 30, forgetAfterSeconds: 60, maxPools: 3, listedPools: ["llm"]))
        #expect(offer(&fleet, batch("a", pool: "llm", at: t0), at: t0) == nil)
        #expect(offer(&fleet, batch("b", pool: "x", at: t0), at: t0) == nil)
        #expect(offer(&fleet, batch("c", pool: "y", at: t0), at: t0) == nil)
        #expect(offer(&fleet, batch("d", pool: "z", at: t0), at: t0) == .poolLimit)
        // b and c are forgotten after 60 s of silence; their pools are then empty.
        var t = t0
        for s in 1...70 {
            t = t0 + Int64(s) * second
            offer(&fleet, batch("a", pool: "llm", seq: UInt64(s), at: t), at: t)
            _ = fleet.tick(nowNanos: t)
        }
        #expect(fleet.nodes["b"] == nil && fleet.poolNames == ["llm", "x", "y"])
        #expect(offer(&fleet, batch("d", pool: "z", at: t), at: t) == nil)
        #expect(fleet.poolNames.count == 3 && fleet.poolNames.contains("z") && fleet.poolNames.contains("llm"))
        // A listed pool enters even at the cap.
        var listed = Fleet(settings: FleetSettings(maxPools: 1, listedPools: ["llm"]))
        #expect(offer(&listed, batch("a", pool: "u", at: t0), at: t0) == nil)
        #expect(offer(&listed, batch("b", pool: "llm", at: t0), at: t0) == nil)
        #expect(offer(&listed, batch("c", pool: "v", at: t0), at: t0) == .poolLimit)
    }

    @Test func anEmptyUnlistedPoolIsReclaimedAfterForgetPoolAfter() {
        var fleet = Fleet(settings: FleetSettings(downAfterSeconds: 10, forgetAfterSeconds: 20, listedPools: ["kept"], forgetPoolAfterSeconds: 30))
        offer(&fleet, batch("a", pool: "gone", at: t0), at: t0)
        offer(&fleet, batch("b", pool: "kept", at: t0), at: t0)
        for s in 1...45 { _ = fleet.tick(nowNanos: t0 + Int64(s) * second) }
        // Forgotten at 21 s, so empty from then on: still there at 45 s (24 s empty).
        #expect(fleet.poolNames == ["gone", "kept"])
        for s in 46...60 { _ = fleet.tick(nowNanos: t0 + Int64(s) * second) }
        #expect(fleet.poolNames == ["kept"])
        // A node returning to a reclaimed pool creates it afresh.
        let t = t0 + 61 * second
        #expect(offer(&fleet, batch("a", pool: "gone", seq: 9, at: t), at: t) == nil)
        #expect(fleet.poolNames == ["gone", "kept"])
    }

    @Test func newNodeIdsArePacedPerPeerAddress() {
        var fleet = Fleet(settings: FleetSettings(newNodesPerPeerPerSecond: 5))
        // 10 s worth (50) at once, then 5 a second.
        var refused = 0
        for i in 0..<80 where offer(&fleet, batch("a\(i)", at: t0), peer: "10.0.0.1", at: t0) == .nodeRate { refused += 1 }
        #expect(refused == 30)
        #expect(offer(&fleet, batch("b0", at: t0), peer: "10.0.0.2", at: t0) == nil)
        let later = t0 + 2 * second
        var admitted = 0
        for i in 0..<20 where offer(&fleet, batch("c\(i)", at: later), peer: "10.0.0.1", at: later) == nil { admitted += 1 }
        #expect(admitted == 10)
        // Known nodes are never paced.
        #expect(offer(&fleet, batch("a0", seq: 1, at: later), peer: "10.0.0.1", at: later) == nil)
    }

    @Test func theEngineForgetsAReclaimedPool() {
        var fleet = Fleet(settings: FleetSettings(downAfterSeconds: 10, forgetAfterSeconds: 20, forgetPoolAfterSeconds: 5))
        var engine = DecisionEngine(settings: EngineSettings { _ in PoolSetup(policy: ThresholdPolicy(settings: .init())) }, idPrefix: "t")
        for s in 0..<3 {
            let t = t0 + Int64(s) * second
            offer(&fleet, batch("a", pool: "gone", seq: UInt64(s), at: t), at: t)
            _ = fleet.tick(nowNanos: t)
            _ = engine.evaluate(fleet: fleet, nowNanos: t)
        }
        #expect(engine.current["scale/gone"] != nil)
        for s in 3...40 {
            let t = t0 + Int64(s) * second
            _ = fleet.tick(nowNanos: t)
            _ = engine.evaluate(fleet: fleet, nowNanos: t)
        }
        #expect(fleet.poolNames.isEmpty)
        #expect(engine.current["scale/gone"] == nil && engine.policyName(pool: "gone") == "")
    }
}
