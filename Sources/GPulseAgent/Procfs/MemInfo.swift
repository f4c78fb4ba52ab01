/// Parses /proc/meminfo without allocating.
public enum MemInfoParser {
    public struct Reading: Sendable, Hashable {
        public var totalKiB: UInt64
        public var availableKiB: UInt64

        public init(totalKiB: UInt64, availableKiB: UInt64) {
            self.totalKiB = totalKiB
            self.availableKiB = availableKiB
        }

        /// Fraction 0...1 of memory not available to new work.
        public var usedFraction: Float {
            totalKiB == 0 ? 0 : Float(1 - min(1, Double(availableKiB) / Double(totalKiB)))
        }
    }

    /// MemTotal and MemAvailable; kernels before 3.14 lack MemAvailable, and then MemFree + Buffers +
    /// Cached stands in for it. Nil when MemTotal is missing.
    public static func parse(_ text: UnsafeRawBufferPointer) -> Reading? {
        var total: UInt64?, available: UInt64?, free: UInt64 = 0, buffers: UInt64 = 0, cached: UInt64 = 0
        var i = 0
        while i < text.count {
            let end = ProcText.lineEnd(text, from: i)
            if let colon = ProcText.firstIndex(of: UInt8(ascii: ":"), in: text, from: i, to: end) {
                var p = colon + 1
                let value = ProcText.unsigned(text, &p, end)
                if matches(text, i, colon, "MemTotal") { total = value }
                else if matches(text, i, colon, "MemAvailable") { available = value }
                else if matches(text, i, colon, "MemFree") { free = value ?? 0 }
                else if matches(text, i, colon, "Buffers") { buffers = value ?? 0 }
                else if matches(text, i, colon, "Cached") { cached = value ?? 0 }
            }
            // MemTotal and MemAvailable are the first and third lines: the other fifty need no scan.
            if total != nil && available != nil { break }
            i = end + 1
        }
        guard let total else { return nil }
        return Reading(totalKiB: total, availableKiB: available ?? (free + buffers + cached))
    }

    private static func matches(_ text: UnsafeRawBufferPointer, _ from: Int, _ to: Int, _ key: StaticString) -> Bool {
        guard to - from == key.utf8CodeUnitCount else { return false }
        let k = key.utf8Start
        for j in 0..<(to - from) where text[from + j] != k[j] { return false }
        return true
    }
}

/// Host memory used fraction from /proc/meminfo.
public final class MemorySampler: Sampler {
    public let name = "memory"
    private let file: ProcFile
    private let signal: SignalID

    public init(procRoot: String, signals: SignalTable) throws(ProcFileError) {
        file = try ProcFile(path: procRoot + "/meminfo")
        signal = signals.id(.memUsedFrac)
    }

    public func sample(into sink: inout SampleSink) throws {
        guard let reading = MemInfoParser.parse(try file.read()) else {
            throw ProcFileError.unparsable(path: file.path, why: "no MemTotal line")
        }
        sink.emit(signal, reading.usedFraction)
    }
}
