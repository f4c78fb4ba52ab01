import GPulseCore
import GPulseSnapshot
import Logging
import Synchronization

/// What `status` says about snapshots.
public struct SnapshotStats: Sendable, Codable, Hashable {
    public var path: String
    /// Age of the snapshot this run started from, at start (nil: started fresh).
    public var restoredAgeSeconds: Double?
    public var writes: UInt64 = 0
    public var failures: UInt64 = 0
    public var lastWriteUnix: Double?
    public var lastBytes: Int?
    public var lastWriteMilliseconds: Double?
    public var lastError: String?
}

/// Writes snapshots on its own thread, so that encoding and fsync never hold up ingest. The ingest
/// thread hands over a copy of its state (value types: cheap until written to) and goes on; if it
/// hands over another before the first is written, only the newest is kept. `stop()` writes what is
/// pending before it returns.
public final class SnapshotWriter: Sendable {
    private let store: SnapshotStore
    private let logger: Logger
    private let pending = Mutex<AggregatorSnapshot?>(nil)
    private let statsBox: Mutex<SnapshotStats>
    private let thread: Mutex<WorkerThread?> = Mutex(nil)

    public init(store: SnapshotStore, logger: Logger, restoredAgeSeconds: Double?) {
        self.store = store
        self.logger = logger
        statsBox = Mutex(SnapshotStats(path: store.path, restoredAgeSeconds: restoredAgeSeconds))
    }

    public var stats: SnapshotStats { statsBox.withLock { $0 } }

    public func start() {
        let t = WorkerThread(name: "gpulse-snapshot") { [self] worker in
            while !worker.shouldStop {
                writePending()
                SystemClock.sleep(milliseconds: 50)
            }
        }
        thread.withLock { $0 = t }
    }

    public func submit(_ snapshot: AggregatorSnapshot) { pending.withLock { $0 = snapshot } }

    /// Stops the thread, then writes what is still pending (the final snapshot of a shutdown).
    public func stop() {
        if let t = thread.withLock({ t -> WorkerThread? in defer { t = nil }; return t }) {
            t.stop()
            t.join()
        }
        writePending()
    }

    private func writePending() {
        guard let snapshot = pending.withLock({ p -> AggregatorSnapshot? in defer { p = nil }; return p }) else { return }
        let started = SystemClock.monotonicSeconds()
        do {
            let bytes = try store.encode(snapshot)
            try store.write(bytes)
            let elapsed = (SystemClock.monotonicSeconds() - started) * 1000
            statsBox.withLock {
                $0.writes += 1
                $0.lastWriteUnix = Double(SystemClock.wallNanos()) / 1e9
                $0.lastBytes = bytes.count
                $0.lastWriteMilliseconds = elapsed
            }
            logger.debug("snapshot written", metadata: ["path": "\(store.path)", "bytes": "\(bytes.count)", "ms": "\(Int(elapsed))"])
        } catch {
            // A full or read-only disk: ingest carries on; the previous snapshot stays whole.
            let failures = statsBox.withLock {
                $0.failures += 1
                $0.lastError = "\(error)"
                return $0.failures
            }
            logger.error(
                "cannot write snapshot; the previous one is kept", metadata: ["path": "\(store.path)", "error": "\(error)", "failures": "\(failures)"])
        }
    }
}
