// The batch decoder under libFuzzer: every input is what an agent (or anyone who can reach the metrics
// port) might send as one frame. Built two ways:
//
//   make fuzz   (swift build -Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING): main hands over to
//               libFuzzer's driver (LLVMFuzzerRunDriver), which mutates inputs from the seed corpus and
//               calls LLVMFuzzerTestOneInput with each; it takes libFuzzer's usual flags.
//   swift build (plain): a small main that runs the same check over files given on the command line,
//               so a crashing input libFuzzer saved can be replayed under a debugger.
//
// A crash, a trap (Swift's bounds and overflow checks) or a failed invariant below is a finding.
// Accepted batches go on into a Fleet (admission, ingest, a refresh), as in the aggregator, so the
// extreme times and counters in fuzz/corpus (fuzz/extreme_seeds.py) reach the arithmetic they broke.
#if canImport(Glibc)
import Glibc
#endif
import GPulseCore
import GPulseFuzzSupport
import GPulseWire

let decoder = MetricsBatchDecoder()
/// One fleet across inputs, as a running aggregator keeps one across batches (bounded by its caps).
nonisolated(unsafe) var fleet = Fleet(settings: FleetSettings(maxNodes: 500, maxPools: 50, newNodesPerPeerPerSecond: 0))
nonisolated(unsafe) var clock: Int64 = 1_700_000_000_000_000_000


@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    check(UnsafeRawBufferPointer(start: data, count: size))
    return 0
}

/// Decodes one input; whatever is accepted must obey the wire rules and survive a re-encode unchanged.
func check(_ input: UnsafeRawBufferPointer) {
    guard let decoded = try? decoder.decode(input) else { return }
    let batch = decoded.batch
    precondition(!batch.labels.nodeID.isEmpty, "accepted a batch without a node id")
    for series in batch.series {
        precondition(series.offsetsMicros.count == series.values.count, "accepted a series whose offsets and values differ in length")
        precondition((try? MetricsBatchDecoder.validate(series.values, kind: series.kind, subject: series.subject)) != nil, "accepted invalid values")
    }
    let again = try? decoder.decode(MetricsBatchEncoder().encode(batch))
    precondition(again?.batch == batch, "an accepted batch does not survive encode → decode")
    // Then what the ingest path does with its numbers (times, counters, sequence): no value may trap.
    clock += 100_000_000
    _ = batch.newestSampleNanos.subtractingSaturating(clock)
    if fleet.admit(batch.labels, peer: "fuzz", nowNanos: clock) == nil {
        _ = fleet.ingest(batch, nowNanos: clock)
        _ = fleet.tick(nowNanos: clock)
    }
}

@main
struct FuzzDecoder {
    static func main() {
        runFuzzTarget(name: "gpulse-fuzz-decoder", usage: "replays inputs", test: fuzzOne) { bytes in bytes.withUnsafeBytes { check($0) } }
    }
}
