import GPulseAggregator
import GPulseCore
import GPulseWire
import Testing

@Suite struct IngestLedgerTests {
    func batch(samples: Int, unknown: Int = 0) -> DecodedBatch {
        let series = Series(kind: .cpuUtil, offsetsMicros: (0..<samples).map(UInt32.init), values: Array(repeating: 0.5, count: samples))
        return DecodedBatch(
            batch: MetricsBatch(labels: NodeLabels(nodeID: "a"), session: 1, seq: 0, t0UnixNanos: 0, series: [series]),
            ignoredUnknownSeries: unknown)
    }

    @Test func duplicatesAreNotCountedTwice() {
        var ledger = IngestLedger()
        ledger.accept(batch(samples: 3), outcome: .first)
        ledger.accept(batch(samples: 4, unknown: 2), outcome: .gap(missing: 1))
        ledger.accept(batch(samples: 5), outcome: .duplicate)
        #expect(ledger.batchesAccepted == 2)
        #expect(ledger.samplesAccepted == 7)
        #expect(ledger.batchesDuplicate == 1)
        #expect(ledger.unknownSeriesIgnored == 2)
    }

    @Test func gapsAgentDropsAndRestartsAccumulateAcrossNodes() {
        var ledger = IngestLedger()
        var dropped = batch(samples: 2)
        dropped.batch.droppedSamples = 40
        ledger.accept(dropped, outcome: .first)
        ledger.accept(batch(samples: 2), outcome: .gap(missing: 3))
        ledger.accept(batch(samples: 2), outcome: .restarted)
        ledger.accept(dropped, outcome: .duplicate)  // a repeat is not counted again, its drops neither
        #expect(ledger.missingBatches == 3)
        #expect(ledger.agentDroppedSamples == 40)
        #expect(ledger.agentRestarts == 1)
    }

    @Test func rejectionsAreCountedByReason() {
        var ledger = IngestLedger()
        ledger.reject(.malformed(bytes: 3))
        ledger.reject(.malformed(bytes: 9))
        ledger.reject(WireError.emptyNodeID)
        ledger.reject(Rejection.wrongFrameCount)
        #expect(ledger.rejectedByReason == ["malformed": 2, "empty_node_id": 1, "wrong_frame_count": 1])
        #expect(ledger.batchesRejected == 4)
    }
}
