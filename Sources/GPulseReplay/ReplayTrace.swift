import Foundation
import GPulseCore

/// The trace formats `gpulse-aggregator replay` reads (the files in shared/data and their kin).
public enum TraceFormat: String, Sendable, CaseIterable {
    /// Azure LLM inference: `TIMESTAMP, ContextTokens, GeneratedTokens`, one row per request; service
    /// time from the token-throughput model.
    case azure
    /// Alibaba GenTD26 text-to-image: `gmt_create, ..., exec_time_seconds, ...`, one row per request;
    /// service time is the recorded execution time.
    case gentd26
    /// A rate series, two columns: time (seconds or YYYY-MM-DDTHH:MM) and requests per second
    /// (header `requests_per_s`) or per row (any other header, e.g. NASA's per-minute `requests`).
    case rate

    /// Guesses the format from the header line.
    public static func detect(header: String) -> TraceFormat? {
        let h = header.lowercased()
        if h.hasPrefix("timestamp,contexttokens,generatedtokens") { return .azure }
        if h.hasPrefix("gmt_create,") && h.contains("exec_time_seconds") { return .gentd26 }
        if h.split(separator: ",").count == 2 { return .rate }
        return nil
    }
}

/// How a trace becomes requests: the service-time model, and the stated options.
public struct TraceOptions: Sendable {
    public var prefillTokensPerSecond: Double
    public var decodeTokensPerSecond: Double
    /// Rate traces: service times are exponential with this mean.
    public var rateServiceMeanSeconds: Double
    /// Multiplies the arrival rate: rate traces scale λ; request traces keep each request with this
    /// probability (below 1) or repeat it (above 1).
    public var rateScale: Double
    /// Divides every arrival time (2 = the trace played twice as fast; service times unchanged).
    public var timeCompression: Double
    /// Seconds of the trace to skip and to keep (nil: all).
    public var skipSeconds: Double
    public var limitSeconds: Double?
    public var seed: UInt64
    /// Rate traces whose first column is a number: seconds per unit of it (1: seconds, 60: a minute
    /// index). nil: from the column's header (`*_s`/`second*` 1, `minute*` 60, `hour*` 3600), and an
    /// error when the header does not say.
    public var timeUnitSeconds: Int?

    public init(
        prefillTokensPerSecond: Double = 4000, decodeTokensPerSecond: Double = 20, rateServiceMeanSeconds: Double = 10, rateScale: Double = 1,
        timeCompression: Double = 1, skipSeconds: Double = 0, limitSeconds: Double? = nil, seed: UInt64 = 1, timeUnitSeconds: Int? = nil
    ) {
        self.timeUnitSeconds = timeUnitSeconds
        self.prefillTokensPerSecond = prefillTokensPerSecond
        self.decodeTokensPerSecond = decodeTokensPerSecond
        self.rateServiceMeanSeconds = rateServiceMeanSeconds
        self.rateScale = rateScale
        self.timeCompression = timeCompression
        self.skipSeconds = skipSeconds
        self.limitSeconds = limitSeconds
        self.seed = seed
    }
}

/// A trace read and turned into requests.
public struct ReplayTrace: Sendable {
    public var name: String
    public var format: TraceFormat
    /// Sorted by arrival, seconds from `startUnixSeconds`.
    public var requests: [TraceRequest]
    public var startUnixSeconds: Int64
    public var durationSeconds: Int
    /// Rows refused, with their 1-based line numbers.
    public var rejected: [(line: Int, reason: String)]
    /// Rows read (data rows, rejected included).
    public var rows: Int
    /// How arrivals and service times were made, for the report.
    public var method: String

    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    public static func load(path: String, format: TraceFormat?, options: TraceOptions) throws(LoadError) -> ReplayTrace {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { throw LoadError(description: "\(path): cannot read the file") }
        return try parse(csv: text, name: (path as NSString).lastPathComponent, format: format, options: options)
    }

    public static func parse(csv: String, name: String, format: TraceFormat?, options: TraceOptions) throws(LoadError) -> ReplayTrace {
        guard options.rateScale > 0, options.timeCompression > 0 else { throw LoadError(description: "rate scale and time compression must be positive") }
        let lines = csv.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline)
        guard let header = lines.first.map({ String($0).trimmingCharacters(in: .whitespacesAndNewlines) }), !header.isEmpty else {
            throw LoadError(description: "\(name): empty file")
        }
        guard let format = format ?? TraceFormat.detect(header: header) else {
            throw LoadError(description: "\(name): cannot tell the format from the header '\(header.prefix(80))'; pass --format azure|gentd26|rate")
        }
        var trace: ReplayTrace
        switch format {
        case .azure, .gentd26: trace = try requestTrace(lines: lines, header: header, name: name, format: format, options: options)
        case .rate: trace = try rateTrace(lines: lines, header: header, name: name, options: options)
        }
        guard !trace.requests.isEmpty else {
            let first = trace.rejected.first.map { " (line \($0.line): \($0.reason))" } ?? ""
            throw LoadError(description: "\(name): no requests to replay\(first)")
        }
        return trace
    }

    static func requestTrace(lines: [Substring], header: String, name: String, format: TraceFormat, options: TraceOptions) throws(LoadError) -> ReplayTrace {
        let columns = header.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }
        let timeColumn = 0
        var serviceColumns: [Int] = []
        if format == .azure {
            guard let c = columns.firstIndex(of: "contexttokens"), let g = columns.firstIndex(of: "generatedtokens") else {
                throw LoadError(description: "\(name) line 1: an Azure LLM trace needs ContextTokens and GeneratedTokens columns")
            }
            serviceColumns = [c, g]
        } else {
            guard let e = columns.firstIndex(of: "exec_time_seconds") else {
                throw LoadError(description: "\(name) line 1: a GenTD26 trace needs an exec_time_seconds column")
            }
            serviceColumns = [e]
        }
        var rejected: [(Int, String)] = []
        var raw: [(time: Double, service: Double)] = []
        var rows = 0
        for (index, line) in lines.enumerated().dropFirst() {
            let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if text.isEmpty { continue }
            rows += 1
            let fields = text.split(separator: ",", omittingEmptySubsequences: false)
            guard fields.count == columns.count else {
                rejected.append((index + 1, "expected \(columns.count) columns, found \(fields.count)"))
                continue
            }
            guard let time = TraceSeries.timestamp(String(fields[timeColumn])) else {
                rejected.append((index + 1, "timestamp '\(fields[timeColumn])' is not YYYY-MM-DD HH:MM:SS[.fraction]"))
                continue
            }
            let numbers = serviceColumns.map { Double(fields[$0].trimmingCharacters(in: .whitespaces)) }
            guard numbers.allSatisfy({ $0 != nil && $0!.isFinite && $0! >= 0 }) else {
                let bad = serviceColumns.map { String(fields[$0]) }.joined(separator: ", ")
                rejected.append((index + 1, "\(format == .azure ? "token counts" : "exec_time_seconds") '\(bad)' must be non-negative numbers"))
                continue
            }
            let service =
                format == .azure
                ? numbers[0]! / options.prefillTokensPerSecond + numbers[1]! / options.decodeTokensPerSecond
                : numbers[0]!
            raw.append((time, service))
        }
        raw.sort { $0.time < $1.time }
        guard let first = raw.first?.time else {
            return ReplayTrace(name: name, format: format, requests: [], startUnixSeconds: 0, durationSeconds: 0, rejected: rejected, rows: rows, method: "")
        }
        var rng = SeededGenerator(seed: options.seed).stream(1)
        var requests: [TraceRequest] = []
        requests.reserveCapacity(Int(Double(raw.count) * max(1, options.rateScale)))
        let start = first + options.skipSeconds
        for r in raw {
            let offset = r.time - start
            guard offset >= 0 else { continue }
            if let limit = options.limitSeconds, offset >= limit { break }
            var copies = Int(options.rateScale.rounded(.down))
            if rng.unit() <= options.rateScale - Double(copies) { copies += 1 }
            for _ in 0..<copies { requests.append(TraceRequest(arrival: offset / options.timeCompression, service: r.service)) }
        }
        let span = (raw.last!.time - start) / options.timeCompression
        let duration = Int(min(span, (options.limitSeconds ?? .infinity) / options.timeCompression).rounded(.up)) + 1
        let service =
            format == .azure
            ? "service = context tokens / \(fmt(options.prefillTokensPerSecond)) tok/s + generated tokens / \(fmt(options.decodeTokensPerSecond)) tok/s (token-throughput model)"
            : "service = the recorded exec_time_seconds"
        var method = "arrivals from the trace's timestamps; \(service)"
        if options.rateScale != 1 { method += "; rate scaled by \(fmt(options.rateScale)) (seeded thinning/repetition)" }
        if options.timeCompression != 1 { method += "; time compressed \(fmt(options.timeCompression))x" }
        return ReplayTrace(
            name: name, format: format, requests: requests, startUnixSeconds: Int64(start.rounded(.down)), durationSeconds: duration,
            rejected: rejected, rows: rows, method: method)
    }

    /// Seconds per unit of a rate trace's numeric time column, from its header name; nil when the
    /// name does not say (then the caller must be told, never guessed: a minute index read as
    /// seconds replays the trace 60 times too fast).
    static func timeUnit(header column: String) -> Int? {
        let c = column.trimmingCharacters(in: .whitespaces).lowercased()
        if c.hasPrefix("minute") || c.hasSuffix("_min") || c.hasSuffix("_minute") || c == "min" { return 60 }
        if c.hasPrefix("hour") || c.hasSuffix("_h") || c.hasSuffix("_hour") { return 3600 }
        if c.hasSuffix("_s") || c.hasPrefix("second") || c.hasSuffix("_seconds") || c.hasSuffix("_sec") || c == "s" { return 1 }
        return nil
    }

    static func rateTrace(lines: [Substring], header: String, name: String, options: TraceOptions) throws(LoadError) -> ReplayTrace {
        let headerColumns = header.lowercased().split(separator: ",", omittingEmptySubsequences: false)
        let perSecond = headerColumns.last.map { $0.trimmingCharacters(in: .whitespaces) == "requests_per_s" } ?? false
        let timeHeader = headerColumns.first.map(String.init) ?? ""
        var rejected: [(Int, String)] = []
        var points: [(time: Int, value: Double?)] = []
        var rows = 0
        // A numeric time column needs a unit; timestamps carry their own.
        var unit: Int?
        for (index, line) in lines.enumerated().dropFirst() {
            let text = line.trimmingCharacters(in: .whitespacesAndNewlines)
            if text.isEmpty { continue }
            rows += 1
            let fields = text.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count == 2 else {
                rejected.append((index + 1, "expected 2 columns, found \(fields.count)"))
                continue
            }
            var time: Int
            if let stamp = TraceSeries.timestamp(fields[0]) {
                time = Int(stamp.rounded(.down))
            } else if let n = Double(fields[0]), n.isFinite, abs(n) < 1e12 {
                if unit == nil {
                    guard let u = options.timeUnitSeconds ?? timeUnit(header: timeHeader) else {
                        throw LoadError(
                            description: "\(name): the time column '\(timeHeader.trimmingCharacters(in: .whitespaces))' holds plain numbers and its name does not say their unit; pass --time-unit s, min or h (a minute index read as seconds would replay 60x too fast)")
                    }
                    unit = u
                }
                time = Int(n * Double(unit!))
            } else {
                rejected.append((index + 1, "'\(fields[0])' is neither a number nor YYYY-MM-DDTHH:MM[:SS]"))
                continue
            }
            if fields[1].isEmpty {
                points.append((time, nil))
            } else if let v = Double(fields[1]), v.isFinite, v >= 0 {
                points.append((time, v))
            } else {
                rejected.append((index + 1, "rate '\(fields[1])' is not a non-negative number"))
            }
        }
        guard points.count >= 2 else {
            return ReplayTrace(name: name, format: .rate, requests: [], startUnixSeconds: 0, durationSeconds: 0, rejected: rejected, rows: rows, method: "")
        }
        let step = points[1].time - points[0].time
        guard step > 0 else { throw LoadError(description: "\(name): the first two timestamps do not increase") }
        // Poisson arrivals, piecewise constant rate per row: exponential gaps restarted at each row
        // boundary (memorylessness makes that exact).
        var arrivalRNG = SeededGenerator(seed: options.seed).stream(1)
        var serviceRNG = SeededGenerator(seed: options.seed).stream(3)
        var requests: [TraceRequest] = []
        let t0 = points[0].time
        var missing = 0
        var end = 0.0
        for p in points {
            let from = Double(p.time - t0) - options.skipSeconds
            let to = from + Double(step)
            end = max(end, to)
            guard to > 0 else { continue }
            if let limit = options.limitSeconds, from >= limit { break }
            guard let v = p.value else {
                missing += 1
                continue
            }
            let rate = (perSecond ? v : v / Double(step)) * options.rateScale
            guard rate > 0 else { continue }
            var t = max(0, from)
            while true {
                t += arrivalRNG.exponential(mean: 1 / rate)
                if t >= to { break }
                requests.append(
                    TraceRequest(arrival: t / options.timeCompression, service: serviceRNG.exponential(mean: options.rateServiceMeanSeconds)))
            }
        }
        // `end` is already counted from the skip (each row's `to` is).
        let span = min(end, options.limitSeconds ?? .infinity)
        guard span > 0 else {
            throw LoadError(description: "\(name): --skip-seconds \(fmt(options.skipSeconds)) is past the trace's end (it spans \(fmt(end + options.skipSeconds)) s)")
        }
        var method =
            "Poisson arrivals drawn (seed \(options.seed)) at each row's rate, \(step) s rows\(unit.map { $0 == 1 ? "" : " (time column in units of \($0) s)" } ?? ""); service exponential, mean \(fmt(options.rateServiceMeanSeconds)) s"
        if options.rateScale != 1 { method += "; rate scaled by \(fmt(options.rateScale))" }
        if options.timeCompression != 1 { method += "; time compressed \(fmt(options.timeCompression))x" }
        if missing > 0 { method += "; \(missing) rows without data replayed as no arrivals" }
        return ReplayTrace(
            name: name, format: .rate, requests: requests, startUnixSeconds: Int64(t0) + Int64(options.skipSeconds),
            durationSeconds: Int((span / options.timeCompression).rounded(.up)), rejected: rejected, rows: rows, method: method)
    }
}

func fmt(_ x: Double) -> String {
    if x == x.rounded() && abs(x) < 1e15 { return String(Int(x)) }
    return String(format: "%.3g", x)
}
