import GPulseCore
import GPulseExposition
import Prometheus

/// The agent's own Prometheus metrics (off unless `prometheus.listen` is set): each sampler's runs,
/// failures and time spent, each group's ticks and missed ticks, the publisher's sent and dropped
/// counts, and how full the ring between them is. Read from thread-safe counters on each scrape,
/// so the sampling threads do no extra work for it.
public final class AgentMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry
    private let process: ProcessMetrics
    private let loops: [(group: String, loop: SamplingLoop)]
    private let publisher: BatchPublisher
    private let ring: SampleRing

    private struct SamplerCounters {
        let runs: Counter, failures: Counter, seconds: Counter, nonFinite: Counter, rejected: Counter
        let mirrors = (CounterMirror(), CounterMirror(), CounterMirror(), CounterMirror(), CounterMirror())
    }
    private struct GroupCounters {
        let ticks: Counter, missed: Counter
        let mirrors = (CounterMirror(), CounterMirror())
        let samplers: [SamplerCounters]
    }
    private let groups: [GroupCounters]
    private let sent: (batches: Counter, samples: Counter, batchesDropped: Counter, samplesDropped: Counter)
    private let sentMirrors = (CounterMirror(), CounterMirror(), CounterMirror(), CounterMirror())
    private let ringSamples: Gauge

    public init(loops: [(group: String, loop: SamplingLoop)], publisher: BatchPublisher, ring: SampleRing, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.loops = loops
        self.publisher = publisher
        self.ring = ring
        process = ProcessMetrics(registry: registry)
        registry.makeGauge(name: "gpulse_agent_build_info", labels: [("version", gpulseVersion)], help: "Always 1; the version is the label.").set(to: 1.0)
        groups = loops.map { group, loop in
            let g = [("group", group)]
            registry.makeGauge(name: "gpulse_agent_group_rate_hz", labels: g, help: "Configured tick rate of the sampler group.").set(to: 1e9 / Double(loop.periodNanos))
            return GroupCounters(
                ticks: registry.makeCounter(name: "gpulse_agent_group_ticks_total", labels: g, help: "Ticks the group's thread ran."),
                missed: registry.makeCounter(name: "gpulse_agent_group_missed_ticks_total", labels: g, help: "Ticks skipped because a tick overran its whole period."),
                samplers: loop.samplerStats.map { stat in
                    let l = [("sampler", stat.name), ("group", group)]
                    return SamplerCounters(
                        runs: registry.makeCounter(name: "gpulse_agent_sampler_runs_total", labels: l, help: "Readings the sampler took."),
                        failures: registry.makeCounter(name: "gpulse_agent_sampler_failures_total", labels: l, help: "Readings that failed (counted, never sent)."),
                        seconds: registry.makeCounter(name: "gpulse_agent_sampler_duration_seconds_total", labels: l, help: "Time spent in the sampler's readings, seconds."),
                        nonFinite: registry.makeCounter(name: "gpulse_agent_sampler_non_finite_values_total", labels: l, help: "NaN or infinite values produced; counted, never sent."),
                        rejected: registry.makeCounter(name: "gpulse_agent_sampler_rejected_inputs_total", labels: l, help: "Bad input received from outside (e.g. invalid application reports)."))
                })
        }
        sent = (
            registry.makeCounter(name: "gpulse_agent_batches_sent_total", help: "Batches queued for the aggregator."),
            registry.makeCounter(name: "gpulse_agent_samples_sent_total", help: "Samples in batches queued for the aggregator."),
            registry.makeCounter(name: "gpulse_agent_batches_dropped_total", help: "Batches dropped because the send queue was full (aggregator away)."),
            registry.makeCounter(name: "gpulse_agent_samples_dropped_total", help: "Samples dropped by a full send queue; also reported to the aggregator.")
        )
        ringSamples = registry.makeGauge(name: "gpulse_agent_ring_samples", help: "Samples waiting in the ring between the sampling threads and the publisher.")
        registry.makeGauge(name: "gpulse_agent_ring_capacity_samples", help: "Capacity of that ring (buffer_samples).").set(to: Double(ring.capacity))
    }

    /// Copies the current counts into the registry (called on each scrape).
    public func refresh() {
        for (g, (_, loop)) in zip(groups, loops) {
            g.mirrors.0.advance(g.ticks, to: loop.tickCount)
            g.mirrors.1.advance(g.missed, to: loop.missedTickCount)
            for (c, stat) in zip(g.samplers, loop.samplerStats) {
                c.mirrors.0.advance(c.runs, to: stat.runs)
                c.mirrors.1.advance(c.failures, to: stat.failures)
                c.mirrors.2.advance(c.seconds, to: Double(stat.totalNanos) / 1e9)
                c.mirrors.3.advance(c.nonFinite, to: stat.nonFiniteValues)
                c.mirrors.4.advance(c.rejected, to: stat.rejectedInputs)
            }
        }
        let p = publisher.currentStats
        sentMirrors.0.advance(sent.batches, to: p.batchesSent)
        sentMirrors.1.advance(sent.samples, to: p.samplesSent)
        sentMirrors.2.advance(sent.batchesDropped, to: p.batchesDropped)
        sentMirrors.3.advance(sent.samplesDropped, to: p.samplesDropped)
        ringSamples.set(to: Double(ring.count))
        process.update()
    }

    /// Healthy when every sampling thread ticked within three of its periods (at least 2 s) and the
    /// publisher went round within 2 s.
    public func health() -> Health {
        for (group, loop) in loops {
            let limit = max(2, 3 * Double(loop.periodNanos) / 1e9)
            guard let age = loop.heartbeat.secondsSinceLastBeat() else { return Health(healthy: false, detail: "group \(group) has not ticked yet") }
            if age > limit { return Health(healthy: false, detail: "group \(group) last ticked \(age) s ago (limit \(limit) s)") }
        }
        guard let age = publisher.heartbeat.secondsSinceLastBeat(), age <= 2 else {
            return Health(healthy: false, detail: "publisher thread stalled or not started")
        }
        return Health(healthy: true, detail: "\(loops.count) sampler groups ticking, publisher running")
    }
}
