import GPulseCore

/// Whole-host CPU utilization and iowait from /proc/stat, as deltas between consecutive ticks.
public final class CPUSampler: Sampler {
    public let name = "cpu"
    private let file: ProcFile
    private let utilID: SignalID
    private let iowaitID: SignalID
    private var previous: CPUTimes?

    /// - Parameter procRoot: the procfs mount, "/proc" on a real host, a fixture directory in tests.
    public init(procRoot: String, signals: SignalTable) throws(ProcFileError) {
        file = try ProcFile(path: procRoot + "/stat")
        utilID = signals.id(.cpuUtil)
        iowaitID = signals.id(.cpuIOWait)
    }

    public func sample(into sink: inout SampleSink) throws {
        let text = try file.read()
        guard let now = ProcStatParser.totalCPU(text) else {
            throw ProcFileError.unparsable(path: file.path, why: "no aggregate cpu line")
        }
        defer { previous = now }
        // The first reading only sets the baseline; later ones yield a value when time has passed.
        guard let before = previous, let u = CPUUtilization.between(before, now) else { return }
        sink.emit(utilID, u.busy)
        sink.emit(iowaitID, u.iowait)
    }
}
