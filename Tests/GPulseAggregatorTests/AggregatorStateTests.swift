import GPulseAggregator
import GPulseCore
import GPulseTransport
import GPulseWire
import Testing

/// The aggregator's deciding state without a socket: each rejection reason the gate, the decoder and
/// the registry give, transitions, decisions, a reload and status.
@Suite struct AggregatorStateTests {
    let t0: Int64 = 1_800_000_000 * 1_000_000_000
    let second: Int64 = 1_000_000_000

    func state(fleet settings: FleetSettings = FleetSettings(), policy: @escaping @Sendable (String) -> PoolSetup = { _ in PoolSetup(policy: ThresholdPolicy(settings: .init())) })
        -> AggregatorState
    {
        AggregatorState(
            fleet: Fleet(settings: settings), engine: DecisionEngine(settings: EngineSettings(pool: policy), idPrefix: "test"),
            gate: IngestGate(maxAheadSeconds: 30, maxBehindSeconds: 3600), limits: .default)
    }

    func batch(_ node: String, pool: String = "p", session: UInt64 = 1, seq: UInt64, at t: Int64, util: Float = 0.5) -> MetricsBatch {
        MetricsBatch(
            labels: NodeLabels(nodeID: node, pool: pool), session: session, seq: seq, t0UnixNanos: t,
            series: [Series(kind: .gpuUtil, subject: "GPU-0", offsetsMicros: [0, 500_000], values: [util, util])])
    }

    /// Encodes `batch` and hands it to the state as one frame, as the ingest loop does.
    func send(
        _ batch: MetricsBatch, to state: inout AggregatorState, sender: IngestGate.Sender = .plaintext, peer: String? = "10.0.0.1",
        at now: Int64, frames: Int = 1
    ) -> [AggregatorState.Event] {
        send(bytes: MetricsBatchEncoder().encode(batch), to: &state, sender: sender, peer: peer, at: now, frames: frames)
    }

    func send(
        bytes: [UInt8], to state: inout AggregatorState, sender: IngestGate.Sender = .plaintext, peer: String? = "10.0.0.1", at now: Int64,
        frames: Int = 1
    ) -> [AggregatorState.Event] {
        var events: [AggregatorState.Event] = []
        bytes.withUnsafeBytes { state.accept(frames: frames, frame: $0, sender: sender, peerAddress: peer, nowNanos: now, into: &events) }
        return events
    }

    func rejections(_ events: [AggregatorState.Event]) -> [Rejection] {
        events.compactMap { if case .rejected(let r, _, _) = $0 { r } else { nil } }
    }

    @Test func aGoodBatchIsTakenAndItsNodeComesUp() {
        var s = state()
        let events = send(batch("a", seq: 0, at: t0), to: &s, at: t0 + second)
        #expect(rejections(events).isEmpty)
        #expect(s.ledger.batchesAccepted == 1 && s.ledger.samplesAccepted == 2)
        #expect(s.fleet.nodes["a"]?.state == .live)
        let transitions = events.compactMap { if case .transition(let t) = $0 { t } else { nil } }
        #expect(transitions.map(\.nodeID) == ["a"] && transitions.first?.from == nil && transitions.first?.to == .live)
        let decisions = events.compactMap { if case .decision(let d) = $0 { d } else { nil } }
        #expect(decisions.map(\.topic) == ["node/a"])
    }

    @Test func eachGateAndDecoderReasonIsCountedAndNamed() {
        var s = state()
        var seen: [Rejection] = []
        seen += rejections(send(batch("a", seq: 0, at: t0), to: &s, at: t0, frames: 2))
        seen += rejections(send(bytes: [0xff, 0xff, 0xff], to: &s, at: t0))
        seen += rejections(send(batch("", seq: 0, at: t0), to: &s, at: t0))
        seen += rejections(send(batch("a", seq: 0, at: t0 + 31 * second), to: &s, at: t0))
        seen += rejections(send(batch("a", seq: 0, at: t0 - 3601 * second), to: &s, at: t0))
        seen += rejections(send(batch("a", seq: 0, at: t0), to: &s, sender: .curve(nodeID: "b"), at: t0))
        seen += rejections(send(batch("a", seq: 0, at: t0), to: &s, sender: .curve(nodeID: nil), at: t0))
        var nonFinite = batch("a", seq: 0, at: t0)
        nonFinite.series[0].values[0] = .nan
        seen += rejections(send(nonFinite, to: &s, at: t0))
        #expect(
            seen == [.wrongFrameCount, .malformed, .emptyNodeID, .futureTimestamp, .pastTimestamp, .nodeIDNotBound, .nodeIDNotBound, .nonFinite])
        #expect(
            s.ledger.rejectedByReason == [
                "wrong_frame_count": 1, "malformed": 1, "empty_node_id": 1, "future_timestamp": 1, "past_timestamp": 1,
                "node_id_not_bound": 2, "non_finite": 1,
            ])
        // Nothing refused reached the registry.
        #expect(s.fleet.nodes.isEmpty && s.ledger.batchesAccepted == 0)
        // A CURVE sender bound to the node id it names is let in.
        #expect(rejections(send(batch("a", seq: 0, at: t0), to: &s, sender: .curve(nodeID: "a"), at: t0)).isEmpty)
        #expect(s.ledger.batchesAccepted == 1)
    }

    @Test func theRegistrysCapsAndASecondAgentAreRejections() {
        var settings = FleetSettings()
        settings.maxNodes = 1
        settings.maxPools = 1
        settings.listedPools = ["p"]
        settings.newNodesPerPeerPerSecond = 0
        var s = state(fleet: settings)
        #expect(rejections(send(batch("a", seq: 0, at: t0), to: &s, at: t0)).isEmpty)
        #expect(rejections(send(batch("b", seq: 0, at: t0), to: &s, at: t0)) == [.nodeLimit])
        #expect(rejections(send(batch("a", pool: "q", seq: 1, at: t0), to: &s, at: t0)) == [.poolLimit])
        // Another session under "a" after a newer one took it over: the old agent is refused.
        #expect(rejections(send(batch("a", session: 2, seq: 0, at: t0), to: &s, at: t0 + second)).isEmpty)
        #expect(rejections(send(batch("a", session: 1, seq: 5, at: t0), to: &s, at: t0 + 2 * second)) == [.duplicateNodeID])
        #expect(s.ledger.rejectedByReason == ["node_limit": 1, "pool_limit": 1, "duplicate_node_id": 1])

        var refuse = FleetSettings()
        refuse.listedPools = ["p"]
        refuse.unlistedPools = .refuse
        var r = state(fleet: refuse)
        #expect(rejections(send(batch("a", pool: "q", seq: 0, at: t0), to: &r, at: t0)) == [.unlistedPool])

        var rate = FleetSettings()
        rate.newNodesPerPeerPerSecond = 1  // ten at once, then one a second
        var n = state(fleet: rate)
        let refused = (0..<20).flatMap { rejections(send(batch("n\($0)", seq: 0, at: t0), to: &n, at: t0)) }
        #expect(refused.count == 10 && refused.allSatisfy { $0 == .nodeRateLimit })
    }

    @Test func sequenceEventsSayGapsRestartsAndDuplicates() {
        var s = state()
        _ = send(batch("a", seq: 0, at: t0), to: &s, at: t0)
        let gap = send(batch("a", seq: 3, at: t0), to: &s, at: t0)
        let duplicate = send(batch("a", seq: 3, at: t0), to: &s, at: t0)
        let restart = send(batch("a", session: 9, seq: 0, at: t0), to: &s, at: t0)
        func outcomes(_ e: [AggregatorState.Event]) -> [SequenceTracker.Outcome] {
            e.compactMap { if case .sequence(let o, _, _, _) = $0 { o } else { nil } }
        }
        #expect(outcomes(gap) == [.gap(missing: 2)] && outcomes(duplicate) == [.duplicate] && outcomes(restart) == [.restarted])
        // A restart is also a node event on the decision stream.
        let restartEvents = restart.compactMap { if case .decision(let d) = $0, case .node(let n) = d.body { n.kind } else { nil } }
        #expect(restartEvents == [.restarted])
        #expect(s.ledger.missingBatches == 2 && s.ledger.batchesDuplicate == 1 && s.ledger.agentRestarts == 1)
    }

    @Test func aTickDecidesAndSilenceBecomesTransitions() {
        var s = state()
        for node in ["a", "b"] { _ = send(batch(node, seq: 0, at: t0, util: 0.95), to: &s, at: t0 + second / 2) }
        var events: [AggregatorState.Event] = []
        s.tick(nowNanos: t0 + second, into: &events)
        let scale = events.compactMap { if case .decision(let d) = $0, case .scale(let x) = d.body { x } else { nil } }
        #expect(scale.count == 1 && scale.first?.action == .scaleUp && scale.first?.currentReplicas == 2, "\(events)")
        events.removeAll()
        s.tick(nowNanos: t0 + 10 * second, into: &events)
        let stale = events.compactMap { if case .transition(let t) = $0 { t.to } else { nil } }
        #expect(stale == [.stale, .stale])
    }

    @Test func aReloadChangesThePolicyAndKeepsNumbering() {
        var s = state()
        _ = send(batch("a", seq: 0, at: t0, util: 0.5), to: &s, at: t0 + second / 2)
        var events: [AggregatorState.Event] = []
        s.tick(nowNanos: t0 + second, into: &events)
        let before = s.engine.seq
        s.reconfigure(EngineSettings { _ in PoolSetup(policy: StaticPolicy(replicas: 4)) })
        events.removeAll()
        s.tick(nowNanos: t0 + 2 * second, into: &events)
        let scale = events.compactMap { if case .decision(let d) = $0, case .scale(let x) = d.body { (d.seq, x) } else { nil } }
        #expect(scale.count == 1 && scale.first?.1.policy == "static" && scale.first?.1.desiredReplicas == 4 && scale.first!.0 > before)
    }

    @Test func statusShowsNodesPoolsDecisionsAndRejections() {
        var s = state()
        for node in ["a", "b"] { _ = send(batch(node, pool: "gpu", seq: 0, at: t0, util: 0.95), to: &s, at: t0 + second / 2) }
        _ = send(bytes: [0xff, 0x00, 0x13], to: &s, at: t0 + second / 2)
        _ = send(batch("c", pool: "gpu", seq: 0, at: t0 + 3600 * second), to: &s, at: t0 + second / 2)
        var events: [AggregatorState.Event] = []
        s.tick(nowNanos: t0 + second, into: &events)
        let status = s.status(nowNanos: t0 + 2 * second, shell: .init(startedNanos: t0, published: 5, resent: 2, longestLoopGapSeconds: 0.25))
        #expect(status.nodes.map(\.id) == ["a", "b"] && status.nodes.allSatisfy { $0.state == "live" && $0.pool == "gpu" })
        #expect(status.ingest.batches == 2 && status.ingest.rejected == 2)
        #expect(status.ingest.rejectedByReason["malformed"] == 1 && status.ingest.rejectedByReason["future_timestamp"] == 1, "\(status.ingest.rejectedByReason)")
        let pool = status.pools.first { $0.name == "gpu" }
        #expect(pool?.liveNodes == 2 && pool?.action == "SCALE_UP" && pool?.policy == "threshold" && (pool?.desiredReplicas ?? 0) > 2)
        #expect(status.uptimeSeconds == 2 && status.decisions?.published == 5 && status.decisions?.resent == 2)
        #expect(status.ingest.longestLoopGapSeconds == 0.25 && status.snapshot == nil)
        // What the control endpoint sends decodes back to the same counts.
        let decoded = try? StatusReport.decode(json: Array(status.json(pretty: false).utf8))
        #expect(decoded?.ingest.rejectedByReason == status.ingest.rejectedByReason && decoded?.pools.first?.action == "SCALE_UP")
    }

    @Test func handshakeEventsAreRejectionsOnlyWhenRefused() {
        var s = state()
        var events: [AggregatorState.Event] = []
        s.record(.accepted, curve: true, into: &events)
        s.record(.mechanismMismatch, curve: true, into: &events)
        s.record(.handshakeFailed(errno: 104), curve: true, into: &events)
        s.record(.disconnected, curve: true, into: &events)
        #expect(rejections(events) == [.mechanismMismatch, .handshakeFailed])
        #expect(s.ledger.connectionsAccepted == 1 && s.ledger.connectionsClosed == 1)
        s.setUnauthenticated(total: 7)
        #expect(s.ledger.rejectedByReason["unauthenticated"] == 7)
    }

    @Test func everyReasonIsOneListedRejection() {
        // The decoder's reasons are rejections; the ledger (and through it status and Prometheus) lists them all.
        let wire: [WireError] = [
            .tooLarge(bytes: 1, limit: 0), .malformed(bytes: 1), .unsupportedVersion(0), .emptyNodeID, .fieldTooLong(field: "f", bytes: 1),
            .invalidUTF8(field: "f"), .tooManySeries(count: 1, limit: 0), .tooManyProbeLosses(count: 1, limit: 0), .nulInString(field: "f"),
            .implausibleCounter(field: "f", value: 1, limit: 0), .tooManySamples(count: 1, limit: 0),
            .lengthMismatch(kind: .cpuUtil, subject: "", offsets: 1, values: 2), .nonFiniteValue(kind: .cpuUtil, subject: ""),
            .fractionOutOfRange(kind: .cpuUtil, subject: "", value: 2), .negativeValue(kind: .cpuUtil, subject: "", value: -1), .missingBody,
        ]
        #expect(wire.allSatisfy { $0.rejectionIfInput != nil && $0.reason == $0.rejection.rawValue })
        #expect(Set(wire.map(\.rejection)).count == wire.count)
        #expect(IngestLedger.rejectionReasons == Rejection.allCases.map(\.rawValue))
        #expect(Fleet.Refusal.allCases.allSatisfy { Rejection.allCases.contains(Rejection($0)) && Rejection($0).rawValue == $0.rawValue })
    }
}
