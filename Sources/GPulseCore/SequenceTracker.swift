/// Follows one agent's (session, seq) stream and classifies each batch, so that every batch an agent
/// produced is either received or counted as missing.
public struct SequenceTracker: Sendable, Hashable, Codable {
    public enum Outcome: Sendable, Hashable {
        /// The first batch ever seen from this node.
        case first
        /// The next batch in order.
        case inOrder
        /// `missing` batches between the previous one and this one never arrived.
        case gap(missing: UInt64)
        /// A new agent session started (agent restart); the counting starts over.
        case restarted
        /// A batch at or before one already seen in this session (replay or reordering); not counted again.
        case duplicate
        /// A batch of the session before the current one: sessions never come back, so a second agent
        /// is sending under the same node id. Refused, and the current session keeps the node.
        case conflict
    }

    public private(set) var session: UInt64?
    /// The session the last restart replaced, to tell a restart from two agents taking turns.
    public private(set) var previousSession: UInt64?
    public private(set) var conflicts: UInt64 = 0
    public private(set) var lastSeq: UInt64 = 0
    public private(set) var received: UInt64 = 0
    public private(set) var missing: UInt64 = 0
    public private(set) var restarts: UInt64 = 0
    public private(set) var duplicates: UInt64 = 0

    public init() {}

    /// Sequence jumps at or beyond this are a new session, not missing batches.
    public static let maxGap: UInt64 = 1 << 32

    public mutating func observe(session: UInt64, seq: UInt64) -> Outcome {
        guard let current = self.session else {
            self.session = session
            lastSeq = seq
            received += 1
            return .first
        }
        if session == previousSession {
            conflicts += 1
            return .conflict
        }
        if session != current {
            previousSession = current
            self.session = session
            lastSeq = seq
            received += 1
            restarts += 1
            return .restarted
        }
        if seq <= lastSeq {
            duplicates += 1
            return .duplicate
        }
        let skipped = seq - lastSeq - 1
        lastSeq = seq
        received += 1
        if skipped == 0 { return .inOrder }
        // No agent loses 2^32 batches (13 years at 10 a second): a jump that large is a forged or
        // corrupt sequence number, taken as a new session rather than as that many missing batches.
        guard skipped < Self.maxGap else {
            restarts += 1
            return .restarted
        }
        missing.addSaturating(skipped)
        return .gap(missing: skipped)
    }
}
