import GPulseCore
import GPulseTransport
import GPulseWire

/// Sends decisions on the PUB socket as two frames, [topic, Decision], and counts them. Owned by the
/// ingest thread, like the socket.
struct DecisionPublisher {
    private let encoder = DecisionEncoder()
    private var bytes: [UInt8] = []
    private var lastSeq: [String: UInt64] = [:]
    /// Decisions sent for the first time, and re-sends of standing ones.
    private(set) var published: UInt64 = 0
    private(set) var resent: UInt64 = 0

    /// Sends `decision`; returns true when it is new on its topic, false for a re-send.
    mutating func publish(_ decision: Decision, on pub: ZMQSocket) throws(ZMQError) -> Bool {
        encoder.encode(decision, into: &bytes)
        let topic = decision.topic
        // PUB never blocks: with no subscriber, or one too slow, libzmq drops the message.
        _ = try pub.send(frames: [Array(topic.utf8), bytes], blocking: false)
        let fresh = lastSeq[topic] != decision.seq
        lastSeq[topic] = decision.seq
        if fresh { published += 1 } else { resent += 1 }
        return fresh
    }
}

extension ScaleDecision.Action {
    /// The proto enum name: HOLD, SCALE_UP, SCALE_DOWN.
    public var name: String {
        switch self {
        case .hold: "HOLD"
        case .scaleUp: "SCALE_UP"
        case .scaleDown: "SCALE_DOWN"
        }
    }
}

extension NodeEvent.Kind {
    /// The proto enum name: UP, STALE, DOWN, RESTARTED, UNHEALTHY, HEALTHY.
    public var name: String {
        switch self {
        case .up: "UP"
        case .stale: "STALE"
        case .down: "DOWN"
        case .restarted: "RESTARTED"
        case .unhealthy: "UNHEALTHY"
        case .healthy: "HEALTHY"
        }
    }
}
