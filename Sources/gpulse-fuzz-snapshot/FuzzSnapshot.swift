// The snapshot restore path under libFuzzer: every input is the JSON body of a snapshot file, which
// this target wraps in a header with the right length and checksum, so that the fuzzer exercises what
// a checksum cannot vouch for (a file written by a broken or hostile build). Built like
// gpulse-fuzz-decoder:
//
//   make fuzz   (-sanitize=fuzzer, -DFUZZING): libFuzzer's driver mutates the seeds in fuzz/snapshot-corpus.
//   swift build (plain): `gpulse-fuzz-snapshot FILE...` replays saved bodies; `--seed FILE` writes a
//               seed body from a short fleet (how fuzz/snapshot-corpus/fleet.json was made).
//
// The property: decoding, the value checks, and a restored fleet and decision engine running for a
// few seconds never crash or trap, whatever the body holds.
#if canImport(Glibc)
import Glibc
#endif
import GPulseCore
import GPulseFuzzSupport
import GPulseSnapshot

let store = SnapshotStore(path: "/nonexistent/fuzz.snapshot")
/// A fixed "now" inside the ten-year window the checks allow (2023-11-14).
let now: Int64 = 1_700_000_000_000_000_000
let settings = FleetSettings(secondsKept: 120, minutesKept: 120, forecast: ForecastSettings(season: 10, horizons: [1, 5]))
let onDemand = InstanceClass(name: "on_demand", kind: .onDemand, hourlyPrice: 3, leadTimeSeconds: 120)
let serverless = InstanceClass(name: "serverless", kind: .serverless, hourlyPrice: 9, leadTimeSeconds: 2)
let reserved = InstanceClass(name: "reserved", kind: .reserved, hourlyPrice: 1.8, leadTimeSeconds: 600)

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    check(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

/// Header + body, decode, value checks; what passes is restored and run.
func check(_ body: [UInt8]) {
    let file = SnapshotStore.frame(body: body)
    guard let snapshot = try? store.decode(file), snapshot.absurdity(nowNanos: now) == nil else { return }
    var fleet = Fleet(settings: settings, restoring: snapshot.fleet)
    var engine = DecisionEngine(
        settings: EngineSettings { pool in
            pool.hasPrefix("t")
                ? PoolSetup(policy: ThresholdPolicy(settings: .init()))
                : PoolSetup(
                    policy: CostAwarePolicy(
                        settings: .init(slaPenaltyPerNodeHour: 20, reserved: reserved, onDemand: onDemand, serverless: serverless)))
        }, idPrefix: "fuzz", lastSeq: snapshot.decisionSeqReserved)
    if let memories = snapshot.policies { engine.restore(policyMemories: memories) }
    let pools = Array(snapshot.fleet.pools.keys.prefix(4)) + ["llm"]
    for s in 0..<3 {
        let t = now + Int64(s) * 1_000_000_000
        for (i, pool) in pools.enumerated() {
            let batch = MetricsBatch(
                labels: NodeLabels(nodeID: "fuzz-\(i)", pool: pool), session: 1, seq: UInt64(s), t0UnixNanos: t,
                series: [Series(kind: .cpuUtil, offsetsMicros: [0], values: [0.9]), Series(kind: .appQueueDepth, subject: "s", offsetsMicros: [0], values: [40])])
            if fleet.admit(batch.labels, peer: nil, nowNanos: t) == nil { _ = fleet.ingest(batch, nowNanos: t) }
        }
        if let (transitions, _, _) = fleet.tick(nowNanos: t) {
            for transition in transitions { _ = engine.nodeEvent(transition) }
            _ = engine.evaluate(fleet: fleet, nowNanos: t)
        }
    }
    _ = fleet.snapshot
    _ = engine.policyMemories
}

/// A seed: a fleet of three nodes in two pools, driven for 12 virtual minutes with decisions.
func seedBody() -> [UInt8] {
    var fleet = Fleet(settings: settings)
    var engine = DecisionEngine(
        settings: EngineSettings { _ in
            PoolSetup(policy: CostAwarePolicy(settings: .init(slaPenaltyPerNodeHour: 20, reserved: reserved, onDemand: onDemand, serverless: serverless)))
        }, idPrefix: "seed")
    let start = now - 12 * 60 * 1_000_000_000
    for s in 0..<(12 * 60) {
        let t = start + Int64(s) * 1_000_000_000
        for (i, pool) in ["llm", "llm", "batch"].enumerated() {
            let u = Float(0.4 + 0.3 * sin(Double(s) / 60))
            let batch = MetricsBatch(
                labels: NodeLabels(nodeID: "n\(i)", pool: pool), session: 7, seq: UInt64(s), t0UnixNanos: t,
                series: [Series(kind: .cpuUtil, offsetsMicros: [0], values: [u]), Series(kind: .appRequestRate, subject: "s", offsetsMicros: [0], values: [u * 10])])
            _ = fleet.ingest(batch, nowNanos: t)
        }
        if fleet.tick(nowNanos: t) != nil { _ = engine.evaluate(fleet: fleet, nowNanos: t) }
    }
    let snapshot = AggregatorSnapshot(writtenAtNanos: now, decisionSeqReserved: engine.seq + 100, fleet: fleet.snapshot, policies: engine.policyMemories)
    let file = try! store.encode(snapshot)
    return Array(file[(file.firstIndex(of: 0x0A)! + 1)...])
}

@main
struct FuzzSnapshot {
    static func main() {
        #if !FUZZING
        // `--seed FILE` writes a seed body from a short fleet (how fuzz/snapshot-corpus/fleet.json was made).
        let args = CommandLine.arguments.dropFirst()
        if args.first == "--seed", args.count == 2, let path = args.last {
            let body = seedBody()
            guard let file = fopen(path, "wb") else {
                print("\(path): cannot open")
                exit(1)
            }
            _ = body.withUnsafeBytes { fwrite($0.baseAddress, 1, body.count, file) }
            fclose(file)
            print("\(path): \(body.count) bytes of seed snapshot body")
            exit(0)
        }
        #endif
        runFuzzTarget(name: "gpulse-fuzz-snapshot", usage: "replays snapshot bodies, or --seed FILE writes a seed body", test: fuzzOne) { check($0) }
    }
}
