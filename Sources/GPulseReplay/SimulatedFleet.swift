import GPulseCore

/// One request of a replayed trace: when it arrives (seconds from the trace start) and how long it
/// occupies one slot of a replica.
public struct TraceRequest: Sendable, Hashable {
    public var arrival: Double
    public var service: Double

    public init(arrival: Double, service: Double) {
        self.arrival = arrival
        self.service = service
    }
}

/// The SIMULATED fleet's model settings (config `replay:`), the same for every policy.
public struct SimulationModel: Sendable, Hashable {
    /// Requests one replica serves at once.
    public var slotsPerReplica: Int
    /// A request breaks the SLA when its latency exceeds its own service time by more than this
    /// (time spent queued, waiting for a cold start, or redoing work lost to a preemption).
    public var slaWaitSeconds: Double
    /// A preempted request keeps the work done up to its last checkpoint (every this many seconds of
    /// service) and redoes the rest.
    public var checkpointIntervalSeconds: Double
    /// A scaling action counts as a reversal when it goes the other way within this long of the previous one.
    public var reversalWindowSeconds: Double

    public init(slotsPerReplica: Int = 8, slaWaitSeconds: Double = 2, checkpointIntervalSeconds: Double = 600, reversalWindowSeconds: Double = 300) {
        self.slotsPerReplica = slotsPerReplica
        self.slaWaitSeconds = slaWaitSeconds
        self.checkpointIntervalSeconds = checkpointIntervalSeconds
        self.reversalWindowSeconds = reversalWindowSeconds
    }
}

/// A SIMULATED pool of replicas, for replay: no real host is involved. Replicas of each instance
/// class have `slotsPerReplica` slots and serve one FCFS queue (a balancer sends the head of the
/// queue to the least busy ready replica). A node replica takes its class's lead time to boot and is
/// billed per second from the moment it is asked for until it is gone; reserved capacity is a
/// commitment billed for the whole replay at the most ever held; serverless replicas take the class's
/// lead time as a cold start and are billed only for the slot-seconds they serve. Spot replicas are
/// preempted by a Poisson process (`preemptionsPerHour`), and their requests go back to the head of
/// the queue keeping only the work up to their last checkpoint. Time is virtual: the replay driver
/// calls `advance(to:)` and `boundary(at:)` once per simulated second.
public struct SimulatedFleet: Sendable {
    public enum ReplicaState: Sendable, Hashable {
        case booting(readyAt: Double)
        case ready
        /// Asked to go: takes no new requests and leaves when its last one ends.
        case draining
        case gone
    }

    struct Replica: Sendable {
        var id: Int
        /// The node id its agent reports ("sim-<id>"), made once.
        var nodeID: String
        var classIndex: Int
        var state: ReplicaState
        var busy = 0
        /// Bumped on preemption so completions already scheduled on it are ignored.
        var epoch: Int32 = 0
        var running: [(request: Int32, start: Double)] = []
        var busySlotSeconds = 0.0
        var lastChange: Double
        var latencySum = 0.0
        var latencyCount = 0
        /// Service seconds (start of service to end) of the requests finished this second.
        var serviceSum = 0.0
    }

    /// What one ready replica (node or serverless) reports for the last second, as an agent reading
    /// its inference server would.
    public struct NodeSignal: Sendable, Hashable {
        public var nodeID: String
        public var instanceClass: String
        public var gpuUtilization: Double
        /// Mean latency of the requests it finished in the second, ms; nil when none finished.
        public var latencyMs: Double?
        /// Its share of the pool's queue (requests waiting).
        public var queueDepth: Double
        /// Requests it is serving at the end of the second.
        public var running: Int
        /// Its share of the pool's arrivals in the second, requests/s.
        public var arrivalRate: Double
        /// Requests it finished in the second.
        public var completions: Int
        /// Mean service time of those, ms; nil when none finished.
        public var serviceMs: Double?
    }

    /// Pool totals for the last second.
    public struct Second: Sendable, Hashable {
        /// Offered load in replica units: busy slot-seconds plus queued requests, over slots.
        public var demand: Double
        /// Ready replicas, node and serverless.
        public var capacity: Int
        /// Mean GPU utilization over ready node replicas; nil when none is ready.
        public var meanUtilization: Double?
    }

    public let model: SimulationModel
    public let classes: [InstanceClass]
    public let requests: [TraceRequest]
    private var replicas: [Replica] = []
    private var active: [Int] = []
    private var nextArrival = 0
    private var queue = RequestQueue()
    private var remaining: [Double]
    private var completions = CompletionHeap()
    private var freeSlots = 0
    private var rng: SeededGenerator
    private var targets: [Int]

    /// Latency of each request (seconds), NaN until it finishes.
    public private(set) var latency: [Float]
    public private(set) var finished = 0
    /// Currency units by class index (reserved: each commitment's whole term, billed when bought).
    public private(set) var cost: [Double]
    /// Slot-seconds served, by class index.
    public private(set) var servedSlotSeconds: [Double]
    /// Slot-seconds paid for (node replicas existing, serverless slots busy), by class index.
    public private(set) var billedSlotSeconds: [Double]
    public private(set) var preemptions = 0
    /// Slot-seconds of work redone after preemptions.
    public private(set) var lostWorkSeconds = 0.0
    private var nextReplicaID = 0
    /// Arrivals since the last boundary.
    private var arrivalsThisSecond = 0
    /// Reserved purchases by class index: nodes committed until a time, billed for the whole term
    /// when bought (`commitmentHours` of the class), used or not.
    public private(set) var commitments: [[(count: Int, until: Double)]]

    /// `requests` sorted by arrival; `initial` ready replicas of `classes[initialClass]` at time 0.
    public init(model: SimulationModel, classes: [InstanceClass], requests: [TraceRequest], initial: Int, initialClass: Int, seed: UInt64) {
        self.model = model
        self.classes = classes
        self.requests = requests
        remaining = requests.map(\.service)
        latency = Array(repeating: .nan, count: requests.count)
        rng = SeededGenerator(seed: seed).stream(2)
        cost = Array(repeating: 0, count: classes.count)
        servedSlotSeconds = Array(repeating: 0, count: classes.count)
        billedSlotSeconds = Array(repeating: 0, count: classes.count)
        targets = Array(repeating: 0, count: classes.count)
        commitments = Array(repeating: [], count: classes.count)
        targets[initialClass] = initial
        for _ in 0..<initial { add(classIndex: initialClass, now: 0, ready: true) }
    }

    public var queued: Int { queue.count }
    public var allArrived: Bool { nextArrival == requests.count }

    /// Replicas of class `i` asked for and not going away (booting or ready).
    public func count(classIndex i: Int) -> Int {
        active.reduce(0) { n, r in
            guard replicas[r].classIndex == i else { return n }
            switch replicas[r].state {
            case .booting, .ready: return n + 1
            default: return n
            }
        }
    }

    /// Sets how many replicas of each class the pool should have; `boundary` reconciles towards it
    /// every second, so preempted nodes are replaced like a controller would.
    public mutating func setTargets(_ counts: [Int], now: Double) {
        targets = counts
        reconcile(now: now)
    }

    /// Runs arrivals and completions up to `time`.
    public mutating func advance(to time: Double) {
        while true {
            let arrival = nextArrival < requests.count && requests[nextArrival].arrival < time ? requests[nextArrival].arrival : Double.infinity
            var completion = Double.infinity
            while let top = completions.top {
                if replicas[Int(top.replica)].epoch != top.epoch {
                    _ = completions.pop()
                    continue
                }
                if top.end < time { completion = top.end }
                break
            }
            if arrival == .infinity && completion == .infinity { return }
            if completion <= arrival {
                let c = completions.pop()!
                finish(request: Int(c.request), on: Int(c.replica), at: c.end)
                dispatch(now: c.end)
            } else {
                queue.pushBack(Int32(nextArrival))
                nextArrival += 1
                arrivalsThisSecond += 1
                dispatch(now: arrival)
            }
        }
    }

    /// The second that ends at `time`: boots replicas that are due, draws spot preemptions,
    /// reconciles to the targets, bills the second and returns what ready nodes report and the pool totals.
    public mutating func boundary(at time: Double) -> (signals: [NodeSignal], second: Second) {
        var signals: [NodeSignal] = []
        let second = boundary(at: time, signals: &signals)
        return (signals, second)
    }

    /// `boundary(at:)` writing the signals into `signals` (emptied first, its storage kept), so that
    /// a replay allocates no array per second.
    public mutating func boundary(at time: Double, signals: inout [NodeSignal]) -> Second {
        // Bill the second that just ended, and close its busy time.
        signals.removeAll(keepingCapacity: true)
        var busyTotal = 0.0
        var readyNodes = 0
        var capacity = 0
        var utilSum = 0.0
        let slots = Double(model.slotsPerReplica)
        for r in active {
            replicas[r].busySlotSeconds += Double(replicas[r].busy) * (time - replicas[r].lastChange)
            replicas[r].lastChange = time
            let busy = replicas[r].busySlotSeconds
            let classIndex = replicas[r].classIndex
            // Fields read in place: a copy of the class would retain and release its strings, for
            // every replica every second.
            let kind = classes[classIndex].kind
            busyTotal += busy
            servedSlotSeconds[classIndex] += busy
            if kind != .serverless {
                billedSlotSeconds[classIndex] += slots
                if kind != .reserved { cost[classIndex] += classes[classIndex].hourlyPrice / 3600 }
            }
            if replicas[r].state == .ready {
                capacity += 1
                let util = min(1, busy / slots)
                if kind != .serverless {
                    readyNodes += 1
                    utilSum += util
                }
                let count = replicas[r].latencyCount
                signals.append(
                    NodeSignal(
                        nodeID: replicas[r].nodeID, instanceClass: classes[classIndex].name, gpuUtilization: util,
                        latencyMs: count > 0 ? replicas[r].latencySum / Double(count) * 1000 : nil, queueDepth: 0,
                        running: replicas[r].busy, arrivalRate: 0, completions: count,
                        serviceMs: count > 0 ? replicas[r].serviceSum / Double(count) * 1000 : nil))
            }
            replicas[r].busySlotSeconds = 0
            replicas[r].latencySum = 0
            replicas[r].latencyCount = 0
            replicas[r].serviceSum = 0
        }
        for i in classes.indices where classes[i].kind == .reserved {
            commitments[i].removeAll { $0.until <= time }
        }
        let share = signals.isEmpty ? 0 : Double(queue.count) / Double(signals.count)
        let arrivalShare = signals.isEmpty ? 0 : Double(arrivalsThisSecond) / Double(signals.count)
        arrivalsThisSecond = 0
        for i in signals.indices {
            signals[i].queueDepth = share
            signals[i].arrivalRate = arrivalShare
        }
        let second = Second(
            demand: (busyTotal + Double(queue.count)) / slots, capacity: capacity,
            meanUtilization: readyNodes > 0 ? utilSum / Double(readyNodes) : nil)

        // Then what happens at `time`: boots, preemptions, reconciliation.
        for r in active {
            if case .booting(let at) = replicas[r].state, at <= time {
                replicas[r].state = .ready
                freeSlots += model.slotsPerReplica
            }
        }
        for r in active where replicas[r].state == .ready {
            let classIndex = replicas[r].classIndex
            let rate = classes[classIndex].preemptionsPerHour
            if classes[classIndex].kind == .spot && rate > 0 && rng.unit() <= rate / 3600 { preempt(r, now: time) }
        }
        active.removeAll { replicas[$0].state == .gone }
        reconcile(now: time)
        dispatch(now: time)
        return second
    }

    /// Forgets the costs and service so far (the end of a warm-up), commitments made so far included.
    public mutating func startCounting() {
        for i in classes.indices {
            commitments[i].removeAll()
            cost[i] = 0
            servedSlotSeconds[i] = 0
            billedSlotSeconds[i] = 0
        }
        preemptions = 0
        lostWorkSeconds = 0
    }

    /// Reserved nodes of class `i` committed at `time`.
    public func committed(classIndex i: Int, at time: Double) -> Int {
        commitments[i].reduce(0) { $0 + ($1.until > time ? $1.count : 0) }
    }


    // MARK: - Internals

    private mutating func reconcile(now: Double) {
        for i in classes.indices {
            var have = count(classIndex: i)
            let want = targets.indices.contains(i) ? targets[i] : 0
            if classes[i].kind == .reserved {
                // Every reserved node held is committed: holding more than is committed buys the rest for a term.
                let committed = committed(classIndex: i, at: now)
                if want > committed {
                    let term = classes[i].commitmentHours * 3600
                    commitments[i].append((want - committed, now + term))
                    cost[i] += Double(want - committed) * classes[i].hourlyPrice * term / 3600
                    billedSlotSeconds[i] += Double(want - committed) * Double(model.slotsPerReplica) * term
                }
            }
            while have < want {
                add(classIndex: i, now: now, ready: classes[i].leadTimeSeconds <= 0)
                have += 1
            }
            if have > want { remove(have - want, classIndex: i, now: now) }
        }
    }

    private mutating func add(classIndex: Int, now: Double, ready: Bool) {
        let state: ReplicaState = ready ? .ready : .booting(readyAt: now + classes[classIndex].leadTimeSeconds)
        replicas.append(Replica(id: nextReplicaID, nodeID: "sim-\(nextReplicaID)", classIndex: classIndex, state: state, lastChange: now))
        nextReplicaID += 1
        active.append(replicas.count - 1)
        if ready { freeSlots += model.slotsPerReplica }
    }

    /// Booting replicas go first (newest first), then idle ready ones, then the least busy drain.
    private mutating func remove(_ n: Int, classIndex: Int, now: Double) {
        var left = n
        for r in active.reversed() where left > 0 && replicas[r].classIndex == classIndex {
            if case .booting = replicas[r].state {
                replicas[r].state = .gone
                left -= 1
            }
        }
        let ready = active.filter { replicas[$0].classIndex == classIndex && replicas[$0].state == .ready }.sorted { replicas[$0].busy < replicas[$1].busy }
        for r in ready.prefix(left) {
            freeSlots -= model.slotsPerReplica - replicas[r].busy
            replicas[r].state = replicas[r].busy == 0 ? .gone : .draining
        }
        active.removeAll { replicas[$0].state == .gone }
    }

    private mutating func preempt(_ r: Int, now: Double) {
        preemptions += 1
        var replica = replicas[r]
        replica.busySlotSeconds += Double(replica.busy) * (now - replica.lastChange)
        replica.lastChange = now
        let checkpoint = model.checkpointIntervalSeconds
        // Requests go back to the head of the queue in their original order.
        for (request, start) in replica.running.reversed() {
            let done = now - start
            let kept = checkpoint > 0 ? (done / checkpoint).rounded(.down) * checkpoint : 0
            lostWorkSeconds += done - kept
            remaining[Int(request)] -= kept
            queue.pushFront(request)
        }
        freeSlots -= model.slotsPerReplica - replica.busy
        replica.running = []
        replica.busy = 0
        replica.epoch &+= 1
        replica.state = .gone
        replicas[r] = replica
    }

    /// Runs for every request, so the replica is updated in place: a copy taken out and written back
    /// would copy its `running` array on the first change (the array still shared with the original).
    private mutating func finish(request: Int, on r: Int, at time: Double) {
        replicas[r].busySlotSeconds += Double(replicas[r].busy) * (time - replicas[r].lastChange)
        replicas[r].lastChange = time
        replicas[r].busy -= 1
        var started = time - remaining[request]
        if let i = replicas[r].running.firstIndex(where: { $0.request == Int32(request) }) { started = replicas[r].running.remove(at: i).start }
        let l = time - requests[request].arrival
        latency[request] = Float(l)
        finished += 1
        replicas[r].latencySum += l
        replicas[r].latencyCount += 1
        replicas[r].serviceSum += time - started
        let classIndex = replicas[r].classIndex
        if classes[classIndex].kind == .serverless {
            cost[classIndex] += classes[classIndex].hourlyPrice * (time - started) / (3600 * Double(model.slotsPerReplica))
            billedSlotSeconds[classIndex] += time - started
        }
        if replicas[r].state == .ready {
            freeSlots += 1
        } else if replicas[r].state == .draining && replicas[r].busy == 0 {
            replicas[r].state = .gone
        }
        if replicas[r].state == .gone { active.removeAll { $0 == r } }
    }

    private mutating func dispatch(now: Double) {
        while freeSlots > 0, let request = queue.popFront() {
            var best = -1
            for r in active where replicas[r].state == .ready && replicas[r].busy < model.slotsPerReplica {
                if best < 0 || replicas[r].busy < replicas[best].busy { best = r }
            }
            guard best >= 0 else {
                queue.pushFront(request)
                return
            }
            replicas[best].busySlotSeconds += Double(replicas[best].busy) * (now - replicas[best].lastChange)
            replicas[best].lastChange = now
            replicas[best].busy += 1
            replicas[best].running.append((request, now))
            freeSlots -= 1
            completions.push(.init(end: now + remaining[Int(request)], replica: Int32(best), epoch: replicas[best].epoch, request: request))
        }
    }
}

/// FCFS queue of request indexes; preempted requests go back to the front.
struct RequestQueue: Sendable {
    private var ring: [Int32] = Array(repeating: 0, count: 1024)
    private var head = 0
    private(set) var count = 0

    mutating func pushBack(_ x: Int32) {
        grow()
        ring[(head + count) & (ring.count - 1)] = x
        count += 1
    }

    mutating func pushFront(_ x: Int32) {
        grow()
        head = (head - 1 + ring.count) & (ring.count - 1)
        ring[head] = x
        count += 1
    }

    mutating func popFront() -> Int32? {
        guard count > 0 else { return nil }
        let x = ring[head]
        head = (head + 1) & (ring.count - 1)
        count -= 1
        return x
    }

    private mutating func grow() {
        guard count == ring.count else { return }
        var bigger = [Int32](repeating: 0, count: ring.count * 2)
        for i in 0..<count { bigger[i] = ring[(head + i) & (ring.count - 1)] }
        ring = bigger
        head = 0
    }
}

/// Binary min-heap of scheduled completions.
struct CompletionHeap: Sendable {
    struct Entry: Sendable {
        var end: Double
        var replica: Int32
        var epoch: Int32
        var request: Int32
    }
    private var items: [Entry] = []

    var top: Entry? { items.first }

    mutating func push(_ e: Entry) {
        items.append(e)
        var i = items.count - 1
        while i > 0 {
            let p = (i - 1) / 2
            guard items[i].end < items[p].end else { break }
            items.swapAt(i, p)
            i = p
        }
    }

    mutating func pop() -> Entry? {
        guard let first = items.first else { return nil }
        let last = items.removeLast()
        if items.isEmpty { return first }
        items[0] = last
        var i = 0
        while true {
            let l = 2 * i + 1
            let r = l + 1
            var m = i
            if l < items.count && items[l].end < items[m].end { m = l }
            if r < items.count && items[r].end < items[m].end { m = r }
            if m == i { break }
            items.swapAt(i, m)
            i = m
        }
        return first
    }
}
