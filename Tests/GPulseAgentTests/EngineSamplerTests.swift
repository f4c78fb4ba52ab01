import GPulseConfig
import GPulseScrape
import Testing

@testable import GPulseAgent

/// Two scrapes of a vLLM V1 page, written from vLLM's PrometheusStatLogger definitions (metric names
/// and types as vllm/v1/metrics/loggers.py declares them; the values are made up for the test).
private func vllmPage(waiting: Int, running: Int, success: (stop: Int, length: Int), e2e: (sum: Double, count: Int), inference: (sum: Double, count: Int)) -> [UInt8] {
    Array("""
        # HELP vllm:num_requests_running Number of requests in model execution batches.
        # TYPE vllm:num_requests_running gauge
        vllm:num_requests_running{engine="0",model_name="m"} \(running)
        # HELP vllm:num_requests_waiting Number of requests waiting to be processed.
        # TYPE vllm:num_requests_waiting gauge
        vllm:num_requests_waiting{engine="0",model_name="m"} \(waiting)
        # HELP vllm:request_success_total Count of successfully processed requests.
        # TYPE vllm:request_success_total counter
        vllm:request_success_total{engine="0",finished_reason="stop",model_name="m"} \(success.stop)
        vllm:request_success_total{engine="0",finished_reason="length",model_name="m"} \(success.length)
        # HELP vllm:e2e_request_latency_seconds Histogram of e2e request latency in seconds.
        # TYPE vllm:e2e_request_latency_seconds histogram
        vllm:e2e_request_latency_seconds_bucket{engine="0",le="1.0",model_name="m"} 0
        vllm:e2e_request_latency_seconds_bucket{engine="0",le="+Inf",model_name="m"} \(e2e.count)
        vllm:e2e_request_latency_seconds_sum{engine="0",model_name="m"} \(e2e.sum)
        vllm:e2e_request_latency_seconds_count{engine="0",model_name="m"} \(e2e.count)
        # HELP vllm:request_inference_time_seconds Histogram of time spent in RUNNING phase for request.
        # TYPE vllm:request_inference_time_seconds histogram
        vllm:request_inference_time_seconds_bucket{engine="0",le="+Inf",model_name="m"} \(inference.count)
        vllm:request_inference_time_seconds_sum{engine="0",model_name="m"} \(inference.sum)
        vllm:request_inference_time_seconds_count{engine="0",model_name="m"} \(inference.count)

        """.utf8)
}

@Suite struct EngineReaderTests {
    @Test func ratesAndWindowMeansComeFromTwoScrapes() throws {
        var reader = EngineReader(metrics: .vllm)
        let first = try reader.read(
            ExpositionParser.parse(vllmPage(waiting: 2, running: 8, success: (90, 10), e2e: (300, 100), inference: (200, 100))), atSeconds: 10)
        // One scrape: gauges, but no rate and no window yet (nothing is made up).
        #expect(first.waiting == 2 && first.running == 8)
        #expect(first.completionsPerSecond == nil && first.arrivalsPerSecond == nil && first.latencySeconds == nil)
        // 2 s later: 20 more finished (10/s); waiting + running grew by 4 (2/s), so 12 arrived per second.
        let second = try reader.read(
            ExpositionParser.parse(vllmPage(waiting: 4, running: 10, success: (105, 15), e2e: (380, 120), inference: (230, 120))), atSeconds: 12)
        #expect(second.completionsPerSecond == 10)
        #expect(second.arrivalsPerSecond == 12 && !second.arrivalsCounted)
        #expect(second.latencySeconds == 4)  // (380 - 300) / (120 - 100)
        #expect(second.serviceSeconds == 1.5)  // (230 - 200) / 20
        // The engine restarted: counters start again; the rate counts what the new process counted.
        let third = try reader.read(
            ExpositionParser.parse(vllmPage(waiting: 0, running: 1, success: (3, 1), e2e: (8, 4), inference: (4, 4))), atSeconds: 14)
        #expect(third.completionsPerSecond == 2 && reader.resets == 1)
        // A queue that drains faster than requests finish: arrivals never read below 0.
        #expect(third.arrivalsPerSecond == 0)
    }

    @Test func aPageWithoutTheMappedMetricsIsAnError() throws {
        var reader = EngineReader(metrics: .vllm)
        let other = try ExpositionParser.parse(Array("# TYPE node_load1 gauge\nnode_load1 0.5\n".utf8))
        #expect(throws: EngineError.self) { try reader.read(other, atSeconds: 1) }
    }

    @Test func aGenericMappingReadsCountedArrivals() throws {
        let (metrics, unknown) = EnginePreset.generic.metrics.overridden(by: ["waiting": "q", "arrivals": "arrived_total", "completions": "done_total"])
        #expect(unknown == nil)
        var reader = EngineReader(metrics: metrics)
        _ = try reader.read(ExpositionParser.parse(Array("q 3\narrived_total 100\ndone_total 90\n".utf8)), atSeconds: 0)
        let r = try reader.read(ExpositionParser.parse(Array("q 5\narrived_total 150\ndone_total 130\n".utf8)), atSeconds: 10)
        #expect(r.arrivalsPerSecond == 5 && r.arrivalsCounted && r.completionsPerSecond == 4 && r.waiting == 5 && r.running == nil)
        #expect(EngineMetrics.vllm.overridden(by: ["queue": "x"]).unknownRole == "queue")
    }
}

/// vLLM's KV cache, time-to-first-token and token families (vllm/v1/metrics/loggers.py; values made up).
private func vllmTokensPage(kv: Double, ttft: [(le: String, count: Int)], ttftSum: Double, tokens: Int) -> [UInt8] {
    let buckets = ttft.map { #"vllm:time_to_first_token_seconds_bucket{engine="0",le="\#($0.le)",model_name="m"} \#($0.count)"# }
    return Array("""
        # HELP vllm:kv_cache_usage_perc KV-cache usage. 1 means 100 percent usage.
        # TYPE vllm:kv_cache_usage_perc gauge
        vllm:kv_cache_usage_perc{engine="0",model_name="m"} \(kv)
        # HELP vllm:time_to_first_token_seconds Histogram of time to first token in seconds.
        # TYPE vllm:time_to_first_token_seconds histogram
        \(buckets.joined(separator: "\n"))
        vllm:time_to_first_token_seconds_sum{engine="0",model_name="m"} \(ttftSum)
        vllm:time_to_first_token_seconds_count{engine="0",model_name="m"} \(ttft.last!.count)
        # HELP vllm:generation_tokens_total Number of generation tokens processed.
        # TYPE vllm:generation_tokens_total counter
        vllm:generation_tokens_total{engine="0",model_name="m"} \(tokens)

        """.utf8)
}

/// An SGLang page written from its metric definitions (python/sglang/srt/metrics/collector.py and
/// docs/references/production_metrics.md: names, types, the model_name label; values made up).
private func sglangPage(queue: Int, running: Int, finished: Int, usage: Double, tokens: Int, e2e: (sum: Double, count: Int)) -> [UInt8] {
    Array("""
        # HELP sglang:num_running_reqs The number of running requests
        # TYPE sglang:num_running_reqs gauge
        sglang:num_running_reqs{model_name="m"} \(running)
        # HELP sglang:num_queue_reqs The number of requests in the waiting queue
        # TYPE sglang:num_queue_reqs gauge
        sglang:num_queue_reqs{model_name="m"} \(queue)
        # HELP sglang:token_usage The token usage
        # TYPE sglang:token_usage gauge
        sglang:token_usage{model_name="m"} \(usage)
        # HELP sglang:num_requests_total Number of requests processed.
        # TYPE sglang:num_requests_total counter
        sglang:num_requests_total{model_name="m"} \(finished)
        # HELP sglang:generation_tokens_total Number of generation tokens processed.
        # TYPE sglang:generation_tokens_total counter
        sglang:generation_tokens_total{model_name="m"} \(tokens)
        # HELP sglang:e2e_request_latency_seconds Histogram of End-to-end request latency in seconds
        # TYPE sglang:e2e_request_latency_seconds histogram
        sglang:e2e_request_latency_seconds_bucket{le="+Inf",model_name="m"} \(e2e.count)
        sglang:e2e_request_latency_seconds_sum{model_name="m"} \(e2e.sum)
        sglang:e2e_request_latency_seconds_count{model_name="m"} \(e2e.count)

        """.utf8)
}

/// A TGI router page written from its metric definitions (router/src/server.rs: the `metrics` crate's
/// names, counters without `_total`, histograms in seconds; values made up).
private func tgiPage(queue: Int, batch: Int, count: Int, success: Int, tokens: Double, duration: (sum: Double, count: Int)) -> [UInt8] {
    Array("""
        # TYPE tgi_queue_size gauge
        tgi_queue_size \(queue)
        # TYPE tgi_batch_current_size gauge
        tgi_batch_current_size \(batch)
        # TYPE tgi_request_count counter
        tgi_request_count \(count)
        # TYPE tgi_request_success counter
        tgi_request_success \(success)
        # TYPE tgi_request_duration histogram
        tgi_request_duration_bucket{le="+Inf"} \(duration.count)
        tgi_request_duration_sum \(duration.sum)
        tgi_request_duration_count \(duration.count)
        # TYPE tgi_request_generated_tokens histogram
        tgi_request_generated_tokens_bucket{le="+Inf"} \(duration.count)
        tgi_request_generated_tokens_sum \(tokens)
        tgi_request_generated_tokens_count \(duration.count)

        """.utf8)
}

/// A Triton page written from its metric definitions (docs/user_guide/metrics.md: per-model counters,
/// latencies as cumulative microseconds, the pending-request gauge; values made up).
private func tritonPage(pending: Int, success: Int, requestUs: Int, queueUs: Int) -> [UInt8] {
    Array("""
        # HELP nv_inference_request_success Number of successful inference requests, all batch sizes
        # TYPE nv_inference_request_success counter
        nv_inference_request_success{model="resnet",version="1"} \(success)
        # HELP nv_inference_request_duration_us Cumulative inference request duration in microseconds (includes cached requests)
        # TYPE nv_inference_request_duration_us counter
        nv_inference_request_duration_us{model="resnet",version="1"} \(requestUs)
        # HELP nv_inference_queue_duration_us Cumulative inference queuing duration in microseconds (includes cached requests)
        # TYPE nv_inference_queue_duration_us counter
        nv_inference_queue_duration_us{model="resnet",version="1"} \(queueUs)
        # HELP nv_inference_pending_request_count Instantaneous number of pending requests awaiting execution per-model.
        # TYPE nv_inference_pending_request_count gauge
        nv_inference_pending_request_count{model="resnet",version="1"} \(pending)

        """.utf8)
}

@Suite struct EnginePresetTests {
    @Test func tritonMeansComeFromSummedMicroseconds() throws {
        var reader = EngineReader(metrics: EnginePreset.triton.metrics)
        let first = try reader.read(ExpositionParser.parse(tritonPage(pending: 2, success: 100, requestUs: 5_000_000, queueUs: 1_000_000)), atSeconds: 0)
        #expect(first.waiting == 2 && first.latencySeconds == nil, "one reading: no interval yet")
        // 40 finished in 2 s, 2 s of request time and 0.4 s of it queued: 50 ms each, 40 ms served.
        let r = try reader.read(ExpositionParser.parse(tritonPage(pending: 3, success: 140, requestUs: 7_000_000, queueUs: 1_400_000)), atSeconds: 2)
        #expect(r.completionsPerSecond == 20 && r.waiting == 3)
        #expect(abs((r.latencySeconds ?? 0) - 0.05) < 1e-12 && abs((r.serviceSeconds ?? 0) - 0.04) < 1e-12)
        #expect(r.running == nil && r.arrivalsPerSecond == nil, "no running gauge: arrivals are not derived")
        // Nothing finished: no mean, rather than a division by zero.
        let idle = try reader.read(ExpositionParser.parse(tritonPage(pending: 0, success: 140, requestUs: 7_000_000, queueUs: 1_400_000)), atSeconds: 4)
        #expect(idle.latencySeconds == nil && idle.serviceSeconds == nil)
    }

    @Test func vllmGivesKVCacheTimeToFirstTokenAndTokens() throws {
        var reader = EngineReader(metrics: .vllm)
        _ = try reader.read(
            ExpositionParser.parse(vllmTokensPage(kv: 0.4, ttft: [("0.1", 10), ("0.5", 20), ("+Inf", 20)], ttftSum: 3, tokens: 1000)), atSeconds: 0)
        // 20 more first tokens in 2 s: 10 under 0.1 s, 10 in (0.1, 0.5]; 19 above the 0.95 rank's 1st.
        let r = try reader.read(
            ExpositionParser.parse(vllmTokensPage(kv: 0.55, ttft: [("0.1", 20), ("0.5", 40), ("+Inf", 40)], ttftSum: 9, tokens: 1600)), atSeconds: 2)
        #expect(r.kvCacheUsage == 0.55)
        #expect(r.ttftSeconds == 0.3)  // (9 - 3) / 20
        // rank 0.95 × 20 = 19: 9 into the (0.1, 0.5] bucket's 10 → 0.1 + 0.4 × 0.9
        #expect(abs((r.ttftP95Seconds ?? 0) - 0.46) < 1e-9)
        #expect(r.generatedTokensPerSecond == 300)
    }

    @Test func sglangPresetReadsItsOwnNames() throws {
        var reader = EngineReader(metrics: EnginePreset.sglang.metrics)
        _ = try reader.read(ExpositionParser.parse(sglangPage(queue: 10, running: 30, finished: 500, usage: 0.7, tokens: 10_000, e2e: (1000, 500))), atSeconds: 0)
        let r = try reader.read(
            ExpositionParser.parse(sglangPage(queue: 14, running: 30, finished: 540, usage: 0.8, tokens: 14_000, e2e: (1100, 540))), atSeconds: 4)
        #expect(r.waiting == 14 && r.running == 30 && r.kvCacheUsage == 0.8)
        #expect(r.completionsPerSecond == 10 && r.arrivalsPerSecond == 11 && !r.arrivalsCounted)  // 10 + 4/4
        #expect(r.latencySeconds == 2.5 && r.generatedTokensPerSecond == 1000)
        #expect(r.serviceSeconds == nil && r.ttftSeconds == nil, "families SGLang's page did not have")
    }

    @Test func tgiPresetCountsArrivalsAndTokensFromAHistogramSum() throws {
        var reader = EngineReader(metrics: EnginePreset.tgi.metrics)
        _ = try reader.read(ExpositionParser.parse(tgiPage(queue: 3, batch: 8, count: 200, success: 190, tokens: 50_000, duration: (400, 190))), atSeconds: 0)
        let r = try reader.read(
            ExpositionParser.parse(tgiPage(queue: 5, batch: 8, count: 230, success: 210, tokens: 56_000, duration: (460, 210))), atSeconds: 2)
        #expect(r.waiting == 5 && r.running == 8)
        #expect(r.arrivalsPerSecond == 15 && r.arrivalsCounted && r.completionsPerSecond == 10)
        #expect(r.latencySeconds == 3 && r.generatedTokensPerSecond == 3000)
        #expect(r.kvCacheUsage == nil && r.ttftSeconds == nil)
    }

    @Test func vllmsV0KVCacheNameIsReadToo() throws {
        // vLLM's V0 engine (vllm/engine/metrics.py) names the gauge gpu_cache_usage_perc; values made up.
        var reader = EngineReader(metrics: .vllm)
        let v0 = "# TYPE vllm:gpu_cache_usage_perc gauge\nvllm:gpu_cache_usage_perc{model_name=\"m\"} 0.62\nvllm:num_requests_waiting{model_name=\"m\"} 1\n"
        let r = try reader.read(ExpositionParser.parse(Array(v0.utf8)), atSeconds: 0)
        #expect(r.kvCacheUsage == 0.62 && r.waiting == 1)
        // A page with both takes the V1 name, the first listed.
        let both = v0 + "vllm:kv_cache_usage_perc{model_name=\"m\"} 0.3\n"
        #expect(try reader.read(ExpositionParser.parse(Array(both.utf8)), atSeconds: 1).kvCacheUsage == 0.3)
        #expect(EngineMetrics.vllm.families.contains("vllm:gpu_cache_usage_perc") && !EngineMetrics.vllm.families.contains { $0.contains("|") })
    }

    @Test func aKVCacheShareOutsideZeroToOneIsRefusedNotRescaled() throws {
        var reader = EngineReader(metrics: .vllm)
        let r = try reader.read(ExpositionParser.parse(vllmTokensPage(kv: 55, ttft: [("+Inf", 0)], ttftSum: 0, tokens: 0)), atSeconds: 0)
        #expect(r.kvCacheUsage == nil && r.rejected == 1)
    }
}

@Suite struct EngineConfigTests {
    @Test func pageURLsAreHTTPHostPortPath() {
        #expect(PageURL("http://127.0.0.1:8000/metrics") == PageURL("http://127.0.0.1:8000/metrics"))
        let u = PageURL("http://[::1]:9400/m?x=1")
        #expect(u?.host == "::1" && u?.port == 9400 && u?.path == "/m?x=1")
        #expect(PageURL("http://localhost")?.port == 80 && PageURL("http://localhost")?.path == "/")
        for bad in ["https://h:1/m", "h:1/m", "http://:80/", "http://h:0/", "http://h:99999/", "http://a b:1/", "http://u@h:1/"] {
            #expect(PageURL(bad) == nil, "\(bad)")
        }
    }

    @Test func enginesAreCheckedKeyByKey() throws {
        let good = try AgentConfig.parse(yaml: """
            node: {id: a, pool: p}
            security: {mode: plaintext}
            samplers:
              engines:
                - {name: vllm-0, url: "http://127.0.0.1:8000/metrics"}
                - {name: other, url: "http://127.0.0.1:9000/m", preset: generic, metrics: {waiting: q}, group: fast}
            """)
        #expect(good.samplers.engines.count == 2 && good.samplers.engines[0].resolvedMetrics == .vllm)
        #expect(good.groups["engines"]?.rateHz == 2)
        #expect {
            _ = try AgentConfig.parse(yaml: """
                node: {id: a, pool: p}
                security: {mode: plaintext}
                samplers:
                  engines:
                    - {name: x, url: "https://h:1/", timeout_ms: 0}
                    - {name: x, url: "http://h:1/", preset: generic}
                    - {name: y, url: "http://h:1/", metrics: {queue: q}, group: nope}
                """)
        } throws: { error in
            let keys = Set((error as? ConfigError)?.issues.map(\.keyPath) ?? [])
            return keys.isSuperset(of: [
                "samplers.engines[0].url", "samplers.engines[0].timeout_ms", "samplers.engines[1].name", "samplers.engines[1].metrics",
                "samplers.engines[2].metrics.queue", "samplers.engines[2].group",
            ])
        }
    }
}
