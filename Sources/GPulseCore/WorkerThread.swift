#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Dispatch
import Synchronization

/// A dedicated OS thread for loops that must not run on Swift's cooperative pool (the sampling tick,
/// blocking socket loops). The body polls `shouldStop` and returns when it turns true.
public final class WorkerThread: Sendable {
    private final class Box: @unchecked Sendable {
        let body: @Sendable (WorkerThread) -> Void
        let thread: WorkerThread
        init(body: @escaping @Sendable (WorkerThread) -> Void, thread: WorkerThread) {
            self.body = body
            self.thread = thread
        }
    }

    public let name: String
    private let stopFlag = Atomic<Bool>(false)
    private let handle = Mutex<pthread_t?>(nil)
    /// Signalled by `stop()`, so that a body sleeping in `sleep(untilMonotonicNanos:)` wakes at once.
    private let wake = DispatchSemaphore(value: 0)

    /// Starts `body` on a new thread named `name` (logs, and the thread's name in the kernel).
    public init(name: String, body: @escaping @Sendable (WorkerThread) -> Void) {
        self.name = name
        let box = Unmanaged.passRetained(Box(body: body, thread: self)).toOpaque()
        var tid = pthread_t()
        let rc = pthread_create(&tid, nil, { raw in
            let box = Unmanaged<Box>.fromOpaque(raw!).takeRetainedValue()
            nameCurrentThread(box.thread.name)
            box.body(box.thread)
            return nil
        }, box)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        handle.withLock { $0 = tid }
    }

    /// True once `stop()` was called; the body checks it between units of work.
    public var shouldStop: Bool { stopFlag.load(ordering: .acquiring) }

    /// Asks the body to return, waking it if it sleeps in `sleep(untilMonotonicNanos:)`. Does not
    /// wait; call `join()` for that.
    public func stop() {
        guard !stopFlag.exchange(true, ordering: .acquiringAndReleasing) else { return }
        wake.signal()
    }

    /// Sleeps until `deadline` (CLOCK_MONOTONIC) or until `stop()`, whichever comes first: a loop
    /// with nothing to do until its next deadline neither wakes early nor makes its stop wait.
    /// Call from the body only. False when stopped.
    @discardableResult
    public func sleep(untilMonotonicNanos deadline: UInt64) -> Bool {
        let now = SystemClock.monotonicNanos()
        guard !shouldStop else { return false }
        guard deadline > now else { return true }
        if wake.wait(timeout: .now() + .nanoseconds(Int(min(deadline - now, UInt64(Int.max))))) == .success {
            wake.signal()  // stays stopped for any later sleep
            return false
        }
        return true
    }

    /// Waits for the body to return; call from another thread. Later calls return at once.
    public func join() {
        guard let tid = handle.withLock({ h -> pthread_t? in defer { h = nil }; return h }) else { return }
        pthread_join(tid, nil)
    }
}

/// Gives the calling thread its kernel name (15 bytes at most), what `top -H` and
/// /proc/PID/task/*/comm show. Through /proc/thread-self/comm because Glibc's module does not export
/// pthread_setname_np to Swift; a failure only leaves the default name.
private func nameCurrentThread(_ name: String) {
#if os(Linux)
    let fd = open("/proc/thread-self/comm", O_WRONLY | O_CLOEXEC)
    guard fd >= 0 else { return }
    let bytes = Array(name.utf8.prefix(15))
    _ = bytes.withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
    close(fd)
#endif
}
