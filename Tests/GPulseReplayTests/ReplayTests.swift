import Foundation
import Testing

@testable import GPulseCore
@testable import GPulseReplay

/// The SIMULATED fleet used by replay, checked against queueing theory and hand-worked cases.
@Suite struct SimulatedFleetTests {
    static let onDemand = InstanceClass(name: "on_demand", kind: .onDemand, hourlyPrice: 3.6, leadTimeSeconds: 0)

    /// Erlang C: the probability an arrival waits in an M/M/c queue with offered load a = λ/μ.
    static func erlangC(servers c: Int, load a: Double) -> Double {
        var term = 1.0
        var sum = 1.0
        for k in 1..<c {
            term *= a / Double(k)
            sum += term
        }
        let last = term * a / Double(c) * Double(c) / (Double(c) - a)
        return last / (sum + last)
    }

    @Test func constantRateQueueMatchesTheMMcClosedForm() {
        // One replica of 8 slots is an M/M/8 queue: λ = 6/s, mean service 1 s, ρ = 0.75.
        let lambda = 6.0
        let servers = 8
        var rng = SeededGenerator(seed: 42)
        var t = 0.0
        var requests: [TraceRequest] = []
        while requests.count < 300_000 {
            t += rng.exponential(mean: 1 / lambda)
            requests.append(TraceRequest(arrival: t, service: rng.exponential(mean: 1)))
        }
        var sim = SimulatedFleet(
            model: SimulationModel(slotsPerReplica: servers), classes: [Self.onDemand], requests: requests, initial: 1, initialClass: 0, seed: 1)
        sim.advance(to: t + 10_000)
        #expect(sim.finished == requests.count)
        var waitSum = 0.0
        var waited = 0
        for (i, r) in requests.enumerated() {
            let wait = Double(sim.latency[i]) - r.service
            waitSum += wait
            if wait > 1e-6 { waited += 1 }
        }
        let pWait = Self.erlangC(servers: servers, load: lambda)
        let expectedWait = pWait / (Double(servers) - lambda)  // Wq = C(c, a) / (cμ − λ), μ = 1
        let meanWait = waitSum / Double(requests.count)
        #expect(abs(meanWait / expectedWait - 1) < 0.08, "mean wait \(meanWait) s vs M/M/c \(expectedWait) s")
        #expect(abs(Double(waited) / Double(requests.count) - pWait) < 0.02, "P(wait) vs Erlang C \(pWait)")
    }

    @Test func preemptionKeepsWorkUpToTheLastCheckpoint() {
        // A spot node preempted every second (λ = 3600/h); work is checkpointed every 0.4 s, so each
        // second keeps 0.8 s of a 30 s request and loses 0.2 s. The controller replaces the node at
        // once (lead time 0): the request finishes after 37 preemptions at 37 + 0.4 s (the boundary at
        // 38 s then preempts the idle replacement: 38 in all, that one losing nothing).
        let spot = InstanceClass(name: "spot", kind: .spot, hourlyPrice: 1, leadTimeSeconds: 0, preemptionsPerHour: 3600)
        var sim = SimulatedFleet(
            model: SimulationModel(slotsPerReplica: 1, checkpointIntervalSeconds: 0.4), classes: [spot],
            requests: [TraceRequest(arrival: 0, service: 30)], initial: 1, initialClass: 0, seed: 7)
        sim.setTargets([1], now: 0)
        var second = 0.0
        while sim.finished == 0 && second < 100 {
            second += 1
            sim.advance(to: second)
            _ = sim.boundary(at: second)
        }
        #expect(sim.preemptions == 38)
        #expect(abs(Double(sim.latency[0]) - 37.4) < 1e-4)
        #expect(abs(sim.lostWorkSeconds - 37 * 0.2) < 1e-6)
    }

    @Test func billingFollowsTheModel() {
        // Idle on-demand nodes removed at once cost nothing; serverless bills the slot-seconds served;
        // reserved capacity is billed for each commitment's whole term when it is bought.
        let serverless = InstanceClass(name: "serverless", kind: .serverless, hourlyPrice: 7.2, leadTimeSeconds: 0)
        let reserved = InstanceClass(name: "reserved", kind: .reserved, hourlyPrice: 1.8, leadTimeSeconds: 0, commitmentHours: 1)
        var sim = SimulatedFleet(
            model: SimulationModel(slotsPerReplica: 2), classes: [Self.onDemand, serverless, reserved],
            requests: [TraceRequest(arrival: 0.5, service: 4)], initial: 2, initialClass: 0, seed: 1)
        sim.setTargets([0, 1, 0], now: 0)  // only serverless: the request runs there
        for s in 1...10 {
            sim.advance(to: Double(s))
            _ = sim.boundary(at: Double(s))
            if s == 5 { sim.setTargets([0, 1, 3], now: 5) }
            if s == 6 { sim.setTargets([0, 1, 1], now: 6) }
        }
        #expect(sim.cost[0] == 0)  // the two idle on-demand nodes went at time 0, before a second was billed
        #expect(abs(sim.cost[1] - 7.2 * 4 / 3600 / 2) < 1e-12)
        // Three bought at 5 for an hour; dropping to one at 6 refunds nothing.
        #expect(abs(sim.cost[2] - 3 * 1.8) < 1e-12)
        #expect(sim.committed(classIndex: 2, at: 10) == 3)
    }

    @Test func reservedCommitmentsAreBilledForTheirTermAndRenewedAfterIt() {
        // A 3.6 s term: 2 nodes bought at 0 expire at 3.6; holding 2 after that buys 2 again; going to
        // 3 while 2 are committed buys 1.
        let reserved = InstanceClass(name: "reserved", kind: .reserved, hourlyPrice: 1, leadTimeSeconds: 0, commitmentHours: 0.001)
        var sim = SimulatedFleet(
            model: SimulationModel(slotsPerReplica: 1), classes: [reserved], requests: [TraceRequest(arrival: 100, service: 1)], initial: 0,
            initialClass: 0, seed: 1)
        sim.setTargets([2], now: 0)
        #expect(sim.committed(classIndex: 0, at: 0) == 2)
        #expect(abs(sim.cost[0] - 2 * 0.001) < 1e-12)
        for s in 1...4 {
            sim.advance(to: Double(s))
            _ = sim.boundary(at: Double(s))
        }
        // The boundary at 4 saw the term end and the controller renewed the two nodes still held.
        #expect(sim.committed(classIndex: 0, at: 4) == 2)
        #expect(abs(sim.cost[0] - 4 * 0.001) < 1e-12)
        sim.setTargets([3], now: 4)
        #expect(sim.committed(classIndex: 0, at: 4) == 3)
        #expect(abs(sim.cost[0] - 5 * 0.001) < 1e-12)
    }

    @Test func bootingNodesServeOnlyAfterTheirLeadTime() {
        let slow = InstanceClass(name: "slow", kind: .onDemand, hourlyPrice: 3.6, leadTimeSeconds: 5)
        var sim = SimulatedFleet(
            model: SimulationModel(slotsPerReplica: 1), classes: [slow], requests: [TraceRequest(arrival: 0.1, service: 1)],
            initial: 0, initialClass: 0, seed: 1)
        sim.setTargets([1], now: 0)
        for s in 1...10 {
            sim.advance(to: Double(s))
            _ = sim.boundary(at: Double(s))
        }
        #expect(abs(Double(sim.latency[0]) - 5.9) < 1e-5)  // waited from 0.1 until the node was ready at 5
    }
}

@Suite struct ReplayTests {
    static func scenario(seed: UInt64) -> ReplayScenario {
        // A step in demand: 3/s for 20 minutes, then 9/s; 4 s mean service, 4 slots per replica.
        var rng = SeededGenerator(seed: seed)
        var requests: [TraceRequest] = []
        var t = 0.0
        while t < 2400 {
            t += rng.exponential(mean: t < 1200 ? 1.0 / 3 : 1.0 / 9)
            requests.append(TraceRequest(arrival: t, service: rng.exponential(mean: 4)))
        }
        let classes = [
            InstanceClass(name: "on_demand", kind: .onDemand, hourlyPrice: 3.9, leadTimeSeconds: 60),
            InstanceClass(name: "spot", kind: .spot, hourlyPrice: 1.4, leadTimeSeconds: 60, preemptionsPerHour: 2),
        ]
        return ReplayScenario(
            pool: "step", requests: requests, startUnixSeconds: 1_700_000_000, durationSeconds: 2400, drainLimitSeconds: 600, warmupSeconds: 120,
            model: SimulationModel(slotsPerReplica: 4), classes: classes, defaultClass: "spot", initialTargetLoad: 0.7,
            fleet: FleetSettings(refreshSeconds: 1), seed: seed)
    }

    static func threshold(_ s: ReplayScenario) -> PoolSetup {
        PoolSetup(
            policy: ThresholdPolicy(settings: .init(high: 0.8, low: 0.3, settleSeconds: 60, instanceClass: s.classes[1])), workload: .online)
    }

    @Test func aFixedSeedGivesTheSameReplay() {
        let s = Self.scenario(seed: 11)
        let a = Replay.run(s, setup: Self.threshold(s))
        let b = Replay.run(s, setup: Self.threshold(s))
        #expect(a.totalCost == b.totalCost)
        #expect(a.slaViolations == b.slaViolations)
        #expect(a.preemptions == b.preemptions)
        #expect(a.demand == b.demand && a.capacity == b.capacity)
        // Every simulated batch passed the live ingest gate.
        #expect(a.batchesRefused == 0)
        let other = Replay.run(Self.scenario(seed: 12), setup: Self.threshold(Self.scenario(seed: 12)))
        #expect(other.demand != a.demand)
    }

    @Test func thePolicyScalesTheSimulatedFleetUpAfterTheStep() {
        let s = Self.scenario(seed: 3)
        let r = Replay.run(s, setup: Self.threshold(s))
        // Before the step: about 3 × 4 / 4 = 3 replicas of load; after it about 9.
        let before = r.capacity[900..<1150].reduce(0, +) / 250
        let after = r.capacity[2000..<2350].reduce(0, +) / 350
        #expect(after > before + 3, "capacity \(before) → \(after)")
        #expect(r.scalingActions > 0)
        #expect(r.surges >= 1)
        #expect(r.requests == s.requests.filter { $0.arrival >= 120 }.count)
        #expect(r.costByClass.first { $0.name == "spot" }!.cost > 0)
        #expect(r.utilizationEfficiency > 0 && r.utilizationEfficiency <= 1)
    }

    @Test func surgeDelayRunsToTheNextAddedReplica() {
        let demand: [Float] = [1, 1, 3, 3, 3, 3, 3, 3, 3, 3, 1]
        let capacity: [Float] = [2, 2, 2, 2, 2, 2, 2, 2, 3, 3, 3]
        let (count, delays) = Replay.surgeDelays(demand: demand, capacity: capacity)
        #expect(count == 1)
        #expect(delays == [6])
    }
}

@Suite struct PerfectForecastTests {
    let onDemand = InstanceClass(name: "on_demand", kind: .onDemand, hourlyPrice: 3.9, leadTimeSeconds: 180)

    @Test func theOracleKnowsEachMinutesOfferedLoad() {
        // Minute 0: two 30 s requests; minute 1: one 120 s request; 2 slots per replica.
        let requests = [TraceRequest(arrival: 5, service: 30), TraceRequest(arrival: 50, service: 30), TraceRequest(arrival: 70, service: 120)]
        let s = ReplayScenario(
            pool: "p", requests: requests, startUnixSeconds: 1_000_000_020, durationSeconds: 180, model: SimulationModel(slotsPerReplica: 2),
            classes: [onDemand], defaultClass: "on_demand", initialTargetLoad: 0.7, fleet: FleetSettings(), seed: 1)
        let oracle = s.perfectForecast
        #expect(oracle.minuteDemand[0] == 60.0 / 60 / 2)
        #expect(oracle.minuteDemand[1] == 120.0 / 60 / 2)
        #expect(oracle.minuteDemand[2] == 0)
        // At 10 s into minute 0, one minute ahead is minute 1, exactly, with no interval.
        let f = oracle.forecasts(nowNanos: (1_000_000_020 + 10) * 1_000_000_000, horizonMinutes: [1, 5])
        #expect(f[0].horizonSeconds == 60 && f[0].mean == 1 && f[0].level == 0 && f[0].quantile(0.9) == 1)
        #expect(f[1].mean == 0)
    }

    @Test func theOracleProvisionsAheadOfAStep() {
        let s = ReplayTests.scenario(seed: 5)
        var forecast = s.perfectForecast
        let pool = CostAwarePolicy(settings: .init(slaPenaltyPerNodeHour: 20, onDemand: s.classes[0]))
        let oracle = Replay.run(s, setup: PoolSetup(policy: pool, workload: .online, oracle: forecast), name: "oracle")
        // The step at 1,200 s is known a minute (the lead time) ahead: capacity ordered then is
        // ready as the step comes.
        let before = oracle.capacity[900..<1100].reduce(0, +) / 200
        let atStep = oracle.capacity[1200..<1210].reduce(0, +) / 10
        #expect(atStep > before + 2, "capacity \(before) → \(atStep) at the step")
        #expect(oracle.policy == "oracle")
        forecast.minuteDemand = forecast.minuteDemand.map { _ in 0 }
        let blind = Replay.run(s, setup: PoolSetup(policy: pool, workload: .online, oracle: forecast), name: "blind")
        #expect(blind.capacity[1200..<1210].reduce(0, +) / 10 < atStep)
    }
}
