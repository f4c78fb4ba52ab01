import GPulseCore

/// Why bytes were not accepted as a gpulse message. Every rejection the decoder makes is one of these.
public enum WireError: Error, Sendable, Hashable, CustomStringConvertible {
    /// Larger than `WireLimits.maxMessageBytes`.
    case tooLarge(bytes: Int, limit: Int)
    /// Not a valid protobuf encoding of the expected message.
    case malformed(bytes: Int)
    /// `protocol_version` is not one this build speaks (0 means the field was missing).
    case unsupportedVersion(UInt32)
    case emptyNodeID
    /// A string field longer than `WireLimits.maxStringBytes`.
    case fieldTooLong(field: String, bytes: Int)
    /// A string field that is not valid UTF-8 (proto3 requires it; repairing it would change its length).
    case invalidUTF8(field: String)
    case tooManySeries(count: Int, limit: Int)
    /// More probe_losses entries than `WireLimits.maxSeries`.
    case tooManyProbeLosses(count: Int, limit: Int)
    /// A counter beyond what any agent can reach in one batch (`WireLimits.maxDroppedSamples`).
    case implausibleCounter(field: String, value: UInt64, limit: UInt64)
    /// A string field holding a NUL byte (C strings would silently cut it there).
    case nulInString(field: String)
    case tooManySamples(count: Int, limit: Int)
    /// A series whose `offset_us` and `value` counts differ.
    case lengthMismatch(kind: SignalKind, subject: String, offsets: Int, values: Int)
    case nonFiniteValue(kind: SignalKind, subject: String)
    case fractionOutOfRange(kind: SignalKind, subject: String, value: Float)
    case negativeValue(kind: SignalKind, subject: String, value: Float)
    /// A decision with no body set.
    case missingBody
    /// The encoder could not fit the message into the buffer it was given (a bug, not bad input).
    case encodeFailed(String)

    /// A short, stable label for counters and logs, e.g. "malformed", "non_finite".
    /// Every reason the decoder can give, so counters can start at zero before the first rejection.
    public static let decodeReasons = [
        "too_large", "malformed", "unsupported_version", "empty_node_id", "field_too_long", "invalid_utf8", "too_many_series", "too_many_samples",
        "too_many_probe_losses", "nul_in_string", "implausible_counter", "length_mismatch", "non_finite", "fraction_out_of_range", "negative_value", "missing_body",
    ]

    public var reason: String {
        switch self {
        case .tooLarge: "too_large"
        case .malformed: "malformed"
        case .unsupportedVersion: "unsupported_version"
        case .emptyNodeID: "empty_node_id"
        case .fieldTooLong: "field_too_long"
        case .invalidUTF8: "invalid_utf8"
        case .tooManySeries: "too_many_series"
        case .tooManyProbeLosses: "too_many_probe_losses"
        case .nulInString: "nul_in_string"
        case .implausibleCounter: "implausible_counter"
        case .tooManySamples: "too_many_samples"
        case .lengthMismatch: "length_mismatch"
        case .nonFiniteValue: "non_finite"
        case .fractionOutOfRange: "fraction_out_of_range"
        case .negativeValue: "negative_value"
        case .missingBody: "missing_body"
        case .encodeFailed: "encode_failed"
        }
    }

    public var description: String {
        switch self {
        case .tooLarge(let bytes, let limit): "message of \(bytes) bytes exceeds the \(limit)-byte limit"
        case .malformed(let bytes): "\(bytes) bytes are not a valid protobuf message"
        case .unsupportedVersion(let v):
            v == 0
                ? "protocol_version missing (this build speaks \(gpulseProtocolVersion))"
                : "protocol_version \(v) not supported (this build speaks \(gpulseProtocolVersion))"
        case .emptyNodeID: "node_id is empty"
        case .fieldTooLong(let field, let bytes): "\(field) is \(bytes) bytes long"
        case .invalidUTF8(let field): "\(field) is not valid UTF-8"
        case .tooManySeries(let count, let limit): "\(count) series exceed the limit of \(limit)"
        case .tooManyProbeLosses(let count, let limit): "\(count) probe_losses entries exceed the limit of \(limit)"
        case .nulInString(let field): "\(field) holds a NUL byte"
        case .implausibleCounter(let field, let value, let limit): "\(field) of \(value) in one batch exceeds the plausible \(limit)"
        case .tooManySamples(let count, let limit): "\(count) samples exceed the limit of \(limit)"
        case .lengthMismatch(let kind, let subject, let offsets, let values):
            "series \(kind.name)[\(subject)] has \(offsets) timestamps but \(values) values"
        case .nonFiniteValue(let kind, let subject): "series \(kind.name)[\(subject)] holds NaN or infinity"
        case .fractionOutOfRange(let kind, let subject, let value):
            "series \(kind.name)[\(subject)] holds \(value), outside 0...1"
        case .negativeValue(let kind, let subject, let value):
            "series \(kind.name)[\(subject)] holds negative value \(value)"
        case .missingBody: "decision has no body"
        case .encodeFailed(let why): "encoding failed: \(why)"
        }
    }
}

/// Bounds the decoder enforces, so that one peer cannot make the aggregator allocate without limit.
public struct WireLimits: Sendable, Hashable {
    /// Largest message accepted; also what the aggregator sets as ZMQ_MAXMSGSIZE.
    public var maxMessageBytes: Int
    public var maxSeries: Int
    /// Over all series of one batch.
    public var maxSamples: Int
    public var maxStringBytes: Int
    /// `dropped_samples` one batch may report: 2^32, over an hour of an agent's full 1000 Hz ring
    /// discarding 256 series; more is a forged or corrupt counter.
    public var maxDroppedSamples: UInt64 = 1 << 32

    public init(maxMessageBytes: Int = 4 << 20, maxSeries: Int = 4096, maxSamples: Int = 1_000_000, maxStringBytes: Int = 256) {
        self.maxMessageBytes = maxMessageBytes
        self.maxSeries = maxSeries
        self.maxSamples = maxSamples
        self.maxStringBytes = maxStringBytes
    }

    public static let `default` = WireLimits()
}
