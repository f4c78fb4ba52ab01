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

        enum CodingKeys: String, CodingKey { case kind, subject, unit, value, ageMs = "age_ms" }
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

    /// Runs every sampler twice, `spacingMilliseconds` apart (rates and utilization need a baseline),
    /// and reports the second round.
    public static func collect(config: AgentConfig, labels: NodeLabels, spacingMilliseconds: Int = 250, logger: Logger) throws -> OnceReport {
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
        SystemClock.sleep(milliseconds: spacingMilliseconds)

        var rounds: [SamplerRound] = []
        for group in registry.groups {
            for sampler in group.samplers {
                let start = SystemClock.monotonicNanos()
                var sink = SampleSink(ring: ring, monotonicNanos: start)
                var failure: String?
                do { try sampler.sample(into: &sink) } catch { failure = "\(error)" }
                let end = SystemClock.monotonicNanos()
                var samples: [Sample] = []
                ring.drain(into: &samples)
                let values = samples.compactMap { s -> Value? in
                    guard let e = signals.entry(s.signal) else { return nil }
                    return Value(kind: e.kind.name, subject: e.subject, unit: e.kind.unit, value: s.value, ageMs: Double(Int64(bitPattern: end &- s.monotonicNanos)) / 1e6)
                }
                rounds.append(SamplerRound(name: sampler.name, group: group.name, durationUs: Double(end - start) / 1000, error: failure, values: values))
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
                lines.append("    \(v.kind)\(subject) = \(v.value) \(v.unit)\(v.ageMs > 1 ? String(format: "  (%.0f ms old)", v.ageMs) : "")")
            }
        }
        for n in notes { lines.append("note: \(n)") }
        return lines.joined(separator: "\n")
    }
}
