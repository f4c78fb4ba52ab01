#if canImport(Glibc)
import Glibc
#endif
import GPulseCore

/// CPU utilization and iowait from /proc/stat, as deltas between consecutive readings: whole host, and
/// optionally per core (subject "cpuN"). Cores that go offline lose their baseline; cores that come
/// online start with one.
///
/// The kernel advances these counters once per clock tick (USER_HZ, 100 per second), so the file is
/// read at most once per tick even when the group runs faster: a faster read could not see a change.
public final class CPUSampler: Sampler {
    public let name = "cpu"
    private let file: ProcFile
    private let signals: SignalTable
    private let utilID: SignalID
    private let iowaitID: SignalID
    private let perCore: Bool
    private var previous: CPUTimes?
    private var cores: [(util: SignalID, iowait: SignalID, previous: CPUTimes?, seen: Bool)] = []
    private let minimumIntervalNanos: UInt64
    private var lastReadNanos: UInt64?

    /// - Parameter procRoot: the procfs mount, "/proc" on a real host, a fixture directory in tests.
    public init(procRoot: String, perCore: Bool = false, signals: SignalTable) throws(ProcFileError) {
        file = try ProcFile(path: procRoot + "/stat")
        self.signals = signals
        self.perCore = perCore
        utilID = signals.id(.cpuUtil)
        iowaitID = signals.id(.cpuIOWait)
        let ticksPerSecond = sysconf(Int32(_SC_CLK_TCK))
        minimumIntervalNanos = ticksPerSecond > 0 ? UInt64(1_000_000_000 / ticksPerSecond) : 10_000_000
    }

    public func sample(into sink: inout SampleSink) throws {
        if let last = lastReadNanos, sink.monotonicNanos &- last < minimumIntervalNanos { return }
        lastReadNanos = sink.monotonicNanos
        let text = try file.read()
        var total: CPUTimes?
        for i in cores.indices { cores[i].seen = false }
        ProcStatParser.forEachCPULine(text) { index, times in
            guard let index else {
                total = times
                return perCore
            }
            while cores.count <= index {  // a core seen for the first time: the only allocation
                let n = cores.count
                cores.append((signals.id(.cpuUtil, subject: "cpu\(n)"), signals.id(.cpuIOWait, subject: "cpu\(n)"), nil, false))
            }
            if let before = cores[index].previous, let u = CPUUtilization.between(before, times) {
                sink.emit(cores[index].util, u.busy)
                sink.emit(cores[index].iowait, u.iowait)
            }
            cores[index].previous = times
            cores[index].seen = true
            return true
        }
        for i in cores.indices where !cores[i].seen { cores[i].previous = nil }
        guard let now = total else {
            throw ProcFileError.unparsable(path: file.path, why: "no aggregate cpu line")
        }
        defer { previous = now }
        // The first reading only sets the baseline; later ones yield a value when time has passed.
        guard let before = previous, let u = CPUUtilization.between(before, now) else { return }
        sink.emit(utilID, u.busy)
        sink.emit(iowaitID, u.iowait)
    }
}
