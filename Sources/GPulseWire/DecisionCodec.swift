import CGPulseProto
import CProtobufC
import GPulseCore

/// Turns `Decision` values into protobuf bytes. Reuses its scratch memory; not thread safe.
public final class DecisionEncoder {
    private let arena = CArena()

    public init() {}

    public func encode(_ decision: Decision, into output: inout [UInt8]) {
        arena.reset()
        let d = arena.allocate(Gpulse__V1__Decision.self, count: 1)
        gpulse__v1__decision__init(d)
        d.pointee.id = arena.cString(decision.id)
        d.pointee.seq = decision.seq
        d.pointee.issued_unix_ns = decision.issuedUnixNanos
        d.pointee.valid_until_unix_ns = decision.validUntilUnixNanos
        switch decision.body {
        case .scale(let scale):
            d.pointee.body_case = GPULSE__V1__DECISION__BODY_SCALE
            d.pointee.scale = encodeScale(scale)
        case .offload(let offload):
            let o = arena.allocate(Gpulse__V1__OffloadDecision.self, count: 1)
            gpulse__v1__offload_decision__init(o)
            o.pointee.site = arena.cString(offload.site)
            o.pointee.pool = arena.cString(offload.pool)
            o.pointee.target = arena.cString(offload.target)
            o.pointee.fraction = offload.fraction
            o.pointee.edge_load_index = offload.edgeLoadIndex
            o.pointee.rtt_ms = offload.rttMs
            o.pointee.budget_ms = offload.budgetMs
            o.pointee.reason = arena.cString(offload.reason)
            d.pointee.body_case = GPULSE__V1__DECISION__BODY_OFFLOAD
            d.pointee.offload = o
        case .node(let event):
            let n = arena.allocate(Gpulse__V1__NodeEvent.self, count: 1)
            gpulse__v1__node_event__init(n)
            n.pointee.node_id = arena.cString(event.nodeID)
            n.pointee.kind = Gpulse__V1__NodeEvent__Kind(rawValue: numericCast(event.kind.rawValue))
            n.pointee.pool = arena.cString(event.pool)
            n.pointee.site = arena.cString(event.site)
            n.pointee.reason = arena.cString(event.reason)
            d.pointee.body_case = GPULSE__V1__DECISION__BODY_NODE
            d.pointee.node = n
        }
        let size = gpulse__v1__decision__get_packed_size(d)
        output.removeAll(keepingCapacity: true)
        output.append(contentsOf: repeatElement(0, count: size))
        let written = output.withUnsafeMutableBufferPointer { gpulse__v1__decision__pack(d, $0.baseAddress) }
        precondition(written == size, "protobuf-c packed \(written) bytes, expected \(size)")
    }

    public func encode(_ decision: Decision) -> [UInt8] {
        var out: [UInt8] = []
        encode(decision, into: &out)
        return out
    }

    private func encodeScale(_ scale: ScaleDecision) -> UnsafeMutablePointer<Gpulse__V1__ScaleDecision> {
        let s = arena.allocate(Gpulse__V1__ScaleDecision.self, count: 1)
        gpulse__v1__scale_decision__init(s)
        s.pointee.pool = arena.cString(scale.pool)
        s.pointee.workload = Gpulse__V1__WorkloadClass(rawValue: numericCast(scale.workload.rawValue))
        s.pointee.action = Gpulse__V1__ScaleDecision__Action(rawValue: numericCast(scale.action.rawValue))
        s.pointee.current_replicas = scale.currentReplicas
        s.pointee.desired_replicas = scale.desiredReplicas
        s.pointee.load_index = scale.loadIndex
        s.pointee.load_index_max = scale.loadIndexMax
        s.pointee.demand = scale.demand
        s.pointee.policy = arena.cString(scale.policy)
        s.pointee.reason = arena.cString(scale.reason)
        s.pointee.expected_hourly_cost = scale.expectedHourlyCost
        s.pointee.demand_source = Gpulse__V1__ScaleDecision__DemandSource(rawValue: numericCast(scale.demandSource.rawValue))
        s.pointee.arrival_rate = scale.traffic.arrivalRate ?? 0
        s.pointee.service_time_s = scale.traffic.serviceSeconds ?? 0
        s.pointee.requests_waiting = scale.traffic.waiting ?? 0
        s.pointee.requests_running = scale.traffic.running ?? 0
        s.pointee.predicted_wait_probability = scale.predictedWaitProbability ?? -1
        s.pointee.slo_max_wait_s = scale.sloMaxWaitSeconds

        let allocations = arena.allocate(UnsafeMutablePointer<Gpulse__V1__Allocation>?.self, count: scale.allocation.count)
        for (i, a) in scale.allocation.enumerated() {
            let p = arena.allocate(Gpulse__V1__Allocation.self, count: 1)
            gpulse__v1__allocation__init(p)
            p.pointee.instance_class = arena.cString(a.instanceClass)
            p.pointee.count = a.count
            p.pointee.hourly_price = a.hourlyPrice
            allocations[i] = p
        }
        s.pointee.n_allocation = scale.allocation.count
        s.pointee.allocation = allocations

        let forecasts = arena.allocate(UnsafeMutablePointer<Gpulse__V1__Forecast>?.self, count: scale.forecasts.count)
        for (i, f) in scale.forecasts.enumerated() {
            let p = arena.allocate(Gpulse__V1__Forecast.self, count: 1)
            gpulse__v1__forecast__init(p)
            p.pointee.horizon_s = f.horizonSeconds
            p.pointee.mean = f.mean
            p.pointee.lower = f.lower
            p.pointee.upper = f.upper
            p.pointee.level = f.level
            forecasts[i] = p
        }
        s.pointee.n_forecast = scale.forecasts.count
        s.pointee.forecast = forecasts
        return s
    }
}

/// Parses protobuf bytes into `Decision` values; every rejection is a `WireError`.
public struct DecisionDecoder: Sendable {
    public var limits: WireLimits

    public init(limits: WireLimits = .default) {
        self.limits = limits
    }

    public func decode(_ bytes: [UInt8]) throws(WireError) -> Decision {
        let result = bytes.withUnsafeBytes { raw in Result { () throws(WireError) -> Decision in try decode(raw) } }
        return try result.get()
    }

    public func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> Decision {
        guard bytes.count <= limits.maxMessageBytes else {
            throw .tooLarge(bytes: bytes.count, limit: limits.maxMessageBytes)
        }
        let base = bytes.baseAddress?.assumingMemoryBound(to: UInt8.self)
        guard let message = gpulse__v1__decision__unpack(nil, bytes.count, base) else {
            throw .malformed(bytes: bytes.count)
        }
        defer { gpulse__v1__decision__free_unpacked(message, nil) }
        let d = message.pointee
        let body: Decision.Body
        switch d.body_case {
        case GPULSE__V1__DECISION__BODY_SCALE:
            guard let s = d.scale?.pointee else { throw .missingBody }
            body = .scale(scale(s))
        case GPULSE__V1__DECISION__BODY_OFFLOAD:
            guard let o = d.offload?.pointee else { throw .missingBody }
            body = .offload(
                OffloadDecision(
                    site: text(o.site), pool: text(o.pool), target: text(o.target), fraction: o.fraction,
                    edgeLoadIndex: o.edge_load_index, rttMs: o.rtt_ms, budgetMs: o.budget_ms, reason: text(o.reason)))
        case GPULSE__V1__DECISION__BODY_NODE:
            guard let n = d.node?.pointee else { throw .missingBody }
            body = .node(
                NodeEvent(
                    nodeID: text(n.node_id), kind: NodeEvent.Kind(rawValue: Int32(truncatingIfNeeded: n.kind.rawValue)) ?? .up,
                    pool: text(n.pool), site: text(n.site), reason: text(n.reason)))
        default:
            throw .missingBody
        }
        return Decision(
            id: text(d.id), seq: d.seq, issuedUnixNanos: d.issued_unix_ns, validUntilUnixNanos: d.valid_until_unix_ns,
            body: body)
    }

    private func scale(_ s: Gpulse__V1__ScaleDecision) -> ScaleDecision {
        var allocation: [Allocation] = []
        for i in 0..<s.n_allocation {
            guard let a = s.allocation[i]?.pointee else { continue }
            allocation.append(Allocation(instanceClass: text(a.instance_class), count: a.count, hourlyPrice: a.hourly_price))
        }
        var forecasts: [Forecast] = []
        for i in 0..<s.n_forecast {
            guard let f = s.forecast[i]?.pointee else { continue }
            forecasts.append(
                Forecast(horizonSeconds: f.horizon_s, mean: f.mean, lower: f.lower, upper: f.upper, level: f.level))
        }
        return ScaleDecision(
            pool: text(s.pool),
            workload: WorkloadClass(rawValue: Int32(truncatingIfNeeded: s.workload.rawValue)) ?? .unspecified,
            action: ScaleDecision.Action(rawValue: Int32(truncatingIfNeeded: s.action.rawValue)) ?? .hold,
            currentReplicas: s.current_replicas, desiredReplicas: s.desired_replicas, allocation: allocation,
            loadIndex: s.load_index, loadIndexMax: s.load_index_max, demand: s.demand, forecasts: forecasts,
            policy: text(s.policy), reason: text(s.reason), expectedHourlyCost: s.expected_hourly_cost,
            demandSource: DemandSource(rawValue: Int32(truncatingIfNeeded: s.demand_source.rawValue)) ?? .unspecified,
            traffic: PoolTraffic(
                arrivalRate: s.arrival_rate > 0 ? s.arrival_rate : nil, serviceSeconds: s.service_time_s > 0 ? s.service_time_s : nil,
                waiting: s.requests_waiting > 0 ? s.requests_waiting : nil, running: s.requests_running > 0 ? s.requests_running : nil),
            predictedWaitProbability: s.predicted_wait_probability >= 0 ? s.predicted_wait_probability : nil, sloMaxWaitSeconds: s.slo_max_wait_s)
    }

    private func text(_ pointer: UnsafeMutablePointer<CChar>?) -> String {
        guard let pointer else { return "" }
        return String(cString: pointer)
    }
}
