import Foundation
import GPulseCore
import Testing

@Suite struct SequenceTrackerTests {
    @Test func twoAgentsUnderOneNodeIDAreAConflictNotARestartStorm() {
        var t = SequenceTracker()
        #expect(t.observe(session: 1, seq: 0) == .first)
        #expect(t.observe(session: 1, seq: 1) == .inOrder)
        #expect(t.observe(session: 2, seq: 0) == .restarted)  // looks like a restart, once
        #expect(t.observe(session: 1, seq: 2) == .conflict)  // but the old session speaks again
        #expect(t.observe(session: 2, seq: 1) == .inOrder)
        #expect(t.observe(session: 1, seq: 3) == .conflict)
        #expect(t.restarts == 1 && t.conflicts == 2 && t.received == 4)
        #expect(t.observe(session: 3, seq: 0) == .restarted)  // a real restart is still one
    }

    @Test func classifiesOrderGapsRestartsAndDuplicates() {
        var t = SequenceTracker()
        #expect(t.observe(session: 1, seq: 0) == .first)
        #expect(t.observe(session: 1, seq: 1) == .inOrder)
        #expect(t.observe(session: 1, seq: 4) == .gap(missing: 2))
        #expect(t.observe(session: 1, seq: 4) == .duplicate)
        #expect(t.observe(session: 1, seq: 3) == .duplicate)
        #expect(t.observe(session: 2, seq: 0) == .restarted)
        #expect(t.observe(session: 2, seq: 1) == .inOrder)
        #expect(t.received == 5)
        #expect(t.missing == 2)
        #expect(t.restarts == 1)
        #expect(t.duplicates == 2)
    }

    @Test func firstBatchOfAJoiningAgentNeedNotBeZero() {
        // The aggregator may start after the agent: the first seq seen is the baseline, not a gap.
        var t = SequenceTracker()
        #expect(t.observe(session: 9, seq: 1234) == .first)
        #expect(t.observe(session: 9, seq: 1235) == .inOrder)
        #expect(t.missing == 0)
    }
}

@Suite struct SignalTests {
    @Test func fractionsAndUnits() {
        let fractions = SignalKind.allCases.filter(\.isFraction)
        #expect(
            Set(fractions) == [
                .cpuUtil, .cpuIOWait, .memUsedFrac, .gpuUtil, .gpuMemUsedFrac, .appKVCacheUsage, .gpuSMActive, .gpuSMOccupancy, .gpuTensorActive,
                .gpuDRAMBandwidthUtil,
            ])
        #expect(fractions.allSatisfy { $0.unit == "fraction" })
        #expect(SignalKind.netRxBps.unit == "bytes/s")
        #expect(Set(SignalKind.allCases.map(\.name)).count == SignalKind.allCases.count)
    }

    @Test func labelNames() {
        #expect(Tier.allCases.map(\.name) == ["unspecified", "cloud", "edge"])
        #expect(WorkloadClass.allCases.map(\.name) == ["unspecified", "online", "batch"])
    }

    @Test func decisionTopics() {
        let node = Decision(id: "a", seq: 1, issuedUnixNanos: 0, validUntilUnixNanos: 0, body: .node(NodeEvent(nodeID: "gpu-9", kind: .down)))
        #expect(node.topic == "node/gpu-9")
        let off = Decision(
            id: "b", seq: 2, issuedUnixNanos: 0, validUntilUnixNanos: 0,
            body: .offload(OffloadDecision(site: "edge-fra1", pool: "p", target: "t", fraction: 0.2, edgeLoadIndex: 0.9, rttMs: 20, budgetMs: 100, reason: "")))
        #expect(off.topic == "offload/edge-fra1")
    }
}

@Suite struct WorkerThreadTests {
    @Test func runsUntilStoppedAndJoins() {
        let counter = Counter()
        let t = WorkerThread(name: "test") { worker in
            while !worker.shouldStop {
                counter.increment()
                SystemClock.sleep(milliseconds: 1)
            }
        }
        // Wait for the thread to have run (a busy machine may start it late), with a generous bound.
        let deadline = SystemClock.monotonicSeconds() + 30
        while counter.value == 0 && SystemClock.monotonicSeconds() < deadline { SystemClock.sleep(milliseconds: 5) }
        t.stop()
        t.join()
        let seen = counter.value
        #expect(seen > 0)
        SystemClock.sleep(milliseconds: 10)
        #expect(counter.value == seen)  // really stopped
    }

    /// A body sleeping towards a far deadline is woken by `stop()`, not at the deadline; a near
    /// deadline is slept to.
    @Test func stopCutsASleepShort() {
        let outcome = Mutex<(first: Bool?, second: Bool?)>((nil, nil))
        let t = WorkerThread(name: "gpulse-sleeper") { me in
            let near = me.sleep(untilMonotonicNanos: SystemClock.monotonicNanos() + 20_000_000)
            outcome.withLock { $0.first = near }
            let far = me.sleep(untilMonotonicNanos: SystemClock.monotonicNanos() + 600_000_000_000)
            outcome.withLock { $0.second = far }
        }
        let deadline = SystemClock.monotonicSeconds() + 30
        while outcome.withLock({ $0.first }) == nil && SystemClock.monotonicSeconds() < deadline { SystemClock.sleep(milliseconds: 5) }
        let stopped = SystemClock.monotonicSeconds()
        t.stop()
        t.join()
        #expect(outcome.withLock { $0.first } == true)
        #expect(outcome.withLock { $0.second } == false)
        // Far below the 600 s it slept towards (generous for a busy machine).
        #expect(SystemClock.monotonicSeconds() - stopped < 30)
    }

    @Test func theKernelKnowsTheThreadByItsName() throws {
        let seen = Mutex("")
        let t = WorkerThread(name: "gpulse-a-long-thread-name") { _ in
            let comm = (try? String(contentsOfFile: "/proc/thread-self/comm", encoding: .utf8)) ?? ""
            seen.withLock { $0 = comm }
        }
        t.join()
        // Linux keeps 15 bytes of it.
        #expect(seen.withLock { $0 } == "gpulse-a-long-t\n")
    }
}

import Synchronization

final class Counter: Sendable {
    private let v = Atomic<Int>(0)
    func increment() { v.add(1, ordering: .relaxed) }
    var value: Int { v.load(ordering: .relaxed) }
}

@Suite struct HeartbeatTests {
    @Test func healthyOnlyWithinTheLimitOfTheLastBeat() {
        let heartbeat = Heartbeat()
        #expect(heartbeat.secondsSinceLastBeat(nowMonotonicNanos: 5_000_000_000) == nil)
        let before = heartbeat.health(of: "loop", limitSeconds: 5, nowMonotonicNanos: 5_000_000_000)
        #expect(!before.healthy && before.detail == "loop not started")
        heartbeat.beat(nowMonotonicNanos: 10_000_000_000)
        #expect(heartbeat.secondsSinceLastBeat(nowMonotonicNanos: 12_500_000_000) == 2.5)
        let onTime = heartbeat.health(of: "loop", limitSeconds: 5, nowMonotonicNanos: 15_000_000_000)
        #expect(onTime.healthy && onTime.detail == "loop last went round 5.0 s ago (limit 5.0 s)")
        #expect(!heartbeat.health(of: "loop", limitSeconds: 5, nowMonotonicNanos: 15_000_000_001).healthy)
    }
}
