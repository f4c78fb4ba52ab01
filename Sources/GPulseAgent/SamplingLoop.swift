import GPulseCore
import Logging
import Synchronization

/// Counters of one sampler, for logs and the agent's metrics endpoint.
public struct SamplerStats: Sendable, Hashable {
    public var name: String
    public var runs: UInt64 = 0
    public var failures: UInt64 = 0
    public var totalNanos: UInt64 = 0
    /// NaN or infinite values the sampler produced; counted here, never sent.
    public var nonFiniteValues: UInt64 = 0
    /// Bad input the sampler received from outside (e.g. invalid application reports).
    public var rejectedInputs: UInt64 = 0
    public var lastError: String?
}

/// Runs samplers at a fixed rate on its own thread, sleeping to absolute CLOCK_MONOTONIC deadlines,
/// so the period does not drift and the cooperative pool is never blocked.
public final class SamplingLoop: Sendable {
    /// Samplers are touched only by the loop thread once it starts; this box carries them there.
    private final class SamplerBox: @unchecked Sendable {
        let samplers: [any Sampler]
        init(_ samplers: [any Sampler]) { self.samplers = samplers }
    }

    public let periodNanos: UInt64
    /// Beats every tick; the metrics endpoint's /healthz reads it.
    public let heartbeat = Heartbeat()
    /// Ticks between publishing counters to other threads: 64, or fewer so that a slow group still
    /// publishes about once a second.
    private let publishEvery: UInt64
    private let stats: Mutex<[SamplerStats]>
    private let ticks = Atomic<UInt64>(0)
    private let missedTicks = Atomic<UInt64>(0)
    private let lateness = Mutex(LatencyHistogram())
    private let thread: Mutex<WorkerThread?> = Mutex(nil)
    private let box: SamplerBox
    private let ring: SampleRing
    private let logger: Logger
    private let threadName: String

    /// - Parameter group: the sampler group's name; the thread is called "gpulse-<group>".
    public init(samplers: [any Sampler], rateHz: Double, ring: SampleRing, group: String = "sampling", logger: Logger) {
        precondition(rateHz > 0, "rate must be positive")
        threadName = "gpulse-\(group)"
        periodNanos = UInt64(1e9 / rateHz)
        publishEvery = UInt64(max(1, min(64, Int(rateHz))))
        box = SamplerBox(samplers)
        stats = Mutex(samplers.map { SamplerStats(name: $0.name) })
        self.ring = ring
        self.logger = logger
    }

    public func start() {
        let t = WorkerThread(name: threadName) { [self] worker in run(worker) }
        thread.withLock { $0 = t }
    }

    /// Stops after the current tick and waits for the thread to end.
    public func stop() {
        guard let t = thread.withLock({ t -> WorkerThread? in defer { t = nil }; return t }) else { return }
        t.stop()
        t.join()
    }

    /// After `stop()`: lets each sampler stop what it runs beside its ticks (the loop thread is gone,
    /// so this thread may touch them), before the libraries they use are closed.
    public func shutdownSamplers() {
        precondition(thread.withLock { $0 == nil }, "shutdownSamplers() before stop()")
        for sampler in box.samplers { sampler.shutdown() }
    }

    public var samplerStats: [SamplerStats] { stats.withLock { $0 } }
    public var tickCount: UInt64 { ticks.load(ordering: .relaxed) }
    /// Ticks skipped because a tick overran its whole period.
    public var missedTickCount: UInt64 { missedTicks.load(ordering: .relaxed) }
    /// Actual minus scheduled start of each tick, microseconds: the loop's jitter.
    public var tickLateness: LatencyHistogram { lateness.withLock { $0 } }

    private func run(_ worker: WorkerThread) {
        let samplers = box.samplers
        var deadline = SystemClock.monotonicNanos()
        var lastFailureLog = [UInt64](repeating: 0, count: samplers.count)
        // Counted here and published every `publishEvery` ticks, so a tick takes no lock for bookkeeping.
        var local = samplers.map { SamplerStats(name: $0.name) }
        var localLateness = LatencyHistogram()
        var pendingTicks: UInt64 = 0
        func publish() {
            for i in samplers.indices { local[i].rejectedInputs = samplers[i].rejectedInputs }
            // Element-wise, so neither array is copied (no allocation on the tick).
            stats.withLock { s in for i in s.indices { s[i] = local[i] } }
            lateness.withLock { $0.merge(localLateness) }
            localLateness = LatencyHistogram()
            ticks.add(pendingTicks, ordering: .relaxed)
            pendingTicks = 0
        }
        while !worker.shouldStop {
            SystemClock.sleep(untilMonotonicNanos: deadline)
            let tickStart = SystemClock.monotonicNanos()
            heartbeat.beat(nowMonotonicNanos: tickStart)
            localLateness.record(micros: tickStart > deadline ? (tickStart - deadline) / 1000 : 0)
            var begin = tickStart
            for (i, sampler) in samplers.enumerated() {
                var sink = SampleSink(ring: ring, monotonicNanos: tickStart)
                var failure: String?
                do { try sampler.sample(into: &sink) } catch { failure = "\(error)" }
                let end = SystemClock.monotonicNanos()
                local[i].runs &+= 1
                local[i].totalNanos &+= end - begin
                local[i].nonFiniteValues &+= UInt64(sink.rejectedNonFinite)
                begin = end
                if let failure {
                    local[i].failures &+= 1
                    local[i].lastError = failure
                    // One line per sampler per minute at most: a broken file must not flood the journal.
                    if lastFailureLog[i] == 0 || tickStart &- lastFailureLog[i] > 60_000_000_000 {
                        lastFailureLog[i] = tickStart
                        logger.warning("sampler failed", metadata: ["sampler": "\(sampler.name)", "error": "\(failure)"])
                    }
                }
            }
            pendingTicks += 1
            if pendingTicks == publishEvery { publish() }
            deadline &+= periodNanos
            let now = SystemClock.monotonicNanos()
            if now > deadline {
                // Overran whole periods: skip them rather than burst to catch up.
                let behind = (now - deadline) / periodNanos + 1
                missedTicks.add(behind, ordering: .relaxed)
                deadline &+= behind * periodNanos
            }
        }
        publish()
    }
}
