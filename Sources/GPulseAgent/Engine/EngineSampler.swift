import GPulseConfig
import GPulseCore
import GPulseScrape
import Logging

/// Which metric families of an inference server's page carry each gpulse signal. A nil family is a
/// signal this engine does not give; nothing is sent for it (no value is made up).
public struct EngineMetrics: Sendable, Equatable {
    /// Gauge: requests queued, not yet running (→ `app_queue_depth`).
    public var waiting: String?
    /// Gauge: requests being served (→ `app_requests_running`).
    public var running: String?
    /// Counter: requests finished, every outcome summed (→ `app_completion_rate`).
    public var completions: String?
    /// Counter: requests arrived (→ `app_request_rate`). Without one, arrivals are derived by
    /// conservation: completions + the change of waiting + running, per second (never below 0).
    public var arrivals: String?
    /// Histogram, seconds, arrival to last token (→ `app_latency_ms`, the mean over the scrape interval).
    public var latency: String?
    /// Histogram, seconds, time being served (→ `app_service_time_ms`, the mean over the scrape interval).
    public var serviceTime: String?
    /// Gauge, fraction 0..1 of the KV cache in use (→ `app_kv_cache_usage`).
    public var kvCache: String?
    /// Histogram, seconds, arrival to first token (→ `app_ttft_ms` and `app_ttft_p95_ms` over the scrape interval).
    public var timeToFirstToken: String?
    /// Counter of output tokens (→ `app_generated_tokens_per_s`); a histogram's `_sum` series counts too.
    public var generatedTokens: String?
    /// Counter, microseconds of request time summed over requests (→ `app_latency_ms`, its increase
    /// over the completions' increase), for servers that count durations instead of histogramming them.
    public var latencyTotalMicros: String?
    /// Counter, microseconds spent queued, summed (with `latencyTotalMicros`: → `app_service_time_ms`).
    public var queueTotalMicros: String?

    public init(
        waiting: String? = nil, running: String? = nil, completions: String? = nil, arrivals: String? = nil, latency: String? = nil,
        serviceTime: String? = nil, kvCache: String? = nil, timeToFirstToken: String? = nil, generatedTokens: String? = nil,
        latencyTotalMicros: String? = nil, queueTotalMicros: String? = nil
    ) {
        self.latencyTotalMicros = latencyTotalMicros
        self.queueTotalMicros = queueTotalMicros
        self.waiting = waiting
        self.running = running
        self.completions = completions
        self.arrivals = arrivals
        self.latency = latency
        self.serviceTime = serviceTime
        self.kvCache = kvCache
        self.timeToFirstToken = timeToFirstToken
        self.generatedTokens = generatedTokens
    }

    /// vLLM's V1 engine (vllm/v1/metrics/loggers.py, PrometheusStatLogger, vLLM 0.10-0.11) and the
    /// V0 engine before it (vllm/engine/metrics.py), which share these names but for the KV cache
    /// gauge: `vllm:kv_cache_usage_perc` in V1, `vllm:gpu_cache_usage_perc` in V0, whichever the page
    /// has (both fractions despite the name). No arrival counter, so arrivals are derived.
    public static let vllm = EngineMetrics(
        waiting: "vllm:num_requests_waiting", running: "vllm:num_requests_running", completions: "vllm:request_success_total",
        latency: "vllm:e2e_request_latency_seconds", serviceTime: "vllm:request_inference_time_seconds", kvCache: "vllm:kv_cache_usage_perc|vllm:gpu_cache_usage_perc",
        timeToFirstToken: "vllm:time_to_first_token_seconds", generatedTokens: "vllm:generation_tokens_total")

    /// SGLang (python/sglang/srt/metrics/collector.py and docs/references/production_metrics.md, with
    /// `--enable-metrics`): `num_requests_total` counts finished requests; no arrival counter and no
    /// service-time histogram. `token_usage` is the share of KV cache tokens in use.
    public static let sglang = EngineMetrics(
        waiting: "sglang:num_queue_reqs", running: "sglang:num_running_reqs", completions: "sglang:num_requests_total",
        latency: "sglang:e2e_request_latency_seconds", kvCache: "sglang:token_usage", timeToFirstToken: "sglang:time_to_first_token_seconds",
        generatedTokens: "sglang:generation_tokens_total")

    /// Hugging Face TGI's router (router/src/server.rs and infer, the `metrics` crate's Prometheus
    /// exporter): counters without `_total`, an arrival counter, histograms in seconds; no KV cache
    /// gauge and no time-to-first-token histogram. Generated tokens are the `_sum` of its per-request histogram.
    public static let tgi = EngineMetrics(
        waiting: "tgi_queue_size", running: "tgi_batch_current_size", completions: "tgi_request_success", arrivals: "tgi_request_count",
        latency: "tgi_request_duration", serviceTime: "tgi_request_inference_duration", generatedTokens: "tgi_request_generated_tokens_sum")

    /// NVIDIA Triton (docs/user_guide/metrics.md, 23.04 and later with the default `counter_latencies`):
    /// per-model counters, latencies as cumulative microseconds; no running gauge (so no derived
    /// arrivals), no KV cache, no time to first token.
    public static let triton = EngineMetrics(
        waiting: "nv_inference_pending_request_count", completions: "nv_inference_request_success",
        latencyTotalMicros: "nv_inference_request_duration_us", queueTotalMicros: "nv_inference_queue_duration_us")

    /// The config keys of `samplers.engines[].metrics`, one per field.
    public static let roles = [
        "waiting", "running", "completions", "arrivals", "latency", "service_time", "kv_cache", "ttft", "generated_tokens", "latency_total_us",
        "queue_total_us",
    ]

    /// This mapping with `overrides` (role → family; "" removes a family) applied; nil names an unknown role.
    public func overridden(by overrides: [String: String]) -> (EngineMetrics, unknownRole: String?) {
        var m = self
        for (role, family) in overrides.sorted(by: { $0.key < $1.key }) {
            let value: String? = family.isEmpty ? nil : family
            switch role {
            case "waiting": m.waiting = value
            case "running": m.running = value
            case "completions": m.completions = value
            case "arrivals": m.arrivals = value
            case "latency": m.latency = value
            case "service_time": m.serviceTime = value
            case "kv_cache": m.kvCache = value
            case "ttft": m.timeToFirstToken = value
            case "generated_tokens": m.generatedTokens = value
            case "latency_total_us": m.latencyTotalMicros = value
            case "queue_total_us": m.queueTotalMicros = value
            default: return (m, role)
            }
        }
        return (m, nil)
    }

    /// Every family named, alternatives (`a|b`) listed apart.
    var families: [String] {
        [waiting, running, completions, arrivals, latency, serviceTime, kvCache, timeToFirstToken, generatedTokens, latencyTotalMicros, queueTotalMicros]
            .compactMap { $0 }.flatMap { $0.split(separator: "|").map(String.init) }
    }

    /// This mapping with each `a|b` replaced by the first alternative the page has (an engine that
    /// renamed a metric between versions: vLLM's KV cache gauge), or left out when it has none.
    func resolved(on page: ExpositionPage) -> EngineMetrics {
        func pick(_ spec: String?) -> String? {
            guard let spec, spec.contains("|") else { return spec }
            let alternatives = spec.split(separator: "|").map(String.init)
            return alternatives.first { name in page.samples.contains { $0.name == name || $0.name == name + "_count" } }
        }
        return EngineMetrics(
            waiting: pick(waiting), running: pick(running), completions: pick(completions), arrivals: pick(arrivals), latency: pick(latency),
            serviceTime: pick(serviceTime), kvCache: pick(kvCache), timeToFirstToken: pick(timeToFirstToken), generatedTokens: pick(generatedTokens),
            latencyTotalMicros: pick(latencyTotalMicros), queueTotalMicros: pick(queueTotalMicros))
    }
}

/// A preset names the metric families of one engine; `generic` names none (the config's `metrics:` does).
public enum EnginePreset: String, ConfigEnum {
    case vllm
    case sglang
    case tgi
    case triton
    case generic

    public var metrics: EngineMetrics {
        switch self {
        case .vllm: .vllm
        case .sglang: .sglang
        case .tgi: .tgi
        case .triton: .triton
        case .generic: EngineMetrics()
        }
    }
}

/// What one scrape of an engine's page said, as rates and window means: pure, so that the
/// arithmetic is tested on literal pages without a server.
public struct EngineReading: Sendable, Equatable {
    public var waiting: Double?
    public var running: Double?
    public var completionsPerSecond: Double?
    public var arrivalsPerSecond: Double?
    /// Whether arrivals came from a counter (false: derived by conservation).
    public var arrivalsCounted = false
    public var latencySeconds: Double?
    public var serviceSeconds: Double?
    /// Fraction 0..1; nil when the page has none or gave a value outside 0..1 (counted in `rejected`).
    public var kvCacheUsage: Double?
    public var ttftSeconds: Double?
    public var ttftP95Seconds: Double?
    public var generatedTokensPerSecond: Double?
    /// Values the page gave that cannot be what their role says (a KV cache share outside 0..1).
    public var rejected = 0
}

/// The state kept between two scrapes of one engine: counters and histograms read last time.
public struct EngineReader: Sendable {
    public let metrics: EngineMetrics
    private var completions = CounterRate()
    private var arrivals = CounterRate()
    private var tokens = CounterRate()
    private var latencyMicros = CounterRate()
    private var queueMicros = CounterRate()
    private var lastLatency: ScrapedHistogram?
    private var lastService: ScrapedHistogram?
    private var lastTTFT: ScrapedHistogram?
    private var lastInFlight: (value: Double, atSeconds: Double)?

    public init(metrics: EngineMetrics) { self.metrics = metrics }

    /// Counter resets seen (an engine restart), over both counters.
    public var resets: Int { completions.resets + arrivals.resets + tokens.resets + latencyMicros.resets + queueMicros.resets }

    /// Reads `page` taken at `seconds` (a monotonic clock). Throws when the page has none of the
    /// mapped families: a wrong URL or another program answered.
    public mutating func read(_ page: ExpositionPage, atSeconds t: Double) throws(EngineError) -> EngineReading {
        let present = metrics.families.filter { f in page.samples.contains { $0.name == f || $0.name == f + "_count" } }
        guard !present.isEmpty else { throw .noKnownMetrics(expected: metrics.families) }
        let metrics = self.metrics.resolved(on: page)
        var r = EngineReading()
        r.waiting = metrics.waiting.flatMap { page.total($0) }
        r.running = metrics.running.flatMap { page.total($0) }
        if let name = metrics.completions, let total = page.total(name) { r.completionsPerSecond = completions.update(total, atSeconds: t) }
        if let name = metrics.arrivals, let total = page.total(name) {
            r.arrivalsPerSecond = arrivals.update(total, atSeconds: t)
            r.arrivalsCounted = true
        } else if let done = r.completionsPerSecond, let w = r.waiting, let run = r.running, let last = lastInFlight, t > last.atSeconds {
            r.arrivalsPerSecond = max(0, done + (w + run - last.value) / (t - last.atSeconds))
        }
        if let w = r.waiting, let run = r.running { lastInFlight = (w + run, t) }
        // Means over the interval since the last scrape only: the first page's totals cover the
        // engine's whole life, which says nothing about now.
        if let family = metrics.latency, let h = page.histogram(family) {
            if let last = lastLatency { r.latencySeconds = h.since(last)?.mean }
            lastLatency = h
        }
        if let family = metrics.serviceTime, let h = page.histogram(family) {
            if let last = lastService { r.serviceSeconds = h.since(last)?.mean }
            lastService = h
        }
        if let family = metrics.timeToFirstToken, let h = page.histogram(family) {
            if let last = lastTTFT, let window = h.since(last) {
                r.ttftSeconds = window.mean
                r.ttftP95Seconds = window.quantile(0.95)
            }
            lastTTFT = h
        }
        if let name = metrics.kvCache, let v = page.total(name) {
            // A share; a page in percent (or anything else) is refused rather than rescaled by guess.
            if (0...1).contains(v) { r.kvCacheUsage = v } else { r.rejected += 1 }
        }
        if let name = metrics.generatedTokens, let total = page.total(name) { r.generatedTokensPerSecond = tokens.update(total, atSeconds: t) }
        // Summed durations: their increase over the completions' is the interval's mean (nil when none finished).
        if let name = metrics.latencyTotalMicros, let total = page.total(name), let perSecond = latencyMicros.update(total, atSeconds: t),
            let done = r.completionsPerSecond, done > 0
        {
            r.latencySeconds = perSecond / done / 1e6
            if let q = metrics.queueTotalMicros, let queued = page.total(q), let queuedPerSecond = queueMicros.update(queued, atSeconds: t) {
                r.serviceSeconds = max(0, perSecond - queuedPerSecond) / done / 1e6
            }
        } else if let q = metrics.queueTotalMicros, let queued = page.total(q) {
            _ = queueMicros.update(queued, atSeconds: t)  // keep its baseline current
        }
        return r
    }
}

public enum EngineError: Error, Equatable, CustomStringConvertible {
    case noKnownMetrics(expected: [String])

    public var description: String {
        switch self {
        case .noKnownMetrics(let expected): "the page has none of the expected metrics (\(expected.joined(separator: ", ")))"
        }
    }
}

/// Reads a local inference server's Prometheus page (vLLM's `/metrics`, say) at its group's rate and
/// sends what it knows as APP_* series with the engine's name as subject: requests waiting and
/// running, arrival and completion rates, latency and service time. A down, slow or garbled engine
/// is counted as a failed reading and logged once per change of state; the agent's other samplers
/// carry on (this sampler has its own group and thread, so a slow engine delays only itself).
public final class EngineSampler: Sampler {
    public let name: String
    public let engine: String
    private let fetcher: HTTPPageFetcher
    private var reader: EngineReader
    private let limits: ExpositionLimits
    private let logger: Logger
    private let ids: (waiting: SignalID, running: SignalID, arrivals: SignalID, completions: SignalID, latency: SignalID, service: SignalID)
    private let more: (kvCache: SignalID, ttft: SignalID, ttftP95: SignalID, tokens: SignalID)
    private var rejected: UInt64 = 0
    /// Page values refused (a KV cache share outside 0..1).
    public var rejectedInputs: UInt64 { rejected }
    /// The last state logged: nil before the first reading, "" while answering, "down" after a failure.
    private var state: String?
    public private(set) var failures: UInt64 = 0
    /// Pages read that had lines the parser skipped.
    public private(set) var malformedPages: UInt64 = 0

    public init(engine: String, url: PageURL, metrics: EngineMetrics, timeoutMilliseconds: Int, maxPageBytes: Int, signals: SignalTable, logger: Logger) {
        self.engine = engine
        name = "engine:\(engine)"
        fetcher = HTTPPageFetcher(url: url, timeoutMilliseconds: timeoutMilliseconds, maxBytes: maxPageBytes)
        reader = EngineReader(metrics: metrics)
        var limits = ExpositionLimits()
        limits.maxBytes = maxPageBytes
        self.limits = limits
        self.logger = logger
        ids = (
            signals.id(.appQueueDepth, subject: engine), signals.id(.appRequestsRunning, subject: engine),
            signals.id(.appRequestRate, subject: engine), signals.id(.appCompletionRate, subject: engine),
            signals.id(.appLatencyMs, subject: engine), signals.id(.appServiceTimeMs, subject: engine)
        )
        more = (
            signals.id(.appKVCacheUsage, subject: engine), signals.id(.appTTFTMs, subject: engine), signals.id(.appTTFTP95Ms, subject: engine),
            signals.id(.appGeneratedTokensPerSecond, subject: engine)
        )
    }

    public func sample(into sink: inout SampleSink) throws {
        let reading: EngineReading
        do {
            let body = try fetcher.fetch()
            let page = try ExpositionParser.parse(body, limits: limits)
            if page.malformedLines > 0 { malformedPages += 1 }
            reading = try reader.read(page, atSeconds: Double(SystemClock.monotonicNanos()) / 1e9)
        } catch {
            failures += 1
            // One line when it goes down, whatever the next failures say (refused, timeout, garbage).
            if state != "down" {
                state = "down"
                logger.warning(
                    "engine not readable; its signals stop until it answers (other samplers carry on)",
                    metadata: ["engine": "\(engine)", "url": "\(fetcher.url)", "error": "\(error)"])
            }
            throw error
        }
        if state != "" {
            logger.notice(
                state == nil ? "engine read" : "engine answering again",
                metadata: ["engine": "\(engine)", "url": "\(fetcher.url)", "derived_arrivals": "\(!reading.arrivalsCounted)"])
            state = ""
        }
        let now = SystemClock.monotonicNanos()
        if let v = reading.waiting { sink.emit(ids.waiting, Float(v), at: now) }
        if let v = reading.running { sink.emit(ids.running, Float(v), at: now) }
        if let v = reading.arrivalsPerSecond { sink.emit(ids.arrivals, Float(v), at: now) }
        if let v = reading.completionsPerSecond { sink.emit(ids.completions, Float(v), at: now) }
        if let v = reading.latencySeconds { sink.emit(ids.latency, Float(v * 1000), at: now) }
        if let v = reading.serviceSeconds { sink.emit(ids.service, Float(v * 1000), at: now) }
        if let v = reading.kvCacheUsage { sink.emit(more.kvCache, Float(v), at: now) }
        if let v = reading.ttftSeconds { sink.emit(more.ttft, Float(v * 1000), at: now) }
        if let v = reading.ttftP95Seconds { sink.emit(more.ttftP95, Float(v * 1000), at: now) }
        if let v = reading.generatedTokensPerSecond { sink.emit(more.tokens, Float(v), at: now) }
        if reading.rejected > 0 {
            if rejected == 0 {
                logger.warning(
                    "engine page value refused: kv_cache must be a fraction 0..1 (counted in rejected_inputs)",
                    metadata: ["engine": "\(engine)", "family": "\(reader.metrics.kvCache ?? "")"])
            }
            rejected += UInt64(reading.rejected)
        }
    }
}
