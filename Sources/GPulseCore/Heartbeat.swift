import Synchronization

/// The last moment a loop made progress, written by the loop (one relaxed atomic store, no lock,
/// no allocation) and read by health checks (/healthz, the systemd watchdog) on other threads.
public final class Heartbeat: Sendable {
    private let lastNanos = Atomic<UInt64>(0)
    private let longestNanos = Atomic<UInt64>(0)

    public init() {}

    /// Called by the loop each time round (by its own thread only).
    @inline(__always)
    public func beat(nowMonotonicNanos: UInt64 = SystemClock.monotonicNanos()) {
        let last = lastNanos.load(ordering: .relaxed)
        if last != 0, nowMonotonicNanos > last, nowMonotonicNanos - last > longestNanos.load(ordering: .relaxed) {
            longestNanos.store(nowMonotonicNanos - last, ordering: .relaxed)
        }
        lastNanos.store(nowMonotonicNanos, ordering: .relaxed)
    }

    /// The longest time between two beats so far: the loop's worst stall since it started.
    public var longestGapSeconds: Double { Double(longestNanos.load(ordering: .relaxed)) / 1e9 }

    /// Seconds since the last beat; nil before the first.
    public func secondsSinceLastBeat(nowMonotonicNanos: UInt64 = SystemClock.monotonicNanos()) -> Double? {
        let last = lastNanos.load(ordering: .relaxed)
        guard last != 0 else { return nil }
        return nowMonotonicNanos > last ? Double(nowMonotonicNanos - last) / 1e9 : 0
    }

    /// Healthy when `loop` beat within `limitSeconds`; the detail says how long ago, for /healthz and logs.
    public func health(of loop: String, limitSeconds: Double, nowMonotonicNanos: UInt64 = SystemClock.monotonicNanos()) -> Health {
        guard let age = secondsSinceLastBeat(nowMonotonicNanos: nowMonotonicNanos) else {
            return Health(healthy: false, detail: "\(loop) not started")
        }
        let detail = "\(loop) last went round \((age * 1000).rounded() / 1000) s ago (limit \(limitSeconds) s)"
        return Health(healthy: age <= limitSeconds, detail: detail)
    }
}

/// A loop's health in one line: what `/healthz` answers and what decides whether the systemd
/// watchdog is fed.
public struct Health: Sendable, Equatable {
    public var healthy: Bool
    public var detail: String
    public init(healthy: Bool, detail: String) {
        self.healthy = healthy
        self.detail = detail
    }
}
