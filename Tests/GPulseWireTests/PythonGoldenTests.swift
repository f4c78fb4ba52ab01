import Foundation
import GPulseCore
import GPulseWire
import Testing

/// Bytes encoded by Python's protobuf runtime (Tests/e2e/golden.py), decoded by protobuf-c through
/// GPulseWire. Tests/e2e/test_interop.py checks the committed file is still what Python writes.
@Suite struct PythonGoldenTests {
    @Test func decodesEveryFieldPythonEncoded() throws {
        let url = try #require(Bundle.module.url(forResource: "Fixtures/python-metrics-batch", withExtension: "bin"))
        let bytes = [UInt8](try Data(contentsOf: url))
        let b = try MetricsBatchDecoder().decode(bytes).batch
        #expect(b.labels == NodeLabels(nodeID: "py-node-1", pool: "llm-online", site: "edge-fra1", tier: .edge, workload: .batch, instanceClass: "spot"))
        #expect(b.session == 123_456_789_012_345 && b.seq == 41)
        #expect(b.t0UnixNanos == 1_763_856_000_000_000_001)
        #expect(b.droppedSamples == 12 && b.protocolVersion == 1 && b.agentVersion == "python-golden")
        #expect(b.series == [
            Series(kind: .gpuUtil, subject: "GPU-aaaa", offsetsMicros: [0, 166_666, 333_333], values: [0.25, 0.5, 0.75]),
            Series(kind: .netRxBps, subject: "eth0", offsetsMicros: [5], values: [1.5e9]),
        ])
        #expect(b.probeLosses == [ProbeLoss(target: "10.1.2.3:443", lost: 4)])
        // And protobuf-c re-encodes it to the very same bytes (same field order, packed repeats).
        #expect(MetricsBatchEncoder().encode(b) == bytes)
    }
}
