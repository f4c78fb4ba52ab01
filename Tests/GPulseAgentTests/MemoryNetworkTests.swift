import GPulseAgent
import GPulseCore
import Testing

func collect(_ sampler: any Sampler, _ ring: SampleRing, at t: UInt64, _ signals: SignalTable) throws -> [String: Float] {
    var sink = SampleSink(ring: ring, monotonicNanos: t)
    try sampler.sample(into: &sink)
    var out: [Sample] = []
    ring.drain(into: &out)
    var values: [String: Float] = [:]
    for s in out {
        let e = signals.entry(s.signal)!
        values[e.subject.isEmpty ? e.kind.name : "\(e.kind.name)[\(e.subject)]"] = s.value
    }
    return values
}

@Suite struct MemInfoTests {
    func parse(_ text: String) -> MemInfoParser.Reading? { Array(text.utf8).withUnsafeBytes { MemInfoParser.parse($0) } }

    @Test func usesMemAvailable() {
        let r = parse("MemTotal:       1000 kB\nMemFree:    100 kB\nMemAvailable:     250 kB\nCached: 50 kB\n")
        #expect(r == MemInfoParser.Reading(totalKiB: 1000, availableKiB: 250))
        #expect(r?.usedFraction == 0.75)
    }

    @Test func oldKernelsFallBackToFreePlusBuffersPlusCached() {
        let r = parse("MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 250 kB\nSwapCached: 999 kB\n")
        #expect(r?.availableKiB == 400)
    }

    @Test func missingTotalIsNil() {
        #expect(parse("MemFree: 1 kB\n") == nil)
        #expect(parse("") == nil)
    }

    @Test func samplerReadsFixture() throws {
        let fixture = try ProcfsFixture("meminfo")
        let signals = SignalTable()
        let sampler = try MemorySampler(procRoot: fixture.path, signals: signals)
        #expect(try collect(sampler, SampleRing(capacity: 4), at: 1, signals) == ["mem_used_frac": 0.75])
    }
}

@Suite struct NetDevTests {
    @Test func parsesInterfaceLinesAndSkipsHeaders() {
        let text = """
            Inter-|   Receive                                                |  Transmit
             face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed
              eth0: 123 4 0 0 0 0 0 0 456 7 0 0 0 0 0 0
            veth-a1:9 1 0 0 0 0 0 0 8 1 0 0 0 0 0 0
              bad0: 1 2 3
            """
        var seen: [String] = []
        Array(text.utf8).withUnsafeBytes { raw in
            NetDevParser.forEachInterface(raw) { name, rx, tx in seen.append("\(String(decoding: name, as: UTF8.self)) \(rx) \(tx)") }
        }
        #expect(seen == ["eth0 123 456", "veth-a1 9 8"])
    }

    @Test func deltaHandles32BitWrapAndResets() {
        #expect(NetDevParser.delta(previous: 100, current: 350) == 250)
        #expect(NetDevParser.delta(previous: 4_294_967_000, current: 704) == 1000)
        #expect(NetDevParser.delta(previous: 10_000_000_000, current: 5) == nil, "64-bit counter reset: no value")
    }

    @Test func ratesWrapAndInterfacesComingAndGoing() throws {
        let fixture = try ProcfsFixture("net-hotplug")
        let signals = SignalTable()
        let ring = SampleRing(capacity: 64)
        let sampler = try NetworkSampler(procRoot: fixture.path, signals: signals)
        #expect(try collect(sampler, ring, at: 1_000_000_000, signals).isEmpty, "first reading is a baseline")

        try fixture.advance(to: "proc1")
        #expect(try collect(sampler, ring, at: 2_000_000_000, signals) == [
            "net_rx_bps[eth0]": 500_000, "net_tx_bps[eth0]": 250_000,
            "net_rx_bps[eth1]": 1000, "net_tx_bps[eth1]": 200,  // rx wrapped at 2^32
        ])

        try fixture.advance(to: "proc2")  // eth0 removed, ib0 added
        #expect(try collect(sampler, ring, at: 3_000_000_000, signals) == ["net_rx_bps[eth1]": 1000, "net_tx_bps[eth1]": 1000])

        try fixture.advance(to: "proc1")  // eth0 back: a fresh baseline, not a rate across its absence
        let back = try collect(sampler, ring, at: 4_000_000_000, signals)
        #expect(back["net_rx_bps[eth0]"] == nil)
        #expect(back["net_rx_bps[ib0]"] == nil)
    }

    @Test func configuredInterfacesOnly() throws {
        let fixture = try ProcfsFixture("net-hotplug")
        let signals = SignalTable()
        let ring = SampleRing(capacity: 64)
        let sampler = try NetworkSampler(procRoot: fixture.path, interfaces: ["lo"], signals: signals)
        _ = try collect(sampler, ring, at: 1_000_000_000, signals)
        try fixture.advance(to: "proc1")
        #expect(try collect(sampler, ring, at: 2_000_000_000, signals) == ["net_rx_bps[lo]": 100_000, "net_tx_bps[lo]": 100_000])
    }

    @Test func perCoreCPUFollowsHotPlug() throws {
        let fixture = try ProcfsFixture("cpu-counter-reset")
        let signals = SignalTable()
        let ring = SampleRing(capacity: 64)
        let sampler = try CPUSampler(procRoot: fixture.path, perCore: true, signals: signals)
        _ = try collect(sampler, ring, at: 1_000_000_000, signals)
        try fixture.advance(to: "proc1")  // cpu1 went offline; cpu0 advanced by 1+1+75+1 ticks
        let values = try collect(sampler, ring, at: 2_000_000_000, signals)
        #expect(values["cpu_util[cpu1]"] == nil)
        #expect(values["cpu_util[cpu0]"] == Float(2.0 / 78.0))
        #expect(values["cpu_util"] == nil, "aggregate idle went backwards: no value")
    }
}
