/// Every reason the aggregator refuses a message for: the one list the ledger, status, Prometheus
/// (each reason's counter exists from 0) and the logs use. The raw value is the stable label.
public enum Rejection: String, Sendable, Hashable, CaseIterable, Codable {
    // The wire decoder's reasons (GPulseWire maps each `WireError` to one).
    case tooLarge = "too_large"
    case malformed
    case unsupportedVersion = "unsupported_version"
    case emptyNodeID = "empty_node_id"
    case fieldTooLong = "field_too_long"
    case invalidUTF8 = "invalid_utf8"
    case tooManySeries = "too_many_series"
    case tooManySamples = "too_many_samples"
    case tooManyProbeLosses = "too_many_probe_losses"
    case nulInString = "nul_in_string"
    case implausibleCounter = "implausible_counter"
    case lengthMismatch = "length_mismatch"
    case nonFinite = "non_finite"
    case fractionOutOfRange = "fraction_out_of_range"
    case negativeValue = "negative_value"
    case missingBody = "missing_body"
    // The ingest gate's: what a well-formed batch says.
    /// A message of more than one frame (agents send one).
    case wrongFrameCount = "wrong_frame_count"
    /// CURVE: the key that signed the batch belongs to another node id.
    case nodeIDNotBound = "node_id_not_bound"
    /// A sample more than `ingest.max_clock_ahead_s` ahead of the aggregator's clock.
    case futureTimestamp = "future_timestamp"
    /// The newest sample older than `registry.forget_after_s`.
    case pastTimestamp = "past_timestamp"
    /// A second agent sends under a node id another agent's newer session holds.
    case duplicateNodeID = "duplicate_node_id"
    // The registry's caps (`Fleet.Refusal`).
    case nodeLimit = "node_limit"
    case poolLimit = "pool_limit"
    case unlistedPool = "unlisted_pool"
    case nodeRateLimit = "node_rate_limit"
    // What libzmq and the ZAP handler refuse before a message is read.
    /// CURVE: a key not on the allowlist.
    case unauthenticated
    /// A plaintext peer at a CURVE socket, or the reverse.
    case mechanismMismatch = "mechanism_mismatch"
    case handshakeProtocolError = "handshake_protocol_error"
    case handshakeFailed = "handshake_failed"

    public init(_ refusal: Fleet.Refusal) {
        switch refusal {
        case .nodeLimit: self = .nodeLimit
        case .poolLimit: self = .poolLimit
        case .unlistedPool: self = .unlistedPool
        case .nodeRate: self = .nodeRateLimit
        }
    }
}

/// The checks a decoded batch passes before the fleet takes it, apart from its encoding (the wire
/// decoder's) and from the registry's caps (`Fleet.admit`): who may speak for the node, and whether
/// its clock can be believed. A value with no I/O; the live ingest loop and replay both use it.
public struct IngestGate: Sendable, Hashable {
    /// A sample further ahead of the aggregator's clock is refused (`ingest.max_clock_ahead_s`).
    public var maxAheadNanos: Int64
    /// A batch whose newest sample is older than this is refused (`registry.forget_after_s`).
    public var maxBehindNanos: Int64

    /// `ingest.max_clock_ahead_s` unless configured otherwise.
    public static let defaultMaxAheadSeconds = 30.0

    public init(maxAheadSeconds: Double, maxBehindSeconds: Double) {
        maxAheadNanos = Int64(clampingSeconds: maxAheadSeconds)
        maxBehindNanos = Int64(clampingSeconds: maxBehindSeconds)
    }

    /// Who sent a batch, as far as the transport can tell.
    public enum Sender: Sendable, Hashable {
        /// Plaintext: anyone who reaches the socket.
        case plaintext
        /// CURVE: the node id the sender's key is bound to on the allowlist (nil if libzmq gave none).
        case curve(nodeID: String?)
    }

    /// Why `batch` is refused, with a detail for the log; nil when it may go on to the registry.
    public func check(_ batch: borrowing MetricsBatch, from sender: Sender, nowNanos: Int64) -> (Rejection, String)? {
        // With CURVE the ZAP handler named the key's node; one host cannot speak for another.
        if case .curve(let bound) = sender, bound != batch.labels.nodeID {
            return (.nodeIDNotBound, "key of node '\(bound ?? "?")' sent a batch as another node")
        }
        // A sample from the future would stand as its series' newest and make every real one after it
        // look old (ignored) until the node goes down: a bad clock or a forged batch.
        let ahead = batch.newestSampleNanos.subtractingSaturating(nowNanos)
        if ahead > maxAheadNanos {
            return (.futureTimestamp, "newest sample \(ahead / 1_000_000_000) s ahead of this host's clock")
        }
        // Older than a silent node is remembered: no window can use it, and times that far back are a
        // broken clock or a forged batch.
        if ahead < -maxBehindNanos {
            return (.pastTimestamp, "newest sample \(ahead / -1_000_000_000) s behind this host's clock")
        }
        return nil
    }
}

extension Int64 {
    /// Seconds as nanoseconds, clamped to what an Int64 holds (config values are checked, but a
    /// conversion must never trap).
    init(clampingSeconds seconds: Double) {
        let nanos = seconds * 1e9
        if !(nanos < 9.2e18) { self = nanos.isNaN ? 0 : .max } else if nanos < -9.2e18 { self = .min } else { self = Int64(nanos) }
    }
}
