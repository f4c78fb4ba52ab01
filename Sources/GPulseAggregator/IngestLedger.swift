import GPulseCore
import GPulseTransport
import GPulseWire

/// Fleet-wide ingest accounting: what was accepted, what was rejected and why. Per-node accounting
/// (sequence gaps, restarts, agent drops) lives in the Fleet's node entries.
public struct IngestLedger: Sendable {
    public private(set) var batchesAccepted: UInt64 = 0
    public private(set) var samplesAccepted: UInt64 = 0
    /// Batches that repeated an earlier sequence number of their session; not counted again.
    public private(set) var batchesDuplicate: UInt64 = 0
    public private(set) var rejectedByReason: [String: UInt64] = [:]
    /// Series skipped because their signal kind is newer than this build.
    public private(set) var unknownSeriesIgnored: UInt64 = 0
    /// Batches that never arrived (sequence gaps), agents' own drops and agent restarts, summed over
    /// every node ever seen: unlike the per-node counts these survive a node being forgotten.
    public private(set) var missingBatches: UInt64 = 0
    public private(set) var agentDroppedSamples: UInt64 = 0
    public private(set) var agentRestarts: UInt64 = 0
    /// Agent connections libzmq accepted on the metrics socket, and connections that ended: the peer
    /// closed, or libzmq cut it off for a frame over ingest.max_message_bytes or a broken stream
    /// (libzmq does not say which).
    public private(set) var connectionsAccepted: UInt64 = 0
    public private(set) var connectionsClosed: UInt64 = 0

    /// Reasons a message can be rejected for: the decoder's and the frame check's.
    public static let rejectionReasons =
        WireError.decodeReasons + [
            "wrong_frame_count", "future_timestamp", "past_timestamp", "duplicate_node_id", "node_id_not_bound", "unauthenticated", "mechanism_mismatch",
            "handshake_protocol_error", "handshake_failed",
        ] + Fleet.Refusal.allCases.map(\.rawValue)

    public init() {}

    public var batchesRejected: UInt64 { rejectedByReason.values.reduce(0, +) }

    /// Counts a decoded batch with the sequence outcome the fleet gave it.
    public mutating func accept(_ decoded: DecodedBatch, outcome: SequenceTracker.Outcome) {
        unknownSeriesIgnored += UInt64(decoded.ignoredUnknownSeries)
        guard outcome != .duplicate else {
            batchesDuplicate += 1
            return
        }
        batchesAccepted += 1
        samplesAccepted.addSaturating(UInt64(decoded.batch.sampleCount))
        agentDroppedSamples.addSaturating(decoded.batch.droppedSamples)
        switch outcome {
        case .gap(let n): missingBatches.addSaturating(UInt64(n))
        case .restarted: agentRestarts += 1
        case .first, .inOrder, .duplicate, .conflict: break
        }
    }

    public mutating func reject(_ error: WireError) {
        rejectedByReason[error.reason, default: 0] += 1
    }

    /// A count kept elsewhere (CURVE handshakes the ZAP handler refused), set to its running total.
    public mutating func setRejected(reason: String, total: UInt64) {
        if total > 0 { rejectedByReason[reason] = total }
    }

    /// Counts what libzmq did with a connection. Handshakes the ZAP handler refused are not counted
    /// here: the handler counts them (`unauthenticated`).
    public mutating func record(_ event: SocketEvent) {
        switch event {
        case .accepted: connectionsAccepted += 1
        case .disconnected: connectionsClosed += 1
        case .mechanismMismatch: reject(reason: "mechanism_mismatch")
        case .handshakeProtocolError: reject(reason: "handshake_protocol_error")
        case .handshakeFailed: reject(reason: "handshake_failed")
        case .handshakeRefused, .handshakeSucceeded: break
        }
    }

    /// Rejections for reasons outside the decoder (e.g. a message with the wrong number of frames).
    public mutating func reject(reason: String) {
        rejectedByReason[reason, default: 0] += 1
    }
}
