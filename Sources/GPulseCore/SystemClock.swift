#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// The host's clocks. Samples and deadlines use CLOCK_MONOTONIC (never jumps); wall-clock time is
/// only used for what leaves the process (batch t0, decision times).
public enum SystemClock {
    public static func monotonicNanos() -> UInt64 { read(CLOCK_MONOTONIC) }
    public static func wallNanos() -> Int64 { Int64(bitPattern: read(CLOCK_REALTIME)) }

    /// Sleeps until CLOCK_MONOTONIC reaches `deadline` (absolute, so errors do not accumulate).
    public static func sleep(untilMonotonicNanos deadline: UInt64) {
        var ts = timespec(tv_sec: Int(deadline / 1_000_000_000), tv_nsec: Int(deadline % 1_000_000_000))
        #if canImport(Glibc)
        while clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, nil) == EINTR {}
        #else
        let now = monotonicNanos()
        if deadline > now { usleep(UInt32((deadline - now) / 1000)) }
        _ = ts
        #endif
    }

    public static func monotonicSeconds() -> Double { Double(monotonicNanos()) / 1e9 }

    public static func sleep(milliseconds: Int) {
        sleep(untilMonotonicNanos: monotonicNanos() + UInt64(max(0, milliseconds)) * 1_000_000)
    }

    private static func read(_ clock: clockid_t) -> UInt64 {
        var ts = timespec()
        clock_gettime(clock, &ts)
        return UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec)
    }
}
