import GPulseScrape
import Testing

/// The text format parser on literal pages: what real endpoints serve, and what a broken or hostile
/// one might.
@Suite struct ExpositionTextTests {
    func parse(_ text: String, limits: ExpositionLimits = .default) throws -> ExpositionPage {
        try ExpositionParser.parse(Array(text.utf8), limits: limits)
    }

    /// A vLLM page in prometheus_client's text format, WRITTEN FROM vLLM's metric definitions (the
    /// names, types and labels, `model_name` and `engine`, of the v1 engine's PrometheusStatLogger in
    /// vllm/v1/metrics/loggers.py; the values are made up), not captured from a running server.
    static let vllmFixture = """
        # HELP vllm:num_requests_running Number of requests in model execution batches.
        # TYPE vllm:num_requests_running gauge
        vllm:num_requests_running{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 12.0
        # HELP vllm:num_requests_waiting Number of requests waiting to be processed.
        # TYPE vllm:num_requests_waiting gauge
        vllm:num_requests_waiting{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 7.0
        # HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
        # TYPE vllm:kv_cache_usage_perc gauge
        vllm:kv_cache_usage_perc{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.83
        # HELP vllm:request_success_total Count of successfully processed requests.
        # TYPE vllm:request_success_total counter
        vllm:request_success_total{engine="0",finished_reason="stop",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1523.0
        vllm:request_success_total{engine="0",finished_reason="length",model_name="meta-llama/Llama-3.1-8B-Instruct"} 77.0
        vllm:request_success_total{engine="0",finished_reason="abort",model_name="meta-llama/Llama-3.1-8B-Instruct"} 0.0
        # HELP vllm:request_success_created Count of successfully processed requests.
        # TYPE vllm:request_success_created gauge
        vllm:request_success_created{engine="0",finished_reason="stop",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1.7332e+09
        # HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
        # TYPE vllm:time_to_first_token_seconds histogram
        vllm:time_to_first_token_seconds_bucket{engine="0",le="0.04",model_name="meta-llama/Llama-3.1-8B-Instruct"} 100.0
        vllm:time_to_first_token_seconds_bucket{engine="0",le="0.1",model_name="meta-llama/Llama-3.1-8B-Instruct"} 900.0
        vllm:time_to_first_token_seconds_bucket{engine="0",le="0.5",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1500.0
        vllm:time_to_first_token_seconds_bucket{engine="0",le="+Inf",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1600.0
        vllm:time_to_first_token_seconds_count{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 1600.0
        vllm:time_to_first_token_seconds_sum{engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"} 192.0

        """

    @Test func aVLLMPageReadsAsItsFamilies() throws {
        let page = try parse(Self.vllmFixture)
        #expect(page.malformedLines == 0, "\(page.firstProblem ?? "")")
        #expect(page.type(of: "vllm:num_requests_waiting") == .gauge && page.type(of: "vllm:time_to_first_token_seconds") == .histogram)
        #expect(page.type(of: "vllm:request_success_total") == .counter && page.type(of: "absent") == .untyped)
        #expect(page.total("vllm:num_requests_waiting") == 7 && page.total("vllm:num_requests_running") == 12)
        #expect(page.total("vllm:request_success_total") == 1600)
        #expect(page.total("vllm:request_success_total", matching: ["finished_reason": "length"]) == 77)
        #expect(page.samples(named: "vllm:kv_cache_usage_perc").first?.label("model_name") == "meta-llama/Llama-3.1-8B-Instruct")
        #expect(page.help["vllm:kv_cache_usage_perc"] == "KV-cache usage. 1 means 100 percent usage.")
        let ttft = try #require(page.histogram("vllm:time_to_first_token_seconds"))
        #expect(ttft.count == 1600 && ttft.sum == 192 && ttft.mean == 0.12)
        #expect(ttft.buckets.map(\.upperBound) == [0.04, 0.1, 0.5, .infinity])
        // The median's rank, 800, falls in (0.04, 0.1]: 700 of its 800 observations below it.
        #expect(abs(ttft.quantile(0.5)! - (0.04 + 0.06 * 700 / 800)) < 1e-12)
        // The 99th percentile's rank (1584) is in the +Inf bucket: the highest finite bound.
        #expect(ttft.quantile(0.99) == 0.5)
    }

    @Test func escapesSpecialValuesTimestampsAndOpenMetrics() throws {
        let page = try parse(
            """
            # HELP weird A help with a \\\\ backslash and a \\n newline.
            # TYPE weird gauge
            weird{path="C:\\\\dir",quote="say \\"hi\\"",multi="a\\nb",}\t+Inf
            weird{path="x"} -Inf 1700000000000
            weird NaN
            spaced { a = "1" , b="2" } 3e-2 1700000000.5 # {trace_id="abc"} 1.0 1700000000.1
            untimed 42 # {trace_id="abc"} 2.0
            # a comment that is not HELP or TYPE
            # EOF
            after_eof 1
            """)
        #expect(page.malformedLines == 0, "\(page.firstProblem ?? "")")
        #expect(page.sawEOF && page.samples.count == 5 && page.samples.allSatisfy { $0.name != "after_eof" })
        #expect(page.help["weird"] == "A help with a \\ backslash and a \n newline.")
        let first = page.samples[0]
        #expect(first.label("path") == "C:\\dir" && first.label("quote") == "say \"hi\"" && first.label("multi") == "a\nb")
        #expect(first.value == .infinity && page.samples[1].value == -.infinity && page.samples[2].value.isNaN)
        #expect(page.samples[1].timestampMillis == 1_700_000_000_000 && first.timestampMillis == nil)
        #expect(page.samples[3].labels == [.init("a", "1"), .init("b", "2")] && page.samples[3].value == 0.03)
        #expect(page.samples[3].timestampMillis == 1_700_000_000_500)
        #expect(page.samples[4].value == 42 && page.samples[4].timestampMillis == nil)
        // A sum with a NaN in it is no number.
        #expect(page.total("weird") == nil && page.total("untimed") == 42)
    }

    @Test func crlfAndBlankLinesAreFine() throws {
        let page = try parse("# TYPE a counter\r\n\r\na_total 5\r\n   \n\tb 1\n")
        #expect(page.malformedLines == 0 && page.samples.map(\.name) == ["a_total", "b"] && page.type(of: "a") == .counter)
    }

    @Test func badLinesAreSkippedAndCountedTheRestIsRead() throws {
        let page = try parse(
            """
            good 1
            9starts_with_a_digit 1
            no_value
            bad_value{a="1"} twelve
            open{a="1" 2
            unquoted{a=1} 2
            trailing 1 2 3
            bad_ts 1 soon
            # TYPE x sometype
            good 2
            """)
        #expect(page.samples.map(\.value) == [1, 2] && page.malformedLines == 8)
        #expect(page.firstProblem == "line 2: not a metric name", "\(page.firstProblem ?? "")")
    }

    @Test func pageWideLimitsRefuseTheWholePage() throws {
        var limits = ExpositionLimits()
        limits.maxBytes = 100
        #expect(throws: ExpositionError.tooLarge(bytes: 101, limit: 100)) { try parse(String(repeating: "x", count: 101), limits: limits) }
        limits = ExpositionLimits()
        limits.maxSamples = 3
        #expect(throws: ExpositionError.tooManySamples(limit: 3)) { try parse("a 1\na 2\na 3\na 4\n", limits: limits) }
        limits = ExpositionLimits()
        limits.maxLineBytes = 26
        limits.maxLabels = 2
        let page = try parse("short 1\nthis_line_is_far_too_long 1\nl{a=\"1\",b=\"2\",c=\"3\"} 1\n", limits: limits)
        #expect(page.samples.map(\.name) == ["short"] && page.malformedLines == 2)
    }

    @Test func garbageNeverCrashes() throws {
        // Bytes that are not UTF-8, NULs, lone quotes and braces: skipped, never a trap.
        var bytes: [UInt8] = Array("ok 1\n".utf8)
        bytes += [0xff, 0xfe, 0x00, 0x0a, 0x7b, 0x22, 0x0a, 0x5c, 0x0a, 0x61, 0x7b, 0x62, 0x3d, 0x22, 0x5c]
        bytes += Array("\nlast{x=\"\u{00e9}\"} 2\n".utf8)
        let page = try ExpositionParser.parse(bytes)
        #expect(page.samples.map(\.name) == ["ok", "last"] && page.samples[1].label("x") == "\u{00e9}")
        #expect(page.malformedLines == 4)
    }
}

@Suite struct HistogramAndCounterTests {
    func histogram(_ counts: [Double], sum: Double) -> ScrapedHistogram {
        ScrapedHistogram(
            buckets: zip([0.1, 1, .infinity], counts).map { .init(upperBound: $0, count: $1) }, sum: sum, count: counts.last ?? 0)
    }

    @Test func aWindowIsTheDifferenceOfTwoScrapes() throws {
        let earlier = histogram([10, 20, 20], sum: 5)
        let later = histogram([10, 30, 40], sum: 35)
        let window = try #require(later.since(earlier))
        #expect(window.count == 20 && window.sum == 30 && window.mean == 1.5)
        #expect(window.buckets.map(\.count) == [0, 10, 20])
        // Half the window's observations are at or below 1 s; the 99th percentile is past the last bound.
        #expect(window.quantile(0.5) == 1 && window.quantile(0.99) == 1)
        #expect(later.since(nil) == later)
    }

    @Test func aResetStartsOverAndChangedBucketsGiveNothing() {
        let before = histogram([100, 200, 300], sum: 90)
        let restarted = histogram([1, 2, 2], sum: 0.5)
        #expect(restarted.since(before) == restarted)
        let rebucketed = ScrapedHistogram(buckets: [.init(upperBound: 0.5, count: 400), .init(upperBound: .infinity, count: 400)], sum: 100, count: 400)
        #expect(rebucketed.since(before) == nil)
        let broken = histogram([90, 250, 350], sum: 95)
        #expect(broken.since(before) == nil, "a bucket that fell while the count rose is no difference")
        #expect(histogram([0, 0, 0], sum: 0).quantile(0.5) == nil && histogram([0, 0, 0], sum: 0).mean == nil)
    }

    @Test func histogramsAddUpAcrossLabelSetsAndRefuseNaN() throws {
        let page = try ExpositionParser.parse(
            Array(
                """
                lat_bucket{m="a",le="1"} 2
                lat_bucket{m="a",le="+Inf"} 4
                lat_bucket{m="b",le="1"} 1
                lat_bucket{m="b",le="+Inf"} 1
                lat_sum{m="a"} 6
                lat_sum{m="b"} 0.5
                lat_count{m="a"} 4
                lat_count{m="b"} 1
                nan_bucket{le="1"} NaN
                nan_bucket{le="+Inf"} 1
                nan_sum 1
                nan_count 1
                """.utf8))
        let both = try #require(page.histogram("lat"))
        #expect(both.count == 5 && both.sum == 6.5 && both.buckets.map(\.count) == [3, 5])
        #expect(page.histogram("lat", matching: ["m": "b"])?.count == 1)
        #expect(page.histogram("nan") == nil && page.histogram("absent") == nil)
    }

    @Test func countersBecomeRatesAndResetsAreCounted() {
        var rate = CounterRate()
        #expect(rate.update(100, atSeconds: 10) == nil)
        #expect(rate.update(130, atSeconds: 13) == 10)
        #expect(rate.update(6, atSeconds: 15) == 3 && rate.resets == 1, "after a restart the new count is what happened since")
        #expect(rate.update(6, atSeconds: 15) == nil, "no time passed")
        #expect(rate.update(.nan, atSeconds: 16) == nil && rate.update(-1, atSeconds: 17) == nil)
        #expect(rate.update(16, atSeconds: 20) == 2)
    }
}
