import Foundation
import GPulseAgent
import GPulseCore
import GPulseTransport
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// A TCP listener on 127.0.0.1 with a kernel-picked port, accepting nothing (the kernel completes
/// handshakes into the backlog, which is all a connect probe needs).
final class LoopbackListener {
    let fd: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        addr.sin_port = 0
        var len = socklen_t(MemoryLayout<sockaddr_in>.size)
        let ok = withUnsafeMutablePointer(to: &addr) { p in
            p.withMemoryRebound(to: sockaddr.self, capacity: 1) { sa in
                bind(fd, sa, len) == 0 && listen(fd, 64) == 0 && getsockname(fd, sa, &len) == 0
            }
        }
        guard ok else {
            close(fd)
            throw NVMLTestSetupError(message: "cannot listen on 127.0.0.1")
        }
        self.fd = fd
        port = UInt16(bigEndian: addr.sin_port)
    }

    deinit { close(fd) }
}

@Suite struct RTTProbeTests {
    @Test func targetsParse() {
        #expect(ProbeTarget("10.0.0.5:7461") == ProbeTarget("10.0.0.5:7461"))
        #expect(ProbeTarget("[::1]:80")?.host == "::1")
        #expect(ProbeTarget("[::1]:80")?.description == "[::1]:80")
        #expect(ProbeTarget("host.example:443")?.port == 443)
        for bad in ["nohost", ":80", "h:0", "h:99999", "h:x", "[::1]80"] { #expect(ProbeTarget(bad) == nil, "\(bad)") }
    }

    @Test func connectsToALocalListener() throws {
        let listener = try LoopbackListener()
        let result = TCPProbe.probe(ProbeTarget("127.0.0.1:\(listener.port)")!, timeoutMilliseconds: 1000)
        guard case .connected(let ms) = result else {
            Issue.record("expected a connection, got \(result)")
            return
        }
        #expect(ms >= 0 && ms < 1000)
    }

    @Test func closedPortIsALossNotANumber() throws {
        // Take a free port, then free it again: nothing listens there.
        let port = try LoopbackListener().port
        let signals = SignalTable()
        let losses = ProbeLossCounter()
        let listener = try LoopbackListener()
        let sampler = RTTProbeSampler(
            targets: [ProbeTarget("127.0.0.1:\(port)")!, ProbeTarget("127.0.0.1:\(listener.port)")!], timeoutMilliseconds: 500,
            losses: losses, signals: signals)
        let ring = SampleRing(capacity: 8)
        let values = try collect(sampler, ring, at: 1, signals)
        #expect(values.keys.sorted() == ["rtt_ms[127.0.0.1:\(listener.port)]"], "only the open port gives a number")
        #expect(losses.take() == [ProbeLoss(target: "127.0.0.1:\(port)", lost: 1)])
        #expect(losses.take().isEmpty)
        #expect(sampler.lastFailure["127.0.0.1:\(port)"] == .failed(errno: ECONNREFUSED))
    }
}

@Suite struct AppReportTests {
    func parse(_ json: String) -> AppReport? { Array(json.utf8).withUnsafeBytes { AppReport.parse($0) } }

    @Test func parsesReportsAndRejectsNonsense() {
        #expect(parse(#"{"app":"vllm-0","latency_ms":182.5,"queue_depth":7}"#) == AppReport(app: "vllm-0", latencyMs: 182.5, queueDepth: 7))
        #expect(parse(#"{"app":"a","request_rate":3,"backlog":0}"#) == AppReport(app: "a", requestRate: 3, backlog: 0))
        #expect(parse(#"{"latency_ms":1}"#) == nil, "app is required")
        #expect(parse(#"{"app":"","latency_ms":1}"#) == nil)
        #expect(parse(#"{"app":"a","latency_ms":-1}"#) == nil)
        #expect(parse(#"{"app":"a","latency_ms":"fast"}"#) == nil)
        #expect(parse("not json") == nil)
    }

    @Test func reportsArriveOverIPCAndBecomeSamples() throws {
        let f = try ReportFixture()
        defer { f.close() }
        let (sampler, push, signals) = (f.sampler, f.push, f.signals)
        try push.send(Array(#"{"app":"llm","latency_ms":120.5,"queue_depth":3,"request_rate":40,"backlog":2}"#.utf8))
        try push.send(Array("garbage".utf8))
        try push.send(frames: [Array("{}".utf8), Array("two frames".utf8)])

        var values: [String: Float] = [:]
        let ring = SampleRing(capacity: 16)
        for _ in 0..<100 where values.isEmpty || sampler.rejected < 2 {
            values.merge(try collect(sampler, ring, at: 1, signals)) { $1 }
            SystemClock.sleep(milliseconds: 10)
        }
        #expect(values == [
            "app_latency_ms[llm]": 120.5, "app_queue_depth[llm]": 3, "app_request_rate[llm]": 40, "app_backlog[llm]": 2,
        ])
        #expect(sampler.accepted == 1 && sampler.rejected == 2)
    }

    /// The receiving thread stamps a report when it arrives, so a group tick that drains it later
    /// (the group runs at 10 Hz) does not move it in time.
    @Test func aReportKeepsItsArrivalTimeWhenDrainedLater() throws {
        let f = try ReportFixture()
        defer { f.close() }
        let (sampler, push) = (f.sampler, f.push)
        let sent = SystemClock.monotonicNanos()
        try push.send(Array(#"{"app":"llm","queue_depth":5}"#.utf8))
        // Drained only after 300 ms, then until it is there (generous: a busy machine may be slow).
        SystemClock.sleep(milliseconds: 300)
        let ring = SampleRing(capacity: 16)
        var samples: [Sample] = []
        var firstTick: UInt64?
        var inFirstDrain = false
        let deadline = SystemClock.monotonicNanos() + 10_000_000_000
        while samples.isEmpty && SystemClock.monotonicNanos() < deadline {
            let tick = SystemClock.monotonicNanos()
            var sink = SampleSink(ring: ring, monotonicNanos: tick)
            try sampler.sample(into: &sink)
            ring.drain(into: &samples)
            if firstTick == nil {
                firstTick = tick
                inFirstDrain = !samples.isEmpty
            }
            if samples.isEmpty { SystemClock.sleep(milliseconds: 10) }
        }
        try #require(samples.count == 1)
        #expect(samples[0].value == 5)
        #expect(samples[0].monotonicNanos >= sent)
        // Drained 300 ms after it was sent, it carries the time it came, before that drain began
        // (a sampler stamping at drain time fails here). On a machine too busy to have received it
        // by then, there is no earlier drain to compare with.
        if inFirstDrain, let firstTick { #expect(samples[0].monotonicNanos < firstTick) }
    }

    @Test func anEndpointThatCannotBeBoundFailsAtStart() throws {
        #expect(throws: ZMQError.self) {
            _ = try AppReportSampler(endpoint: "ipc:///nonexistent-dir-gpulse/x.sock", context: try ZMQContext(), signals: SignalTable())
        }
    }
}

/// A report endpoint in a directory of its own, its sampler, and a PUSH socket connected to it.
struct ReportFixture {
    let dir: URL
    let context: ZMQContext
    let signals = SignalTable()
    let sampler: AppReportSampler
    let push: ZMQSocket

    init() throws {
        dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpulse-app-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let endpoint = "ipc://\(dir.path)/app.sock"
        context = try ZMQContext()
        sampler = try AppReportSampler(endpoint: endpoint, context: context, signals: signals)
        push = try ZMQSocket(context: context, type: .push)
        try push.connect(endpoint)
    }

    func close() {
        push.close()
        sampler.shutdown()
        try? FileManager.default.removeItem(at: dir)
    }
}
