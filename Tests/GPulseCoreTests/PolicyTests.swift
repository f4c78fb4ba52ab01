import Foundation
import Testing

@testable import GPulseCore

private let second: Int64 = 1_000_000_000
private let t0: Int64 = 1_700_000_000 * second

private func input(at s: Double, live: Int, load: Double, demand: Double? = nil, forecasts: [Forecast] = [], floor: Double? = nil,
                   backlog: Double? = nil, workload: WorkloadClass = .online) -> PoolInput {
    PoolInput(
        pool: "p", workload: workload, nowNanos: t0 + Int64(s * 1e9), liveReplicas: live, loadMean: load, demand: demand,
        forecasts: forecasts, demandFloor: floor, backlog: backlog)
}

private let onDemand = InstanceClass(name: "on_demand", kind: .onDemand, hourlyPrice: 3.9, leadTimeSeconds: 180)
private let reserved = InstanceClass(name: "reserved", kind: .reserved, hourlyPrice: 2.2, leadTimeSeconds: 0)
private let serverless = InstanceClass(name: "serverless", kind: .serverless, hourlyPrice: 6.5, leadTimeSeconds: 10)

@Suite struct ThresholdPolicyTests {
    @Test func aSignalOscillatingInsideTheBandNeverScales() {
        var policy = ThresholdPolicy(settings: .init(high: 0.8, low: 0.3, guardSettings: .init(upCooldownSeconds: 0, downCooldownSeconds: 0, maxActionsPerMinute: 60)))
        for s in 0..<600 {
            let load = s % 2 == 0 ? 0.79 : 0.31  // the widest swing the band allows, every second
            let plan = policy.evaluate(input(at: Double(s), live: 4, load: load))
            #expect(plan.desiredReplicas == 4, "second \(s)")
        }
        #expect(policy.actions.lastActionNanos == nil)
    }

    @Test func upAndDownCooldownsHoldChangesBack() {
        var policy = ThresholdPolicy(settings: .init(guardSettings: .init(upCooldownSeconds: 60, downCooldownSeconds: 300, maxActionsPerMinute: 6), settleSeconds: 180))
        #expect(policy.evaluate(input(at: 0, live: 3, load: 0.9)).desiredReplicas == 4)
        // 30 s later, still hot, nothing arrived yet: the change stays in flight, no second step.
        let held = policy.evaluate(input(at: 30, live: 3, load: 0.9))
        #expect(held.desiredReplicas == 4 && held.reason.contains("scale-up cooldown"))
        #expect(policy.evaluate(input(at: 61, live: 4, load: 0.9)).desiredReplicas == 5)
        // Load collapses: scale-down waits 300 s after the last action (t = 61).
        let early = policy.evaluate(input(at: 200, live: 5, load: 0.1))
        #expect(early.desiredReplicas == 5 && early.reason.contains("scale-down cooldown"))
        #expect(policy.evaluate(input(at: 360, live: 5, load: 0.1)).desiredReplicas == 5)
        #expect(policy.evaluate(input(at: 362, live: 5, load: 0.1)).desiredReplicas == 4)
    }

    @Test func theActionCapLimitsActionsPerMinute() {
        var policy = ThresholdPolicy(settings: .init(guardSettings: .init(upCooldownSeconds: 0, downCooldownSeconds: 0, maxActionsPerMinute: 2)))
        var live = 2
        var changes: [Int] = []
        for s in 0..<120 {
            let plan = policy.evaluate(input(at: Double(s), live: live, load: 0.95))
            if plan.desiredReplicas != live { changes.append(s) }
            live = plan.desiredReplicas  // an instant actuator
        }
        #expect(changes == [0, 1, 60, 61])
    }

    @Test func aChangeNotRealisedWithinItsLeadTimeIsDropped() {
        var policy = ThresholdPolicy(settings: .init(guardSettings: .init(upCooldownSeconds: 600), settleSeconds: 180))
        #expect(policy.evaluate(input(at: 0, live: 3, load: 0.9)).desiredReplicas == 4)
        #expect(policy.evaluate(input(at: 100, live: 3, load: 0.5)).desiredReplicas == 4)
        #expect(policy.evaluate(input(at: 181, live: 3, load: 0.5)).desiredReplicas == 3)
    }
}

@Suite struct HPAPolicyTests {
    @Test func matchesTheUpstreamDocumentationExamples() {
        // kubernetes.io: 50 replicas at 90 % CPU with a 75 % target → ceil(50 × 90 / 75) = 60.
        var hpa = HPAPolicy(settings: .init(targetLoad: 0.75, bounds: .init(min: 1, max: 1000)))
        #expect(hpa.evaluate(input(at: 0, live: 50, load: 0.9)).desiredReplicas == 60)
        // Current 200m against a 100m target doubles the replicas (4 → 8; +100 % is within the default rate).
        var doubling = HPAPolicy(settings: .init(targetLoad: 0.1))
        #expect(doubling.evaluate(input(at: 0, live: 4, load: 0.2)).desiredReplicas == 8)
        // Ratio 1.05 is inside the 0.1 tolerance: no change.
        var tolerant = HPAPolicy(settings: .init(targetLoad: 0.6))
        let plan = tolerant.evaluate(input(at: 0, live: 10, load: 0.63))
        #expect(plan.desiredReplicas == 10 && plan.reason.contains("tolerance"))
    }

    @Test func evaluatesOncePerSyncPeriod() {
        var hpa = HPAPolicy(settings: .init(targetLoad: 0.5))
        #expect(hpa.evaluate(input(at: 0, live: 4, load: 0.5)).desiredReplicas == 4)
        #expect(hpa.evaluate(input(at: 10, live: 4, load: 1.0)).desiredReplicas == 4, "10 s: before the next 15 s sync")
        #expect(hpa.evaluate(input(at: 15, live: 4, load: 1.0)).desiredReplicas == 8)
    }

    @Test func scaleDownWaitsForTheStabilizationWindowAndScaleUpIsRateLimited() {
        var hpa = HPAPolicy(settings: .init(targetLoad: 0.5, bounds: .init(min: 1, max: 100)))
        #expect(hpa.evaluate(input(at: 0, live: 10, load: 0.5)).desiredReplicas == 10)
        // Load halves: the recommendation is 5, but 10 was recommended within 300 s.
        for s in stride(from: 15.0, through: 300, by: 15) {
            #expect(hpa.evaluate(input(at: s, live: 10, load: 0.25)).desiredReplicas == 10, "t=\(s)")
        }
        #expect(hpa.evaluate(input(at: 315, live: 10, load: 0.25)).desiredReplicas == 5)
        // Upstream default scale-up: max(+100 %, +4 pods) per 15 s; from 2 replicas, 6 at most.
        var burst = HPAPolicy(settings: .init(targetLoad: 0.1))
        let plan = burst.evaluate(input(at: 0, live: 2, load: 1.0))
        #expect(plan.desiredReplicas == 6 && plan.reason.contains("rate limit"))
    }
}

@Suite struct KPAPolicyTests {
    @Test func stableModeAveragesTheStableWindow() {
        var kpa = KPAPolicy(settings: .init(targetLoad: 0.5, bounds: .init(min: 1, max: 1000)))
        var plan = kpa.evaluate(input(at: 0, live: 5, load: 0.6, demand: 3))
        for s in 1...60 { plan = kpa.evaluate(input(at: Double(s), live: 5, load: 0.6, demand: 3)) }
        #expect(plan.desiredReplicas == 6 && !kpa.isPanicking)  // ceil(3 / 0.5)
    }

    @Test func panicsAt200PercentAndDoesNotScaleDownWhilePanicking() {
        var kpa = KPAPolicy(settings: .init(targetLoad: 0.5, bounds: .init(min: 1, max: 1000)))
        for s in 0..<60 { _ = kpa.evaluate(input(at: Double(s), live: 2, load: 0.5, demand: 1)) }
        // Demand triples: over the 6 s panic window ceil(3 / 0.5) = 6 ≥ 200 % of 2 ready.
        var plan = kpa.evaluate(input(at: 60, live: 2, load: 1, demand: 3))
        for s in 61...66 { plan = kpa.evaluate(input(at: Double(s), live: 2, load: 1, demand: 3)) }
        #expect(kpa.isPanicking)
        #expect(plan.desiredReplicas == 6 && plan.reason.hasPrefix("panic"))
        // Back to normal with 6 ready: the panic count holds until a stable window passes without panic.
        for s in 67..<126 {
            plan = kpa.evaluate(input(at: Double(s), live: 6, load: 0.17, demand: 1))
            #expect(plan.desiredReplicas == 6, "t=\(s)")
        }
        for s in 126...132 { plan = kpa.evaluate(input(at: Double(s), live: 6, load: 0.17, demand: 1)) }
        #expect(!kpa.isPanicking)
        #expect(plan.desiredReplicas == 3)  // floor(6 / max-scale-down-rate 2) = 3 bounds ceil(avg / 0.5)
    }
}

@Suite struct PredictivePolicyTests {
    @Test func provisionsForTheForecastAtTheLeadTime() {
        let forecasts = [
            Forecast(horizonSeconds: 60, mean: 1, lower: 1, upper: 1, level: 0),
            Forecast(horizonSeconds: 300, mean: 3.5, lower: 3, upper: 4, level: 0.8),
        ]
        var policy = PredictivePolicy(settings: .init(targetLoad: 0.7, guardSettings: .init(upCooldownSeconds: 0, downCooldownSeconds: 0, maxActionsPerMinute: 60), instanceClass: onDemand))
        // Lead time 180 s: the 5-minute forecast covers it; ceil(3.5 / 0.7) = 5.
        let plan = policy.evaluate(input(at: 0, live: 2, load: 0.5, forecasts: forecasts))
        #expect(plan.desiredReplicas == 5)
        #expect(plan.allocation == [Allocation(instanceClass: "on_demand", count: 5, hourlyPrice: 3.9)])
        #expect(abs(plan.expectedHourlyCost - 19.5) < 1e-9)
        // Never below the demand now.
        #expect(policy.evaluate(input(at: 1, live: 5, load: 0.84, demand: 4.2, forecasts: forecasts)).desiredReplicas == 6)
        // Cold start: the demand alone, said so.
        var cold = PredictivePolicy(settings: .init(instanceClass: onDemand))
        let coldPlan = cold.evaluate(input(at: 0, live: 2, load: 0.7))
        #expect(coldPlan.desiredReplicas == 2 && coldPlan.reason.contains("cold start"))
    }
}

@Suite struct CostAwarePolicyTests {
    @Test func inverseNormalMatchesTables() {
        #expect(abs(inverseNormal(0.975) - 1.959964) < 1e-6)
        #expect(abs(inverseNormal(0.9) - 1.281552) < 1e-6)
        #expect(abs(inverseNormal(0.5)) < 1e-12)
        #expect(abs(inverseNormal(0.01) + 2.326348) < 1e-6)
    }

    @Test func provisionsTheNewsvendorQuantile() {
        // q* = p / (p + c): a penalty equal to the price is the median; three times it the 75th percentile.
        let f = Forecast(horizonSeconds: 300, mean: 10, lower: 8, upper: 12, level: 0.8)
        let sigma = 4 / (2 * 1.2815515655446004)
        for (penalty, expectedQ) in [(3.9, 0.5), (11.7, 0.75)] {
            var policy = CostAwarePolicy(settings: .init(targetLoad: 0.7, slaPenaltyPerNodeHour: penalty, onDemand: onDemand))
            #expect(abs(policy.settings.serviceQuantile - expectedQ) < 1e-12)
            let quantile = 10 + inverseNormal(expectedQ) * sigma
            let plan = policy.evaluate(input(at: 0, live: 10, load: 0.7, forecasts: [f]))
            #expect(plan.desiredReplicas == Int((quantile / 0.7).rounded(.up)), "penalty \(penalty)")
        }
        // The median of this forecast: ceil(10 / 0.7) = 15; the 75th percentile 10 + 0.674·1.56 = 11.05 → 16.
        var median = CostAwarePolicy(settings: .init(slaPenaltyPerNodeHour: 3.9, onDemand: onDemand))
        #expect(median.evaluate(input(at: 0, live: 10, load: 0.7, forecasts: [f])).desiredReplicas == 15)
    }

    @Test func reservedBaselineOnDemandAboveAndServerlessForTheGapNow() {
        let f = Forecast(horizonSeconds: 300, mean: 7, lower: 7, upper: 7, level: 0)
        var policy = CostAwarePolicy(settings: .init(targetLoad: 0.7, slaPenaltyPerNodeHour: 20, reserved: reserved, onDemand: onDemand, serverless: serverless))
        // No arrival rate is reported, so the planner sizes demand over the target load. Floor 3.6 →
        // ceil(3.6 / 0.7) = 6 reserved (committed for the class's term) of ceil(7 / 0.7) = 10; demand
        // now 5 on 4 live nodes needs ceil(5 / 0.7) = 8, 4 short → 4 serverless.
        let plan = policy.evaluate(input(at: 0, live: 4, load: 1.25, demand: 5, forecasts: [f], floor: 3.6))
        #expect(plan.desiredReplicas == 10)
        #expect(plan.allocation.map(\.count) == [6, 4, 4])
        #expect(plan.allocation.map(\.instanceClass) == ["reserved", "on_demand", "serverless"])
        #expect(abs(plan.expectedHourlyCost - (6 * 2.2 + 4 * 3.9 + 4 * 6.5)) < 1e-9)
        #expect(policy.committed(nowNanos: 0) == 6)
    }

    @Test func aRestoredPolicyKeepsItsMixThroughTheCooldown() {
        let f = Forecast(horizonSeconds: 300, mean: 7, lower: 7, upper: 7, level: 0)
        let settings = CostAwarePolicy.Settings(targetLoad: 0.7, slaPenaltyPerNodeHour: 20, reserved: reserved, onDemand: onDemand, serverless: serverless)
        var before = CostAwarePolicy(settings: settings)
        let first = before.evaluate(input(at: 0, live: 4, load: 1.25, demand: 5, forecasts: [f], floor: 3.6))
        #expect(first.allocation.map(\.count) == [6, 4, 4])
        // After the restart demand drops; the scale-down cooldown (300 s by default) still holds the
        // ten nodes of the mix from before, with no burst now that nothing is short.
        var after = CostAwarePolicy(settings: settings)
        after.restore(before.memory!)
        let low = Forecast(horizonSeconds: 300, mean: 2, lower: 2, upper: 2, level: 0)
        let held = after.evaluate(input(at: 60, live: 10, load: 0.2, demand: 2, forecasts: [low], floor: 1))
        #expect(held.desiredReplicas == 10 && held.reason.contains("scale-down cooldown"))
        #expect(held.allocation.map(\.count) == [6, 4, 0])
        #expect(after.committed(nowNanos: 60) == 6)
    }

    @Test func batchRunsOnSpotUntilTheDeadlineNeedsOnDemand() {
        let spot = InstanceClass(name: "spot", kind: .spot, hourlyPrice: 1.4, leadTimeSeconds: 240, preemptionsPerHour: 0.5)
        var policy = CostAwarePolicy(
            settings: .init(
                bounds: .init(min: 1, max: 10), guardSettings: .init(upCooldownSeconds: 0, downCooldownSeconds: 0, maxActionsPerMinute: 60),
                slaPenaltyPerNodeHour: 20, onDemand: onDemand, spot: spot, deadlineSeconds: 14_400, throughputPerReplica: 1,
                checkpointIntervalSeconds: 1800, restartSeconds: 300))
        // Efficiency 1 − 0.5 × (900 + 300) / 3600 = 5/6.
        #expect(abs(policy.settings.spotEfficiency - 5.0 / 6) < 1e-12)
        // 36 000 units: ceil(36 000 / (5/6 × 14 160)) = 4 spot nodes.
        let easy = policy.evaluate(input(at: 0, live: 2, load: 0.9, backlog: 36_000, workload: .batch))
        #expect(easy.allocation == [spot.allocation(4)])
        // 125 000 units: spot would need 11 > max 10; on demand, ceil(125 000 / 14 220) = 9 make it.
        let late = policy.evaluate(input(at: 1, live: 4, load: 0.9, backlog: 125_000, workload: .batch))
        #expect(late.allocation == [onDemand.allocation(9)])
        #expect(late.reason.contains("cannot meet the deadline") && !late.reason.contains("missed"))
        // 300 000 units: not even 10 on-demand nodes make it; it says so.
        let lost = policy.evaluate(input(at: 2, live: 9, load: 0.9, backlog: 300_000, workload: .batch))
        #expect(lost.desiredReplicas == 10 && lost.reason.contains("deadline missed"))
    }
}

@Suite struct OffloadPolicyTests {
    private func offload(at s: Double, load: Double?, rtt: Double? = 20, cloudNodes: Int = 4, cloudDemand: Double = 1) -> OffloadInput {
        OffloadInput(nowNanos: t0 + Int64(s * 1e9), edgeLoad: load, edgeLiveNodes: 1, rttMs: rtt, cloudLiveNodes: cloudNodes, cloudDemand: cloudDemand)
    }

    private let settings = OffloadPolicy.Settings(
        site: "paris", target: "cloud", high: 0.85, release: 0.6, targetLoad: 0.7, budgetMs: 150, cloudLatencyMs: 60, maxStep: 0.2,
        stepIntervalSeconds: 10, sustainSeconds: 5)

    @Test func offloadsInStepsOnlyAfterTheLoadIsSustainedAndTakesItBack() {
        var policy = OffloadPolicy(settings: settings)
        for s in 0..<5 { #expect(policy.evaluate(offload(at: Double(s), load: 0.95)).fraction == 0, "not sustained at \(s) s") }
        // Sustained: wanted 1 − 0.7 / 0.95 = 0.263, first step capped at 0.2.
        #expect(policy.evaluate(offload(at: 5, load: 0.95)).fraction == 0.2)
        #expect(policy.evaluate(offload(at: 10, load: 0.95)).fraction == 0.2, "next step after 10 s")
        // Still 0.95 with 0.2 gone: the site alone would be at 1.1875 → wanted 1 − 0.7 × 0.8 / 0.95 = 0.41; step to 0.4.
        #expect(abs(policy.evaluate(offload(at: 15, load: 0.95)).fraction - 0.4) < 1e-12)
        // Inside the hysteresis band: hold.
        #expect(abs(policy.evaluate(offload(at: 30, load: 0.7)).fraction - 0.4) < 1e-12)
        // Below release: back by steps.
        #expect(abs(policy.evaluate(offload(at: 40, load: 0.5)).fraction - 0.2) < 1e-12)
        #expect(abs(policy.evaluate(offload(at: 45, load: 0.5)).fraction - 0.2) < 1e-12)
        #expect(policy.evaluate(offload(at: 50, load: 0.5)).fraction < 1e-12)
    }

    @Test func partialWhenTheCloudHasLittleHeadroom() {
        var policy = OffloadPolicy(settings: settings)
        for s in 0..<5 { _ = policy.evaluate(offload(at: Double(s), load: 0.95, cloudNodes: 2, cloudDemand: 1.3)) }
        // Headroom 2 × 0.7 − 1.3 = 0.1 replica units of the site's 0.95: 0.105.
        let d = policy.evaluate(offload(at: 5, load: 0.95, cloudNodes: 2, cloudDemand: 1.3))
        #expect(abs(d.fraction - 0.1 / 0.95) < 1e-9)
        let full = policy.evaluate(offload(at: 20, load: 0.95, cloudNodes: 2, cloudDemand: 1.4))
        #expect(abs(full.fraction - 0.1 / 0.95) < 1e-9 && full.reason.contains("no headroom"))
    }

    @Test func refusesWhenTheRTTBreaksTheBudget() {
        var policy = OffloadPolicy(settings: settings)
        for s in 0...5 { _ = policy.evaluate(offload(at: Double(s), load: 0.95)) }
        #expect(policy.fraction == 0.2)
        // 120 ms + 60 ms cloud > 150 ms budget: all back, and the reason says why.
        let d = policy.evaluate(offload(at: 6, load: 0.95, rtt: 120))
        #expect(d.fraction == 0)
        #expect(d.reason.contains("breaks the budget") && d.reason.contains("no offload") && d.reason.contains("scale the edge pool"))
        #expect(policy.evaluate(offload(at: 7, load: 0.95, rtt: nil)).reason.contains("no RTT measured"))
        #expect(policy.refused)
        _ = policy.evaluate(offload(at: 8, load: 0.5))
        #expect(!policy.refused, "the RTT fits again")
    }
}

@Suite struct DecisionEngineTests {
    private func gpuBatch(_ node: String, pool: String, site: String = "", seq: UInt64, at t: Int64, util: Float) -> MetricsBatch {
        let values = [Float](repeating: util, count: 10)
        let offsets = values.indices.map { UInt32($0) * 100_000 }
        return MetricsBatch(
            labels: NodeLabels(nodeID: node, pool: pool, site: site), session: 1, seq: seq, t0UnixNanos: t,
            series: [Series(kind: .gpuUtil, subject: "GPU-0", offsetsMicros: offsets, values: values)])
    }

    @Test func changesAreNumberedUnchangedDecisionsReSentAndNodeEventsWrapped() {
        var fleet = Fleet(settings: FleetSettings())
        let settings = EngineSettings(resendSeconds: 10, validForSeconds: 30) { _ in
            PoolSetup(policy: ThresholdPolicy(settings: .init(guardSettings: .init(upCooldownSeconds: 600, downCooldownSeconds: 600, maxActionsPerMinute: 6))))
        }
        var engine = DecisionEngine(settings: settings, idPrefix: "test")
        var sent: [Decision] = []
        for node in ["a", "b"] {
            let (_, transition) = fleet.ingest(gpuBatch(node, pool: "p", seq: 0, at: t0, util: 0.5), nowNanos: t0)
            sent += transition.flatMap { engine.nodeEvent($0) }.map { [$0] } ?? []
        }
        #expect(sent.map(\.topic) == ["node/a", "node/b"] && sent.map(\.seq) == [1, 2])
        _ = fleet.tick(nowNanos: t0 + second)
        sent = engine.evaluate(fleet: fleet, nowNanos: t0 + second)
        guard case .scale(let hold) = sent.first?.body else {
            Issue.record("expected a scale decision, got \(sent)")
            return
        }
        #expect(hold.action == .hold && hold.currentReplicas == 2 && hold.desiredReplicas == 2 && sent.first?.id == "test-3")
        // Hot: one SCALE_UP, numbered anew; the next evaluations send nothing until the re-send is due.
        var seq: UInt64 = 0
        for s in 2..<14 {
            let now = t0 + Int64(s) * second
            for node in ["a", "b"] { _ = fleet.ingest(gpuBatch(node, pool: "p", seq: UInt64(s), at: now - second, util: 0.95), nowNanos: now) }
            _ = fleet.tick(nowNanos: now)
            let out = engine.evaluate(fleet: fleet, nowNanos: now)
            if s == 2 {
                guard case .scale(let up) = out.first?.body else {
                    Issue.record("expected SCALE_UP, got \(out)")
                    return
                }
                #expect(up.action == .scaleUp && up.desiredReplicas == 3 && up.reason.contains("> high"))
                seq = out[0].seq
            } else if s == 10 {
                // The node events of t0 are re-sent 10 s later with their ids.
                #expect(out.map(\.topic).sorted() == ["node/a", "node/b"] && out.map(\.seq).sorted() == [1, 2])
            } else if s == 12 {
                // The SCALE_UP, 10 s later: same id and seq, fresh issue time.
                #expect(out.count == 1 && out.first?.topic == "scale/p" && out.first?.seq == seq && out.first?.issuedUnixNanos == now)
            } else {
                #expect(out.isEmpty, "second \(s): \(out)")
            }
        }
        // Silence: the registry's transition becomes a STALE node event.
        let quiet = fleet.tick(nowNanos: t0 + 20 * second)
        let events = quiet?.transitions.compactMap { engine.nodeEvent($0) } ?? []
        #expect(events.count == 2)
        if case .node(let n) = events.first?.body { #expect(n.kind == .stale) } else { Issue.record("expected a node event") }
    }

    @Test func aRestartedEngineKeepsEachPolicysCooldown() throws {
        let settings = EngineSettings { _ in
            PoolSetup(policy: ThresholdPolicy(settings: .init(guardSettings: .init(upCooldownSeconds: 600, downCooldownSeconds: 600, maxActionsPerMinute: 6))))
        }
        func hotFleet(nodes: [String], at s: Int64) -> Fleet {
            var fleet = Fleet(settings: FleetSettings())
            for node in nodes { _ = fleet.ingest(gpuBatch(node, pool: "p", seq: 0, at: t0 + (s - 1) * second, util: 0.95), nowNanos: t0 + s * second) }
            _ = fleet.tick(nowNanos: t0 + s * second)
            return fleet
        }
        func scale(_ out: [Decision]) -> ScaleDecision? {
            if case .scale(let d) = out.first(where: { $0.topic == "scale/p" })?.body { return d }
            return nil
        }
        var before = DecisionEngine(settings: settings, idPrefix: "a")
        #expect(scale(before.evaluate(fleet: hotFleet(nodes: ["a", "b"], at: 2), nowNanos: t0 + 2 * second))?.desiredReplicas == 3)
        // The memory goes through the snapshot's JSON.
        let encoded = try JSONEncoder().encode(before.policyMemories)
        let memories = try JSONDecoder().decode([String: PolicyMemory].self, from: encoded)
        #expect(memories["p"]?.policy == "threshold" && memories["p"]?.actions.lastUpNanos == t0 + 2 * second)
        // 30 s later the new node is up and the pool still hot: the restored engine waits out the
        // cooldown of the scale-up made before the restart; a fresh one would scale up again.
        let later = hotFleet(nodes: ["a", "b", "c"], at: 32)
        var restored = DecisionEngine(settings: settings, idPrefix: "b", lastSeq: 100)
        restored.restore(policyMemories: memories)
        let held = scale(restored.evaluate(fleet: later, nowNanos: t0 + 32 * second))
        #expect(held?.action == .hold && held?.desiredReplicas == 3 && held?.reason.contains("scale-up cooldown") == true)
        var fresh = DecisionEngine(settings: settings, idPrefix: "c")
        #expect(scale(fresh.evaluate(fleet: later, nowNanos: t0 + 32 * second))?.desiredReplicas == 4)
        // A memory written by another policy is not forced on this one.
        var other = memories
        other["p"]?.policy = "predictive"
        var mismatched = DecisionEngine(settings: settings, idPrefix: "d")
        mismatched.restore(policyMemories: other)
        #expect(scale(mismatched.evaluate(fleet: later, nowNanos: t0 + 32 * second))?.desiredReplicas == 4)
    }
}
