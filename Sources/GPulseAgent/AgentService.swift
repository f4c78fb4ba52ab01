import GPulseConfig
import GPulseCore
import GPulseExposition
import GPulseSystemd
import GPulseTransport
import Logging
import ServiceLifecycle

extension AgentConfig {
    /// The node's labels, with the node id falling back to `hostname` when the config leaves it out.
    public func labels(hostname: String) -> NodeLabels {
        NodeLabels(
            nodeID: node.id ?? hostname, pool: node.pool, site: node.site, tier: node.tier.tier,
            workload: node.workload.workload, instanceClass: node.instanceClass)
    }

    var publishSettings: BatchPublisher.Settings {
        BatchPublisher.Settings(
            endpoint: aggregator.endpoint, publishIntervalNanos: UInt64(aggregator.publishIntervalMs) * 1_000_000,
            sendQueueBatches: Int32(clamping: aggregator.sendQueueBatches))
    }
}

/// The agent as a service: sampling thread, publisher thread, graceful stop on SIGTERM that
/// publishes the last partial batch.
public struct AgentService: Service {
    public static let version = gpulseVersion

    private let configuration: AgentConfig
    private let labels: NodeLabels
    private let logger: Logger

    public init(configuration: AgentConfig, labels: NodeLabels, logger: Logger) {
        self.configuration = configuration
        self.labels = labels
        self.logger = logger
    }

    public func run() async throws {
        let signals = SignalTable()
        let ring = SampleRing(capacity: configuration.bufferSamples)
        let context = try ZMQContext()
        let registry = SamplerRegistry(config: configuration, context: context, signals: signals, logger: logger)
        if let problem = registry.startProblem(config: configuration) { throw AgentStartError(description: problem) }
        let session = UInt64.random(in: 1...UInt64.max)
        let builder = BatchBuilder(labels: labels, session: session, signals: signals, agentVersion: Self.version)
        var publishSettings = configuration.publishSettings
        let security = configuration.security
        if security.mode == .curve {
            guard CurveKeyPair.isSupported else { throw KeyFileError(description: "this libzmq was built without CURVE (libsodium)") }
            let (keys, path) = try security.loadKeyPair(nodeID: labels.nodeID)
            publishSettings.curve = (keys, security.aggregatorPublicKey)
            logger.notice("CURVE on towards the aggregator", metadata: ["public_key": "\(keys.publicKey)", "key_file": "\(path)"])
        } else {
            logger.warning("plaintext: CURVE is off (security.mode: plaintext); batches travel unencrypted and unauthenticated")
        }
        let publisher = BatchPublisher(
            settings: publishSettings, context: context, ring: ring, builder: builder,
            probeLosses: registry.probeLosses, logger: logger)
        // One thread per group, so a slow NVML call or a probe timeout never delays the fast tick.
        let loops = registry.groups.map { SamplingLoop(samplers: $0.samplers, rateHz: $0.rateHz, ring: ring, group: $0.name, logger: logger) }

        try publisher.start()
        for loop in loops { loop.start() }
        logger.info(
            "agent started",
            metadata: [
                "node_id": "\(labels.nodeID)", "pool": "\(labels.pool)", "aggregator": "\(configuration.aggregator.endpoint)",
                "groups": "\(registry.groups.map { "\($0.name)=\($0.rateHz)Hz" }.joined(separator: ","))",
                "samplers": "\(registry.samplerNames.joined(separator: ","))", "session": "\(session)",
            ])

        let metrics = AgentMetrics(loops: zip(registry.groups, loops).map { ($0.name, $1) }, publisher: publisher, ring: ring)
        if let address = configuration.prometheus.address, !EndpointSyntax.isLoopbackHost(address.host) {
            logger.warning(
                "the agent's metrics endpoint is bound off loopback and has no authentication", metadata: ["listen": "\(address)"])
        }
        let server = configuration.prometheus.address.map { address in
            MetricsServer(listen: address, registry: metrics.registry, logger: logger, beforeScrape: metrics.refresh, health: metrics.health)
        }
        let notifier = SystemdNotifier()
        notifier.ready(status: "sampling \(registry.samplerNames.joined(separator: ", ")); publishing to \(configuration.aggregator.endpoint)")
        // The endpoint is optional; one that cannot listen is logged, and sampling carries on. The
        // watchdog is fed only while every sampler group ticks and the publisher runs.
        await withDiscardingTaskGroup { group in
            if let server {
                group.addTask {
                    do { try await server.run() } catch { logger.error("agent metrics endpoint off", metadata: ["error": "\(error)"]) }
                }
            }
            group.addTask { try? await WatchdogService(notifier: notifier, logger: logger, isHealthy: metrics.health).run() }
            try? await gracefulShutdown()
        }
        notifier.stopping(status: "stopping: flushing the last batch")

        // Stop sampling first, so the publisher's final flush holds everything sampled.
        for loop in loops { loop.stop() }
        publisher.stop()
        let p = publisher.currentStats
        for (group, loop) in zip(registry.groups, loops) {
            let late = loop.tickLateness
            logger.info(
                "group totals",
                metadata: [
                    "group": "\(group.name)", "rate_hz": "\(group.rateHz)", "ticks": "\(loop.tickCount)", "missed_ticks": "\(loop.missedTickCount)",
                    "lateness_p50_us": "\(late.quantile(0.5) ?? 0)", "lateness_p99_us": "\(late.quantile(0.99) ?? 0)",
                    "lateness_max_us": "\(late.maxMicros)",
                ])
            for stat in loop.samplerStats {
                logger.info(
                    "sampler totals",
                    metadata: [
                        "sampler": "\(stat.name)", "group": "\(group.name)", "runs": "\(stat.runs)", "failures": "\(stat.failures)",
                        "mean_us": "\(stat.runs == 0 ? 0 : stat.totalNanos / stat.runs / 1000)", "last_error": "\(stat.lastError ?? "none")",
                        "non_finite_values": "\(stat.nonFiniteValues)", "rejected_inputs": "\(stat.rejectedInputs)",
                    ])
            }
        }
        logger.info(
            "agent stopped",
            metadata: [
                "batches_sent": "\(p.batchesSent)", "samples_sent": "\(p.samplesSent)", "batches_dropped": "\(p.batchesDropped)",
                "samples_dropped": "\(p.samplesDropped)",
            ])
        registry.nvml?.close()
    }
}

/// The agent cannot do its job with this host and config (it would run but sample nothing useful).
public struct AgentStartError: Error, CustomStringConvertible {
    public var description: String
}
