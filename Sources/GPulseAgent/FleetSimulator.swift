import Foundation
import GPulseCore
import GPulseTransport
import GPulseWire
import Synchronization

/// SIMULATED agents for load tests: many virtual nodes, each with its own real PUSH socket, session
/// and sequence, sending real batches at a real rate. The values are synthetic (a slow sine per node
/// plus a per-sample wobble) and every node is labelled `instance_class: simulated`, so they can never
/// be mistaken for measurements. Drop accounting is the real agent's: a batch refused by a full send
/// queue is counted and its samples reported in the node's next batch.
public final class FleetSimulator: Sendable {
    public struct Settings: Sendable {
        public var endpoint: String
        public var nodes: Int
        /// Samples per second per series.
        public var rateHz: Double
        /// Series per node: cpu_util, mem_used_frac, then gpu_util and gpu_mem_used_frac per simulated GPU.
        public var seriesPerNode: Int
        public var publishIntervalMs: Int
        public var pool: String
        public var nodePrefix: String
        public var threads: Int
        public var sendQueueBatches: Int32

        public init(
            endpoint: String, nodes: Int = 100, rateHz: Double = 500, seriesPerNode: Int = 20, publishIntervalMs: Int = 100,
            pool: String = "sim", nodePrefix: String = "sim-", threads: Int = 2, sendQueueBatches: Int32 = 600
        ) {
            self.endpoint = endpoint
            self.nodes = nodes
            self.rateHz = rateHz
            self.seriesPerNode = seriesPerNode
            self.publishIntervalMs = publishIntervalMs
            self.pool = pool
            self.nodePrefix = nodePrefix
            self.threads = threads
            self.sendQueueBatches = sendQueueBatches
        }
    }

    public struct Totals: Sendable, Hashable {
        public var batchesSent: UInt64 = 0
        public var samplesSent: UInt64 = 0
        public var bytesSent: UInt64 = 0
        public var batchesDropped: UInt64 = 0
        public var samplesDropped: UInt64 = 0
        /// Publish rounds that started later than one interval after their deadline.
        public var lateRounds: UInt64 = 0
        public var samplesProduced: UInt64 { samplesSent + samplesDropped }
    }

    public let settings: Settings

    public init(settings: Settings) { self.settings = settings }

    /// Runs every virtual node for `seconds`, then closes the sockets (with a linger so queued batches
    /// leave) and returns the totals.
    public func run(seconds: Double) throws(ZMQError) -> Totals {
        // One socket per virtual node: past libzmq's default of 1023 sockets a context refuses more.
        let context = try ZMQContext(maxSockets: settings.nodes + 16)
        let threadCount = max(1, min(settings.threads, settings.nodes))
        var sockets: [[ZMQSocket]] = Array(repeating: [], count: threadCount)
        for i in 0..<settings.nodes {
            let socket = try ZMQSocket(context: context, type: .push)
            try socket.set([.sendHighWaterMark(settings.sendQueueBatches), .lingerMilliseconds(5000)])
            try socket.connect(settings.endpoint)
            sockets[i % threadCount].append(socket)
        }
        let results = TotalsBox()
        let handoffs = sockets.map { Handoff($0) }
        let end = SystemClock.monotonicNanos() + UInt64(seconds * 1e9)
        let workers = (0..<threadCount).map { t in
            WorkerThread(name: "gpulse-sim-\(t)") { [settings] worker in
                let mine = handoffs[t].take()
                let totals = Self.drive(mine, firstNode: t, stride: threadCount, settings: settings, until: end, worker: worker)
                for s in mine { s.close() }
                results.add(totals)
            }
        }
        for worker in workers { worker.join() }
        return results.total
    }

    private static func drive(
        _ sockets: [ZMQSocket], firstNode: Int, stride: Int, settings: Settings, until end: UInt64, worker: WorkerThread
    ) -> Totals {
        let interval = UInt64(settings.publishIntervalMs) * 1_000_000
        let perBatch = max(1, Int((settings.rateHz * Double(settings.publishIntervalMs) / 1000).rounded()))
        let stepMicros = UInt32(1e6 / settings.rateHz)
        let encoder = MetricsBatchEncoder()
        var frame: [UInt8] = []
        var batches = sockets.indices.map { k in
            let node = firstNode + k * stride
            return MetricsBatch(
                labels: NodeLabels(
                    nodeID: settings.nodePrefix + String(node), pool: settings.pool, tier: .cloud, workload: .online, instanceClass: "simulated"),
                session: UInt64.random(in: 1...UInt64.max), seq: 0, t0UnixNanos: 0,
                series: seriesLayout(settings.seriesPerNode).map { kind, subject in
                    Series(
                        kind: kind, subject: subject, offsetsMicros: (0..<perBatch).map { UInt32($0) * stepMicros },
                        values: Array(repeating: 0, count: perBatch))
                },
                agentVersion: gpulseVersion + "-simulated")
        }
        var totals = Totals()
        var pendingDrops = Array(repeating: UInt64(0), count: sockets.count)
        var deadline = SystemClock.monotonicNanos() + interval
        while !worker.shouldStop && deadline <= end {
            SystemClock.sleep(untilMonotonicNanos: deadline)
            if SystemClock.monotonicNanos() > deadline + interval { totals.lateRounds += 1 }
            let wall = SystemClock.wallNanos()
            for k in sockets.indices {
                let phase: Double = Double(wall / 1_000_000) / 60_000 * 2 * Double.pi + Double(k)
                let base: Double = 0.5 + 0.3 * sin(phase)
                for s in batches[k].series.indices {
                    for i in 0..<perBatch {
                        let wobble = 0.02 * Double((i + s) % 5 - 2)
                        batches[k].series[s].values[i] = Float(base + wobble)
                    }
                }
                batches[k].t0UnixNanos = wall - Int64(interval)
                batches[k].droppedSamples = pendingDrops[k]
                encoder.encode(batches[k], into: &frame)
                let samples = UInt64(batches[k].sampleCount)
                let queued = (try? sockets[k].send(frame, blocking: false)) ?? false
                if queued {
                    batches[k].seq += 1
                    pendingDrops[k] = 0
                    totals.batchesSent += 1
                    totals.samplesSent += samples
                    totals.bytesSent += UInt64(frame.count)
                } else {
                    pendingDrops[k] += samples
                    totals.batchesDropped += 1
                    totals.samplesDropped += samples
                }
            }
            deadline += interval
        }
        return totals
    }

    private final class TotalsBox: Sendable {
        private let sum = Mutex(Totals())
        func add(_ t: Totals) {
            sum.withLock {
                $0.batchesSent += t.batchesSent
                $0.samplesSent += t.samplesSent
                $0.bytesSent += t.bytesSent
                $0.batchesDropped += t.batchesDropped
                $0.samplesDropped += t.samplesDropped
                $0.lateRounds += t.lateRounds
            }
        }
        var total: Totals { sum.withLock { $0 } }
    }

    /// Which series a simulated node sends.
    static func seriesLayout(_ count: Int) -> [(SignalKind, String)] {
        var layout: [(SignalKind, String)] = [(.cpuUtil, ""), (.memUsedFrac, "")]
        var gpu = 0
        while layout.count < count {
            layout.append((.gpuUtil, "GPU-simulated-\(gpu)"))
            layout.append((.gpuMemUsedFrac, "GPU-simulated-\(gpu)"))
            gpu += 1
        }
        return Array(layout.prefix(max(1, count)))
    }
}
