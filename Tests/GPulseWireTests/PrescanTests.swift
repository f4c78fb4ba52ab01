import GPulseCore
import Testing

@testable import GPulseWire

/// What is refused before protobuf-c unpacks anything (see `Prescan`).
@Suite struct PrescanTests {
    private func header(_ w: inout ProtoWriter, node: String = "n1") {
        w.string(1, node)
        w.uint(2, 1)
        w.uint(12, UInt64(gpulseProtocolVersion))
    }

    @Test func aMessageOfEmptySeriesIsRefusedByItsCountBeforeUnpacking() throws {
        var w = ProtoWriter()
        header(&w)
        // Two bytes per empty series: a 4 MiB message would be two million of them.
        for _ in 0..<5000 { w.bytesField(10, []) }
        #expect(throws: WireError.tooManySeries(count: 5000, limit: 4096)) { try MetricsBatchDecoder().decode(w.bytes) }
        let scan = try w.bytes.withUnsafeBytes { raw in try Prescan.check(raw, limits: WireLimits(maxSeries: 10_000)) }
        #expect(scan.series == 5000)
    }

    @Test func probeLossesAreCountedToo() {
        var w = ProtoWriter()
        header(&w)
        for _ in 0..<4097 { w.bytesField(13, []) }
        #expect(throws: WireError.tooManyProbeLosses(count: 4097, limit: 4096)) { try MetricsBatchDecoder().decode(w.bytes) }
    }

    @Test func aNULInAnyStringIsRefusedRatherThanCutShort() {
        var w = ProtoWriter()
        header(&w, node: "gpu-a\u{0}gpu-b")
        #expect(throws: WireError.nulInString(field: "node_id")) { try MetricsBatchDecoder().decode(w.bytes) }
        var p = ProtoWriter()
        header(&p)
        p.string(4, "pool\u{0}")
        #expect(throws: WireError.nulInString(field: "pool")) { try MetricsBatchDecoder().decode(p.bytes) }
        var s = ProtoWriter()
        header(&s)
        var series = ProtoWriter()
        series.uint(1, UInt64(SignalKind.cpuUtil.rawValue))
        series.string(2, "cpu\u{0}0")
        s.bytesField(10, series.bytes)
        #expect(throws: WireError.nulInString(field: "series.subject")) { try MetricsBatchDecoder().decode(s.bytes) }
    }

    @Test func brokenFramingIsMalformed() {
        var w = ProtoWriter()
        header(&w)
        w.tag(10, 2)
        w.varint(1000)  // a length past the end
        #expect(throws: WireError.malformed(bytes: w.bytes.count)) { try MetricsBatchDecoder().decode(w.bytes) }
        #expect(throws: WireError.malformed(bytes: 1)) { try MetricsBatchDecoder().decode([0x80]) }  // a varint cut off
        #expect(throws: WireError.malformed(bytes: 2)) { try MetricsBatchDecoder().decode([0x0B, 0x00]) }  // a group (wire type 3)
    }

    @Test func anImplausibleDroppedSamplesCounterIsRefused() {
        var w = ProtoWriter()
        header(&w)
        w.uint(11, UInt64.max)
        #expect(throws: WireError.implausibleCounter(field: "dropped_samples", value: .max, limit: 1 << 32)) { try MetricsBatchDecoder().decode(w.bytes) }
    }

    @Test func whatTheEncoderWritesPassesUnchanged() throws {
        let batch = realisticBatch()
        let bytes = MetricsBatchEncoder().encode(batch)
        let scan = try bytes.withUnsafeBytes { raw in try Prescan.check(raw, limits: .default) }
        #expect(scan.series == batch.series.count && scan.probeLosses == 1)
        #expect(try MetricsBatchDecoder().decode(bytes).batch == batch)
    }
}
