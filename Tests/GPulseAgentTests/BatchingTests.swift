import GPulseAgent
import GPulseCore
import GPulseTransport
import GPulseWire
import Logging
import Testing

@Suite struct SampleRingTests {
    @Test func dropsAndCountsWhenFull() {
        let ring = SampleRing(capacity: 3)
        for i in 0..<5 { ring.push(Sample(signal: 0, monotonicNanos: UInt64(i), value: Float(i))) }
        #expect(ring.count == 3)
        #expect(ring.takeDropped() == 2)
        #expect(ring.takeDropped() == 0)
        var out: [Sample] = []
        #expect(ring.drain(into: &out, limit: 2) == 2)
        ring.push(Sample(signal: 0, monotonicNanos: 9, value: 9))
        ring.drain(into: &out)
        #expect(out.map(\.monotonicNanos) == [0, 1, 2, 9], "oldest first across the wrap")
    }

    @Test func nonFiniteValuesAreCountedNotQueued() {
        let ring = SampleRing(capacity: 8)
        var sink = SampleSink(ring: ring, monotonicNanos: 5)
        sink.emit(0, .nan)
        sink.emit(0, .infinity)
        sink.emit(0, 0.5)
        #expect(sink.emitted == 1 && sink.rejectedNonFinite == 2)
        #expect(ring.count == 1)
    }
}

/// A sampler that emits one good value, one NaN, and claims two rejected inputs per run.
final class ScriptedSampler: Sampler {
    let name = "scripted"
    let signal: SignalID
    private(set) var runs: UInt64 = 0
    init(signal: SignalID) { self.signal = signal }
    func sample(into sink: inout SampleSink) throws {
        runs += 1
        sink.emit(signal, 0.5)
        sink.emit(signal, .nan)
    }
    var rejectedInputs: UInt64 { runs * 2 }
}

@Suite struct SamplingLoopTests {
    @Test func countsNonFiniteValuesAndRejectedInputsPerSampler() {
        let ring = SampleRing(capacity: 10_000)
        let loop = SamplingLoop(samplers: [ScriptedSampler(signal: 0)], rateHz: 1000, ring: ring, logger: Logger(label: "test"))
        loop.start()
        // Until it has run more than 10 times (150 ms at 1000 Hz on an idle machine), with a generous bound.
        let deadline = SystemClock.monotonicSeconds() + 30
        while loop.tickCount <= 10 && SystemClock.monotonicSeconds() < deadline { SystemClock.sleep(milliseconds: 10) }
        loop.stop()
        let stats = loop.samplerStats[0]
        #expect(stats.runs > 10)
        #expect(stats.nonFiniteValues == stats.runs, "one NaN per run, counted, not queued")
        #expect(stats.rejectedInputs == stats.runs * 2)
        #expect(UInt64(ring.count) == stats.runs)
        #expect(loop.tickCount == stats.runs)
        #expect(loop.tickLateness.count == stats.runs)
    }
}

@Suite struct BatchBuilderTests {
    @Test func groupsBySignalWithOffsetsFromTheOldestSample() {
        let signals = SignalTable()
        let cpu = signals.id(.cpuUtil)
        let rx = signals.id(.netRxBps, subject: "eth0")
        #expect(signals.id(.cpuUtil) == cpu, "same pair, same id")
        let builder = BatchBuilder(labels: NodeLabels(nodeID: "n1", pool: "p"), session: 77, signals: signals, agentVersion: "t")
        let samples = [
            Sample(signal: cpu, monotonicNanos: 1_000_000, value: 0.1),
            Sample(signal: rx, monotonicNanos: 1_000_000, value: 100),
            Sample(signal: cpu, monotonicNanos: 3_500_000, value: 0.3),
        ]
        let batch = builder.build(samples: samples, seq: 4, droppedSamples: 2, wallMinusMonotonic: 1_000_000_000_000, fallbackT0: 0)
        #expect(batch.t0UnixNanos == 1_000_001_000_000)
        #expect(batch.seq == 4 && batch.session == 77 && batch.droppedSamples == 2)
        #expect(batch.series == [
            Series(kind: .cpuUtil, offsetsMicros: [0, 2500], values: [0.1, 0.3]),
            Series(kind: .netRxBps, subject: "eth0", offsetsMicros: [0], values: [100]),
        ])
    }

    @Test func emptyIntervalStillMakesABatch() {
        let builder = BatchBuilder(labels: NodeLabels(nodeID: "n1"), session: 1, signals: SignalTable(), agentVersion: "t")
        let batch = builder.build(samples: [], seq: 0, droppedSamples: 0, wallMinusMonotonic: 0, fallbackT0: 123)
        #expect(batch.series.isEmpty && batch.t0UnixNanos == 123)
    }
}

@Suite struct BatchPublisherTests {
    /// No aggregator listens at first: batches queue up to the send queue, the rest are dropped and
    /// counted, and the count arrives with the first batch that gets through once one listens.
    @Test func buffersWhileAggregatorIsDownAndReportsDrops() throws {
        let context = try ZMQContext()
        // Reserve a port, then free it so nothing listens there yet.
        let probe = try ZMQSocket(context: context, type: .pull)
        try probe.bind("tcp://127.0.0.1:*")
        let endpoint = try probe.lastEndpoint()
        probe.close()

        let signals = SignalTable()
        let id = signals.id(.cpuUtil)
        let ring = SampleRing(capacity: 1000)
        let builder = BatchBuilder(labels: NodeLabels(nodeID: "offline-test"), session: 5, signals: signals, agentVersion: "t")
        let publisher = BatchPublisher(
            settings: .init(endpoint: endpoint, publishIntervalNanos: 10_000_000, sendQueueBatches: 3, lingerMilliseconds: 0),
            context: context, ring: ring, builder: builder, logger: Logger(label: "test"))
        try publisher.start()
        // One sample per 10 ms interval while nobody listens, until the publisher has had to drop
        // some (at least 10 intervals; a busy machine may need more, so the bound is generous).
        let dropDeadline = SystemClock.monotonicSeconds() + 30
        var i = 0
        while i < 10 || (publisher.currentStats.batchesDropped == 0 && SystemClock.monotonicSeconds() < dropDeadline) {
            ring.push(Sample(signal: id, monotonicNanos: SystemClock.monotonicNanos(), value: Float(i % 10) / 10))
            SystemClock.sleep(milliseconds: 10)
            i += 1
        }
        SystemClock.sleep(milliseconds: 50)
        let offline = publisher.currentStats
        #expect(offline.batchesSent == 3, "exactly the send queue's worth was queued")
        #expect(offline.batchesDropped > 0 && offline.samplesDropped > 0)

        let pull = try ZMQSocket(context: context, type: .pull)
        try pull.bind(endpoint)
        var batches: [MetricsBatch] = []
        let decoder = MetricsBatchDecoder()
        let deadline = SystemClock.monotonicNanos() + 3_000_000_000
        while SystemClock.monotonicNanos() < deadline, batches.count < 6 {
            guard try pull.waitReadable(timeoutMilliseconds: 100), let frames = try pull.receiveFrames() else { continue }
            batches.append(try decoder.decode(frames[0]).batch)
        }
        publisher.stop()
        #expect(batches.count >= 4)
        #expect(batches.map(\.seq) == Array(0..<UInt64(batches.count)), "no gaps: dropped batches never took a number")
        let reportedDrops = batches.reduce(0) { $0 + $1.droppedSamples }
        #expect(reportedDrops == publisher.currentStats.samplesDropped)
        let delivered = batches.reduce(0) { $0 + $1.sampleCount }
        #expect(UInt64(delivered) + reportedDrops == 10, "every sample is delivered or counted")
    }
}
