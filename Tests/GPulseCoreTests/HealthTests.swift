import Testing

@testable import GPulseCore

private let second: Int64 = 1_000_000_000
private let t0: Int64 = 1_700_000_000 * second

/// A node's batch: GPU utilization `util` on GPU-0, plus the health series given.
private func batch(_ node: String, seq: UInt64, at t: Int64, util: Float = 0.5, health: [Series] = []) -> MetricsBatch {
    MetricsBatch(
        labels: NodeLabels(nodeID: node, pool: "p"), session: 1, seq: seq, t0UnixNanos: t,
        series: [Series(kind: .gpuUtil, subject: "GPU-0", offsetsMicros: [0], values: [util])] + health)
}

private func one(_ kind: SignalKind, _ value: Float, gpu: String = "GPU-0") -> Series {
    Series(kind: kind, subject: gpu, offsetsMicros: [0], values: [value])
}

@Suite struct HealthTests {
    /// Two nodes; `faulty` reports `fault` once at second 2. Returns the fleet and each second's health changes.
    private func run(
        fault: Series, seconds: Int64, settings: HealthSettings = .init(recoverAfterSeconds: 30)
    ) -> (Fleet, [Int64: [HealthChange]], [Int64: PoolPoint]) {
        var fleet = Fleet(settings: FleetSettings(staleAfterSeconds: 5, downAfterSeconds: 30, health: settings))
        var changes: [Int64: [HealthChange]] = [:]
        var points: [Int64: PoolPoint] = [:]
        for s in 1...seconds {
            let now = t0 + s * second
            _ = fleet.ingest(batch("ok", seq: UInt64(s), at: now - second / 2, util: 0.4), nowNanos: now)
            _ = fleet.ingest(batch("faulty", seq: UInt64(s), at: now - second / 2, util: 0.6, health: s == 2 ? [fault] : []), nowNanos: now)
            if let out = fleet.tick(nowNanos: now) {
                if !out.health.isEmpty { changes[s] = out.health }
                points[s] = fleet.pool("p")?.current
            }
        }
        return (fleet, changes, points)
    }

    @Test func aCriticalXIDTakesTheNodesCapacityOutUntilItRecovers() {
        let (fleet, changes, points) = run(fault: one(.gpuXID, 79), seconds: 40)
        // Unhealthy at the refresh after the batch, named with its GPU and XID.
        #expect(changes[2]?.map(\.nodeID) == ["faulty"] && changes[2]?.first?.healthy == false)
        #expect(changes[2]?.first?.reason == "GPU-0 XID 79")
        // Its capacity is not counted, its load still is demand: 1 live node carrying 0.4 + 0.6.
        #expect(points[1]?.liveNodes == 2)
        #expect(points[3]?.liveNodes == 1 && abs((points[3]?.demand ?? 0) - 1.0) < 1e-6 && abs((points[3]?.loadMean ?? 0) - 0.4) < 1e-6)
        #expect(fleet.pool("p")?.unhealthyNodes == 0, "recovered by second 40")
        // Healthy again 30 s after the last fault (second 32), saying what it recovered from.
        #expect(changes[32]?.first?.healthy == true && changes[32]?.first?.reason == "GPU-0 XID 79")
        #expect(changes.keys.sorted() == [2, 32], "one change each way: \(changes)")
        #expect(points[31]?.liveNodes == 1 && points[32]?.liveNodes == 2)
        #expect(fleet.nodes["faulty"]?.health.episodes == 1)
    }

    @Test func applicationXIDsAreIgnoredByDefault() {
        for xid: Float in [13, 31, 43, 45, 68] {
            let (_, changes, points) = run(fault: one(.gpuXID, xid), seconds: 4)
            #expect(changes.isEmpty && points[3]?.liveNodes == 2, "XID \(xid)")
        }
        // The list is the config's: with none ignored, 13 counts.
        let (_, changes, _) = run(fault: one(.gpuXID, 13), seconds: 4, settings: .init(ignoredXIDs: [], recoverAfterSeconds: 30))
        #expect(changes[2]?.first?.reason == "GPU-0 XID 13")
    }

    @Test func uncorrectedECCCountsMatterWhenTheyRise() {
        var fleet = Fleet(settings: FleetSettings(health: .init(recoverAfterSeconds: 10)))
        func step(_ s: Int64, ecc: Float) -> [HealthChange] {
            _ = fleet.ingest(batch("n", seq: UInt64(s), at: t0 + s * second, health: [one(.gpuECCUncorrected, ecc)]), nowNanos: t0 + s * second)
            return fleet.tick(nowNanos: t0 + s * second)?.health ?? []
        }
        // The first count is a baseline: errors from before this aggregator saw the node are not news.
        #expect(step(1, ecc: 4).isEmpty && step(2, ecc: 4).isEmpty)
        #expect(step(3, ecc: 6).first?.reason == "GPU-0 uncorrected ECC errors +2")
        // Falling (a driver reload restarts the volatile count) is a new baseline, not a fault.
        for s in Int64(4)...12 { #expect(step(s, ecc: 6).isEmpty, "second \(s)") }
        #expect(step(13, ecc: 0).first?.healthy == true, "10 s after the rise, healthy")
        #expect(step(14, ecc: 0).isEmpty && step(15, ecc: 1).first?.healthy == false)
    }

    @Test func aLostGPUStaysUnhealthyWhileItIsReported() {
        var fleet = Fleet(settings: FleetSettings(staleAfterSeconds: 5, downAfterSeconds: 30, health: .init(recoverAfterSeconds: 5)))
        var changes: [(Int64, Bool)] = []
        for s in Int64(1)...20 {
            // Reported lost every second from 2 to 9; a row remapping failure is the same kind of fault.
            let health = (2...9).contains(s) ? [one(.gpuLost, 1), one(.gpuRowRemapFailed, 0)] : [one(.gpuLost, 0)]
            _ = fleet.ingest(batch("n", seq: UInt64(s), at: t0 + s * second, health: health), nowNanos: t0 + s * second)
            for c in fleet.tick(nowNanos: t0 + s * second)?.health ?? [] { changes.append((s, c.healthy)) }
        }
        #expect(changes.map(\.0) == [2, 14] && changes.map(\.1) == [false, true])
    }

    @Test func hostileHealthValuesNeitherTrapNorGrowWithoutBound() {
        var fleet = Fleet(settings: FleetSettings(health: .init(recoverAfterSeconds: 10)))
        // A finite but huge XID and ECC count, and more GPU subjects than a node has.
        var series = [one(.gpuXID, 3e38), one(.gpuECCUncorrected, 3e38)]
        series += (0..<200).map { one(.gpuECCUncorrected, 1, gpu: "GPU-\($0)") }
        _ = fleet.ingest(batch("n", seq: 1, at: t0, health: series), nowNanos: t0)
        _ = fleet.ingest(batch("n", seq: 2, at: t0 + second, health: (0..<200).map { one(.gpuECCUncorrected, 2, gpu: "GPU-\($0)") }), nowNanos: t0 + second)
        let changes = fleet.tick(nowNanos: t0 + second)?.health ?? []
        // The huge XID is not a code anyone lists, so it counts as a fault (-1 stands for "not a code").
        #expect(changes.first?.healthy == false)
        #expect(fleet.nodes["n"]?.health.isHealthy == false)

        // Bounded: a node follows the ECC counts of its first 64 GPU subjects only, so rises on the
        // 136 subjects past them are not tracked (and cost no memory), while one within them is.
        let later = t0 + 2 * second
        _ = fleet.ingest(batch("m", seq: 1, at: later, health: (0..<200).map { one(.gpuECCUncorrected, 1, gpu: "GPU-\($0)") }), nowNanos: later)
        _ = fleet.ingest(batch("m", seq: 2, at: later, health: (64..<200).map { one(.gpuECCUncorrected, 5, gpu: "GPU-\($0)") }), nowNanos: later)
        _ = fleet.tick(nowNanos: later)
        #expect(fleet.nodes["m"]?.health.isHealthy == true, "rises past the cap are not followed")
        // A huge rise within the cap is a fault with a bounded count, not a trap.
        _ = fleet.ingest(batch("m", seq: 3, at: later, health: [one(.gpuECCUncorrected, 3e38, gpu: "GPU-63")]), nowNanos: later)
        _ = fleet.tick(nowNanos: later + second)
        // (1e15 as a Float, the bound the rise is clamped to before it becomes an Int.)
        #expect(fleet.nodes["m"]?.health.reason == "GPU-63 uncorrected ECC errors +\(Int(Float(1e15)))")
    }

    @Test func aPoolWhoseEveryNodeIsUnhealthyIsStillDecided() {
        var fleet = Fleet(settings: FleetSettings(health: .init(recoverAfterSeconds: 300)))
        let settings = EngineSettings(resendSeconds: 10, validForSeconds: 30) { _ in PoolSetup(policy: ThresholdPolicy(settings: .init())) }
        var engine = DecisionEngine(settings: settings, idPrefix: "t")
        _ = fleet.ingest(batch("a", seq: 1, at: t0, util: 0.9, health: [one(.gpuXID, 79)]), nowNanos: t0)
        let out = fleet.tick(nowNanos: t0 + second)
        let events = out?.health.map { engine.nodeEvent($0) } ?? []
        guard case .node(let n) = events.first?.body else {
            Issue.record("expected an UNHEALTHY node event, got \(events)")
            return
        }
        #expect(n.kind == .unhealthy && n.reason == "GPU-0 XID 79" && events.first?.topic == "node/a")
        let decisions = engine.evaluate(fleet: fleet, nowNanos: t0 + second)
        guard case .scale(let s) = decisions.first(where: { $0.topic == "scale/p" })?.body else {
            Issue.record("expected a scale decision for a pool of unhealthy nodes, got \(decisions)")
            return
        }
        #expect(s.currentReplicas == 0 && s.desiredReplicas >= 1, "\(s)")
    }

    @Test func healthSettingsAreChecked() {
        #expect(FleetSettings().problems().isEmpty)
        #expect(FleetSettings(health: .init(recoverAfterSeconds: 0)).problems().contains { $0.setting == .healthRecoverAfter })
        #expect(FleetSettings(health: .init(ignoredXIDs: [0], recoverAfterSeconds: 60)).problems().contains { $0.setting == .healthIgnoredXIDs })
    }
}
