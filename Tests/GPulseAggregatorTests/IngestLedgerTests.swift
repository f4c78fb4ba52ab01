import GPulseAggregator
import GPulseCore
import GPulseWire
import Testing

@Suite struct IngestLedgerTests {
    func batch(_ node: String, session: UInt64, seq: UInt64, samples: Int = 2, dropped: UInt64 = 0) -> DecodedBatch {
        let series = Series(kind: .cpuUtil, offsetsMicros: (0..<samples).map(UInt32.init), values: Array(repeating: 0.5, count: samples))
        return DecodedBatch(
            batch: MetricsBatch(labels: NodeLabels(nodeID: node, pool: "p"), session: session, seq: seq, t0UnixNanos: 0, series: [series], droppedSamples: dropped),
            ignoredUnknownSeries: 0)
    }

    @Test func accountsPerNodeGapsRestartsAndAgentDrops() {
        var ledger = IngestLedger()
        #expect(ledger.accept(batch("a", session: 1, seq: 0), receivedUnixNanos: 10) == .first)
        #expect(ledger.accept(batch("a", session: 1, seq: 1, dropped: 5), receivedUnixNanos: 20) == .inOrder)
        #expect(ledger.accept(batch("a", session: 1, seq: 3), receivedUnixNanos: 30) == .gap(missing: 1))
        #expect(ledger.accept(batch("a", session: 1, seq: 3), receivedUnixNanos: 31) == .duplicate)
        #expect(ledger.accept(batch("a", session: 2, seq: 0), receivedUnixNanos: 40) == .restarted)
        #expect(ledger.accept(batch("b", session: 9, seq: 0, samples: 7), receivedUnixNanos: 50) == .first)

        let a = ledger.nodes["a"]!
        #expect(a.sequence.received == 4 && a.sequence.missing == 1 && a.sequence.restarts == 1 && a.sequence.duplicates == 1)
        #expect(a.samples == 8, "the duplicate's samples are not counted twice")
        #expect(a.agentDroppedSamples == 5)
        #expect(a.lastSeenUnixNanos == 40)
        #expect(ledger.batchesAccepted == 5)
        #expect(ledger.samplesAccepted == 15)
    }

    @Test func rejectionsAreCountedByReason() {
        var ledger = IngestLedger()
        ledger.reject(.malformed(bytes: 3))
        ledger.reject(.malformed(bytes: 9))
        ledger.reject(.emptyNodeID)
        ledger.reject(reason: "wrong_frame_count")
        #expect(ledger.rejectedByReason == ["malformed": 2, "empty_node_id": 1, "wrong_frame_count": 1])
        #expect(ledger.batchesRejected == 4)
        #expect(ledger.nodes.isEmpty)
    }
}
