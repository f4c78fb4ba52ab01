/// Cumulative CPU time counters from one "cpu" line of /proc/stat, in USER_HZ ticks.
public struct CPUTimes: Sendable, Hashable {
    public var user: UInt64 = 0
    public var nice: UInt64 = 0
    public var system: UInt64 = 0
    public var idle: UInt64 = 0
    public var iowait: UInt64 = 0
    public var irq: UInt64 = 0
    public var softirq: UInt64 = 0
    public var steal: UInt64 = 0

    public init() {}

    public init(user: UInt64, nice: UInt64, system: UInt64, idle: UInt64, iowait: UInt64 = 0, irq: UInt64 = 0, softirq: UInt64 = 0, steal: UInt64 = 0) {
        self.user = user
        self.nice = nice
        self.system = system
        self.idle = idle
        self.iowait = iowait
        self.irq = irq
        self.softirq = softirq
        self.steal = steal
    }

    /// All time, excluding guest time, which the kernel already counts inside user and nice.
    public var total: UInt64 { user &+ nice &+ system &+ idle &+ iowait &+ irq &+ softirq &+ steal }
    public var busy: UInt64 { total &- idle &- iowait }
}

/// CPU utilization between two readings.
public struct CPUUtilization: Sendable, Hashable {
    /// Fraction 0...1 of time busy (not idle, not waiting for I/O).
    public var busy: Float
    /// Fraction 0...1 of time idle waiting for I/O.
    public var iowait: Float

    public init(busy: Float, iowait: Float) {
        self.busy = busy
        self.iowait = iowait
    }

    /// Nil when no time passed or a counter went backwards (CPU hot-plug, counter reset): no value
    /// is better than a made-up one.
    public static func between(_ earlier: CPUTimes, _ later: CPUTimes) -> CPUUtilization? {
        guard later.total > earlier.total, later.busy >= earlier.busy, later.iowait >= earlier.iowait,
              later.idle >= earlier.idle
        else { return nil }
        let dt = Double(later.total - earlier.total)
        let busy = Double(later.busy - earlier.busy) / dt
        let iowait = Double(later.iowait - earlier.iowait) / dt
        return CPUUtilization(busy: Float(min(1, max(0, busy))), iowait: Float(min(1, max(0, iowait))))
    }
}

/// Parses /proc/stat text without allocating.
public enum ProcStatParser {
    /// The aggregate "cpu " line; nil when the text has none or it is malformed.
    public static func totalCPU(_ text: UnsafeRawBufferPointer) -> CPUTimes? {
        var result: CPUTimes?
        forEachCPULine(text) { index, times in
            if index == nil { result = times }
            return index != nil  // stop at the aggregate line
        }
        return result
    }

    /// Calls `body` for each "cpu" line: index nil for the aggregate line, N for "cpuN".
    /// `body` returns false to stop early.
    public static func forEachCPULine(_ text: UnsafeRawBufferPointer, _ body: (Int?, CPUTimes) -> Bool) {
        var i = 0
        let n = text.count
        while i < n {
            let lineEnd = ProcText.lineEnd(text, from: i)
            // A line starts with "cpu"; anything else ends the cpu block once one was seen.
            if lineEnd - i > 3, text[i] == UInt8(ascii: "c"), text[i + 1] == UInt8(ascii: "p"), text[i + 2] == UInt8(ascii: "u") {
                var p = i + 3
                // "cpuN" carries its index right after "cpu"; the aggregate line has a space there.
                let index = p < lineEnd && ProcText.isDigit(text[p]) ? ProcText.unsigned(text, &p, lineEnd).map { Int($0) } : nil
                if let times = parseTimes(text, from: p, to: lineEnd) {
                    if !body(index, times) { return }
                }
            }
            i = lineEnd + 1
        }
    }

    private static func parseTimes(_ text: UnsafeRawBufferPointer, from start: Int, to end: Int) -> CPUTimes? {
        var fields = (UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0), UInt64(0))
        var count = 0
        var p = start
        while count < 8 {
            guard let v = ProcText.unsigned(text, &p, end) else {
                if p < end { return nil }  // something that is not a number
                break
            }
            switch count {
            case 0: fields.0 = v
            case 1: fields.1 = v
            case 2: fields.2 = v
            case 3: fields.3 = v
            case 4: fields.4 = v
            case 5: fields.5 = v
            case 6: fields.6 = v
            default: fields.7 = v
            }
            count += 1
        }
        // user nice system idle are present on every kernel since 2.4; the rest came later.
        guard count >= 4 else { return nil }
        return CPUTimes(
            user: fields.0, nice: fields.1, system: fields.2, idle: fields.3, iowait: fields.4, irq: fields.5,
            softirq: fields.6, steal: fields.7)
    }
}
