import Foundation
import GPulseCore
import GPulseTransport
import Logging

/// One round of every enabled sampler, for `gpulse-agent once`: what a newcomer runs first on a host.
public struct OnceReport: Codable, Sendable {
    public struct Value: Codable, Sendable {
        public var kind: String
        public var subject: String
        public var unit: String
        public var value: Float
        /// How old the value is, milliseconds (driver-timestamped GPU values are older than the tick).
        public var ageMs: Double
        /// How often the source gave a new reading during the window, milliseconds (see `UpdatePeriod`);
        /// nil when it gave fewer than two in the window.
        public var updatePeriodMs: Double?
        /// What the period was read from: "source timestamps" or "value changes".
        public var periodBasis: String?
        /// Readings of this signal in the window.
        public var readings: Int

        enum CodingKeys: String, CodingKey {
            case kind, subject, unit, value, ageMs = "age_ms", updatePeriodMs = "update_period_ms", periodBasis = "period_basis", readings
        }
    }
    public struct SamplerRound: Codable, Sendable {
        public var name: String
        public var group: String
        public var durationUs: Double
        public var error: String?
        public var values: [Value]

        enum CodingKeys: String, CodingKey { case name, group, durationUs = "duration_us", error, values }
    }

    public var nodeID: String
    public var samplers: [SamplerRound]
    /// Samplers left out or limited on this host, and why.
    public var notes: [String]

    enum CodingKeys: String, CodingKey { case nodeID = "node_id", samplers, notes }

    /// Runs every sampler once for a baseline (rates and utilization need one), then at its group's
    /// rate (at most 200 Hz) for `windowMilliseconds`, and reports each signal's newest value with how
    /// often its source really changed in the window.
    public static func collect(config: AgentConfig, labels: NodeLabels, windowMilliseconds: Int = 1000, logger: Logger) throws -> OnceReport {
        let signals = SignalTable()
        let context = try ZMQContext()
        let registry = SamplerRegistry(config: config, context: context, signals: signals, logger: logger)
        let ring = SampleRing(capacity: 100_000)
        for group in registry.groups {
            for sampler in group.samplers {
                var sink = SampleSink(ring: ring, monotonicNanos: SystemClock.monotonicNanos())
                try? sampler.sample(into: &sink)
            }
        }
        var discard: [Sample] = []
        ring.drain(into: &discard)

        // The window: every group at its own rate (capped at 200 Hz), each sampler's samples kept apart.
        struct Seen {
            var group: String
            var runs = 0
            var nanos: UInt64 = 0
            var error: String?
            var samples: [(tick: UInt64, sample: Sample)] = []
        }
        var seen: [ObjectIdentifier: Seen] = [:]
        let begin = SystemClock.monotonicNanos()
        let window = UInt64(max(1, windowMilliseconds)) * 1_000_000
        // Each group first runs one of its periods after the baseline (a 1 Hz utilization drain right
        // after the baseline would find nothing new), and the window lasts until every group ran once.
        let periods = registry.groups.map { UInt64(1e9 / min(200, max(1, $0.rateHz))) }
        var due = periods.map { begin + $0 }
        var ran = registry.groups.map { _ in false }
        var now = begin
        while now - begin < window || ran.contains(false) {
            for (g, group) in registry.groups.enumerated() where now >= due[g] {
                due[g] = now + periods[g]
                ran[g] = true
                for sampler in group.samplers {
                    let start = SystemClock.monotonicNanos()
                    var sink = SampleSink(ring: ring, monotonicNanos: start)
                    var failure: String?
                    do { try sampler.sample(into: &sink) } catch { failure = "\(error)" }
                    let end = SystemClock.monotonicNanos()
                    var samples: [Sample] = []
                    ring.drain(into: &samples)
                    var entry = seen[ObjectIdentifier(sampler)] ?? Seen(group: group.name)
                    entry.runs += 1
                    entry.nanos += end - start
                    entry.error = failure
                    entry.samples += samples.map { (start, $0) }
                    seen[ObjectIdentifier(sampler)] = entry
                }
            }
            SystemClock.sleep(milliseconds: 5)
            now = SystemClock.monotonicNanos()
        }
        let end = SystemClock.monotonicNanos()

        var rounds: [SamplerRound] = []
        for group in registry.groups {
            for sampler in group.samplers {
                guard let entry = seen[ObjectIdentifier(sampler)] else { continue }
                var bySignal: [SignalID: [(tick: UInt64, sample: Sample)]] = [:]
                for s in entry.samples { bySignal[s.sample.signal, default: []].append(s) }
                let values = bySignal.compactMap { id, samples -> Value? in
                    guard let e = signals.entry(id), let newest = samples.max(by: { $0.sample.monotonicNanos < $1.sample.monotonicNanos }) else { return nil }
                    let period = UpdatePeriod.estimate(samples.map { .init(nanos: $0.sample.monotonicNanos, value: $0.sample.value, sourceStamped: $0.sample.monotonicNanos != $0.tick) })
                    return Value(
                        kind: e.kind.name, subject: e.subject, unit: e.kind.unit, value: newest.sample.value,
                        ageMs: Double(Int64(bitPattern: end &- newest.sample.monotonicNanos)) / 1e6, updatePeriodMs: period?.milliseconds,
                        periodBasis: period?.basis.rawValue, readings: samples.count)
                }.sorted { ($0.kind, $0.subject) < ($1.kind, $1.subject) }
                rounds.append(
                    SamplerRound(
                        name: sampler.name, group: group.name, durationUs: entry.runs == 0 ? 0 : Double(entry.nanos) / Double(entry.runs) / 1000,
                        error: entry.error, values: values))
            }
        }
        for group in registry.groups { for sampler in group.samplers { sampler.shutdown() } }
        registry.nvml?.close()
        return OnceReport(nodeID: labels.nodeID, samplers: rounds, notes: registry.notes)
    }

    public func json() -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        return String(decoding: (try? encoder.encode(self)) ?? Data(), as: UTF8.self)
    }

    /// A table for people.
    public func text() -> String {
        var lines = ["node \(nodeID)"]
        for r in samplers {
            lines.append("\(r.name) (group \(r.group), \(String(format: "%.0f", r.durationUs)) us)\(r.error.map { ": FAILED: \($0)" } ?? "")")
            if r.values.isEmpty && r.error == nil { lines.append("    (no value this round)") }
            for v in r.values {
                let subject = v.subject.isEmpty ? "" : "[\(v.subject)]"
                let period = v.updatePeriodMs.map { String(format: "  new every ~%.0f ms (%@)", $0, v.periodBasis ?? "") } ?? "  steady in the window"
                lines.append("    \(v.kind)\(subject) = \(v.value) \(v.unit)\(v.ageMs > 1 ? String(format: "  (%.0f ms old)", v.ageMs) : "")\(period)")
            }
        }
        for n in notes { lines.append("note: \(n)") }
        return lines.joined(separator: "\n")
    }
}

/// How often a source gives a new reading, from what one sampler emitted over a short window. A value
/// stamped by its source (NVML's utilization samples, an XID) has its own timestamps, and their spacing
/// is the period; a value stamped with the sampler's tick changes only when the source does (procfs
/// counters move in 10 ms ticks; a gauge may hold still), so the period is the spacing of its changes.
public enum UpdatePeriod {
    public enum Basis: String, Sendable { case sourceTimestamps = "source timestamps", valueChanges = "value changes" }
    public struct Reading: Sendable {
        public var nanos: UInt64
        public var value: Float
        public var sourceStamped: Bool
        public init(nanos: UInt64, value: Float, sourceStamped: Bool) {
            self.nanos = nanos
            self.value = value
            self.sourceStamped = sourceStamped
        }
    }

    /// The median spacing, and its basis; nil with fewer than two new readings.
    public static func estimate(_ readings: [Reading]) -> (milliseconds: Double, basis: Basis)? {
        let sorted = readings.sorted { $0.nanos < $1.nanos }
        let stamped = sorted.contains { $0.sourceStamped }
        var times: [UInt64] = []
        var last: Reading?
        for r in sorted {
            defer { last = r }
            guard let previous = last else {
                times.append(r.nanos)
                continue
            }
            if stamped ? r.nanos != previous.nanos : r.value != previous.value { times.append(r.nanos) }
        }
        guard times.count >= 2 else { return nil }
        // Without source stamps the first reading is the window's start, not a change: spacing from the first change on.
        let changes = stamped ? times : Array(times.dropFirst())
        guard changes.count >= 2 else { return nil }
        let gaps = zip(changes.dropFirst(), changes).map { Double($0 - $1) / 1e6 }.sorted()
        return (gaps[gaps.count / 2], stamped ? .sourceTimestamps : .valueChanges)
    }
}
