import Testing

@testable import GPulseCore
@testable import GPulseKEDA

private let second: Int64 = 1_000_000_000
private let t0: Int64 = 1_700_000_000 * second

private func decision(_ pool: String, desired: Int32, demand: Double = 3.2, load: Double = 0.64) -> ScaleDecision {
    ScaleDecision(pool: pool, action: .hold, currentReplicas: desired, desiredReplicas: desired, loadIndex: load, demand: demand, policy: "test", reason: "test")
}

@Suite struct ScalerQueryTests {
    @Test func metadataNamesThePoolAndOptionallyTheMetricAndTarget() throws {
        let q = try ScalerQuery(metadata: ["pool": "llm-online"])
        #expect(q.pool == "llm-online" && q.metric == .desiredReplicas && q.target == nil)
        #expect(q.metricName == "gpulse-desired-replicas-llm-online")
        let d = try ScalerQuery(metadata: ["pool": " Batch_A ", "metric": "offered_demand", "target": "0.5"])
        #expect(d.pool == "Batch_A" && d.metric == .offeredDemand && d.target == 0.5)
        #expect(d.metricName == "gpulse-offered-demand-batch-a")
    }

    @Test func badMetadataIsRefusedWithAnInvalidArgument() {
        #expect(throws: ScalerRefusal.missingPool) { try ScalerQuery(metadata: [:]) }
        #expect(throws: ScalerRefusal.missingPool) { try ScalerQuery(metadata: ["pool": "  "]) }
        #expect(throws: ScalerRefusal.unknownMetric("qps")) { try ScalerQuery(metadata: ["pool": "p", "metric": "qps"]) }
        for bad in ["0", "-1", "nan", "inf", "x"] {
            #expect(throws: ScalerRefusal.badTarget(bad)) { try ScalerQuery(metadata: ["pool": "p", "target": bad]) }
        }
        #expect(ScalerRefusal.missingPool.kind == .invalidArgument)
    }
}

@Suite struct ScalerAnswersTests {
    @Test func aStandingDecisionAnswersEveryMetric() throws {
        let board = DecisionBoard()
        board.post(decision("p", desired: 5, demand: 3.2, load: 0.64), validUntilUnixNanos: t0 + 30 * second, targetLoad: 0.8, nowNanos: t0)
        let desired = try ScalerQuery(metadata: ["pool": "p"])
        #expect(try ScalerAnswers.value(desired, board: board, nowNanos: t0) == 5)
        #expect(try ScalerAnswers.spec(desired, board: board).target == 1)
        #expect(try ScalerAnswers.isActive(desired, board: board, nowNanos: t0))
        let demand = try ScalerQuery(metadata: ["pool": "p", "metric": "offered_demand"])
        #expect(try ScalerAnswers.value(demand, board: board, nowNanos: t0) == 3.2)
        #expect(try ScalerAnswers.spec(demand, board: board).target == 0.8)
        let load = try ScalerQuery(metadata: ["pool": "p", "metric": "load_index", "target": "0.6"])
        #expect(try ScalerAnswers.value(load, board: board, nowNanos: t0) == 0.64)
        #expect(try ScalerAnswers.spec(load, board: board).target == 0.6)
        // Zero desired replicas: not active, so KEDA may scale the target to zero.
        board.post(decision("p", desired: 0), validUntilUnixNanos: t0 + 30 * second, targetLoad: 0.8, nowNanos: t0)
        #expect(try !ScalerAnswers.isActive(desired, board: board, nowNanos: t0))
    }

    @Test func missingOrExpiredDecisionsAreRefusedSoKEDAHolds() throws {
        let board = DecisionBoard()
        board.setConfigured(["llm"])
        let unknown = try ScalerQuery(metadata: ["pool": "nope"])
        #expect(throws: ScalerRefusal.unknownPool("nope")) { try ScalerAnswers.value(unknown, board: board, nowNanos: t0) }
        #expect(throws: ScalerRefusal.unknownPool("nope")) { try ScalerAnswers.spec(unknown, board: board) }
        let llm = try ScalerQuery(metadata: ["pool": "llm"])
        // Configured but not decided yet: the spec is known (KEDA can build its HPA), the value is not.
        #expect(try ScalerAnswers.spec(llm, board: board).target == 1)
        #expect(throws: ScalerRefusal.noDecision("llm")) { try ScalerAnswers.isActive(llm, board: board, nowNanos: t0) }
        board.post(decision("llm", desired: 3), validUntilUnixNanos: t0 + 30 * second, targetLoad: 0.7, nowNanos: t0)
        #expect(try ScalerAnswers.value(llm, board: board, nowNanos: t0 + 30 * second) == 3)
        #expect(throws: ScalerRefusal.expired(pool: "llm", secondsAgo: 5)) {
            try ScalerAnswers.value(llm, board: board, nowNanos: t0 + 35 * second)
        }
        #expect(ScalerRefusal.expired(pool: "llm", secondsAgo: 5).kind == .unavailable)
        #expect(ScalerRefusal.unknownPool("x").kind == .notFound)
    }

    @Test func refusalsAreLoggedOncePerChangeAndTrackedForBoundedlyManyPools() {
        var log = RefusalLog()
        let first = log.refusing("llm", .unavailable)
        let again = log.refusing("llm", .unavailable)
        let otherKind = log.refusing("llm", .notFound)
        let answered = log.answering("llm")
        let answeredAgain = log.answering("llm")
        #expect(first && !again && otherKind && answered && !answeredAgain)
        // A caller cycling through pool names: tracked up to the cap, then no more lines.
        for i in 0..<(RefusalLog.capacity + 500) { _ = log.refusing("p\(i)", .notFound) }
        #expect(log.count == RefusalLog.capacity)
        let pastCap = log.refusing("one-more", .notFound)
        let freed = log.answering("p0")
        let roomAgain = log.refusing("one-more", .notFound)
        #expect(!pastCap && freed && roomAgain)
    }

    @Test func watchersHearOfChangesInDesiredReplicasOnly() async throws {
        let board = DecisionBoard()
        var changes = board.changes().makeAsyncIterator()
        #expect(board.watcherCount == 1)
        board.post(decision("p", desired: 2), validUntilUnixNanos: t0 + 30 * second, targetLoad: 0.7, nowNanos: t0)
        #expect(await changes.next() != nil)
        // The same number re-sent: no wake-up; a new number: one.
        board.post(decision("p", desired: 2), validUntilUnixNanos: t0 + 40 * second, targetLoad: 0.7, nowNanos: t0 + 10 * second)
        board.post(decision("p", desired: 4), validUntilUnixNanos: t0 + 50 * second, targetLoad: 0.7, nowNanos: t0 + 20 * second)
        #expect(await changes.next() != nil)
        #expect(board.entry(pool: "p")?.decision.desiredReplicas == 4)
    }
}

/// What the HPA that KEDA manages does with `desired_replicas` at target 1 (`AverageValue`): a
/// closed loop where the pool's nodes are the replicas the HPA last chose, and gpulse's threshold
/// policy decides from the load they report.
@Suite struct HPAArithmeticTests {
    @Test func theFormulaMatchesKubernetes() {
        // ceil(value / target) outside the tolerance; the current count inside it.
        #expect(HPAArithmetic.desired(current: 4, value: 7, target: 1) == 7)
        #expect(HPAArithmetic.desired(current: 20, value: 21, target: 1) == 20)  // ratio 1.05: inside 0.1
        #expect(HPAArithmetic.desired(current: 20, value: 21, target: 1, tolerance: 0) == 21)
        // 11 / 10 is 1.1000000000000001 in float64, as in the controller's Go: just outside, so it scales.
        #expect(HPAArithmetic.desired(current: 10, value: 11, target: 1) == 11)
        #expect(HPAArithmetic.desired(current: 0, value: 3, target: 1) == 3)
        #expect(HPAArithmetic.desired(current: 3, value: 0, target: 1) == 0)
        #expect(HPAArithmetic.desired(current: 4, value: 2.6, target: 0.7) == 4)  // 2.6/0.7 = 3.71 → 4, ratio 0.93
        #expect(HPAArithmetic.desired(current: 2, value: 2.6, target: 0.7) == 4)
        #expect(HPAArithmetic.desired(current: 4, value: 0.9, target: 0.6, type: .value) == 6)
    }

    /// Replays a recorded decision sequence: offered load steps 2 → 9 → 20 → 6 → 1 replica units,
    /// the threshold policy steps by up to 4, the HPA syncs every 15 s on the served metric.
    @Test func theHPALandsOnGPulsesReplicasAtEveryStep() throws {
        for tolerance in [0.0, 0.1] {
            let steps = try record(tolerance: tolerance)
            #expect(steps.count > 30)
            #expect(Set(steps.map(\.gpulse)).count >= 4, "the load steps moved the decision")
            for s in steps {
                if tolerance == 0 {
                    #expect(s.hpa == s.gpulse, "at \(s.second) s the HPA chose \(s.hpa), gpulse \(s.gpulse)")
                } else {
                    // With the HPA's default 10 % tolerance it keeps its count when gpulse's is within 10 %.
                    let within = s.current > 0 && abs(Double(s.gpulse) / Double(s.current) - 1) <= 0.1
                    #expect(s.hpa == (within ? s.current : s.gpulse), "at \(s.second) s: current \(s.current), gpulse \(s.gpulse), HPA \(s.hpa)")
                }
            }
        }
    }

    struct Step { var second: Int; var current: Int; var gpulse: Int; var hpa: Int }

    func record(tolerance: Double) throws -> [Step] {
        let settings = ThresholdPolicy.Settings(
            high: 0.8, low: 0.4, step: 4, bounds: .init(min: 1, max: 40),
            guardSettings: .init(upCooldownSeconds: 0, downCooldownSeconds: 0, maxActionsPerMinute: 60), settleSeconds: 0)
        var fleet = Fleet(settings: FleetSettings())
        var engine = DecisionEngine(settings: EngineSettings(resendSeconds: 10, validForSeconds: 30) { _ in PoolSetup(policy: ThresholdPolicy(settings: settings)) }, idPrefix: "t")
        let board = DecisionBoard()
        let query = try ScalerQuery(metadata: ["pool": "llm"])
        let profile: [Double] = [2, 9, 20, 6, 1]
        var replicas = 2
        var steps: [Step] = []
        for s in 1...(profile.count * 180) {
            let now = t0 + Int64(s) * second
            let offered = profile[(s - 1) / 180]
            for n in 0..<replicas {
                let util = Float(min(1, offered / Double(replicas)))
                let b = MetricsBatch(
                    labels: NodeLabels(nodeID: "n\(n)", pool: "llm"), session: 1, seq: UInt64(s), t0UnixNanos: now,
                    series: [Series(kind: .gpuUtil, subject: "gpu0", offsetsMicros: [0], values: [util])])
                _ = fleet.ingest(b, nowNanos: now)
            }
            _ = fleet.tick(nowNanos: now)
            for d in engine.evaluate(fleet: fleet, nowNanos: now) {
                if case .scale(let scale) = d.body { board.post(scale, validUntilUnixNanos: d.validUntilUnixNanos, targetLoad: 0.7, nowNanos: now) }
            }
            // The HPA's sync period (15 s by default): read the metric KEDA serves, apply the formula.
            guard s % 15 == 0, let value = try? ScalerAnswers.value(query, board: board, nowNanos: now) else { continue }
            let target = try ScalerAnswers.spec(query, board: board).target
            let hpa = min(40, max(1, HPAArithmetic.desired(current: replicas, value: value, target: target, tolerance: tolerance)))
            steps.append(Step(second: s, current: replicas, gpulse: Int(value), hpa: hpa))
            // Nodes the HPA removed stop reporting (their entries go stale and leave the pool's count).
            replicas = hpa
        }
        return steps
    }
}
