import GPulseAgent
import GPulseCore
import Testing

@Suite struct ProcStatParserTests {
    func parse(_ text: String) -> CPUTimes? {
        Array(text.utf8).withUnsafeBytes { ProcStatParser.totalCPU($0) }
    }

    @Test func readsTheAggregateLine() {
        let t = parse("cpu  13598 7 2661 113593 530 1 45 22 0 0\ncpu0 5237 0 1189 58725 28 0 15 11 0 0\n")
        #expect(t == CPUTimes(user: 13598, nice: 7, system: 2661, idle: 113593, iowait: 530, irq: 1, softirq: 45, steal: 22))
        #expect(t?.total == 13598 + 7 + 2661 + 113593 + 530 + 1 + 45 + 22)
    }

    @Test func oldKernelsWithFourFieldsStillParse() {
        #expect(parse("cpu 1 2 3 4\n") == CPUTimes(user: 1, nice: 2, system: 3, idle: 4))
    }

    @Test func rejectsMissingOrBrokenLines() {
        #expect(parse("") == nil)
        #expect(parse("intr 1 2 3\nctxt 5\n") == nil)
        #expect(parse("cpu  1 2\n") == nil)
        #expect(parse("cpu  1 x 3 4\n") == nil)
    }

    @Test func listsPerCoreLines() {
        var seen: [Int?] = []
        Array("cpu  1 1 1 1\ncpu0 1 1 1 1\ncpu1 2 2 2 2\nintr 5\n".utf8).withUnsafeBytes { raw in
            ProcStatParser.forEachCPULine(raw) { index, _ in
                seen.append(index)
                return true
            }
        }
        #expect(seen == [nil, 0, 1])
    }

    @Test func utilizationBetweenReadings() {
        let a = CPUTimes(user: 100, nice: 0, system: 0, idle: 100, iowait: 0)
        let b = CPUTimes(user: 150, nice: 0, system: 10, idle: 130, iowait: 10)
        let u = CPUUtilization.between(a, b)
        #expect(u == CPUUtilization(busy: 0.6, iowait: 0.1))
        #expect(CPUUtilization.between(a, a) == nil, "no time passed: no value")
        #expect(CPUUtilization.between(b, a) == nil, "counters went backwards: no value")
    }
}

@Suite struct CPUSamplerTests {
    /// `t` in seconds of a made-up monotonic clock.
    func run(_ sampler: CPUSampler, ring: SampleRing, at t: UInt64) throws -> [Sample] {
        var sink = SampleSink(ring: ring, monotonicNanos: t * 1_000_000_000)
        try sampler.sample(into: &sink)
        var out: [Sample] = []
        ring.drain(into: &out)
        return out
    }

    @Test func deltaBetweenTwoSnapshots() throws {
        let fixture = try ProcfsFixture("cpu-steady")
        let signals = SignalTable()
        let ring = SampleRing(capacity: 16)
        let sampler = try CPUSampler(procRoot: fixture.path, signals: signals)
        #expect(try run(sampler, ring: ring, at: 1).isEmpty, "first reading is only a baseline")
        try fixture.advance(to: "proc1")
        let samples = try run(sampler, ring: ring, at: 2)
        let byKind = Dictionary(uniqueKeysWithValues: samples.map { (signals.entry($0.signal)!.kind, $0.value) })
        #expect(byKind == [.cpuUtil: 0.6, .cpuIOWait: 0.1])
        #expect(samples.allSatisfy { $0.monotonicNanos == 2_000_000_000 })
    }

    @Test func readsAtMostOncePerKernelTick() throws {
        let fixture = try ProcfsFixture("cpu-steady")
        let ring = SampleRing(capacity: 16)
        let sampler = try CPUSampler(procRoot: fixture.path, signals: SignalTable())
        var sink = SampleSink(ring: ring, monotonicNanos: 1_000_000_000)
        try sampler.sample(into: &sink)
        try fixture.advance(to: "proc1")
        sink = SampleSink(ring: ring, monotonicNanos: 1_002_000_000)  // 2 ms later: the file is not read
        try sampler.sample(into: &sink)
        #expect(ring.count == 0)
        sink = SampleSink(ring: ring, monotonicNanos: 1_010_000_000)  // one 10 ms tick later: it is
        try sampler.sample(into: &sink)
        #expect(ring.count == 2)
    }

    @Test func counterResetYieldsNoValueThenRecovers() throws {
        let fixture = try ProcfsFixture("cpu-counter-reset")
        let ring = SampleRing(capacity: 16)
        let sampler = try CPUSampler(procRoot: fixture.path, signals: SignalTable())
        _ = try run(sampler, ring: ring, at: 1)
        try fixture.advance(to: "proc1")
        #expect(try run(sampler, ring: ring, at: 2).isEmpty)
        // The reset reading became the new baseline: the same file again means no time passed.
        #expect(try run(sampler, ring: ring, at: 3).isEmpty)
    }

    @Test func truncatedFileIsAnErrorNotACrash() throws {
        let fixture = try ProcfsFixture("cpu-truncated")
        let sampler = try CPUSampler(procRoot: fixture.path, signals: SignalTable())
        #expect(throws: ProcFileError.unparsable(path: fixture.path + "/stat", why: "no aggregate cpu line")) {
            _ = try run(sampler, ring: SampleRing(capacity: 4), at: 1)
        }
    }

    @Test func missingProcfsIsAClearError() {
        #expect(throws: ProcFileError.cannotOpen(path: "/nonexistent-gpulse/stat", errno: 2)) {
            _ = try CPUSampler(procRoot: "/nonexistent-gpulse", signals: SignalTable())
        }
    }

    @Test func realProcStatYieldsFractions() throws {
        let ring = SampleRing(capacity: 16)
        let sampler = try CPUSampler(procRoot: "/proc", signals: SignalTable())
        var sink = SampleSink(ring: ring, monotonicNanos: SystemClock.monotonicNanos())
        try sampler.sample(into: &sink)
        // Burn CPU for a few clock ticks so the counters move.
        var x = 0.0
        let end = SystemClock.monotonicNanos() + 60_000_000
        while SystemClock.monotonicNanos() < end { x += 1 }
        sink = SampleSink(ring: ring, monotonicNanos: SystemClock.monotonicNanos())
        try sampler.sample(into: &sink)
        var samples: [Sample] = []
        ring.drain(into: &samples)
        #expect(x > 0)
        #expect(samples.count == 2)
        #expect(samples.allSatisfy { (0...1).contains($0.value) })
    }
}
