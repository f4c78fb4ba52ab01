import GPulseCore
import GPulseTransport
import GPulseWire
import Logging
import ServiceLifecycle
import Synchronization

/// Everything the aggregator needs to run, resolved from the command line.
public struct AggregatorConfiguration: Sendable {
    /// Where agents connect (PULL, bound).
    public var metricsEndpoint: String
    /// Where subscribers connect for decisions (PUB, bound).
    public var decisionsEndpoint: String
    /// How often per-node receive counts are logged.
    public var reportIntervalSeconds: Double
    public var limits: WireLimits
    /// Batches queued from agents before they are pushed back (ZMQ_RCVHWM).
    public var receiveQueueBatches: Int32

    public init(
        metricsEndpoint: String = "tcp://0.0.0.0:7461", decisionsEndpoint: String = "tcp://0.0.0.0:7462",
        reportIntervalSeconds: Double = 10, limits: WireLimits = .default, receiveQueueBatches: Int32 = 100_000
    ) {
        self.metricsEndpoint = metricsEndpoint
        self.decisionsEndpoint = decisionsEndpoint
        self.reportIntervalSeconds = reportIntervalSeconds
        self.limits = limits
        self.receiveQueueBatches = receiveQueueBatches
    }
}

/// The aggregator as a service: one ingest thread owns the metrics PULL socket and the decision PUB
/// socket, decodes and validates every batch, and keeps the per-node ledger.
public final class AggregatorService: Service, Sendable {
    private let configuration: AggregatorConfiguration
    private let logger: Logger
    private let ledger = Mutex(IngestLedger())

    public init(configuration: AggregatorConfiguration, logger: Logger) {
        self.configuration = configuration
        self.logger = logger
    }

    /// A copy of the ingest accounting, for status and tests.
    public var ledgerSnapshot: IngestLedger { ledger.withLock { $0 } }

    public func run() async throws {
        let context = try ZMQContext()
        // Bind here, not on the thread, so a taken port fails the start with a clear error.
        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.set([
            .maxMessageBytes(Int64(configuration.limits.maxMessageBytes)),
            .receiveHighWaterMark(configuration.receiveQueueBatches),
            .lingerMilliseconds(0),
            .heartbeatIntervalMilliseconds(1000),
            .heartbeatTimeoutMilliseconds(3000),
        ])
        try pull.bind(configuration.metricsEndpoint)
        let pub = try ZMQSocket(context: context, type: .pub)
        try pub.set(.lingerMilliseconds(0))
        try pub.bind(configuration.decisionsEndpoint)
        let metricsBound = try pull.lastEndpoint()
        let decisionsBound = try pub.lastEndpoint()
        logger.info(
            "aggregator listening",
            metadata: [
                "metrics": "\(metricsBound)", "decisions": "\(decisionsBound)",
                "libzmq": "\(ZMQContext.libraryVersion)",
            ])

        let sockets = Handoff((pull, pub))
        let thread = WorkerThread(name: "gpulse-ingest") { [self] worker in
            ingest(worker, sockets: sockets)
        }
        try? await gracefulShutdown()
        thread.stop()
        thread.join()
        logSummary(final: true)
    }

    private func ingest(_ worker: WorkerThread, sockets: Handoff<(ZMQSocket, ZMQSocket)>) {
        let (pull, pub) = sockets.take()
        defer {
            pull.close()
            pub.close()
        }
        let decoder = MetricsBatchDecoder(limits: configuration.limits)
        var buffer = MessageBuffer()
        var lastReport = SystemClock.monotonicSeconds()
        var lastRejectLog = 0.0
        while !worker.shouldStop {
            do {
                guard try pull.waitReadable(timeoutMilliseconds: 100) else {
                    maybeReport(&lastReport)
                    continue
                }
                // Drain what is queued, in bounded bursts so reporting and stop stay responsive.
                for _ in 0..<1024 {
                    guard try pull.receive(into: &buffer, blocking: false) else { break }
                    let now = SystemClock.wallNanos()
                    guard buffer.frameCount == 1 else {
                        ledger.withLock { $0.reject(reason: "wrong_frame_count") }
                        continue
                    }
                    do {
                        let decoded = try buffer.withFrame(0) { (raw) throws(WireError) in try decoder.decode(raw) }
                        let outcome = ledger.withLock { $0.accept(decoded, receivedUnixNanos: now) }
                        logOutcome(outcome, decoded.batch)
                    } catch {
                        ledger.withLock { $0.reject(error) }
                        let t = SystemClock.monotonicSeconds()
                        if t - lastRejectLog > 10 {
                            lastRejectLog = t
                            logger.warning("rejected a batch", metadata: ["reason": "\(error.reason)", "detail": "\(error)"])
                        }
                    }
                }
                maybeReport(&lastReport)
            } catch {
                if error == .contextTerminated { return }
                logger.error("ingest socket error", metadata: ["error": "\(error)"])
                SystemClock.sleep(milliseconds: 100)
            }
        }
    }

    private func logOutcome(_ outcome: SequenceTracker.Outcome, _ batch: MetricsBatch) {
        switch outcome {
        case .first:
            logger.info(
                "node up", metadata: ["node_id": "\(batch.labels.nodeID)", "pool": "\(batch.labels.pool)", "session": "\(batch.session)"])
        case .restarted:
            logger.notice("node restarted (new agent session)", metadata: ["node_id": "\(batch.labels.nodeID)", "session": "\(batch.session)"])
        case .gap(let missing):
            logger.warning("sequence gap", metadata: ["node_id": "\(batch.labels.nodeID)", "missing_batches": "\(missing)", "seq": "\(batch.seq)"])
        case .duplicate:
            logger.warning("duplicate or reordered batch ignored", metadata: ["node_id": "\(batch.labels.nodeID)", "seq": "\(batch.seq)"])
        case .inOrder:
            break
        }
    }

    private func maybeReport(_ last: inout Double) {
        let now = SystemClock.monotonicSeconds()
        guard now - last >= configuration.reportIntervalSeconds else { return }
        last = now
        logSummary(final: false)
    }

    private func logSummary(final: Bool) {
        let snapshot = ledgerSnapshot
        for (id, node) in snapshot.nodes.sorted(by: { $0.key < $1.key }) {
            logger.info(
                final ? "final node counts" : "node counts",
                metadata: [
                    "node_id": "\(id)", "pool": "\(node.labels.pool)", "batches": "\(node.sequence.received)",
                    "samples": "\(node.samples)", "gaps_missing_batches": "\(node.sequence.missing)",
                    "restarts": "\(node.sequence.restarts)", "duplicates": "\(node.sequence.duplicates)",
                    "agent_dropped_samples": "\(node.agentDroppedSamples)",
                ])
        }
        let rejected = snapshot.rejectedByReason.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        logger.info(
            final ? "final ingest totals" : "ingest totals",
            metadata: [
                "nodes": "\(snapshot.nodes.count)", "batches": "\(snapshot.batchesAccepted)", "samples": "\(snapshot.samplesAccepted)",
                "rejected": "\(snapshot.batchesRejected)", "rejected_by_reason": "\(rejected.isEmpty ? "none" : rejected)",
                "unknown_series_ignored": "\(snapshot.unknownSeriesIgnored)",
            ])
    }
}
