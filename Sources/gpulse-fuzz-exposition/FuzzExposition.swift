// The Prometheus text format parser under libFuzzer: every input is what an inference server (or
// anything listening on the port the agent scrapes) might serve on /metrics. Built like
// gpulse-fuzz-decoder:
//
//   make fuzz   (-sanitize=fuzzer, -DFUZZING): libFuzzer's driver mutates the seeds in fuzz/exposition-corpus.
//   swift build (plain): `gpulse-fuzz-exposition FILE...` replays saved pages.
//
// The property: parsing, and reading counters, gauges and histograms out of what was parsed, never
// crash or trap, and what is read obeys the page's limits and the histogram's invariants.
#if canImport(Glibc)
import Glibc
#endif
import GPulseFuzzSupport
import GPulseScrape

let limits = {
    var l = ExpositionLimits()
    l.maxBytes = 1 << 20
    l.maxSamples = 10_000
    return l
}()
/// The previous input's page, so that `since` sees pairs of scrapes (resets, rebucketing) too.
nonisolated(unsafe) var previous: ScrapedHistogram?

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> CInt {
    check(Array(UnsafeBufferPointer(start: data, count: size)))
    return 0
}

func check(_ body: [UInt8]) {
    guard let page = try? ExpositionParser.parse(body, limits: limits) else { return }
    precondition(page.samples.count <= limits.maxSamples, "more samples than the limit")
    precondition(page.samples.allSatisfy { $0.labels.count <= limits.maxLabels && !$0.name.isEmpty }, "a sample past the label limit or unnamed")
    var rate = CounterRate()
    for (i, sample) in page.samples.prefix(64).enumerated() {
        _ = page.total(sample.name)
        _ = rate.update(sample.value, atSeconds: Double(i))
        for suffix in ["_bucket", "_sum", "_count"] where sample.name.hasSuffix(suffix) {
            guard let h = page.histogram(String(sample.name.dropLast(suffix.count))) else { continue }
            precondition(zip(h.buckets, h.buckets.dropFirst()).allSatisfy { $0.upperBound <= $1.upperBound }, "buckets out of order")
            if let window = h.since(previous) {
                precondition(window.buckets.allSatisfy { $0.count >= 0 }, "a window with a negative bucket")
                for q in [0, 0.5, 0.99, 1] { _ = window.quantile(q) }
                _ = window.mean
            }
            previous = h
        }
    }
}

@main
struct FuzzExposition {
    static func main() { runFuzzTarget(name: "gpulse-fuzz-exposition", usage: "replays pages", test: fuzzOne) { check($0) } }
}
