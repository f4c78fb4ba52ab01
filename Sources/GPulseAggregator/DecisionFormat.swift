import Foundation
import GPulseCore
import GPulseTransport
import GPulseWire

/// Receives the decision stream: a SUB socket connected to the aggregator's decisions endpoint,
/// subscribed to a topic prefix. Owns its socket and context; `close()` when done.
public final class DecisionSubscriber {
    private let context: ZMQContext
    private let socket: ZMQSocket
    private let decoder = DecisionDecoder()

    /// What one receive found.
    public enum Received {
        case decision(topic: String, Decision)
        /// A message that is not [topic, Decision]: counted and described, never fatal.
        case malformed(String)
    }

    /// - Parameter curve: our key pair and the aggregator's public key when it runs CURVE.
    public init(endpoint: String, topicPrefix: String = "", curve: (keys: CurveKeyPair, serverKey: String)? = nil) throws(ZMQError) {
        context = try ZMQContext()
        socket = try ZMQSocket(context: context, type: .sub)
        try socket.set([.lingerMilliseconds(0), .maxMessageBytes(1 << 20), .subscribe(topicPrefix)])
        if let curve { try socket.set(.curveClient(publicKey: curve.keys.publicKey, secretKey: curve.keys.secretKey, serverKey: curve.serverKey)) }
        try socket.connect(endpoint)
    }

    /// The next message, or nil when none arrives within `timeoutMilliseconds` (-1: wait forever).
    public func receive(timeoutMilliseconds: Int) throws(ZMQError) -> Received? {
        guard try socket.waitReadable(timeoutMilliseconds: timeoutMilliseconds), let frames = try socket.receiveFrames(blocking: false) else {
            return nil
        }
        guard frames.count == 2 else { return .malformed("\(frames.count) frames, expected [topic, Decision]") }
        let topic = String(decoding: frames[0], as: UTF8.self)
        do {
            return .decision(topic: topic, try decoder.decode(frames[1]))
        } catch {
            return .malformed("topic \(topic): \(error)")
        }
    }

    public func close() { socket.close() }
}

/// How `gpulse-aggregator tail` prints decisions: one readable line each, or one JSON object per
/// line with the proto's field names (for jq).
public enum DecisionFormat {
    public static func line(_ d: Decision) -> String {
        let time = timestamp(d.issuedUnixNanos)
        switch d.body {
        case .scale(let s):
            var text = "\(time) \(d.topic) \(s.action.name) \(s.currentReplicas)→\(s.desiredReplicas) [\(s.policy)] "
            text += "L=\(fixed(s.loadIndex)) max=\(fixed(s.loadIndexMax)) D=\(fixed(s.demand))(\(s.demandSource.name))"
            if let λ = s.traffic.arrivalRate { text += " λ=\(fixed(λ))/s" }
            if let w = s.traffic.waiting { text += " waiting=\(fixed(w))" }
            if let p = s.predictedWaitProbability { text += " P(wait>\(fixed(s.sloMaxWaitSeconds))s)=\(fixed(p * 100))%" }
            for f in s.forecasts {
                text += " f\(f.horizonSeconds / 60)m=\(fixed(f.mean))"
                if f.level > 0 { text += "[\(fixed(f.lower)),\(fixed(f.upper))]" }
            }
            if !s.allocation.isEmpty {
                text += " mix=" + s.allocation.map { "\($0.instanceClass):\($0.count)" }.joined(separator: ",")
                text += " cost=\(fixed(s.expectedHourlyCost))/h"
            }
            return text + " | \(s.reason) (id \(d.id))"
        case .offload(let o):
            return "\(time) \(d.topic) OFFLOAD \(fixed(o.fraction)) of \(o.pool.isEmpty ? o.site : o.pool) → \(o.target) "
                + "L=\(fixed(o.edgeLoadIndex)) rtt=\(fixed(o.rttMs))ms budget=\(fixed(o.budgetMs))ms | \(o.reason) (id \(d.id))"
        case .node(let n):
            return "\(time) \(d.topic) NODE \(n.kind.name) pool=\(n.pool) site=\(n.site)\(n.reason.isEmpty ? "" : " | \(n.reason)") (id \(d.id))"
        }
    }

    public static func json(_ d: Decision) -> String {
        var object: [String: Any] = [
            "topic": d.topic, "id": d.id, "seq": d.seq, "issued_unix_ns": d.issuedUnixNanos, "valid_until_unix_ns": d.validUntilUnixNanos,
        ]
        switch d.body {
        case .scale(let s):
            object["scale"] = [
                "pool": s.pool, "workload": workloadName(s.workload), "action": s.action.name, "current_replicas": s.currentReplicas,
                "desired_replicas": s.desiredReplicas,
                "allocation": s.allocation.map { ["instance_class": $0.instanceClass, "count": $0.count, "hourly_price": $0.hourlyPrice] },
                "load_index": s.loadIndex, "load_index_max": s.loadIndexMax, "demand": s.demand,
                "forecast": s.forecasts.map { ["horizon_s": $0.horizonSeconds, "mean": $0.mean, "lower": $0.lower, "upper": $0.upper, "level": $0.level] },
                "policy": s.policy, "reason": s.reason, "expected_hourly_cost": s.expectedHourlyCost,
                "demand_source": s.demandSource.name.uppercased(), "arrival_rate": s.traffic.arrivalRate ?? 0,
                "service_time_s": s.traffic.serviceSeconds ?? 0, "requests_waiting": s.traffic.waiting ?? 0,
                "requests_running": s.traffic.running ?? 0, "predicted_wait_probability": s.predictedWaitProbability ?? -1,
                "slo_max_wait_s": s.sloMaxWaitSeconds,
            ] as [String: Any]
        case .offload(let o):
            object["offload"] = [
                "site": o.site, "pool": o.pool, "target": o.target, "fraction": o.fraction, "edge_load_index": o.edgeLoadIndex, "rtt_ms": o.rttMs,
                "budget_ms": o.budgetMs, "reason": o.reason,
            ] as [String: Any]
        case .node(let n):
            object["node"] = ["node_id": n.nodeID, "kind": n.kind.name, "pool": n.pool, "site": n.site, "reason": n.reason]
        }
        let data = (try? JSONSerialization.data(withJSONObject: sanitized(object), options: [.sortedKeys, .withoutEscapingSlashes])) ?? Data()
        return String(decoding: data, as: UTF8.self)
    }

    static func workloadName(_ w: WorkloadClass) -> String {
        switch w {
        case .online: "ONLINE"
        case .batch: "BATCH"
        case .unspecified: "WORKLOAD_UNSPECIFIED"
        }
    }

    /// JSON has no NaN or infinity: such numbers become null rather than failing the line.
    static func sanitized(_ value: Any) -> Any {
        switch value {
        case let d as Double: return d.isFinite ? d : NSNull()
        case let dict as [String: Any]: return dict.mapValues(sanitized)
        case let array as [Any]: return array.map(sanitized)
        default: return value
        }
    }

    static func fixed(_ x: Double) -> String { String(format: "%.2f", x) }

    static func timestamp(_ nanos: Int64) -> String {
        let date = Date(timeIntervalSince1970: Double(nanos) / 1e9)
        let formatter = ISO8601DateFormatter()
        formatter.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return formatter.string(from: date)
    }
}
