import GPulseCore
import GPulseTransport
import GPulseWire
import Logging
import Synchronization

/// Counters of the publisher, readable from any thread.
public struct PublisherStats: Sendable, Hashable {
    public var batchesSent: UInt64 = 0
    public var samplesSent: UInt64 = 0
    /// Batches not queued because the send queue was full (aggregator away for longer than it holds).
    public var batchesDropped: UInt64 = 0
    /// Samples lost to a full ring or a full send queue; each is also reported to the aggregator.
    public var samplesDropped: UInt64 = 0
}

/// Every publish interval, drains the ring into one `MetricsBatch` and queues it on a PUSH socket.
/// Owns that socket on its own thread. While the aggregator is down, libzmq queues batches up to the
/// send high-water mark and reconnects by itself; beyond that, batches are dropped and counted, and the
/// count travels in the next batch that gets through.
public final class BatchPublisher: Sendable {
    public struct Settings: Sendable {
        public var endpoint: String
        public var publishIntervalNanos: UInt64
        /// Batches queued for a missing aggregator before new ones are dropped (ZMQ_SNDHWM).
        public var sendQueueBatches: Int32
        /// How long shutdown waits for queued batches to leave (ZMQ_LINGER).
        public var lingerMilliseconds: Int32
        /// CURVE client keys (ours, and the aggregator's public key); nil for plaintext.
        public var curve: (keys: CurveKeyPair, serverKey: String)?

        public init(endpoint: String, publishIntervalNanos: UInt64 = 100_000_000, sendQueueBatches: Int32 = 600, lingerMilliseconds: Int32 = 2000) {
            self.endpoint = endpoint
            self.publishIntervalNanos = publishIntervalNanos
            self.sendQueueBatches = sendQueueBatches
            self.lingerMilliseconds = lingerMilliseconds
        }
    }

    private let settings: Settings
    /// How often the publisher goes round (and beats its heartbeat).
    public var publishIntervalNanos: UInt64 { settings.publishIntervalNanos }
    private let context: ZMQContext
    private let ring: SampleRing
    private let builder: BatchBuilder
    private let probeLosses: ProbeLossCounter
    private let logger: Logger
    private let stats = Mutex(PublisherStats())
    /// Beats every time round the publish loop; the metrics endpoint's /healthz reads it.
    public let heartbeat = Heartbeat()
    private let thread: Mutex<WorkerThread?> = Mutex(nil)

    public init(
        settings: Settings, context: ZMQContext, ring: SampleRing, builder: BatchBuilder,
        probeLosses: ProbeLossCounter = ProbeLossCounter(), logger: Logger
    ) {
        self.settings = settings
        self.probeLosses = probeLosses
        self.context = context
        self.ring = ring
        self.builder = builder
        self.logger = logger
    }

    /// Opens the socket (so a bad endpoint fails here, not later on the thread) and starts publishing.
    public func start() throws(ZMQError) {
        let socket = try ZMQSocket(context: context, type: .push)
        try socket.set([
            .sendHighWaterMark(settings.sendQueueBatches),
            .lingerMilliseconds(settings.lingerMilliseconds),
            .reconnectIntervalMilliseconds(100),
            .reconnectIntervalMaxMilliseconds(5000),
            .heartbeatIntervalMilliseconds(1000),
            .heartbeatTimeoutMilliseconds(3000),
        ])
        if let curve = settings.curve {
            try socket.set(.curveClient(publicKey: curve.keys.publicKey, secretKey: curve.keys.secretKey, serverKey: curve.serverKey))
        }
        try socket.connect(settings.endpoint)
        let owned = Handoff(socket)
        let t = WorkerThread(name: "gpulse-publish") { [self] worker in run(worker, socket: owned.take()) }
        thread.withLock { $0 = t }
    }

    /// Publishes what is left in the ring, closes the socket (lingering for queued batches), and waits.
    public func stop() {
        guard let t = thread.withLock({ t -> WorkerThread? in defer { t = nil }; return t }) else { return }
        t.stop()
        t.join()
    }

    public var currentStats: PublisherStats { stats.withLock { $0 } }

    private func run(_ worker: WorkerThread, socket: ZMQSocket) {
        let encoder = MetricsBatchEncoder()
        var frame: [UInt8] = []
        var samples: [Sample] = []
        samples.reserveCapacity(ring.capacity)
        var seq: UInt64 = 0
        var pendingDrops: UInt64 = 0
        var dropping = false
        var deadline = SystemClock.monotonicNanos() + settings.publishIntervalNanos

        func publishOnce() {
            samples.removeAll(keepingCapacity: true)
            ring.drain(into: &samples)
            pendingDrops += ring.takeDropped()
            let mono = SystemClock.monotonicNanos()
            let wall = SystemClock.wallNanos()
            let losses = probeLosses.take()
            let batch = builder.build(
                samples: samples, seq: seq, droppedSamples: pendingDrops, probeLosses: losses,
                wallMinusMonotonic: wall &- Int64(bitPattern: mono), fallbackT0: wall)
            encoder.encode(batch, into: &frame)
            let queued: Bool
            do {
                queued = try socket.send(frame, blocking: false)
            } catch {
                logger.error("sending a batch failed", metadata: ["error": "\(error)"])
                queued = false
            }
            if queued {
                // The drop count went out with this batch; the sequence advances only for queued batches,
                // so a gap at the aggregator means loss in transit, not here.
                seq += 1
                stats.withLock { s in
                    s.batchesSent += 1
                    s.samplesSent += UInt64(samples.count)
                }
                pendingDrops = 0
                if dropping {
                    dropping = false
                    logger.notice("send queue has room again; publishing resumed", metadata: ["endpoint": "\(settings.endpoint)"])
                }
            } else {
                probeLosses.restore(losses)
                pendingDrops += UInt64(samples.count)
                stats.withLock { s in
                    s.batchesDropped += 1
                    s.samplesDropped += UInt64(samples.count)
                }
                if !dropping {
                    dropping = true
                    logger.warning(
                        "aggregator unreachable and send queue full; dropping batches and counting the samples",
                        metadata: ["endpoint": "\(settings.endpoint)", "queue_batches": "\(settings.sendQueueBatches)"])
                }
            }
        }

        while !worker.shouldStop {
            heartbeat.beat()
            // One wake-up per interval; stop() cuts the sleep short.
            if SystemClock.monotonicNanos() < deadline {
                worker.sleep(untilMonotonicNanos: deadline)
                continue
            }
            publishOnce()
            deadline += settings.publishIntervalNanos
            if deadline < SystemClock.monotonicNanos() { deadline = SystemClock.monotonicNanos() + settings.publishIntervalNanos }
        }
        // Final flush: the last partial interval is published, then LINGER gives it time to leave.
        publishOnce()
        socket.close()
    }
}
