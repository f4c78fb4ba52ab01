import GPulseCore
import GPulseWire

/// What the aggregator knows of one node from its batches.
public struct NodeRecord: Sendable, Hashable {
    public var labels: NodeLabels
    public var sequence = SequenceTracker()
    public var samples: UInt64 = 0
    /// Samples the agent itself reported dropping (its buffer was full).
    public var agentDroppedSamples: UInt64 = 0
    public var lastSeenUnixNanos: Int64 = 0

    public init(labels: NodeLabels) { self.labels = labels }
}

/// Per-node and global ingest accounting. Pure state: the ingest thread owns one and feeds it.
public struct IngestLedger: Sendable {
    public private(set) var nodes: [String: NodeRecord] = [:]
    public private(set) var batchesAccepted: UInt64 = 0
    public private(set) var samplesAccepted: UInt64 = 0
    public private(set) var rejectedByReason: [String: UInt64] = [:]
    /// Series skipped because their signal kind is newer than this build.
    public private(set) var unknownSeriesIgnored: UInt64 = 0

    public init() {}

    public var batchesRejected: UInt64 { rejectedByReason.values.reduce(0, +) }

    /// Records a valid batch; returns how its sequence number relates to the node's previous one.
    @discardableResult
    public mutating func accept(_ decoded: DecodedBatch, receivedUnixNanos: Int64) -> SequenceTracker.Outcome {
        let batch = decoded.batch
        var record = nodes[batch.labels.nodeID] ?? NodeRecord(labels: batch.labels)
        record.labels = batch.labels
        let outcome = record.sequence.observe(session: batch.session, seq: batch.seq)
        if outcome != .duplicate {
            record.samples += UInt64(batch.sampleCount)
            record.agentDroppedSamples += batch.droppedSamples
            batchesAccepted += 1
            samplesAccepted += UInt64(batch.sampleCount)
        }
        record.lastSeenUnixNanos = receivedUnixNanos
        nodes[batch.labels.nodeID] = record
        unknownSeriesIgnored += UInt64(decoded.ignoredUnknownSeries)
        return outcome
    }

    public mutating func reject(_ error: WireError) {
        rejectedByReason[error.reason, default: 0] += 1
    }

    /// Rejections for reasons outside the decoder (e.g. a message with the wrong number of frames).
    public mutating func reject(reason: String) {
        rejectedByReason[reason, default: 0] += 1
    }
}
