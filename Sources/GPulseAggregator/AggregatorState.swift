import GPulseAggregatorConfig
import GPulseCore
import GPulseSnapshot
import GPulseTransport
import GPulseWire

/// What the aggregator knows and decides with, apart from its sockets, threads and logs: the fleet,
/// the decision engine, the ingest ledger and the gate every message passes. Each call takes a
/// message, a clock reading or a setting, and hands back what happened as `Event`s for the shell (the
/// ingest loop) to log and publish, so that all of it is unit-tested without a socket.
public struct AggregatorState: Sendable {
    public private(set) var fleet: Fleet
    public private(set) var engine: DecisionEngine
    public private(set) var ledger = IngestLedger()
    public private(set) var gate: IngestGate
    let decoder: MetricsBatchDecoder

    /// What a call did, in order, for the shell to log and publish.
    public enum Event: Sendable {
        /// A message refused and counted; `nodeID` once it decoded far enough to name one.
        case rejected(Rejection, detail: String, nodeID: String?)
        /// A batch taken whose sequence said something worth a log line (a gap, a restart, a duplicate).
        case sequence(SequenceTracker.Outcome, nodeID: String, session: UInt64, seq: UInt64)
        /// A node came, changed state or was forgotten.
        case transition(NodeTransition)
        /// A node's GPUs reported a fault, or it recovered.
        case health(HealthChange)
        /// A decision to publish (new, or a re-send that is due).
        case decision(Decision)
        /// A pool's demand jumped (the 1-second burst detector).
        case burst(pool: String, demand: Double, excess: Double)
    }

    public init(fleet: Fleet, engine: DecisionEngine, gate: IngestGate, limits: WireLimits) {
        self.fleet = fleet
        self.engine = engine
        self.gate = gate
        decoder = MetricsBatchDecoder(limits: limits)
    }

    /// One message from the metrics socket: its frame count, its first frame, who sent it and the
    /// peer's address (for the per-peer rate of new node ids; nil when unknown).
    public mutating func accept(
        frames: Int, frame: UnsafeRawBufferPointer, sender: IngestGate.Sender, peerAddress: String?, nowNanos: Int64,
        into events: inout [Event]
    ) {
        guard frames == 1 else {
            reject(.wrongFrameCount, "a message of \(frames) frames (agents send one)", nodeID: nil, into: &events)
            return
        }
        let decoded: DecodedBatch
        do {
            decoded = try decoder.decode(frame)
        } catch {
            ledger.reject(error)
            events.append(.rejected(error.rejection, detail: "\(error)", nodeID: nil))
            return
        }
        accept(decoded, sender: sender, peerAddress: peerAddress, nowNanos: nowNanos, into: &events)
    }

    /// A decoded batch: the gate (node binding, clock), the registry's caps, then the fleet.
    public mutating func accept(
        _ decoded: DecodedBatch, sender: IngestGate.Sender, peerAddress: String?, nowNanos: Int64, into events: inout [Event]
    ) {
        let batch = decoded.batch
        if let (rejection, detail) = gate.check(batch, from: sender, nowNanos: nowNanos) {
            reject(rejection, detail, nodeID: batch.labels.nodeID, into: &events)
            return
        }
        // Caps on nodes and pools, and the per-peer rate of new node ids: bounded state.
        if let refusal = fleet.admit(batch.labels, peer: peerAddress, nowNanos: nowNanos) {
            reject(Rejection(refusal), refusal.detail(fleet.settings), nodeID: batch.labels.nodeID, into: &events)
            return
        }
        let (outcome, transition) = fleet.ingest(batch, nowNanos: nowNanos)
        guard outcome != .conflict else {
            reject(.duplicateNodeID, "a second agent (session \(batch.session)) sends under this node id", nodeID: batch.labels.nodeID, into: &events)
            return
        }
        ledger.accept(decoded, outcome: outcome)
        switch outcome {
        case .gap, .restarted, .duplicate:
            events.append(.sequence(outcome, nodeID: batch.labels.nodeID, session: batch.session, seq: batch.seq))
        case .first, .inOrder, .conflict: break
        }
        if let transition { nodeChanged(transition, into: &events) }
        if outcome == .restarted {
            let labels = batch.labels
            events.append(.decision(engine.nodeEvent(NodeEvent(nodeID: labels.nodeID, kind: .restarted, pool: labels.pool, site: labels.site), nowNanos: nowNanos)))
        }
    }

    /// Ages nodes, refreshes loads and pools, and runs the policies, when a refresh is due.
    public mutating func tick(nowNanos: Int64, into events: inout [Event]) {
        guard let (transitions, bursts, health) = fleet.tick(nowNanos: nowNanos) else { return }
        for transition in transitions { nodeChanged(transition, into: &events) }
        for change in health {
            events.append(.health(change))
            events.append(.decision(engine.nodeEvent(change)))
        }
        for decision in engine.evaluate(fleet: fleet, nowNanos: nowNanos) { events.append(.decision(decision)) }
        for pool in bursts {
            let series = fleet.pool(pool)
            events.append(.burst(pool: pool, demand: series?.latest?.demand ?? 0, excess: series?.burst.excess ?? 0))
        }
    }

    /// What libzmq did with a connection on the metrics socket (a refused handshake is a rejection).
    public mutating func record(_ event: SocketEvent, curve: Bool, into events: inout [Event]) {
        // The ledger counts the refused handshakes itself (`IngestLedger.record`); here they get a log line.
        ledger.record(event)
        switch event {
        case .mechanismMismatch:
            let detail = curve ? "a plaintext agent at this CURVE aggregator" : "a CURVE agent at this plaintext aggregator"
            events.append(.rejected(.mechanismMismatch, detail: detail, nodeID: nil))
        case .handshakeProtocolError(let code):
            events.append(.rejected(.handshakeProtocolError, detail: "ZMTP error 0x\(String(code, radix: 16))", nodeID: nil))
        case .handshakeFailed(let errno):
            events.append(.rejected(.handshakeFailed, detail: "errno \(errno) before the handshake completed", nodeID: nil))
        case .accepted, .disconnected, .handshakeRefused, .handshakeSucceeded: break
        }
    }

    /// CURVE handshakes the ZAP handler refused on the metrics socket, as its running total.
    public mutating func setUnauthenticated(total: UInt64) {
        ledger.setRejected(.unauthenticated, total: total)
    }

    /// New engine settings (a reload): pools, policies, offload rules, re-send timing.
    public mutating func reconfigure(_ settings: EngineSettings) {
        engine.reconfigure(settings)
    }

    /// What the service around the state keeps itself and adds to a status report: its start time,
    /// the publisher's counts, the ZAP handler's refusals on the decision stream, the snapshot writer
    /// and the loop's heartbeat.
    public struct ShellFigures: Sendable {
        public var startedNanos: Int64
        public var published: UInt64
        public var resent: UInt64
        public var subscribersRefused: UInt64
        public var snapshot: SnapshotStats?
        public var longestLoopGapSeconds: Double?
        public init(
            startedNanos: Int64, published: UInt64 = 0, resent: UInt64 = 0, subscribersRefused: UInt64 = 0, snapshot: SnapshotStats? = nil,
            longestLoopGapSeconds: Double? = nil
        ) {
            self.startedNanos = startedNanos
            self.published = published
            self.resent = resent
            self.subscribersRefused = subscribersRefused
            self.snapshot = snapshot
            self.longestLoopGapSeconds = longestLoopGapSeconds
        }
    }

    /// What `gpulse-aggregator status` shows: nodes, pools, standing decisions and the ingest counts.
    public func status(nowNanos: Int64, shell: ShellFigures) -> StatusReport {
        StatusReport(
            fleet: fleet, ledger: ledger, nowNanos: nowNanos, startedNanos: shell.startedNanos, standing: engine.current,
            published: shell.published, resent: shell.resent, subscribersRefused: shell.subscribersRefused, snapshot: shell.snapshot,
            longestLoopGapSeconds: shell.longestLoopGapSeconds)
    }

    private mutating func reject(_ rejection: Rejection, _ detail: String, nodeID: String?, into events: inout [Event]) {
        ledger.reject(rejection)
        events.append(.rejected(rejection, detail: detail, nodeID: nodeID))
    }

    private mutating func nodeChanged(_ transition: NodeTransition, into events: inout [Event]) {
        events.append(.transition(transition))
        if let event = engine.nodeEvent(transition) { events.append(.decision(event)) }
    }
}

extension Fleet.Refusal {
    /// What a log line says about it, naming the config key that sets the limit.
    func detail(_ settings: FleetSettings) -> String {
        switch self {
        case .nodeLimit: "\(FleetSettings.Setting.maxNodes.configKey) (\(settings.maxNodes)) reached and no down node to replace"
        case .poolLimit: "\(FleetSettings.Setting.maxPools.configKey) (\(settings.maxPools)) reached and no unlisted pool without nodes to replace"
        case .unlistedPool: "pool not listed under pools: and registry.unlisted_pools is refuse"
        case .nodeRate:
            "this peer address creates new node ids faster than \(FleetSettings.Setting.newNodesPerPeer.configKey) (\(settings.newNodesPerPeerPerSecond))"
        }
    }
}
