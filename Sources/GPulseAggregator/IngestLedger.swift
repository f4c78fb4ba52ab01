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

    /// Reasons a message can be rejected for: every `Rejection`.
    public static let rejectionReasons = Rejection.allCases.map(\.rawValue)

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
        reject(error.rejection)
    }

    /// A count kept elsewhere (CURVE handshakes the ZAP handler refused), set to its running total.
    public mutating func setRejected(_ rejection: Rejection, total: UInt64) {
        if total > 0 { rejectedByReason[rejection.rawValue] = total }
    }

    /// Counts what libzmq did with a connection. Handshakes the ZAP handler refused are not counted
    /// here: the handler counts them (`unauthenticated`).
    public mutating func record(_ event: SocketEvent) {
        switch event {
        case .accepted: connectionsAccepted += 1
        case .disconnected: connectionsClosed += 1
        case .mechanismMismatch: reject(.mechanismMismatch)
        case .handshakeProtocolError: reject(.handshakeProtocolError)
        case .handshakeFailed: reject(.handshakeFailed)
        case .handshakeRefused, .handshakeSucceeded: break
        }
    }

    /// Counts a message refused for `rejection`.
    public mutating func reject(_ rejection: Rejection) {
        rejectedByReason[rejection.rawValue, default: 0] += 1
    }
}
