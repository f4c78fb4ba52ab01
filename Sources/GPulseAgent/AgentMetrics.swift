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
        let runs, failures, seconds, nonFinite, rejected: MirroredCounter
    }
    private struct GroupCounters {
        let ticks, missed: MirroredCounter
        let samplers: [SamplerCounters]
    }
    private let groups: [GroupCounters]
    private let batchesSent, samplesSent, batchesDropped, samplesDropped: MirroredCounter
    private let ringSamples: Gauge

    public init(loops: [(group: String, loop: SamplingLoop)], publisher: BatchPublisher, ring: SampleRing, registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        self.loops = loops
        self.publisher = publisher
        self.ring = ring
        process = ProcessMetrics(registry: registry)
        func counter(_ name: String, _ labels: [(String, String)], _ help: String) -> MirroredCounter {
            MirroredCounter(registry: registry, name: name, labels: labels, help: help)
        }
        registry.makeGauge(name: "gpulse_agent_build_info", labels: [("version", gpulseVersion)], help: "Always 1; the version is the label.").set(to: 1.0)
        groups = loops.map { group, loop in
            let g = [("group", group)]
            registry.makeGauge(name: "gpulse_agent_group_rate_hz", labels: g, help: "Configured tick rate of the sampler group.").set(to: 1e9 / Double(loop.periodNanos))
            return GroupCounters(
                ticks: counter("gpulse_agent_group_ticks_total", g, "Ticks the group's thread ran."),
                missed: counter("gpulse_agent_group_missed_ticks_total", g, "Ticks skipped because a tick overran its whole period."),
                samplers: loop.samplerStats.map { stat in
                    let l = [("sampler", stat.name), ("group", group)]
                    return SamplerCounters(
                        runs: counter("gpulse_agent_sampler_runs_total", l, "Readings the sampler took."),
                        failures: counter("gpulse_agent_sampler_failures_total", l, "Readings that failed (counted, never sent)."),
                        seconds: counter("gpulse_agent_sampler_duration_seconds_total", l, "Time spent in the sampler's readings, seconds."),
                        nonFinite: counter("gpulse_agent_sampler_non_finite_values_total", l, "NaN or infinite values produced; counted, never sent."),
                        rejected: counter("gpulse_agent_sampler_rejected_inputs_total", l, "Bad input received from outside (e.g. invalid application reports)."))
                })
        }
        batchesSent = counter("gpulse_agent_batches_sent_total", [], "Batches queued for the aggregator.")
        samplesSent = counter("gpulse_agent_samples_sent_total", [], "Samples in batches queued for the aggregator.")
        batchesDropped = counter("gpulse_agent_batches_dropped_total", [], "Batches dropped because the send queue was full (aggregator away).")
        samplesDropped = counter("gpulse_agent_samples_dropped_total", [], "Samples dropped by a full send queue; also reported to the aggregator.")
        ringSamples = registry.makeGauge(name: "gpulse_agent_ring_samples", help: "Samples waiting in the ring between the sampling threads and the publisher.")
        registry.makeGauge(name: "gpulse_agent_ring_capacity_samples", help: "Capacity of that ring (buffer_samples).").set(to: Double(ring.capacity))
    }

    /// Copies the current counts into the registry (called on each scrape).
    public func refresh() {
        for (g, (_, loop)) in zip(groups, loops) {
            g.ticks.advance(to: loop.tickCount)
            g.missed.advance(to: loop.missedTickCount)
            for (c, stat) in zip(g.samplers, loop.samplerStats) {
                c.runs.advance(to: stat.runs)
                c.failures.advance(to: stat.failures)
                c.seconds.advance(to: Double(stat.totalNanos) / 1e9)
                c.nonFinite.advance(to: stat.nonFiniteValues)
                c.rejected.advance(to: stat.rejectedInputs)
            }
        }
        let p = publisher.currentStats
        batchesSent.advance(to: p.batchesSent)
        samplesSent.advance(to: p.samplesSent)
        batchesDropped.advance(to: p.batchesDropped)
        samplesDropped.advance(to: p.samplesDropped)
        ringSamples.set(to: Double(ring.count))
        process.update()
    }

    /// Healthy when every sampling thread ticked within three of its periods (at least 2 s) and the
    /// publisher went round within three publish intervals (at least 2 s).
    public func health() -> Health {
        for (group, loop) in loops {
            let h = loop.heartbeat.health(of: "sampler group \(group)", limitSeconds: max(2, 3 * Double(loop.periodNanos) / 1e9))
            if !h.healthy { return h }
        }
        let publishing = publisher.heartbeat.health(of: "publisher", limitSeconds: max(2, 3 * Double(publisher.publishIntervalNanos) / 1e9))
        if !publishing.healthy { return publishing }
        return Health(healthy: true, detail: "\(loops.count) sampler groups ticking, publisher running")
    }
}
