import GPulseCore
import GPulseWire
import Testing

@Suite struct MetricsBatchCodecTests {
    let decoder = MetricsBatchDecoder()

    @Test func roundTripKeepsEveryField() throws {
        let batch = realisticBatch()
        let bytes = MetricsBatchEncoder().encode(batch)
        let decoded = try decoder.decode(bytes)
        #expect(decoded.batch == batch)
        #expect(decoded.ignoredUnknownSeries == 0)
        #expect(decoded.batch.sampleCount == 500)
    }

    @Test func encoderReusesItsBufferAcrossBatches() throws {
        let encoder = MetricsBatchEncoder()
        var out: [UInt8] = []
        for seq in 0..<50 as Range<UInt64> {
            encoder.encode(realisticBatch(seq: seq), into: &out)
            #expect(try decoder.decode(out).batch.seq == seq)
        }
    }

    @Test func handWrittenProtobufDecodes() throws {
        // Field numbers from proto/gpulse/v1/metrics.proto, written without protobuf-c.
        var series = ProtoWriter()
        series.uint(1, 1)  // CPU_UTIL
        series.packedUInt32(3, [0, 10_000])
        series.packedFloat(4, [0.25, 0.5])
        var w = ProtoWriter()
        w.string(1, "hand-made")
        w.uint(2, 42)
        w.uint(3, 9)
        w.string(4, "pool-a")
        w.uint(6, 2)  // EDGE
        w.bytesField(10, series.bytes)
        w.uint(12, 1)
        let decoded = try decoder.decode(w.bytes).batch
        #expect(decoded.labels.nodeID == "hand-made")
        #expect(decoded.labels.tier == .edge)
        #expect(decoded.session == 42 && decoded.seq == 9)
        #expect(decoded.series == [Series(kind: .cpuUtil, offsetsMicros: [0, 10_000], values: [0.25, 0.5])])
    }

    @Test func unknownSignalKindIsSkippedNotFatal() throws {
        var known = ProtoWriter()
        known.uint(1, 2)
        known.packedUInt32(3, [0])
        known.packedFloat(4, [0.5])
        var future = ProtoWriter()
        future.uint(1, 999)
        future.packedUInt32(3, [0])
        future.packedFloat(4, [123])
        var w = ProtoWriter()
        w.string(1, "n")
        w.bytesField(10, future.bytes)
        w.bytesField(10, known.bytes)
        w.uint(12, 1)
        let decoded = try decoder.decode(w.bytes)
        #expect(decoded.ignoredUnknownSeries == 1)
        #expect(decoded.batch.series.map(\.kind) == [.memUsedFrac])
    }

    private func rejection(_ batch: MetricsBatch, limits: WireLimits = .default) -> WireError? {
        let bytes = MetricsBatchEncoder().encode(batch)
        do {
            _ = try MetricsBatchDecoder(limits: limits).decode(bytes)
            return nil
        } catch {
            return error
        }
    }

    /// Found by the libFuzzer target: invalid UTF-8 used to be repaired with U+FFFD, which made a
    /// string at the length limit longer than the limit once decoded.
    @Test func rejectsInvalidUTF8InStringFields() throws {
        let bytes = MetricsBatchEncoder().encode(MetricsBatch(labels: NodeLabels(nodeID: "n1", site: "dcX"), session: 1, seq: 1, t0UnixNanos: 0))
        let at = try #require((0..<bytes.count - 2).first { bytes[$0...$0 + 2] == [0x64, 0x63, 0x58] })
        var damaged = bytes
        damaged[at + 2] = 0xFF
        #expect(throws: WireError.invalidUTF8(field: "site")) { try MetricsBatchDecoder().decode(damaged) }
        #expect(WireError.invalidUTF8(field: "site").rejection == .invalidUTF8 && Rejection.allCases.contains(.invalidUTF8))
    }

    @Test func rejectsMismatchedTimestampAndValueCounts() {
        var b = realisticBatch()
        b.series[2].offsetsMicros.removeLast()
        #expect(rejection(b) == .lengthMismatch(kind: .memUsedFrac, subject: "", offsets: 49, values: 50))
    }

    @Test(arguments: [Float.nan, .infinity, -.infinity])
    func rejectsNonFiniteValues(_ value: Float) {
        var b = realisticBatch()
        b.series[3].values[10] = value
        #expect(rejection(b) == .nonFiniteValue(kind: .netRxBps, subject: "eth0"))
    }

    @Test(arguments: [Float(-0.01), 1.01, 7])
    func rejectsFractionsOutsideZeroToOne(_ value: Float) {
        var b = realisticBatch()
        b.series[0].values[0] = value
        #expect(rejection(b) == .fractionOutOfRange(kind: .cpuUtil, subject: "", value: value))
    }

    @Test func rejectsNegativeRates() {
        var b = realisticBatch()
        b.series[4].values[1] = -5
        #expect(rejection(b) == .negativeValue(kind: .netTxBps, subject: "eth0", value: -5))
    }

    @Test(arguments: [UInt32(0), 2, 99])
    func rejectsUnknownProtocolVersion(_ version: UInt32) {
        var b = realisticBatch()
        b.protocolVersion = version
        #expect(rejection(b) == .unsupportedVersion(version))
    }

    @Test func rejectsEmptyNodeID() {
        var b = realisticBatch()
        b.labels.nodeID = ""
        #expect(rejection(b) == .emptyNodeID)
    }

    @Test func rejectsTooManySeriesAndSamples() {
        var limits = WireLimits.default
        limits.maxSeries = 5
        #expect(rejection(realisticBatch(), limits: limits) == .tooManySeries(count: 10, limit: 5))
        limits = .default
        limits.maxSamples = 120
        #expect(rejection(realisticBatch(), limits: limits) == .tooManySamples(count: 150, limit: 120))
    }

    @Test func rejectsOverlongStringsAndOversizedMessages() {
        var b = realisticBatch()
        b.labels.pool = String(repeating: "p", count: 300)
        #expect(rejection(b) == .fieldTooLong(field: "pool", bytes: 257))
        var limits = WireLimits.default
        limits.maxMessageBytes = 100
        let size = MetricsBatchEncoder().encode(realisticBatch()).count
        #expect(rejection(realisticBatch(), limits: limits) == .tooLarge(bytes: size, limit: 100))
    }

    @Test func rejectsBytesThatAreNotProtobuf() {
        #expect(throws: WireError.malformed(bytes: 3)) { try decoder.decode([0xFF, 0xFF, 0xFF]) }
        let valid = MetricsBatchEncoder().encode(realisticBatch())
        // Cut inside the last field (agent_version, 7 bytes); a cut at a field boundary is valid protobuf.
        let truncated = Array(valid.prefix(valid.count - 3))
        #expect(throws: WireError.malformed(bytes: truncated.count)) { try decoder.decode(truncated) }
    }

    @Test func emptyInputIsAMissingVersionNotACrash() {
        #expect(throws: WireError.unsupportedVersion(0)) { try decoder.decode([]) }
    }
}
