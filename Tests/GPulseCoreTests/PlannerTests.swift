import Testing

@testable import GPulseCore

private let t0: Int64 = 1_700_000_000_000_000_000
private let onDemand = InstanceClass(name: "on_demand", kind: .onDemand, hourlyPrice: 3.9, leadTimeSeconds: 180)
private let reserved = InstanceClass(name: "reserved", kind: .reserved, hourlyPrice: 2.2, leadTimeSeconds: 0, commitmentHours: 24)
private let serverless = InstanceClass(name: "serverless", kind: .serverless, hourlyPrice: 6.5, leadTimeSeconds: 10)

/// Erlang C and the capacity planner: the queueing model predictive and cost_aware size pools with.
@Suite struct ErlangCTests {
    @Test func waitProbabilityMatchesClosedFormsAndTables() {
        // M/M/1: P(wait) = ρ. M/M/2 at ρ = 0.5: 2ρ² / (1 + ρ) = 1/3.
        #expect(abs(ErlangC.waitProbability(servers: 1, offered: 0.6) - 0.6) < 1e-12)
        #expect(abs(ErlangC.waitProbability(servers: 2, offered: 1) - 1.0 / 3) < 1e-12)
        // Erlang C tables: 10 servers at 8 Erlangs wait 40.9 % of the time, 20 at 15 16.0 %.
        #expect(abs(ErlangC.waitProbability(servers: 10, offered: 8) - 0.4092) < 5e-4)
        #expect(abs(ErlangC.waitProbability(servers: 20, offered: 15) - 0.1604) < 5e-4)
        // Unstable or empty.
        #expect(ErlangC.waitProbability(servers: 4, offered: 4) == 1)
        #expect(ErlangC.waitProbability(servers: 4, offered: 0) == 0)
    }

    @Test func sizingIsTheFewestReplicasMeetingTheObjective() {
        // λ = 5/s, S = 10 s: 50 Erlangs on replicas of 8 slots; P(wait > 2 s) ≤ 1 %.
        let objective = ServiceObjective(maxWaitSeconds: 2, percentile: 0.99)
        let (n, p) = ErlangC.replicas(arrivalRate: 5, serviceSeconds: 10, slots: 8, objective: objective, maxReplicas: 100)
        #expect(p <= 0.01)
        let fewer = ErlangC.waitExceeds(2, servers: (n - 1) * 8, offered: 50, serviceSeconds: 10)
        #expect(fewer > 0.01, "\(n - 1) replicas already meet it: \(fewer)")
        #expect(abs(ErlangC.waitExceeds(2, servers: n * 8, offered: 50, serviceSeconds: 10) - p) < 1e-12)
        // Never fewer than the load itself needs: 50 Erlangs on 8 slots is more than 6 replicas.
        #expect(n >= 7)
        // Capped: the probability at the cap says the objective is out of reach.
        let capped = ErlangC.replicas(arrivalRate: 50, serviceSeconds: 10, slots: 8, objective: objective, maxReplicas: 20)
        #expect(capped.replicas == 20 && capped.waitProbability == 1)
    }

    @Test func aStandingQueueAddsWhatDrainsItWithinTheDrainTime() {
        let planner = CapacityPlanner(objective: .init(maxWaitSeconds: 2, percentile: 0.99), queueDrainSeconds: 30)
        // 120 queued × 10 s of service = 1,200 slot-seconds, over 30 s = 40 slots = 5 replicas of 8.
        let traffic = PoolTraffic(arrivalRate: 5, serviceSeconds: 10, waiting: 120, running: 64)
        let sizing = planner.size(demand: traffic.offeredReplicas(slots: 8)!, traffic: traffic, slots: 8, maxReplicas: 100)
        #expect(sizing.drain == 5)
        let noQueue = planner.size(demand: 50.0 / 8, traffic: PoolTraffic(arrivalRate: 5, serviceSeconds: 10), slots: 8, maxReplicas: 100)
        #expect(sizing.steady == noQueue.steady)
        #expect(sizing.total == noQueue.steady + 5)
        #expect(sizing.reason.contains("drain 120 queued"))
    }

    @Test func withoutArrivalRatesThePlannerFallsBackToTheTargetLoad() {
        let planner = CapacityPlanner(targetLoad: 0.7)
        let sizing = planner.size(demand: 7, traffic: PoolTraffic(), slots: 8, maxReplicas: 100)
        #expect(sizing.steady == 10 && sizing.waitProbability == nil)
        #expect(sizing.reason.contains("no arrival rate"))
    }
}

@Suite struct OfferedDemandTests {
    /// A pool of 2 nodes (8 slots each, 10 s service) at twice its capacity: 3.2 requests/s arrive,
    /// 1.6/s are served, GPUs pinned at 1 and the queue growing.
    @Test func demandAboveCapacityReadsAboveCapacity() {
        var fleet = Fleet(settings: FleetSettings(refreshSeconds: 1, defaultReplicaSlots: 8))
        var queue: Float = 0
        for s in 0..<5 {
            queue += 1.6
            let t = t0 + Int64(s) * 1_000_000_000
            for node in ["a", "b"] {
                let series = [
                    Series(kind: .gpuUtil, subject: "gpu0", offsetsMicros: [0], values: [1]),
                    Series(kind: .appQueueDepth, subject: "vllm", offsetsMicros: [0], values: [queue / 2]),
                    Series(kind: .appRequestsRunning, subject: "vllm", offsetsMicros: [0], values: [8]),
                    Series(kind: .appRequestRate, subject: "vllm", offsetsMicros: [0], values: [1.6]),
                    Series(kind: .appCompletionRate, subject: "vllm", offsetsMicros: [0], values: [0.8]),
                    Series(kind: .appServiceTimeMs, subject: "vllm", offsetsMicros: [0], values: [10_000]),
                ]
                _ = fleet.ingest(
                    MetricsBatch(labels: NodeLabels(nodeID: node, pool: "llm"), session: 1, seq: UInt64(s), t0UnixNanos: t, series: series),
                    nowNanos: t)
            }
            _ = fleet.tick(nowNanos: t)
        }
        let pool = fleet.pool("llm")!
        #expect(pool.demandSource == .arrivalRate)
        // λ·S / slots = 3.2 × 10 / 8 = 4 replica units: twice the 2 live nodes, not 1×.
        #expect(abs(pool.current!.demand - 4) < 1e-6)
        #expect(pool.current!.loadMean > 0.5)
        #expect(abs(pool.traffic!.waiting! - 8) < 1e-4)
        // The same pool without arrival rates reads its queue: (8 waiting + 16 running) / 8 = 3.
        var queueOnly = PoolTraffic(waiting: 8, running: 16)
        #expect(queueOnly.source == .queue && queueOnly.offeredReplicas(slots: 8) == 3)
        queueOnly = PoolTraffic()
        #expect(queueOnly.source == .loadIndex && queueOnly.offeredReplicas(slots: 8) == nil)
    }

    @Test func withoutTrafficSignalsDemandIsTheLoadIndexSum() {
        var fleet = Fleet(settings: FleetSettings(refreshSeconds: 1))
        for node in ["a", "b"] {
            let b = MetricsBatch(
                labels: NodeLabels(nodeID: node, pool: "llm"), session: 1, seq: 0, t0UnixNanos: t0,
                series: [Series(kind: .gpuUtil, subject: "gpu0", offsetsMicros: [0], values: [1])])
            _ = fleet.ingest(b, nowNanos: t0)
        }
        _ = fleet.tick(nowNanos: t0)
        let pool = fleet.pool("llm")!
        #expect(pool.demandSource == .loadIndex)
        let loads = fleet.nodes.values.compactMap(\.load)
        #expect(loads.count == 2 && loads.allSatisfy { $0 > 0 && $0 <= 1 })
        #expect(abs(pool.current!.demand - loads.reduce(0, +)) < 1e-9)
    }

    @Test func burstReplicasAddTrafficButAreNotLiveNodes() {
        var fleet = Fleet(settings: FleetSettings(refreshSeconds: 1, burstClasses: ["serverless"]))
        for (node, instanceClass) in [("a", "on_demand"), ("burst-1", "serverless")] {
            var labels = NodeLabels(nodeID: node, pool: "llm")
            labels.instanceClass = instanceClass
            let series = [
                Series(kind: .gpuUtil, subject: "gpu0", offsetsMicros: [0], values: [1]),
                Series(kind: .appRequestsRunning, subject: "vllm", offsetsMicros: [0], values: [8]),
            ]
            _ = fleet.ingest(MetricsBatch(labels: labels, session: 1, seq: 0, t0UnixNanos: t0, series: series), nowNanos: t0)
        }
        _ = fleet.tick(nowNanos: t0)
        let pool = fleet.pool("llm")!
        #expect(pool.current!.liveNodes == 1 && pool.burstNodes == 1)
        #expect(pool.traffic!.running == 16)
        // A restored fleet knows its burst replicas again (the snapshot does not keep the flag).
        var restored = Fleet(settings: FleetSettings(refreshSeconds: 1, burstClasses: ["serverless"]), restoring: fleet.snapshot)
        _ = restored.tick(nowNanos: t0 + 1_000_000_000)
        #expect(restored.pool("llm")!.burstNodes == 1)
    }
}

private func input(at s: Double, live: Int, traffic: PoolTraffic, forecasts: [Forecast] = [], floor: Double? = nil, burst: Int = 0) -> PoolInput {
    PoolInput(
        pool: "p", workload: .online, nowNanos: t0 + Int64(s * 1e9), liveReplicas: live, loadMean: 1,
        demand: traffic.offeredReplicas(slots: 8), forecasts: forecasts, demandFloor: floor, demandSource: traffic.source, traffic: traffic,
        slotsPerReplica: 8, burstReplicas: burst)
}

@Suite struct QueueAwarePolicyTests {
    static let settings = CostAwarePolicy.Settings(
        targetLoad: 0.7, guardSettings: .init(upCooldownSeconds: 60, downCooldownSeconds: 300, maxActionsPerMinute: 2),
        slaPenaltyPerNodeHour: 20, reserved: reserved, onDemand: onDemand, serverless: serverless)

    @Test func aGrowingQueueIsSizedInOneStep() {
        // 4 live nodes, arrivals at 5/s × 10 s = 50 Erlangs, 200 waiting: predictive asks for the
        // Erlang C replicas plus the drain at once, not one more replica per cooldown.
        let traffic = PoolTraffic(arrivalRate: 5, serviceSeconds: 10, waiting: 200, running: 32)
        var policy = PredictivePolicy(settings: .init(instanceClass: onDemand))
        let plan = policy.evaluate(input(at: 0, live: 4, traffic: traffic))
        let steady = ErlangC.replicas(arrivalRate: 5, serviceSeconds: 10, slots: 8, objective: .init(), maxReplicas: 100).replicas
        let drain = Int((200.0 * 10 / 30 / 8).rounded(.up))
        #expect(plan.desiredReplicas == steady + drain)
        #expect(plan.waitProbability! <= 0.01)
        #expect(plan.reason.contains("arrival_rate") && plan.reason.contains("Erlang C"))
        // Held by the scale-down cooldown at that size while demand halves: the wait it predicts is
        // the one at the replicas it keeps, not at the fewer it sized.
        let half = PoolTraffic(arrivalRate: 2.5, serviceSeconds: 10, waiting: 0, running: 20)
        var held = PredictivePolicy(settings: .init(guardSettings: .init(upCooldownSeconds: 0, downCooldownSeconds: 600), instanceClass: onDemand))
        _ = held.evaluate(input(at: 0, live: 4, traffic: traffic))
        let kept = held.evaluate(input(at: 10, live: 4, traffic: half))
        #expect(kept.desiredReplicas == plan.desiredReplicas)
        let atKept = ErlangC.waitExceeds(2, servers: kept.desiredReplicas * 8, offered: 25, serviceSeconds: 10)
        #expect(abs(kept.waitProbability! - atKept) < 1e-15)
    }

    @Test func serverlessCoversTheGapUntilNodesArriveAndIsReleasedAsTheyDo() {
        let traffic = PoolTraffic(arrivalRate: 5, serviceSeconds: 10, waiting: 0, running: 32)
        let steady = ErlangC.replicas(arrivalRate: 5, serviceSeconds: 10, slots: 8, objective: .init(), maxReplicas: 100).replicas
        var policy = CostAwarePolicy(settings: Self.settings)
        let first = policy.evaluate(input(at: 0, live: 4, traffic: traffic))
        #expect(first.allocation.first { $0.instanceClass == "serverless" }!.count == Int32(steady - 4))
        #expect(first.allocation.first { $0.instanceClass == "on_demand" }!.count == Int32(steady))
        // Two minutes later all but one of the nodes are ready: one serverless replica is left.
        let later = policy.evaluate(input(at: 120, live: steady - 1, traffic: traffic, burst: steady - 4))
        #expect(later.allocation.first { $0.instanceClass == "serverless" }!.count == 1)
        // A queue adds its drain to the burst at once (serverless is not held by the cooldowns).
        let queued = PoolTraffic(arrivalRate: 5, serviceSeconds: 10, waiting: 48, running: 32)
        let q = policy.evaluate(input(at: 121, live: steady, traffic: queued))
        #expect(q.allocation.first { $0.instanceClass == "serverless" }!.count == 2)  // 48 × 10 / 30 / 8 = 2
    }

    @Test func reservedIsACommitmentUsedBeforeOnDemand() {
        var policy = CostAwarePolicy(settings: Self.settings)
        let traffic = PoolTraffic(arrivalRate: 5, serviceSeconds: 10, waiting: 0, running: 40)
        let floor = 20.0 / 8  // 2 requests/s at the floor: 20 Erlangs
        let floorNeed = ErlangC.replicas(arrivalRate: 2, serviceSeconds: 10, slots: 8, objective: .init(), maxReplicas: 100).replicas
        let plan = policy.evaluate(input(at: 0, live: 10, traffic: traffic, floor: floor))
        #expect(policy.committed(nowNanos: t0) == floorNeed)
        #expect(plan.allocation[0] == reserved.allocation(floorNeed))
        #expect(plan.reason.contains("commit \(floorNeed) more reserved for 24 h"))
        // Demand falls below the committed nodes: they stay (paid for) and no on-demand is bought.
        let quiet = PoolTraffic(arrivalRate: 0.5, serviceSeconds: 10, waiting: 0, running: 5)
        let low = policy.evaluate(input(at: 400, live: 10, traffic: quiet, floor: 0.1))
        #expect(low.allocation[0].count == Int32(floorNeed))
        #expect(low.allocation[1].count == 0)
        #expect(low.desiredReplicas == floorNeed)
        // After the term, a lower floor buys less.
        let dayLater = policy.evaluate(input(at: 24 * 3600 + 1000, live: floorNeed, traffic: quiet, floor: 0.1))
        #expect(policy.committed(nowNanos: t0 + Int64((24 * 3600 + 1000) * 1e9)) < floorNeed)
        #expect(dayLater.allocation[0].count < Int32(floorNeed))
        // The commitments survive a restart.
        var restored = CostAwarePolicy(settings: Self.settings)
        restored.restore(policy.memory!)
        #expect(restored.commitments == policy.commitments)
    }
}

@Suite struct BurstBackedQuantileTests {
    @Test func aBurstThatStartsWithinTheObjectiveCostsOnlyItsPremium() {
        // p_sla 20, on-demand 3.9: 20 / 23.9 without burst, and with a serverless class whose 10 s cold
        // start is longer than the 2 s a request may wait (it cannot save the SLA).
        let alone = CostAwarePolicy.Settings(slaPenaltyPerNodeHour: 20, onDemand: onDemand)
        #expect(abs(alone.serviceQuantile - 20 / 23.9) < 1e-12)
        let slow = CostAwarePolicy.Settings(slaPenaltyPerNodeHour: 20, onDemand: onDemand, serverless: serverless)
        #expect(abs(slow.serviceQuantile - 20 / 23.9) < 1e-12)
        // A warm burst (1 s) buys a short node-hour for 2.6 more: q* = 2.6 / (2.6 + 3.9) = 0.4.
        var warm = serverless
        warm.leadTimeSeconds = 1
        let backed = CostAwarePolicy.Settings(slaPenaltyPerNodeHour: 20, onDemand: onDemand, serverless: warm)
        #expect(abs(backed.serviceQuantile - 0.4) < 1e-12)
        // A penalty below the premium still decides.
        let cheapPenalty = CostAwarePolicy.Settings(slaPenaltyPerNodeHour: 1.3, onDemand: onDemand, serverless: warm)
        #expect(abs(cheapPenalty.serviceQuantile - 1.3 / 5.2) < 1e-12)
    }
}
