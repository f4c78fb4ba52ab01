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

    /// The rejection this is counted as; nil only for `encodeFailed` (our bug, not bad input).
    public var rejectionIfInput: Rejection? {
        switch self {
        case .tooLarge: .tooLarge
        case .malformed: .malformed
        case .unsupportedVersion: .unsupportedVersion
        case .emptyNodeID: .emptyNodeID
        case .fieldTooLong: .fieldTooLong
        case .invalidUTF8: .invalidUTF8
        case .tooManySeries: .tooManySeries
        case .tooManyProbeLosses: .tooManyProbeLosses
        case .nulInString: .nulInString
        case .implausibleCounter: .implausibleCounter
        case .tooManySamples: .tooManySamples
        case .lengthMismatch: .lengthMismatch
        case .nonFiniteValue: .nonFinite
        case .fractionOutOfRange: .fractionOutOfRange
        case .negativeValue: .negativeValue
        case .missingBody: .missingBody
        case .encodeFailed: nil
        }
    }

    /// The rejection a decoding error is counted as. The decoder never throws `encodeFailed`; were it
    /// to, the bytes would be counted as `malformed` rather than dropped uncounted.
    public var rejection: Rejection { rejectionIfInput ?? .malformed }

    /// A short, stable label for counters and logs, e.g. "malformed", "non_finite" (`Rejection`'s).
    public var reason: String { rejectionIfInput?.rawValue ?? "encode_failed" }

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
