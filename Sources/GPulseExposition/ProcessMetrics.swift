import Foundation
import Prometheus

/// The standard `process_*` metrics (the names every Prometheus client library uses), read from
/// /proc/self. Parsing is separate from reading so it is tested on literal text.
public final class ProcessMetrics: Sendable {
    private let cpu: MirroredCounter
    private let resident: Gauge
    private let virtualBytes: Gauge
    private let openFDs: Gauge
    private let maxFDs: Gauge
    private let threads: Gauge
    private let procRoot: String

    public init(registry: PrometheusCollectorRegistry, procRoot: String = "/proc") {
        self.procRoot = procRoot
        cpu = MirroredCounter(registry: registry, name: "process_cpu_seconds_total", help: "User and system CPU time spent, in seconds.")
        resident = registry.makeGauge(name: "process_resident_memory_bytes", help: "Resident memory size in bytes.")
        virtualBytes = registry.makeGauge(name: "process_virtual_memory_bytes", help: "Virtual memory size in bytes.")
        openFDs = registry.makeGauge(name: "process_open_fds", help: "Number of open file descriptors.")
        maxFDs = registry.makeGauge(name: "process_max_fds", help: "Maximum number of open file descriptors.")
        threads = registry.makeGauge(name: "process_threads", help: "Number of OS threads in the process.")
        let start = registry.makeGauge(name: "process_start_time_seconds", help: "Start time of the process since unix epoch in seconds.")
        start.set(Self.startTimeSeconds(procRoot: procRoot) ?? Date().timeIntervalSince1970)
    }

    /// Re-reads /proc/self; values that cannot be read keep their last value. Readable from any thread,
    /// so the endpoint calls it on each scrape and no service loop does this I/O.
    public func update() {
        if let text = try? String(contentsOfFile: "\(procRoot)/self/stat", encoding: .utf8), let stat = ProcSelfStat(text) {
            cpu.advance(to: stat.cpuSeconds(ticksPerSecond: Self.ticksPerSecond))
            resident.set(Double(stat.residentPages * Self.pageSize))
            virtualBytes.set(Double(stat.virtualBytes))
            threads.set(Double(stat.threads))
        }
        if let fds = try? FileManager.default.contentsOfDirectory(atPath: "\(procRoot)/self/fd") { openFDs.set(Double(fds.count)) }
        var limit = rlimit()
        if getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 { maxFDs.set(Double(limit.rlim_cur)) }
    }

    static let ticksPerSecond = Double(sysconf(Int32(_SC_CLK_TCK)))
    static let pageSize = Int(sysconf(Int32(_SC_PAGESIZE)))

    static func startTimeSeconds(procRoot: String) -> Double? {
        guard let text = try? String(contentsOfFile: "\(procRoot)/self/stat", encoding: .utf8), let stat = ProcSelfStat(text),
            let uptimeText = try? String(contentsOfFile: "\(procRoot)/uptime", encoding: .utf8),
            let uptime = Double(uptimeText.split(separator: " ").first ?? "")
        else { return nil }
        let bootTime = Date().timeIntervalSince1970 - uptime
        return bootTime + Double(stat.startTicks) / ticksPerSecond
    }
}

/// The fields of /proc/self/stat we export (proc(5)). The command name may hold spaces and
/// parentheses, so fields are counted from the last ')'.
public struct ProcSelfStat: Equatable, Sendable {
    public var userTicks: UInt64
    public var systemTicks: UInt64
    public var threads: Int
    public var startTicks: UInt64
    public var virtualBytes: UInt64
    public var residentPages: Int

    public init?(_ text: String) {
        guard let close = text.lastIndex(of: ")") else { return nil }
        // Fields after the name start at field 3 (state); index 0 here is field 3.
        let f = text[text.index(after: close)...].split(separator: " ", omittingEmptySubsequences: true)
        func field(_ n: Int) -> Substring? { n - 3 < f.count ? f[n - 3] : nil }
        guard let utime = field(14).flatMap({ UInt64($0) }), let stime = field(15).flatMap({ UInt64($0) }),
            let threads = field(20).flatMap({ Int($0) }), let start = field(22).flatMap({ UInt64($0) }),
            let vsize = field(23).flatMap({ UInt64($0) }), let rss = field(24).flatMap({ Int($0.trimmingCharacters(in: .whitespacesAndNewlines)) })
        else { return nil }
        userTicks = utime
        systemTicks = stime
        self.threads = threads
        startTicks = start
        virtualBytes = vsize
        residentPages = rss
    }

    public func cpuSeconds(ticksPerSecond: Double) -> Double { Double(userTicks + systemTicks) / ticksPerSecond }
}
