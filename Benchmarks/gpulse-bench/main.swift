// gpulse-bench: every benchmark of the project, each beside a peer measured in the same run.
// Figures are medians of several rounds; peers and gpulse alternate so machine noise hits both.
//   gpulse-bench [--rounds N] [--output SECTION.md] [--summary ROWS.jsonl]   (make bench; bench/report.py assembles BENCHMARKS.md)
//   gpulse-bench --bare-loop HZ SECONDS   (the sampling-loop floor, for bench/agent_cost.py)
//   gpulse-bench --read-loop HZ SECONDS   (the same loop doing the agent's procfs reads, for bench/agent_cost.py)
//   gpulse-bench --raw-zmq FRAME_BYTES COUNT   (raw libzmq peer for bench/ingest_bench.py)
import CBenchPeers
import Foundation
import GPulseCore
import GPulseTransport
import GPulseWire

struct Row {
    var figure: String
    var value: Double
    var unit: String
    var peer: String
    var peerValue: Double
    var ratio: Double { value / peerValue }
}

let arguments = CommandLine.arguments
func option(_ name: String) -> String? {
    guard let i = arguments.firstIndex(of: name), i + 1 < arguments.count else { return nil }
    return arguments[i + 1]
}
let rounds = Int(option("--rounds") ?? "") ?? 5
let output = option("--output")
let summary = option("--summary")

// `gpulse-bench --bare-loop HZ SECONDS`: only the C sleep loop, in its own process, so that
// bench/agent_cost.py can measure its CPU time as the floor beside the agent's.
if let i = arguments.firstIndex(of: "--bare-loop"), i + 2 < arguments.count, let hz = Double(arguments[i + 1]), let s = Double(arguments[i + 2]) {
    print("bare_loop_p99_us=\(gpulse_bench_sleep_loop(hz, s))")
    exit(0)
}

// `gpulse-bench --read-loop HZ SECONDS`: the same loop plus the agent's procfs reads in C (cpu at
// most 100 Hz, meminfo and net/dev every tick), the floor for the agent's fast group.
if let i = arguments.firstIndex(of: "--read-loop"), i + 2 < arguments.count, let hz = Double(arguments[i + 1]), let s = Double(arguments[i + 2]) {
    let p99 = gpulse_bench_read_loop(hz, s, 100)
    guard p99 >= 0 else {
        print("read loop failed: cannot read /proc/meminfo, /proc/net/dev or /proc/stat")
        exit(1)
    }
    print("bare_loop_p99_us=\(p99)")
    exit(0)
}

// `gpulse-bench --raw-zmq FRAME_BYTES COUNT`: raw libzmq PUSH->PULL over loopback TCP for frames of
// that size, the peer bench/ingest_bench.py sets beside the aggregator's ingest rate.
if let i = arguments.firstIndex(of: "--raw-zmq"), i + 2 < arguments.count, let size = Int(arguments[i + 1]), let count = Int32(arguments[i + 2]) {
    let elapsed = gpulse_bench_raw_zmq("tcp://127.0.0.1:*", size, count)
    print("raw_zmq_frames_per_s=\(Double(count - 1) / elapsed)")
    exit(0)
}

func median(_ xs: [Double]) -> Double {
    let s = xs.sorted()
    return s[s.count / 2]
}

func seconds(_ body: () -> Void) -> Double {
    let start = SystemClock.monotonicNanos()
    body()
    return Double(SystemClock.monotonicNanos() - start) / 1e9
}

/// The batch the agent sends at 500 Hz: 10 series x 50 samples.
func realisticBatch() -> MetricsBatch {
    let kinds: [(SignalKind, String)] = [
        (.cpuUtil, ""), (.cpuIOWait, ""), (.memUsedFrac, ""), (.netRxBps, "eth0"), (.netTxBps, "eth0"),
        (.gpuUtil, "GPU-5f1c2a9e-1b2c-4d5e-8f90-123456789abc"), (.gpuMemUsedFrac, "GPU-5f1c2a9e-1b2c-4d5e-8f90-123456789abc"),
        (.gpuMemUsedBytes, "GPU-5f1c2a9e-1b2c-4d5e-8f90-123456789abc"), (.gpuPowerW, "GPU-5f1c2a9e-1b2c-4d5e-8f90-123456789abc"),
        (.rttMs, "10.0.0.5:7461"),
    ]
    var rng = SystemRandomNumberGenerator()
    let series = kinds.map { kind, subject in
        Series(
            kind: kind, subject: subject, offsetsMicros: (0..<50).map { UInt32($0 * 2000 + Int.random(in: 0..<40, using: &rng)) },
            values: (0..<50).map { _ in kind.isFraction ? Float.random(in: 0...1, using: &rng) : Float.random(in: 0...2e9, using: &rng) })
    }
    return MetricsBatch(
        labels: NodeLabels(nodeID: "gpu-node-0017.eu-west", pool: "llm-online", site: "cloud-eu-west", tier: .cloud, workload: .online, instanceClass: "on_demand"),
        session: 0x1234_5678_9ABC, seq: 4242, t0UnixNanos: 1_763_856_000_123_456_789, series: series, agentVersion: "0.1.0")
}

let batch = realisticBatch()
let samplesPerBatch = Double(batch.sampleCount)
let encoder = MetricsBatchEncoder()
let decoder = MetricsBatchDecoder()
let frame = encoder.encode(batch)
var rows: [Row] = []
print("gpulse-bench: \(rounds) rounds per figure; batch = \(batch.series.count) series x 50 samples = \(frame.count) bytes")

// MARK: encode / decode, one core

do {
    let n = 20_000
    var enc: [Double] = [], dec: [Double] = [], cPack: [Double] = [], cUnpack: [Double] = []
    var out: [UInt8] = []
    for _ in 0..<rounds {
        enc.append(Double(n) * samplesPerBatch / seconds { for _ in 0..<n { encoder.encode(batch, into: &out) } })
        dec.append(Double(n) * samplesPerBatch / seconds { for _ in 0..<n { _ = try? decoder.decode(frame) } })
        var u = 0.0, p = 0.0
        frame.withUnsafeBufferPointer { _ = gpulse_bench_protobuf_c($0.baseAddress, $0.count, Int32(n), &u, &p) }
        cUnpack.append(Double(n) * samplesPerBatch / u)
        cPack.append(Double(n) * samplesPerBatch / p)
    }
    rows.append(Row(figure: "encode MetricsBatch (Swift values -> bytes)", value: median(enc), unit: "samples/s", peer: "protobuf-c pack alone", peerValue: median(cPack)))
    rows.append(Row(figure: "decode + validate MetricsBatch (bytes -> Swift values)", value: median(dec), unit: "samples/s", peer: "protobuf-c unpack alone", peerValue: median(cUnpack)))
}

// MARK: transport, sender thread -> receiver

/// GPulseTransport PUSH on a sender thread, PULL here; returns batches per second.
func swiftTransport(endpoint: String, count: Int, pipeline: Bool) -> Double {
    let context = try! ZMQContext()
    let pull = try! ZMQSocket(context: context, type: .pull)
    try! pull.set(.receiveHighWaterMark(1000))
    try! pull.bind(endpoint)
    let bound = try! pull.lastEndpoint()
    let sender = WorkerThread(name: "bench-send") { _ in
        let push = try! ZMQSocket(context: context, type: .push)
        try! push.set(.sendHighWaterMark(1000))
        try! push.connect(bound)
        let enc = MetricsBatchEncoder()
        var bytes = frame
        for _ in 0..<count {
            if pipeline { enc.encode(batch, into: &bytes) }
            try! push.send(bytes)
        }
        push.close()
    }
    var buffer = MessageBuffer()
    _ = try! pull.receive(into: &buffer)
    let elapsed = seconds {
        for _ in 1..<count {
            _ = try! pull.receive(into: &buffer)
            if pipeline { _ = try! buffer.withFrame(0) { (raw) throws(WireError) in try decoder.decode(raw) } }
        }
    }
    sender.join()
    pull.close()
    return Double(count - 1) / elapsed
}

func rawTransport(endpoint: String, count: Int) -> Double {
    Double(count - 1) / gpulse_bench_raw_zmq(endpoint, frame.count, Int32(count))
}

for (name, endpoint, count) in [("inproc://", "inproc://bench", 100_000), ("tcp://127.0.0.1", "tcp://127.0.0.1:*", 100_000)] {
    var swift: [Double] = [], raw: [Double] = [], full: [Double] = []
    for _ in 0..<rounds {
        swift.append(swiftTransport(endpoint: endpoint, count: count, pipeline: false))
        raw.append(rawTransport(endpoint: endpoint, count: count))
        if name.hasPrefix("tcp") { full.append(swiftTransport(endpoint: endpoint, count: count / 4, pipeline: true)) }
    }
    rows.append(Row(figure: "send/receive \(frame.count)-byte batches over \(name) (GPulseTransport)", value: median(swift), unit: "batches/s", peer: "raw libzmq, same frames", peerValue: median(raw)))
    if !full.isEmpty {
        rows.append(Row(figure: "encode + send + receive + decode over \(name)", value: median(full), unit: "batches/s", peer: "raw libzmq, same frames", peerValue: median(raw)))
    }
}

// MARK: report

func format(_ v: Double) -> String {
    if v >= 1e6 { return String(format: "%.2fM", v / 1e6) }
    if v >= 1e3 { return String(format: "%.1fk", v / 1e3) }
    return String(format: "%.2f", v)
}

var table = "| figure | gpulse | peer (same run) | peer value | ratio |\n|---|---:|---|---:|---:|\n"
for r in rows {
    table += "| \(r.figure) | \(format(r.value)) \(r.unit) | \(r.peer) | \(format(r.peerValue)) \(r.unit) | \(String(format: "%.2f", r.ratio)) |\n"
}
print(table)

if let output {
    let text = """
        ## Codec and transport (Benchmarks/gpulse-bench)

        Medians of \(rounds) rounds, libzmq \(ZMQContext.libraryVersion); each peer ran in the same process, \
        alternating with gpulse, so machine noise hits both. A ratio of 1.0 means gpulse is as fast as the peer; \
        encode/decode ratios below 1 are the cost of turning protobuf-c structs into Swift values and validating them.

        \(table)
        """
    try! text.write(toFile: output, atomically: true, encoding: .utf8)
    print("gpulse-bench: wrote \(output)")
}

// One JSON line per row for the summary table of BENCHMARKS.md (bench/report.py).
if let summary {
    var lines = ""
    for r in rows {
        let fields: [String: Any] = ["figure": r.figure, "value": r.value, "unit": r.unit, "peer": r.peer, "peer_value": r.peerValue, "better": "higher"]
        let data = try! JSONSerialization.data(withJSONObject: fields, options: [.sortedKeys])
        lines += String(decoding: data, as: UTF8.self) + "\n"
    }
    if let handle = FileHandle(forWritingAtPath: summary) {
        handle.seekToEndOfFile()
        handle.write(Data(lines.utf8))
        handle.closeFile()
    } else {
        try! lines.write(toFile: summary, atomically: true, encoding: .utf8)
    }
}
