import GPulseAggregatorConfig
import GPulseCore

/// A trace prepared for replay and the SIMULATED fleet it runs on; the same for every policy.
public struct ReplayScenario: Sendable {
    /// The pool name the simulated nodes report (the trace's name).
    public var pool: String
    /// Sorted by arrival, seconds from the trace start.
    public var requests: [TraceRequest]
    /// Unix time of the trace start, so the forecaster's daily season lines up with the trace's days.
    public var startUnixSeconds: Int64
    /// Seconds of trace; the replay then runs on (still billing) until the queue is empty, at most `drainLimitSeconds`.
    public var durationSeconds: Int
    public var drainLimitSeconds: Int
    /// The first seconds run on the initial replicas with decisions made but not applied, so the
    /// fleet fills and the policies' windows see real load; nothing in them is counted.
    public var warmupSeconds: Int
    public var model: SimulationModel
    public var classes: [InstanceClass]
    /// The pool's `instance_class`: the initial replicas, and replicas of a plan without an allocation.
    public var defaultClass: String
    /// The initial replicas carry the first 5 minutes' offered load at this load (the pool's target_load).
    public var initialTargetLoad: Double
    public var fleet: FleetSettings
    public var seed: UInt64

    public init(
        pool: String, requests: [TraceRequest], startUnixSeconds: Int64, durationSeconds: Int, drainLimitSeconds: Int = 3600,
        warmupSeconds: Int = 300, model: SimulationModel, classes: [InstanceClass], defaultClass: String, initialTargetLoad: Double, fleet: FleetSettings, seed: UInt64
    ) {
        self.pool = pool
        self.requests = requests
        self.startUnixSeconds = startUnixSeconds
        self.durationSeconds = durationSeconds
        self.drainLimitSeconds = drainLimitSeconds
        self.warmupSeconds = warmupSeconds
        self.model = model
        self.classes = classes
        self.defaultClass = defaultClass
        self.initialTargetLoad = initialTargetLoad
        self.fleet = fleet
        self.seed = seed
    }

    /// Replicas that carry the first 5 minutes' offered load at `initialTargetLoad` (at least 1).
    public var initialReplicas: Int {
        let window = 300.0
        let work = requests.prefix { $0.arrival < window }.reduce(0) { $0 + $1.service }
        let replicas = work / window / Double(model.slotsPerReplica) / initialTargetLoad
        return max(1, Int(replicas.rounded(.up)))
    }
}

/// What one policy did to one trace on the SIMULATED fleet.
public struct ReplayResult: Sendable {
    public var policy: String
    /// Simulated agents' batches the live ingest gate refused (0 unless the simulator is broken).
    public var batchesRefused = 0
    public var requests: Int
    /// Requests still unfinished when the drain limit ran out (counted as SLA violations).
    public var unfinished: Int
    /// Requests whose latency exceeded their service time by more than the SLA wait.
    public var slaViolations: Int
    /// 1-minute windows (by arrival) with requests, and those whose p99 broke the SLA.
    public var windows: Int
    public var windowsViolated: Int
    /// Latency percentiles, seconds (arrival to completion).
    public var latencyP50: Double
    public var latencyP95: Double
    public var latencyP99: Double
    public var latencyPeak: Double
    /// Wait (latency minus service time) percentiles, seconds.
    public var waitP50: Double
    public var waitP95: Double
    public var waitP99: Double
    public var waitPeak: Double
    /// Currency units by instance class, in the scenario's class order.
    public var costByClass: [(name: String, cost: Double)]
    /// Served slot-seconds over billed slot-seconds.
    public var utilizationEfficiency: Double
    /// Changes of the desired node count, and those reversing the previous one within the reversal window.
    public var scalingActions: Int
    public var reversals: Int
    /// Standard deviation over seconds of the pool's mean GPU utilization, percentage points.
    public var gpuUtilizationStdDev: Double
    /// Surges (offered load above ready capacity for 5 s in a row) and the median seconds from a
    /// surge's start to the next added ready replica; nil when no surge got capacity.
    public var surges: Int
    public var surgeToCapacityMedian: Double?
    public var preemptions: Int
    /// Simulated seconds, including the drain.
    public var simulatedSeconds: Int
    /// Per simulated second: offered load and ready capacity (node + serverless replicas) in replica units.
    public var demand: [Float]
    public var capacity: [Float]

    public var totalCost: Double { costByClass.reduce(0) { $0 + $1.cost } }
    public var slaViolationRate: Double { requests > 0 ? Double(slaViolations) / Double(requests) : 0 }
    public var windowViolationRate: Double { windows > 0 ? Double(windowsViolated) / Double(windows) : 0 }
}

/// The batch a simulated replica's agent sends each second, as read from its inference server: GPU
/// utilization, requests waiting and running, arrival and completion rates and, when it finished
/// requests that second, their mean latency and service time. One value is refilled for every
/// replica and second, so the replay allocates no batch per replica-second (the fleet only reads it).
struct SimulatedAgentBatch {
    private(set) var batch: MetricsBatch
    /// The latency and service-time series while the batch has none, kept so that putting them
    /// back allocates nothing.
    private var spare: (latency: Series, service: Series)?

    init(pool: String, session: UInt64) {
        func series(_ kind: SignalKind, _ subject: String = "sim-engine") -> Series {
            Series(kind: kind, subject: subject, offsetsMicros: [0], values: [0])
        }
        batch = MetricsBatch(
            labels: NodeLabels(nodeID: "", pool: pool, workload: .online), session: session, seq: 0, t0UnixNanos: 0,
            series: [
                series(.gpuUtil, "sim-gpu0"), series(.appQueueDepth), series(.appRequestsRunning), series(.appRequestRate),
                series(.appCompletionRate),
            ],
            agentVersion: "sim-replay")  // 15 bytes at most: a small string, no reference count
        batch.series.reserveCapacity(7)
        spare = (series(.appLatencyMs), series(.appServiceTimeMs))
    }

    /// The batch for the second ending at `nowNanos`.
    mutating func fill(_ signal: SimulatedFleet.NodeSignal, second: Int, nowNanos: Int64) {
        batch.labels.nodeID = signal.nodeID
        batch.labels.instanceClass = signal.instanceClass
        batch.seq = UInt64(second)
        batch.t0UnixNanos = nowNanos
        batch.series[0].values[0] = Float(signal.gpuUtilization)
        batch.series[1].values[0] = Float(signal.queueDepth)
        batch.series[2].values[0] = Float(signal.running)
        batch.series[3].values[0] = Float(signal.arrivalRate)
        batch.series[4].values[0] = Float(signal.completions)
        if let l = signal.latencyMs, let service = signal.serviceMs {
            if let (latency, serviceSeries) = spare.take() {
                batch.series.append(latency)
                batch.series.append(serviceSeries)
            }
            batch.series[5].values[0] = Float(l)
            batch.series[6].values[0] = Float(service)
        } else if spare == nil {
            let service = batch.series.removeLast()
            spare = (batch.series.removeLast(), service)
        }
    }
}

/// Replays a trace through one policy: the SIMULATED fleet's nodes report once a simulated second
/// as agents would, `Fleet` ingests their batches and `DecisionEngine` runs the policy, exactly as in
/// the live aggregator; the engine's scale decisions set the fleet's targets.
public enum Replay {
    public static func run(_ s: ReplayScenario, setup: PoolSetup, name: String? = nil) -> ReplayResult {
        run(s, setup: setup, staticReplicas: nil, name: name ?? setup.policy.name)
    }

    /// A fixed fleet of `replicas` nodes of the pool's class for the whole trace, no policy: the
    /// baseline a sweep of static sizes is made of. Nothing is ingested (nothing would be decided).
    public static func runStatic(_ s: ReplayScenario, replicas: Int) -> ReplayResult {
        run(s, setup: nil, staticReplicas: replicas, name: "static \(replicas)")
    }

    private static func run(_ s: ReplayScenario, setup: PoolSetup?, staticReplicas: Int?, name policyName: String) -> ReplayResult {
        let classIndex = Dictionary(uniqueKeysWithValues: s.classes.enumerated().map { ($1.name, $0) })
        let defaultIndex = classIndex[s.defaultClass] ?? 0
        var sim = SimulatedFleet(
            model: s.model, classes: s.classes, requests: s.requests, initial: staticReplicas ?? s.initialReplicas, initialClass: defaultIndex,
            seed: s.seed)
        // The simulated replicas have the model's slots, and the serverless classes are burst replicas.
        var fleetSettings = s.fleet
        fleetSettings.replicaSlots = [:]
        fleetSettings.defaultReplicaSlots = s.model.slotsPerReplica
        fleetSettings.burstClasses = Set(s.classes.filter { $0.kind == .serverless }.map(\.name))
        // The replayed pool is the one being scaled: listed, so a policy that scales it to zero for
        // longer than forget_pool_after_s keeps its history, as a pool under `pools:` does live.
        let poolLabel = s.pool.utf8.count <= 15 ? s.pool : "replay-pool"
        fleetSettings.listedPools.insert(poolLabel)
        var fleet = Fleet(settings: fleetSettings)
        // The live ingest gate (clock checks; no CURVE binding: the batches come from the simulator),
        // so a batch the aggregator would refuse is refused here too, and counted.
        let gate = IngestGate(maxAheadSeconds: IngestGate.defaultMaxAheadSeconds, maxBehindSeconds: fleetSettings.forgetAfterSeconds)
        var refused = 0
        let setup = setup ?? PoolSetup(policy: StaticPolicy(replicas: staticReplicas ?? 1))
        var engine = DecisionEngine(settings: EngineSettings(resendSeconds: 10, validForSeconds: 30, explain: false) { _ in setup }, idPrefix: "replay")
        let session = s.seed | 1
        let epoch = s.startUnixSeconds * 1_000_000_000

        var demand: [Float] = []
        var capacity: [Float] = []
        var utilization: [Double] = []
        demand.reserveCapacity(s.durationSeconds + 60)
        capacity.reserveCapacity(s.durationSeconds + 60)
        var lastDesired: Int32?
        var lastAction: (up: Bool, at: Int)?
        var actions = 0
        var reversals = 0

        // The pool's label is short for the same reason (the policy is set up whatever the name).
        var batch = SimulatedAgentBatch(pool: poolLabel, session: session)
        var second = 0
        var signals: [SimulatedFleet.NodeSignal] = []
        while true {
            second += 1
            let now = Double(second)
            sim.advance(to: now)
            let point = sim.boundary(at: now, signals: &signals)
            demand.append(Float(point.demand))
            capacity.append(Float(point.capacity))
            let counting = second > s.warmupSeconds
            if counting, let u = point.meanUtilization { utilization.append(u) }
            if second == s.warmupSeconds { sim.startCounting() }

            let nowNanos = epoch + Int64(second) * 1_000_000_000
            if staticReplicas != nil {
                if second >= s.durationSeconds && sim.allArrived
                    && (sim.finished == s.requests.count || second >= s.durationSeconds + s.drainLimitSeconds)
                {
                    break
                }
                continue
            }
            for signal in signals {
                batch.fill(signal, second: second, nowNanos: nowNanos)
                guard gate.check(batch.batch, from: .plaintext, nowNanos: nowNanos) == nil else {
                    refused += 1
                    continue
                }
                _ = fleet.ingest(batch.batch, nowNanos: nowNanos)
            }
            _ = fleet.tick(nowNanos: nowNanos)
            for decision in engine.evaluate(fleet: fleet, nowNanos: nowNanos) {
                guard case .scale(let scale) = decision.body else { continue }
                guard counting else {
                    lastDesired = scale.desiredReplicas
                    continue
                }
                if let last = lastDesired, scale.desiredReplicas != last {
                    actions += 1
                    let up = scale.desiredReplicas > last
                    if let prev = lastAction, prev.up != up, Double(second - prev.at) <= s.model.reversalWindowSeconds { reversals += 1 }
                    lastAction = (up, second)
                }
                lastDesired = scale.desiredReplicas
                var targets = Array(repeating: 0, count: s.classes.count)
                if scale.allocation.isEmpty {
                    targets[defaultIndex] = Int(scale.desiredReplicas)
                } else {
                    for line in scale.allocation { if let i = classIndex[line.instanceClass] { targets[i] += Int(line.count) } }
                }
                sim.setTargets(targets, now: now)
            }
            if second >= s.durationSeconds && sim.allArrived
                && (sim.finished == s.requests.count || second >= s.durationSeconds + s.drainLimitSeconds)
            {
                break
            }
        }
        var result = summarize(
            s, sim: sim, policy: policyName, seconds: second, demand: demand, capacity: capacity, utilization: utilization,
            actions: actions, reversals: reversals)
        result.batchesRefused = refused
        return result
    }

    static func summarize(
        _ s: ReplayScenario, sim: SimulatedFleet, policy: String, seconds: Int, demand: [Float], capacity: [Float], utilization: [Double],
        actions: Int, reversals: Int
    ) -> ReplayResult {
        let slaWait = s.model.slaWaitSeconds
        var latencies = Percentiles()
        var waits = Percentiles()
        var violations = 0
        var unfinished = 0
        var windowCounts = [(n: Int, over: Int)](repeating: (0, 0), count: seconds / 60 + 1)
        var counted = 0
        for (i, r) in s.requests.enumerated() where r.arrival >= Double(s.warmupSeconds) {
            counted += 1
            let l = sim.latency[i]
            let window = min(windowCounts.count - 1, Int(r.arrival / 60))
            var over = false
            if l.isNaN {
                unfinished += 1
                over = true
            } else {
                let wait = max(0, Double(l) - r.service)
                latencies.add(Double(l))
                waits.add(wait)
                over = wait > slaWait
            }
            if over { violations += 1 }
            windowCounts[window].n += 1
            if over { windowCounts[window].over += 1 }
        }
        // p99 of a window breaks the target when more than 1 % of its requests do.
        let windows = windowCounts.filter { $0.n > 0 }
        let windowsViolated = windows.filter { Double($0.over) > 0.01 * Double($0.n) }.count

        let mean = utilization.isEmpty ? 0 : utilization.reduce(0, +) / Double(utilization.count)
        let variance = utilization.isEmpty ? 0 : utilization.reduce(0) { $0 + ($1 - mean) * ($1 - mean) } / Double(utilization.count)

        let from = min(s.warmupSeconds, demand.count)
        let (surges, delays) = surgeDelays(demand: Array(demand[from...]), capacity: Array(capacity[from...]))
        let billed = sim.billedSlotSeconds.reduce(0, +)
        return ReplayResult(
            policy: policy, requests: counted, unfinished: unfinished, slaViolations: violations, windows: windows.count,
            windowsViolated: windowsViolated, latencyP50: latencies.value(0.5), latencyP95: latencies.value(0.95),
            latencyP99: latencies.value(0.99), latencyPeak: latencies.max, waitP50: waits.value(0.5),
            waitP95: waits.value(0.95), waitP99: waits.value(0.99), waitPeak: waits.max,
            costByClass: s.classes.indices.map { (s.classes[$0].name, sim.cost[$0]) },
            utilizationEfficiency: billed > 0 ? sim.servedSlotSeconds.reduce(0, +) / billed : 0, scalingActions: actions, reversals: reversals,
            gpuUtilizationStdDev: variance.squareRoot() * 100, surges: surges, surgeToCapacityMedian: median(delays),
            preemptions: sim.preemptions, simulatedSeconds: seconds, demand: demand, capacity: capacity)
    }

    /// Nearest-rank percentiles of seconds, to 10 ms: a fixed histogram (10 ms bins up to an hour,
    /// then one overflow bin read as the maximum), so millions of requests need no sort.
    struct Percentiles {
        static let bin = 0.01
        private var counts = [Int](repeating: 0, count: 360_001)
        private(set) var n = 0
        private(set) var max = 0.0

        mutating func add(_ seconds: Double) {
            counts[Swift.min(counts.count - 1, Int(Swift.max(0, seconds) / Self.bin))] += 1
            n += 1
            max = Swift.max(max, seconds)
        }

        /// The lower edge of the bin holding the nearest-rank `q` quantile (so within 10 ms below it).
        func value(_ q: Double) -> Double {
            guard n > 0 else { return 0 }
            let rank = Swift.max(1, Int((q * Double(n)).rounded(.up)))
            var seen = 0
            for (i, c) in counts.enumerated() {
                seen += c
                if seen >= rank { return Swift.min(max, Double(i) * Self.bin) }
            }
            return max
        }
    }

    static func median(_ values: [Double]) -> Double? {
        guard !values.isEmpty else { return nil }
        let v = values.sorted()
        return v.count % 2 == 1 ? v[v.count / 2] : (v[v.count / 2 - 1] + v[v.count / 2]) / 2
    }

    /// A surge starts when offered load stays above ready capacity for 5 s in a row (outside a
    /// surge); its delay runs from its first second to the first second with more ready capacity.
    static func surgeDelays(demand: [Float], capacity: [Float], confirm: Int = 5) -> (count: Int, delays: [Double]) {
        var count = 0
        var delays: [Double] = []
        var run = 0
        var i = 0
        while i < demand.count {
            run = demand[i] > capacity[i] ? run + 1 : 0
            if run == confirm {
                count += 1
                let start = i - confirm + 1
                var j = start
                while j < capacity.count && capacity[j] <= capacity[start] { j += 1 }
                if j < capacity.count { delays.append(Double(j - start)) }
                // The surge lasts until load falls back within capacity.
                while i < demand.count && demand[i] > capacity[i] { i += 1 }
                run = 0
            }
            i += 1
        }
        return (count, delays)
    }
}

extension ReplayConfig {
    /// The simulation model for a trace whose replicas have `slots` slots.
    public func model(slots: Int) -> SimulationModel {
        SimulationModel(slotsPerReplica: slots, slaWaitSeconds: slaWaitS, checkpointIntervalSeconds: checkpointIntervalS, reversalWindowSeconds: reversalWindowS)
    }
}

extension ReplayScenario {
    /// The trace's true offered load per minute, replica units (see `PerfectForecast`).
    public var perfectForecast: PerfectForecast {
        let minutes = durationSeconds / 60 + 2
        var work = [Double](repeating: 0, count: minutes)
        for r in requests {
            let m = Int(r.arrival / 60)
            if m >= 0 && m < minutes { work[m] += r.service }
        }
        let slots = Double(model.slotsPerReplica)
        return PerfectForecast(startUnixSeconds: startUnixSeconds, minuteDemand: work.map { $0 / 60 / slots })
    }
}
