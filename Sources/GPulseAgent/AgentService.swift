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

/// The agent as a service: one sampling thread per group, the publisher thread, and a graceful stop
/// on SIGTERM that publishes the last partial batch. `init` opens what sampling needs (NVML, the
/// CURVE keys, the sockets), so a host or config it cannot work with fails the start with the
/// reason; it also builds the services that run beside it, which the executable's `ServiceGroup`
/// lists: the optional metrics endpoint and the systemd watchdog.
public final class AgentService: Service, Sendable {
    public static let version = gpulseVersion

    private let configuration: AgentConfig
    private let labels: NodeLabels
    private let logger: Logger
    private let context: ZMQContext
    private let session: UInt64
    private let publisher: BatchPublisher
    /// One per sampler group, with the group's name and rate.
    private let loops: [(name: String, rateHz: Double, loop: SamplingLoop)]
    private let samplerNames: [String]
    private let nvml: NVMLLibrary?
    private let notifier = SystemdNotifier()
    /// `/metrics` and `/healthz`, when `prometheus.listen` is set. One that cannot listen is logged
    /// and sampling carries on.
    public let metricsServer: (any Service)?
    /// Keep-alives to systemd only while every sampler group ticks and the publisher runs.
    public let watchdog: WatchdogService

    /// Every service of the agent, in the order a `ServiceGroup` should start them (it stops them
    /// in reverse: the watchdog and the endpoint end before the agent flushes its last batch).
    public var services: [any Service] { [self] + (metricsServer.map { [$0] } ?? []) + [watchdog] }

    public init(configuration: AgentConfig, labels: NodeLabels, logger: Logger) throws {
        self.configuration = configuration
        self.labels = labels
        self.logger = logger
        let signals = SignalTable()
        let ring = SampleRing(capacity: configuration.bufferSamples)
        context = try ZMQContext()
        let registry = SamplerRegistry(config: configuration, context: context, signals: signals, logger: logger)
        if let problem = registry.startProblem(config: configuration) { throw AgentStartError(description: problem) }
        session = UInt64.random(in: 1...UInt64.max)
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
        publisher = BatchPublisher(
            settings: publishSettings, context: context, ring: ring, builder: builder, probeLosses: registry.probeLosses, logger: logger)
        // One thread per group, so a slow NVML call or a probe timeout never delays the fast tick.
        loops = registry.groups.map {
            ($0.name, $0.rateHz, SamplingLoop(samplers: $0.samplers, rateHz: $0.rateHz, ring: ring, group: $0.name, logger: logger))
        }
        samplerNames = registry.samplerNames
        nvml = registry.nvml
        let metrics = AgentMetrics(loops: loops.map { ($0.name, $0.loop) }, publisher: publisher, ring: ring)
        if let address = configuration.prometheus.address, !EndpointSyntax.isLoopbackHost(address.host) {
            logger.warning("the agent's metrics endpoint is bound off loopback and has no authentication", metadata: ["listen": "\(address)"])
        }
        metricsServer = configuration.prometheus.address.map { address in
            OptionalService(
                MetricsServer(listen: address, registry: metrics.registry, logger: logger, beforeScrape: metrics.refresh, health: metrics.health),
                logger: logger, failure: "agent metrics endpoint off")
        }
        watchdog = WatchdogService(notifier: notifier, logger: logger, isHealthy: metrics.health)
    }

    public func run() async throws {
        try publisher.start()
        for entry in loops { entry.loop.start() }
        logger.info(
            "agent started",
            metadata: [
                "node_id": "\(labels.nodeID)", "pool": "\(labels.pool)", "aggregator": "\(configuration.aggregator.endpoint)",
                "groups": "\(loops.map { "\($0.name)=\($0.rateHz)Hz" }.joined(separator: ","))",
                "samplers": "\(samplerNames.joined(separator: ","))", "session": "\(session)",
            ])
        notifier.ready(status: "sampling \(samplerNames.joined(separator: ", ")); publishing to \(configuration.aggregator.endpoint)")
        try? await gracefulShutdown()
        notifier.stopping(status: "stopping: flushing the last batch")

        // Stop sampling first, so the publisher's final flush holds everything sampled.
        for entry in loops { entry.loop.stop() }
        publisher.stop()
        let p = publisher.currentStats
        for (name, rateHz, loop) in loops {
            let late = loop.tickLateness
            logger.info(
                "group totals",
                metadata: [
                    "group": "\(name)", "rate_hz": "\(rateHz)", "ticks": "\(loop.tickCount)", "missed_ticks": "\(loop.missedTickCount)",
                    "lateness_p50_us": "\(late.quantile(0.5) ?? 0)", "lateness_p99_us": "\(late.quantile(0.99) ?? 0)",
                    "lateness_max_us": "\(late.maxMicros)",
                ])
            for stat in loop.samplerStats {
                logger.info(
                    "sampler totals",
                    metadata: [
                        "sampler": "\(stat.name)", "group": "\(name)", "runs": "\(stat.runs)", "failures": "\(stat.failures)",
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
        for entry in loops { entry.loop.shutdownSamplers() }
        nvml?.close()
    }
}

/// A service whose failure is logged and does not stop the others: it then waits for the group's
/// graceful shutdown like a service that is still running.
struct OptionalService: Service {
    let inner: any Service
    let logger: Logger
    /// The log message when `inner` throws.
    let failure: Logger.Message

    init(_ inner: any Service, logger: Logger, failure: Logger.Message) {
        self.inner = inner
        self.logger = logger
        self.failure = failure
    }

    func run() async throws {
        do {
            try await inner.run()
        } catch {
            logger.error(failure, metadata: ["error": "\(error)"])
            try? await gracefulShutdown()
        }
    }
}

/// The agent cannot do its job with this host and config (it would run but sample nothing useful).
public struct AgentStartError: Error, CustomStringConvertible {
    public var description: String
}
