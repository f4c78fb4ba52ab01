#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CGPulseProto
import CProtobufC
import GPulseCore

/// Turns `MetricsBatch` values into protobuf bytes (protobuf-c underneath). Reuses its scratch memory,
/// so keep one per sending thread. Not thread safe.
public final class MetricsBatchEncoder {
    private let arena = CArena()

    public init() {}

    /// Replaces the contents of `output` with the encoded batch; keeps `output`'s capacity.
    public func encode(_ batch: MetricsBatch, into output: inout [UInt8]) {
        arena.reset()
        let message = arena.allocate(Gpulse__V1__MetricsBatch.self, count: 1)
        gpulse__v1__metrics_batch__init(message)
        message.pointee.node_id = arena.cString(batch.labels.nodeID)
        message.pointee.session = batch.session
        message.pointee.seq = batch.seq
        message.pointee.pool = arena.cString(batch.labels.pool)
        message.pointee.site = arena.cString(batch.labels.site)
        message.pointee.tier = Gpulse__V1__Tier(rawValue: numericCast(batch.labels.tier.rawValue))
        message.pointee.workload = Gpulse__V1__WorkloadClass(rawValue: numericCast(batch.labels.workload.rawValue))
        message.pointee.instance_class = arena.cString(batch.labels.instanceClass)
        message.pointee.t0_unix_ns = batch.t0UnixNanos
        message.pointee.dropped_samples = batch.droppedSamples
        message.pointee.protocol_version = batch.protocolVersion
        message.pointee.agent_version = arena.cString(batch.agentVersion)

        let seriesPointers = arena.allocate(UnsafeMutablePointer<Gpulse__V1__Series>?.self, count: batch.series.count)
        for (i, series) in batch.series.enumerated() {
            let s = arena.allocate(Gpulse__V1__Series.self, count: 1)
            gpulse__v1__series__init(s)
            s.pointee.kind = Gpulse__V1__SignalKind(rawValue: numericCast(series.kind.rawValue))
            s.pointee.subject = arena.cString(series.subject)
            s.pointee.n_offset_us = series.offsetsMicros.count
            s.pointee.offset_us = arena.copy(series.offsetsMicros)
            s.pointee.n_value = series.values.count
            s.pointee.value = arena.copy(series.values)
            seriesPointers[i] = s
        }
        message.pointee.n_series = batch.series.count
        message.pointee.series = seriesPointers

        let lossPointers = arena.allocate(UnsafeMutablePointer<Gpulse__V1__ProbeLoss>?.self, count: batch.probeLosses.count)
        for (i, loss) in batch.probeLosses.enumerated() {
            let l = arena.allocate(Gpulse__V1__ProbeLoss.self, count: 1)
            gpulse__v1__probe_loss__init(l)
            l.pointee.target = arena.cString(loss.target)
            l.pointee.lost = loss.lost
            lossPointers[i] = l
        }
        message.pointee.n_probe_losses = batch.probeLosses.count
        message.pointee.probe_losses = lossPointers

        let size = gpulse__v1__metrics_batch__get_packed_size(message)
        output.removeAll(keepingCapacity: true)
        output.append(contentsOf: repeatElement(0, count: size))
        let written = output.withUnsafeMutableBufferPointer { out in
            gpulse__v1__metrics_batch__pack(message, out.baseAddress)
        }
        // protobuf-c writes exactly get_packed_size bytes; anything else is a bug in it or here.
        precondition(written == size, "protobuf-c packed \(written) bytes, expected \(size)")
    }

    /// The encoded batch as a new array.
    public func encode(_ batch: MetricsBatch) -> [UInt8] {
        var out: [UInt8] = []
        encode(batch, into: &out)
        return out
    }
}

/// A decoded and validated batch.
public struct DecodedBatch: Sendable {
    public var batch: MetricsBatch
    /// Series of a signal kind this build does not know (sent by a newer agent); skipped, not an error.
    public var ignoredUnknownSeries: Int

    public init(batch: MetricsBatch, ignoredUnknownSeries: Int = 0) {
        self.batch = batch
        self.ignoredUnknownSeries = ignoredUnknownSeries
    }
}

/// Parses and validates protobuf bytes into `MetricsBatch` values. Every rejection is a `WireError`;
/// no input makes it crash. Stateless apart from its limits, so it may be shared.
public struct MetricsBatchDecoder: Sendable {
    public var limits: WireLimits

    public init(limits: WireLimits = .default) {
        self.limits = limits
    }

    public func decode(_ bytes: [UInt8]) throws(WireError) -> DecodedBatch {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(WireError) -> DecodedBatch in try decode(raw) } }
        return try result.get()
    }

    public func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> DecodedBatch {
        guard bytes.count <= limits.maxMessageBytes else {
            throw .tooLarge(bytes: bytes.count, limit: limits.maxMessageBytes)
        }
        // Counts and NULs first, before protobuf-c allocates a struct per series.
        _ = try Prescan.check(bytes, limits: limits)
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        guard let message = gpulse__v1__metrics_batch__unpack(nil, bytes.count, base) else {
            throw .malformed(bytes: bytes.count)
        }
        defer { gpulse__v1__metrics_batch__free_unpacked(message, nil) }
        let m = message.pointee

        guard m.protocol_version == gpulseProtocolVersion else { throw .unsupportedVersion(m.protocol_version) }
        let nodeID = try string(m.node_id, field: "node_id")
        guard !nodeID.isEmpty else { throw .emptyNodeID }
        guard m.dropped_samples <= limits.maxDroppedSamples else {
            throw .implausibleCounter(field: "dropped_samples", value: m.dropped_samples, limit: limits.maxDroppedSamples)
        }
        guard m.n_series <= limits.maxSeries else { throw .tooManySeries(count: m.n_series, limit: limits.maxSeries) }

        var series: [Series] = []
        series.reserveCapacity(m.n_series)
        var ignored = 0
        var totalSamples = 0
        for i in 0..<m.n_series {
            guard let s = m.series[i]?.pointee else { throw .malformed(bytes: bytes.count) }
            guard let kind = SignalKind(rawValue: Int32(truncatingIfNeeded: s.kind.rawValue)) else {
                ignored += 1
                continue
            }
            let subject = try string(s.subject, field: "series.subject")
            guard s.n_offset_us == s.n_value else {
                throw .lengthMismatch(kind: kind, subject: subject, offsets: s.n_offset_us, values: s.n_value)
            }
            totalSamples += s.n_value
            guard totalSamples <= limits.maxSamples else {
                throw .tooManySamples(count: totalSamples, limit: limits.maxSamples)
            }
            let values = Array(UnsafeBufferPointer(start: s.value, count: s.n_value))
            try Self.validate(values, kind: kind, subject: subject)
            let offsets = Array(UnsafeBufferPointer(start: s.offset_us, count: s.n_offset_us))
            series.append(Series(kind: kind, subject: subject, offsetsMicros: offsets, values: values))
        }

        var losses: [ProbeLoss] = []
        for i in 0..<m.n_probe_losses {
            guard let l = m.probe_losses[i]?.pointee else { throw .malformed(bytes: bytes.count) }
            losses.append(ProbeLoss(target: try string(l.target, field: "probe_losses.target"), lost: l.lost))
        }

        let labels = NodeLabels(
            nodeID: nodeID,
            pool: try string(m.pool, field: "pool"),
            site: try string(m.site, field: "site"),
            // Unknown enum numbers come from newer agents; they read as unspecified rather than fail.
            tier: Tier(rawValue: Int32(truncatingIfNeeded: m.tier.rawValue)) ?? .unspecified,
            workload: WorkloadClass(rawValue: Int32(truncatingIfNeeded: m.workload.rawValue)) ?? .unspecified,
            instanceClass: try string(m.instance_class, field: "instance_class"))
        let batch = MetricsBatch(
            labels: labels, session: m.session, seq: m.seq, t0UnixNanos: m.t0_unix_ns, series: series,
            droppedSamples: m.dropped_samples, probeLosses: losses, protocolVersion: m.protocol_version,
            agentVersion: try string(m.agent_version, field: "agent_version"))
        return DecodedBatch(batch: batch, ignoredUnknownSeries: ignored)
    }

    /// Checks the values of one series against the rules its kind sets.
    public static func validate(_ values: [Float], kind: SignalKind, subject: String) throws(WireError) {
        for v in values {
            guard v.isFinite else { throw .nonFiniteValue(kind: kind, subject: subject) }
            if kind.isFraction {
                guard v >= 0, v <= 1 else { throw .fractionOutOfRange(kind: kind, subject: subject, value: v) }
            } else if v < 0 {
                throw .negativeValue(kind: kind, subject: subject, value: v)
            }
        }
    }

    private func string(_ pointer: UnsafeMutablePointer<CChar>?, field: String) throws(WireError) -> String {
        guard let pointer else { return "" }
        let length = strnlen(pointer, limits.maxStringBytes + 1)
        guard length <= limits.maxStringBytes else { throw .fieldTooLong(field: field, bytes: length) }
        guard let text = String(validating: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self) else {
            throw .invalidUTF8(field: field)
        }
        return text
    }
}
