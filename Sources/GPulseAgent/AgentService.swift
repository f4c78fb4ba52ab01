import GPulseCore
import GPulseTransport
import Logging
import ServiceLifecycle

/// Everything the agent needs to run, resolved from the command line and environment.
public struct AgentConfiguration: Sendable {
    public var labels: NodeLabels
    public var aggregatorEndpoint: String
    public var sampleRateHz: Double
    public var publish: BatchPublisher.Settings
    /// Root of procfs; "/proc" on a real host.
    public var procRoot: String
    /// Samples held between the sampling thread and the publisher.
    public var ringCapacity: Int

    public init(
        labels: NodeLabels, aggregatorEndpoint: String, sampleRateHz: Double = 100, publishIntervalMilliseconds: Int = 100,
        sendQueueBatches: Int32 = 600, procRoot: String = "/proc", ringCapacity: Int = 65_536
    ) {
        self.labels = labels
        self.aggregatorEndpoint = aggregatorEndpoint
        self.sampleRateHz = sampleRateHz
        self.publish = BatchPublisher.Settings(
            endpoint: aggregatorEndpoint, publishIntervalNanos: UInt64(publishIntervalMilliseconds) * 1_000_000,
            sendQueueBatches: sendQueueBatches)
        self.procRoot = procRoot
        self.ringCapacity = ringCapacity
    }
}

/// The agent as a service: sampling thread, publisher thread, graceful stop on SIGTERM that
/// publishes the last partial batch.
public struct AgentService: Service {
    public static let version = "0.1.0"

    private let configuration: AgentConfiguration
    private let logger: Logger

    public init(configuration: AgentConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    public func run() async throws {
        let signals = SignalTable()
        let ring = SampleRing(capacity: configuration.ringCapacity)
        let samplers: [any Sampler] = [try CPUSampler(procRoot: configuration.procRoot, signals: signals)]
        let context = try ZMQContext()
        let session = UInt64.random(in: 1...UInt64.max)
        let builder = BatchBuilder(labels: configuration.labels, session: session, signals: signals, agentVersion: Self.version)
        let publisher = BatchPublisher(settings: configuration.publish, context: context, ring: ring, builder: builder, logger: logger)
        let loop = SamplingLoop(samplers: samplers, rateHz: configuration.sampleRateHz, ring: ring, logger: logger)

        try publisher.start()
        loop.start()
        logger.info(
            "agent started",
            metadata: [
                "node_id": "\(configuration.labels.nodeID)", "aggregator": "\(configuration.aggregatorEndpoint)",
                "rate_hz": "\(configuration.sampleRateHz)", "samplers": "\(samplers.map(\.name).joined(separator: ","))",
                "session": "\(session)",
            ])

        try? await gracefulShutdown()

        // Stop sampling first, so the publisher's final flush holds everything sampled.
        loop.stop()
        publisher.stop()
        let p = publisher.currentStats
        logger.info(
            "agent stopped",
            metadata: [
                "ticks": "\(loop.tickCount)", "missed_ticks": "\(loop.missedTickCount)", "batches_sent": "\(p.batchesSent)",
                "samples_sent": "\(p.samplesSent)", "batches_dropped": "\(p.batchesDropped)", "samples_dropped": "\(p.samplesDropped)",
            ])
    }
}
