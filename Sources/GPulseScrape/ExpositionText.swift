/// A page in the Prometheus text exposition format (version 0.0.4) or OpenMetrics 1.0 text, as
/// inference servers (vLLM, SGLang, TGI, Triton) serve it on `/metrics`: what gpulse-agent reads from
/// an engine. Every number on it is the engine's to get wrong, so the parser bounds what a page may
/// hold, skips and counts lines it cannot read, and never makes a value up.
public struct ExpositionPage: Sendable {
    public struct Label: Sendable, Hashable {
        public var name: String
        public var value: String
        public init(_ name: String, _ value: String) {
            self.name = name
            self.value = value
        }
    }

    /// One sample line: `name{labels} value [timestamp]`.
    public struct Sample: Sendable, Hashable {
        public var name: String
        public var labels: [Label]
        /// As written, `+Inf`, `-Inf` and `NaN` included.
        public var value: Double
        /// Milliseconds since the Unix epoch, when the line has one (OpenMetrics' seconds are converted).
        public var timestampMillis: Int64?

        public init(name: String, labels: [Label] = [], value: Double, timestampMillis: Int64? = nil) {
            self.name = name
            self.labels = labels
            self.value = value
            self.timestampMillis = timestampMillis
        }

        /// The value of label `name`, nil when the sample has none.
        public func label(_ name: String) -> String? { labels.first { $0.name == name }?.value }
    }

    /// `# TYPE` words; a family without a TYPE line is `untyped`.
    public enum MetricType: String, Sendable, CaseIterable {
        case counter, gauge, histogram, summary, untyped
        // OpenMetrics' further types.
        case unknown, info, stateset, gaugehistogram
    }

    public var samples: [Sample] = []
    /// Family name → its `# TYPE`.
    public var types: [String: MetricType] = [:]
    /// Family name → its `# HELP` text, unescaped.
    public var help: [String: String] = [:]
    /// Lines that were neither a comment nor a readable sample, skipped.
    public var malformedLines = 0
    /// What was wrong with the first of them (1-based line number and reason), for a log line.
    public var firstProblem: String?
    /// The page ended with OpenMetrics' `# EOF` (anything after it is ignored).
    public var sawEOF = false

    public init() {}

    public func type(of family: String) -> MetricType { types[family] ?? .untyped }
}

/// What one page may hold before it is refused as a whole.
public struct ExpositionLimits: Sendable, Equatable {
    /// The body's size; a bigger one is refused before it is read.
    public var maxBytes = 4 << 20
    public var maxSamples = 100_000
    /// Labels on one sample.
    public var maxLabels = 64
    /// One line's length; a longer line is skipped as malformed.
    public var maxLineBytes = 64 << 10

    public static let `default` = ExpositionLimits()
    public init() {}
}

/// A page refused as a whole.
public enum ExpositionError: Error, Equatable, CustomStringConvertible {
    case tooLarge(bytes: Int, limit: Int)
    case tooManySamples(limit: Int)

    public var description: String {
        switch self {
        case .tooLarge(let bytes, let limit): "the page is \(bytes) bytes, over the \(limit)-byte limit"
        case .tooManySamples(let limit): "the page has more than \(limit) samples"
        }
    }
}

public enum ExpositionParser {
    /// Reads `body`. Throws only for the page-wide limits; a line it cannot read is skipped and
    /// counted in `malformedLines`.
    public static func parse(_ body: [UInt8], limits: ExpositionLimits = .default) throws(ExpositionError) -> ExpositionPage {
        guard body.count <= limits.maxBytes else { throw .tooLarge(bytes: body.count, limit: limits.maxBytes) }
        var page = ExpositionPage()
        var tooMany = false
        body.withUnsafeBufferPointer { bytes in
            var start = 0
            var lineNumber = 0
            while start < bytes.count, !page.sawEOF {
                var end = start
                while end < bytes.count && bytes[end] != UInt8(ascii: "\n") { end += 1 }
                lineNumber += 1
                var reader = LineReader(bytes: UnsafeBufferPointer(rebasing: bytes[start..<end]))
                start = end + 1
                if reader.bytes.count > limits.maxLineBytes {
                    page.skip(line: lineNumber, "longer than \(limits.maxLineBytes) bytes")
                    continue
                }
                switch reader.read(into: &page, limits: limits) {
                case .ok: break
                case .malformed(let reason): page.skip(line: lineNumber, reason)
                }
                if page.samples.count > limits.maxSamples {
                    tooMany = true
                    return
                }
            }
        }
        if tooMany { throw .tooManySamples(limit: limits.maxSamples) }
        return page
    }
}

extension ExpositionPage {
    fileprivate mutating func skip(line: Int, _ reason: String) {
        malformedLines += 1
        if firstProblem == nil { firstProblem = "line \(line): \(reason)" }
    }
}

/// One line of a page, read left to right.
private struct LineReader {
    enum Outcome { case ok, malformed(String) }

    var bytes: UnsafeBufferPointer<UInt8>
    var i = 0

    init(bytes: UnsafeBufferPointer<UInt8>) {
        // A CRLF page: the '\r' is not part of the line.
        self.bytes = bytes.last == UInt8(ascii: "\r") ? UnsafeBufferPointer(rebasing: bytes.dropLast()) : bytes
    }

    var atEnd: Bool { i >= bytes.count }
    var current: UInt8 { bytes[i] }

    mutating func skipBlanks() {
        while !atEnd && (current == UInt8(ascii: " ") || current == UInt8(ascii: "\t")) { i += 1 }
    }

    /// The bytes up to the next blank or the end.
    mutating func token() -> String {
        let from = i
        while !atEnd && current != UInt8(ascii: " ") && current != UInt8(ascii: "\t") { i += 1 }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[from..<i]), as: UTF8.self)
    }

    /// The rest of the line, blanks at its start skipped.
    mutating func rest() -> String {
        skipBlanks()
        defer { i = bytes.count }
        return String(decoding: UnsafeBufferPointer(rebasing: bytes[i...]), as: UTF8.self)
    }

    /// A metric name (`[a-zA-Z_:][a-zA-Z0-9_:]*`), or a label name (no colon); nil when there is none.
    mutating func name(colons: Bool) -> String? {
        let from = i
        while !atEnd {
            let c = current
            let letter = (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || c == UInt8(ascii: "_") || (colons && c == UInt8(ascii: ":"))
            let digit = c >= 0x30 && c <= 0x39
            guard letter || (digit && i > from) else { break }
            i += 1
        }
        return i > from ? String(decoding: UnsafeBufferPointer(rebasing: bytes[from..<i]), as: UTF8.self) : nil
    }

    mutating func read(into page: inout ExpositionPage, limits: ExpositionLimits) -> Outcome {
        skipBlanks()
        if atEnd { return .ok }
        if current == UInt8(ascii: "#") { return comment(into: &page) }
        return sample(into: &page, limits: limits)
    }

    /// `# HELP name text`, `# TYPE name type`, `# EOF`; any other comment is ignored.
    mutating func comment(into page: inout ExpositionPage) -> Outcome {
        i += 1
        skipBlanks()
        switch token() {
        case "HELP":
            skipBlanks()
            guard let family = name(colons: true) else { return .malformed("HELP without a metric name") }
            page.help[family] = Self.unescapeHelp(rest())
        case "TYPE":
            skipBlanks()
            guard let family = name(colons: true) else { return .malformed("TYPE without a metric name") }
            let word = rest().lowercased()
            guard let type = ExpositionPage.MetricType(rawValue: word) else { return .malformed("unknown type '\(word.prefix(40))'") }
            page.types[family] = type
        case "EOF":
            page.sawEOF = true
        default: break
        }
        return .ok
    }

    mutating func sample(into page: inout ExpositionPage, limits: ExpositionLimits) -> Outcome {
        guard let metric = name(colons: true) else { return .malformed("not a metric name") }
        skipBlanks()
        var labels: [ExpositionPage.Label] = []
        if !atEnd && current == UInt8(ascii: "{") {
            i += 1
            while true {
                skipBlanks()
                guard !atEnd else { return .malformed("labels not closed") }
                if current == UInt8(ascii: "}") {
                    i += 1
                    break
                }
                guard let label = name(colons: false) else { return .malformed("not a label name") }
                skipBlanks()
                guard !atEnd && current == UInt8(ascii: "=") else { return .malformed("label \(label) without '='") }
                i += 1
                skipBlanks()
                guard let value = quoted() else { return .malformed("label \(label): value not quoted or not closed") }
                guard labels.count < limits.maxLabels else { return .malformed("more than \(limits.maxLabels) labels") }
                labels.append(.init(label, value))
                skipBlanks()
                if !atEnd && current == UInt8(ascii: ",") { i += 1 }
            }
            skipBlanks()
        }
        guard !atEnd else { return .malformed("no value") }
        let text = token()
        guard let value = Self.number(text) else { return .malformed("value '\(text.prefix(40))' is not a number") }
        skipBlanks()
        var timestamp: Int64?
        // OpenMetrics exemplars (`# {trace_id="..."} 1 1.5`) follow the value or the timestamp.
        if !atEnd && current != UInt8(ascii: "#") {
            let t = token()
            guard let ms = Self.timestampMillis(t) else { return .malformed("timestamp '\(t.prefix(40))' is not a number") }
            timestamp = ms
            skipBlanks()
        }
        guard atEnd || current == UInt8(ascii: "#") else { return .malformed("text after the sample") }
        page.samples.append(.init(name: metric, labels: labels, value: value, timestampMillis: timestamp))
        return .ok
    }

    /// A double-quoted label value with `\\`, `\"` and `\n` escapes; nil when it is not closed.
    mutating func quoted() -> String? {
        guard !atEnd && current == UInt8(ascii: "\"") else { return nil }
        i += 1
        var out: [UInt8] = []
        while !atEnd {
            let c = current
            i += 1
            if c == UInt8(ascii: "\"") { return String(decoding: out, as: UTF8.self) }
            if c == UInt8(ascii: "\\"), !atEnd {
                let e = current
                i += 1
                switch e {
                case UInt8(ascii: "n"): out.append(UInt8(ascii: "\n"))
                case UInt8(ascii: "\\"), UInt8(ascii: "\""): out.append(e)
                default: out += [c, e]  // not an escape the format defines: kept as written
                }
                continue
            }
            out.append(c)
        }
        return nil
    }

    /// A Go-style float as the format writes it, `+Inf`, `-Inf` and `NaN` in any case included.
    static func number(_ text: String) -> Double? {
        switch text.lowercased() {
        case "+inf", "inf": return .infinity
        case "-inf": return -.infinity
        case "nan": return .nan
        default:
            guard !text.isEmpty, text.count <= 64 else { return nil }
            return Double(text)
        }
    }

    /// Milliseconds (the text format's integer) or seconds with a fraction (OpenMetrics); nil when
    /// neither, or outside what an Int64 of milliseconds holds.
    static func timestampMillis(_ text: String) -> Int64? {
        if let ms = Int64(text) { return ms }
        guard text.contains("."), let seconds = Double(text), seconds.isFinite, abs(seconds) < 9e15 else { return nil }
        return Int64((seconds * 1000).rounded())
    }

    /// HELP text escapes: `\\` and `\n`.
    static func unescapeHelp(_ text: String) -> String {
        guard text.contains("\\") else { return text }
        var out = ""
        var escaped = false
        for c in text {
            if escaped {
                switch c {
                case "n": out.append("\n")
                case "\\": out.append("\\")
                default: out += "\\\(c)"  // not an escape the format defines: kept as written
                }
                escaped = false
            } else if c == "\\" {
                escaped = true
            } else {
                out.append(c)
            }
        }
        if escaped { out.append("\\") }
        return out
    }
}
