import GPulseCore
import GPulseWire
import Testing

@Suite struct DecisionCodecTests {
    static let scale = Decision(
        id: "agg-1-42", seq: 42, issuedUnixNanos: 1_763_856_000_000_000_000, validUntilUnixNanos: 1_763_856_030_000_000_000,
        body: .scale(
            ScaleDecision(
                pool: "llm-online", workload: .online, action: .scaleUp, currentReplicas: 4, desiredReplicas: 6,
                allocation: [Allocation(instanceClass: "reserved", count: 4, hourlyPrice: 2.1), Allocation(instanceClass: "on_demand", count: 2, hourlyPrice: 3.9)],
                loadIndex: 0.83, loadIndexMax: 0.97, demand: 4.98,
                forecasts: [Forecast(horizonSeconds: 300, mean: 5.4, lower: 4.9, upper: 6.1, level: 0.9)],
                policy: "threshold", reason: "L=0.83 > high=0.80 for 60 s", expectedHourlyCost: 16.2)))

    @Test(arguments: [
        scale,
        Decision(
            id: "agg-1-43", seq: 43, issuedUnixNanos: 1, validUntilUnixNanos: 2,
            body: .offload(OffloadDecision(site: "edge-fra1", pool: "edge-llm", target: "llm-online", fraction: 0.3, edgeLoadIndex: 0.91, rttMs: 18.5, budgetMs: 120, reason: "edge L above 0.85"))),
        Decision(id: "agg-1-44", seq: 44, issuedUnixNanos: 3, validUntilUnixNanos: 4, body: .node(NodeEvent(nodeID: "gpu-3", kind: .stale, pool: "p", site: "s"))),
        Decision(
            id: "agg-1-45", seq: 45, issuedUnixNanos: 5, validUntilUnixNanos: 6,
            body: .node(NodeEvent(nodeID: "gpu-4", kind: .unhealthy, pool: "p", site: "s", reason: "GPU-0 XID 79"))),
    ])
    func roundTrip(_ decision: Decision) throws {
        let bytes = DecisionEncoder().encode(decision)
        #expect(try DecisionDecoder().decode(bytes) == decision)
    }

    @Test func topicsFollowTheBodyKind() {
        #expect(Self.scale.topic == "scale/llm-online")
    }

    @Test func decisionWithoutBodyIsRejected() {
        var w = ProtoWriter()
        w.string(1, "id-only")
        #expect(throws: WireError.missingBody) { try DecisionDecoder().decode(w.bytes) }
        #expect(throws: WireError.malformed(bytes: 2)) { try DecisionDecoder().decode([0x0A, 0x05]) }
    }
}
