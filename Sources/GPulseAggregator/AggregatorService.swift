#if canImport(Glibc)
import Glibc
#endif
import GPulseAggregatorConfig
import GPulseConfig
import GPulseCore
import GPulseExposition
import GPulseKEDA
import GPulseSnapshot
import GPulseSystemd
import GPulseTransport
import GPulseWire
import Logging
import ServiceLifecycle
import Synchronization
import UnixSignals

/// The aggregator's ingest service. One thread owns every socket (metrics PULL, decisions PUB,
/// control REP) and the fleet state (`AggregatorState`): it takes every batch, ages nodes, computes
/// load and demand, feeds the forecasters and answers status requests. One owner means no locks on
/// the ingest path. `init` binds the sockets (a taken port fails the start with a clear error) and
/// builds the services that run beside it, which the executable's `ServiceGroup` lists: the metrics
/// server, the systemd watchdog and the SIGHUP reloader.
public final class AggregatorService: Service, Sendable {
    private let config: AggregatorConfig
    private let logger: Logger
    /// A reloaded configuration waiting for the ingest thread to take it.
    private let pendingReload: Mailbox<AggregatorConfig>
    /// The last status built by the ingest thread, for tests and for in-process readers.
    private let latestStatus = Mutex<StatusReport?>(nil)
    private let context: ZMQContext
    private let sockets: Handoff<(ZMQSocket, ZMQSocket, ZMQSocket, AggregatorMetrics?)>
    private let bound: (metrics: String, decisions: String, control: String)
    private let authenticator: (authenticator: Authenticator, secretKey: String)?
    private let heartbeat: Heartbeat
    private let notifier: SystemdNotifier
    /// `/metrics` and `/healthz`; nil when `prometheus.listen` is off.
    public let metricsServer: MetricsServer?
    /// Keep-alives to systemd only while the ingest loop goes round.
    public let watchdog: WatchdogService
    /// `systemctl reload` (SIGHUP): reads the file again and hands it to the ingest thread.
    public let reloader: ReloadService
    /// KEDA's external scaler (gRPC); nil when `keda.listen` is off.
    public let kedaScaler: KEDAScalerService?
    /// Each pool's latest scale decision, written by the ingest thread for the KEDA endpoint.
    private let board: DecisionBoard?

    public var lastStatus: StatusReport? { latestStatus.withLock { $0 } }

    /// Every service of the aggregator, in the order a `ServiceGroup` should start them (it stops
    /// them in reverse: the reloader and the scrapes end before ingest takes its last snapshot).
    public var services: [any Service] {
        [self] + (metricsServer.map { [$0] } ?? []) + (kedaScaler.map { [$0] } ?? []) + [watchdog, reloader]
    }

    /// - Parameter reload: reads and validates the configuration again on SIGHUP; a config it
    ///   rejects (it throws) is logged and the running one kept.
    public init(config: AggregatorConfig, logger: Logger, reload: (@Sendable () throws -> AggregatorConfig)? = nil) throws {
        self.config = config
        self.logger = logger
        let heartbeat = Heartbeat()
        let notifier = SystemdNotifier()
        let pendingReload = Mailbox<AggregatorConfig>()
        self.heartbeat = heartbeat
        self.notifier = notifier
        self.pendingReload = pendingReload
        context = try ZMQContext()
        let authenticator = try Self.secure(config: config, logger: logger, context: context)
        self.authenticator = authenticator
        do {
            let pull = try ZMQSocket(context: context, type: .pull)
            if let a = authenticator { try pull.set([.zapDomain("metrics"), .curveServer(secretKey: a.secretKey)]) }
            try pull.set([
                .maxMessageBytes(Int64(config.ingest.maxMessageBytes)),
                .receiveHighWaterMark(Int32(config.ingest.receiveQueueBatches)),
                .lingerMilliseconds(0),
                .heartbeatIntervalMilliseconds(1000),
                .heartbeatTimeoutMilliseconds(3000),
            ])
            try pull.bind(config.endpoints.metrics)
            let pub = try ZMQSocket(context: context, type: .pub)
            if let a = authenticator { try pub.set([.zapDomain("decisions"), .curveServer(secretKey: a.secretKey)]) }
            try pub.set(.lingerMilliseconds(0))
            try pub.bind(config.endpoints.decisions)
            let control = try ZMQSocket(context: context, type: .rep)
            try control.set([.lingerMilliseconds(0), .maxMessageBytes(4096)])
            try control.bind(config.endpoints.control)
            let bound = (metrics: try pull.lastEndpoint(), decisions: try pub.lastEndpoint(), control: try control.lastEndpoint())
            let stall = config.prometheus.healthzMaxStallS
            // One verdict for /healthz and for the systemd watchdog: has the ingest loop gone round lately?
            let health: @Sendable () -> Health = { heartbeat.health(of: "ingest loop", limitSeconds: stall) }
            // Without an endpoint nobody reads the metrics, so the ingest thread keeps none.
            var metrics: AggregatorMetrics?
            if let address = config.prometheus.address {
                if !EndpointSyntax.isLoopbackHost(address.host) {
                    logger.warning(
                        "the metrics endpoint is bound off loopback and has no authentication: anyone who reaches it reads fleet state (node ids, pools, decisions)",
                        metadata: ["listen": "\(address)"])
                }
                let m = AggregatorMetrics()
                let process = ProcessMetrics(registry: m.registry)
                let nodes = m.nodeTable
                self.metricsServer = MetricsServer(
                    listen: address, registry: m.registry, logger: logger, beforeScrape: process.update, appendToScrape: { nodes.emit(into: &$0) },
                    health: health)
                metrics = m
            } else {
                self.metricsServer = nil
                logger.notice("metrics endpoint off (prometheus.listen: off)")
            }

            if let address = config.keda.address {
                let board = DecisionBoard()
                board.setConfigured(config.configuredPools)
                let tls = config.keda.tls
                if !EndpointSyntax.isLoopbackHost(address.host) && tls.clientCA.isEmpty {
                    logger.warning(
                        "the KEDA endpoint is bound off loopback without client certificates (keda.tls.client_ca): anyone who reaches it reads every pool's decisions",
                        metadata: ["listen": "\(address)"])
                }
                var observe: @Sendable (ScalerCall) -> Void = { _ in }
                if let registry = metrics?.registry { observe = { call in AggregatorMetrics.observe(call, registry: registry) } }
                self.board = board
                kedaScaler = KEDAScalerService(
                    endpoint: ScalerEndpoint(
                        address: address, tls: tls.isOn ? (tls.cert, tls.key, tls.clientCA.isEmpty ? nil : tls.clientCA) : nil),
                    board: board, logger: logger, observe: observe)
            } else {
                self.board = nil
                kedaScaler = nil
            }
            self.sockets = Handoff((pull, pub, control, metrics))
            self.bound = bound
            watchdog = WatchdogService(notifier: notifier, logger: logger, isHealthy: health)
            reloader = ReloadService(reload: reload, notifier: notifier, logger: logger) { next in pendingReload.put(next) }
        } catch {
            authenticator?.authenticator.stop()
            throw error
        }
    }

    public func run() async throws {
        defer { authenticator?.authenticator.stop() }
        // Said here, not in init: once the group runs, SIGTERM is a graceful stop (scripts and tests
        // wait for this line before they signal).
        logger.info(
            "aggregator listening",
            metadata: ["metrics": "\(bound.metrics)", "decisions": "\(bound.decisions)", "control": "\(bound.control)", "libzmq": "\(ZMQContext.libraryVersion)"])
        let settings = config.fleetSettings
        logger.info(
            "load index and forecasting",
            metadata: [
                "alpha": "\(settings.loadIndex.alpha)", "beta": "\(settings.loadIndex.beta)", "gamma": "\(settings.loadIndex.gamma)",
                "gpu_signal": "\(settings.loadIndex.gpuSignal.rawValue)", "latency_ref_ms": "\(settings.loadIndex.latencyRefMs)",
                "forecast_models": "\(settings.forecast.models.map(\.rawValue).joined(separator: ","))",
                "horizons_min": "\(settings.forecast.horizons.map(String.init).joined(separator: ","))",
                "season_steps": "\(settings.forecast.season)",
            ])
        // A snapshot directory that cannot be written stops the start (the group fails with the error).
        let (snapshots, restored) = try Self.openSnapshots(config: config, logger: logger)
        let thread = WorkerThread(name: "gpulse-ingest") { [self] worker in
            let (pull, pub, control, metrics) = sockets.take()
            defer {
                pull.close()
                pub.close()
                control.close()
            }
            var loop = IngestLoop(
                config: config, logger: logger, pull: pull, pub: pub, control: control, metrics: metrics, heartbeat: heartbeat,
                restored: restored, snapshots: snapshots, authenticator: authenticator?.authenticator, board: board
            ) { status in self.latestStatus.withLock { $0 = status } }
            loop.takeReload = { self.pendingReload.take() }
            loop.run(until: worker)
            // The final snapshot, written by `snapshots.stop()` below.
            loop.submitSnapshot()
        }
        defer {
            notifier.stopping(status: "stopping: final counts, then exit")
            thread.stop()
            thread.join()
            snapshots?.stop()
        }
        notifier.ready(status: "ingesting on \(bound.metrics); decisions on \(bound.decisions)")
        // Ingest runs on its thread until the group shuts down (SIGTERM) or another service fails.
        try? await gracefulShutdown()
    }

    /// CURVE (security.mode: curve): loads the key pair, refuses a key file others can read, and starts
    /// the ZAP handler with the allowlists. Plaintext is a warning at every start.
    static func secure(config: AggregatorConfig, logger: Logger, context: ZMQContext) throws -> (authenticator: Authenticator, secretKey: String)? {
        guard config.security.curve else {
            logger.warning(
                "plaintext: CURVE is off (security.mode: plaintext); anyone who reaches the metrics port can send batches as any node, and anyone who reaches the decision port can read decisions")
            return nil
        }
        guard CurveKeyPair.isSupported else { throw KeyFileError(description: "this libzmq was built without CURVE (libsodium); security.mode: curve cannot work") }
        let (pair, path) = try config.security.loadKeyPair()
        // validate() refused a key listed twice, so each inverts to one name.
        let agents = Dictionary(uniqueKeysWithValues: config.security.agents.map { ($0.value, $0.key) })
        let subscribers = Dictionary(uniqueKeysWithValues: config.security.subscribers.map { ($0.value, $0.key) })
        let authenticator = Authenticator(allow: ["metrics": agents, "decisions": subscribers], logger: logger)
        try authenticator.start(context: context)
        logger.notice(
            "CURVE on: only allowlisted agents may send (each as its own node id), only allowlisted subscribers may read",
            metadata: ["public_key": "\(pair.publicKey)", "key_file": "\(path)", "agents": "\(agents.count)", "subscribers": "\(subscribers.count)"])
        if agents.isEmpty { logger.warning("security.agents is empty: every agent will be refused") }
        return (authenticator, pair.secretKey)
    }

    /// Where snapshots go (nil: off) and what the last one held. A directory that cannot be written
    /// stops the start: snapshots that silently fail would be found out only after a crash.
    static func openSnapshots(config: AggregatorConfig, logger: Logger) throws -> (SnapshotWriter?, AggregatorSnapshot?) {
        guard let path = config.snapshot.resolvedPath(stateDirectory: environmentValue("STATE_DIRECTORY")) else {
            logger.notice(
                "snapshots off: learned state (forecasters, registry, decision sequence) is lost on restart",
                metadata: ["why": "\(config.snapshot.isOff ? "snapshot.path: off" : "no snapshot.path and no $STATE_DIRECTORY")"])
            return (nil, nil)
        }
        let directory = directoryOf(path)
        guard access(directory, W_OK) == 0 else {
            throw SnapshotError(description: "cannot write snapshots in \(directory): \(String(cString: strerror(errno))) (set snapshot.path, or off)")
        }
        let store = SnapshotStore(path: path)
        let now = SystemClock.wallNanos()
        var restored: AggregatorSnapshot?
        switch store.load(nowNanos: now) {
        case .none:
            logger.notice("no snapshot yet; starting fresh", metadata: ["path": "\(path)"])
        case .restored(let snapshot, let bytes):
            restored = snapshot
            let pools = snapshot.fleet.pools.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value.minutes.count)min" }
            logger.notice(
                "restored from snapshot",
                metadata: [
                    "path": "\(path)", "bytes": "\(bytes)", "age_s": "\(Double(now - snapshot.writtenAtNanos) / 1e9)",
                    "nodes": "\(snapshot.fleet.nodes.count)", "pools_minutes_kept": "\(pools.joined(separator: ","))",
                    "decision_seq_from": "\(snapshot.decisionSeqReserved)",
                    "policy_cooldowns": "\((snapshot.policies ?? [:]).keys.sorted().joined(separator: ","))",
                ])
        case .corrupt(let reason, let movedTo):
            logger.error(
                "snapshot unusable; moved aside, starting fresh",
                metadata: ["path": "\(path)", "reason": "\(reason)", "moved_to": "\(movedTo ?? "(could not rename; left in place)")"])
        }
        let writer = SnapshotWriter(store: store, logger: logger, restoredAgeSeconds: restored.map { Double(now - $0.writtenAtNanos) / 1e9 })
        writer.start()
        logger.info("snapshots on", metadata: ["path": "\(path)", "interval_s": "\(config.snapshot.intervalS)"])
        return (writer, restored)
    }

}

/// One value handed from one thread to another and taken once: a reloaded configuration from the
/// reloader to the ingest thread, a status reply encoded off the ingest thread back to it (the JSON
/// of 10,000 nodes is megabytes; encoding it on the loop stalled it for a few hundred milliseconds).
final class Mailbox<Value: Sendable>: Sendable {
    private let slot = Mutex<Value?>(nil)
    /// Replaces what is waiting, if anything.
    func put(_ value: Value) { slot.withLock { $0 = value } }
    /// What is waiting, leaving the box empty; nil when nothing is.
    func take() -> Value? { slot.withLock { v in defer { v = nil }; return v } }
}

/// SIGHUP (`systemctl reload`): reads and checks the file again, then hands it to the ingest thread,
/// which swaps pools, policies and offload rules between two ticks; ingest never stops. A bad file
/// is rejected with every problem logged, and the running configuration stays.
public struct ReloadService: Service {
    let reload: (@Sendable () throws -> AggregatorConfig)?
    let notifier: SystemdNotifier
    let logger: Logger
    /// Hands a checked configuration to the ingest thread.
    let hand: @Sendable (AggregatorConfig) -> Void

    public func run() async {
        for await _ in await UnixSignalsSequence(trapping: .sighup).cancelOnGracefulShutdown() {
            guard let reload else {
                logger.warning("SIGHUP ignored: started without --config, nothing to reload")
                continue
            }
            notifier.reloading()
            do {
                hand(try reload())
                logger.notice("config reload read; the ingest thread applies it at its next tick")
            } catch {
                logger.error("config reload rejected; the running configuration stays", metadata: ["error": "\(error)"])
            }
            notifier.ready(status: "running (last reload at \(SystemClock.wallNanos() / 1_000_000_000))")
        }
    }
}

/// The state and steps of the ingest thread.
struct IngestLoop {
    var config: AggregatorConfig
    let logger: Logger
    let pull: ZMQSocket
    let pub: ZMQSocket
    let control: ZMQSocket
    let onStatus: (StatusReport) -> Void
    /// nil when the metrics endpoint is off.
    var metrics: AggregatorMetrics?
    let heartbeat: Heartbeat
    var lastMetricsUpdate = -1.0
    /// Returns a reloaded configuration once, when SIGHUP brought one.
    var takeReload: () -> AggregatorConfig? = { nil }
    /// The fleet, engine, ledger and gate: everything that decides, apart from the sockets.
    var state: AggregatorState
    var fleet: Fleet { state.fleet }
    var engine: DecisionEngine { state.engine }
    var ledger: IngestLedger { state.ledger }
    /// What the last call on `state` did, drained by `handleEvents` (kept to reuse its storage).
    var events: [AggregatorState.Event] = []
    var publisher = DecisionPublisher()
    let started = SystemClock.wallNanos()
    var lastReport = SystemClock.monotonicSeconds()
    /// One rejection line per 10 s, with the count since the line before.
    var rejectionLog = LogBudget(lines: 1, windowSeconds: 10)
    /// Node transitions: 100 lines per 10 s, then one line with how many were not written.
    var transitionLog = LogBudget(lines: 100, windowSeconds: 10)
    let snapshots: SnapshotWriter?
    /// nil in plaintext; with CURVE every batch's node_id must be the one its key is bound to.
    let authenticator: Authenticator?
    /// Where the KEDA endpoint reads scale decisions; nil when it is off.
    let board: DecisionBoard?
    /// Sequence numbers up to this may be in use; the snapshot says so before any is used, so that a
    /// `kill -9` after decisions the last snapshot did not see cannot make a restarted run repeat them.
    var seqReserved: UInt64
    /// How many sequence numbers a snapshot reserves ahead; a new snapshot is taken when fewer than
    /// half are left, whatever the interval.
    static let seqReserve: UInt64 = 100_000
    /// How long one burst of receiving may run before the loop ticks and answers control again.
    static let drainBudgetNanos: UInt64 = 50_000_000
    var nextSnapshot = 0.0
    /// The control reply being encoded, and whether one is owed (the REP socket takes no request
    /// until it is sent).
    let reply = Mailbox<[UInt8]>()
    var awaitingReply = false
    /// Who may have sent a batch: with CURVE, the node id the ZAP handler bound the sender's key to.
    func sender(_ buffer: MessageBuffer) -> IngestGate.Sender { authenticator == nil ? .plaintext : .curve(nodeID: buffer.peerUserID) }

    init(
        config: AggregatorConfig, logger: Logger, pull: ZMQSocket, pub: ZMQSocket, control: ZMQSocket, metrics: AggregatorMetrics? = nil,
        heartbeat: Heartbeat = Heartbeat(), restored: AggregatorSnapshot? = nil, snapshots: SnapshotWriter? = nil,
        authenticator: Authenticator? = nil, board: DecisionBoard? = nil, onStatus: @escaping (StatusReport) -> Void
    ) {
        self.authenticator = authenticator
        self.board = board
        self.snapshots = snapshots
        self.config = config
        self.metrics = metrics
        self.heartbeat = heartbeat
        self.logger = logger
        self.pull = pull
        self.pub = pub
        self.control = control
        self.onStatus = onStatus
        let fleet = restored.map { Fleet(settings: config.fleetSettings, restoring: $0.fleet) } ?? Fleet(settings: config.fleetSettings)
        if !fleet.forecastsRebuilt.isEmpty {
            logger.notice(
                "forecasters rebuilt from the saved minute history (saved under other forecast settings, or by a build with other models)",
                metadata: ["pools": "\(fleet.forecastsRebuilt.joined(separator: ","))"])
        }
        // Ids are "<start time in hex seconds>-<seq>"; the sequence carries on past whatever the last
        // run may have used.
        let firstSeq = restored?.decisionSeqReserved ?? 0
        var engine = DecisionEngine(
            settings: config.engineSettings, idPrefix: String(SystemClock.wallNanos() / 1_000_000_000, radix: 16), lastSeq: firstSeq)
        seqReserved = firstSeq
        if let memories = restored?.policies { engine.restore(policyMemories: memories) }
        var limits = WireLimits.default
        limits.maxMessageBytes = config.ingest.maxMessageBytes
        state = AggregatorState(
            fleet: fleet, engine: engine,
            gate: IngestGate(maxAheadSeconds: config.ingest.maxClockAheadS, maxBehindSeconds: config.registry.forgetAfterS), limits: limits)
    }

    mutating func run(until worker: WorkerThread) {
        let poller = ZMQPoller()
        var buffer = MessageBuffer()
        do {
            let metricsIndex = try poller.register(pull)
            let controlIndex = try poller.register(control)
            // What libzmq does silently (oversized frames, mechanism mismatches) is counted from here.
            let monitor = try SocketMonitor(watching: pull, name: "metrics")
            defer { monitor.close() }
            let monitorIndex = try poller.register(monitor.socket)
            while !worker.shouldStop {
                heartbeat.beat()
                do {
                    // While a reply is being encoded, poll briefly so that it leaves soon after.
                    _ = try poller.poll(timeoutMilliseconds: awaitingReply ? 5 : max(1, min(100, Int(config.decisions.evaluateIntervalMs))))
                    if poller.isReadable(metricsIndex) { try drain(&buffer) }
                    if poller.isReadable(controlIndex) { try answerControl() }
                    try sendReadyReply()
                    if poller.isReadable(monitorIndex) { try recordConnectionEvents(monitor) }
                    tick()
                } catch {
                    if error == .contextTerminated { return }
                    logger.error("ingest socket error", metadata: ["error": "\(error)"])
                    SystemClock.sleep(milliseconds: 100)
                }
            }
        } catch {
            logger.critical("cannot poll the aggregator sockets", metadata: ["error": "\(error)"])
        }
        logSummary(final: true)
    }

    /// Takes what is queued, in bursts bounded by count and by time (`drainBudgetNanos`), so that
    /// ticks, control requests and the watchdog stay responsive whatever arrives.
    mutating func drain(_ buffer: inout MessageBuffer) throws(ZMQError) {
        let deadline = SystemClock.monotonicNanos() + Self.drainBudgetNanos
        for _ in 0..<1024 {
            guard SystemClock.monotonicNanos() < deadline else { return }
            guard try pull.receive(into: &buffer, blocking: false) else { return }
            let now = SystemClock.wallNanos()
            let (sender, frames, peer) = (sender(buffer), buffer.frameCount, buffer.peerAddress)
            // Moved out while the frame is borrowed (the closure may not touch two properties of self
            // at once); moving an array does not copy it.
            var out = events
            events = []
            if frames > 0 {
                buffer.withFrame(0) { frame in state.accept(frames: frames, frame: frame, sender: sender, peerAddress: peer, nowNanos: now, into: &out) }
            } else {
                state.accept(frames: 0, frame: UnsafeRawBufferPointer(start: nil, count: 0), sender: sender, peerAddress: peer, nowNanos: now, into: &out)
            }
            events = out
            handleEvents()
        }
    }

    mutating func recordConnectionEvents(_ monitor: SocketMonitor) throws(ZMQError) {
        while let event = try monitor.next() { state.record(event, curve: authenticator != nil, into: &events) }
        handleEvents()
    }

    /// Logs and publishes what the state did, in order.
    mutating func handleEvents() {
        guard !events.isEmpty else { return }
        for event in events {
            switch event {
            case .rejected(let rejection, let detail, let nodeID): logRejection(reason: rejection.rawValue, detail: detail, nodeID: nodeID)
            case .sequence(let outcome, let nodeID, let session, let seq): logOutcome(outcome, nodeID: nodeID, session: session, seq: seq)
            case .transition(let t): logTransition(t)
            case .health(let h): logHealth(h)
            case .decision(let d): send(d)
            case .burst(let pool, let demand, let excess):
                logger.notice("demand burst", metadata: ["pool": "\(pool)", "demand": "\(demand)", "excess": "\(excess)"])
            }
        }
        events.removeAll(keepingCapacity: true)
    }

    /// At most one line per 10 s, however fast rejections come, with the count since the last line.
    mutating func logRejection(reason: String, detail: String, nodeID: String?) {
        let (write, heldBack) = rejectionLog.take(at: SystemClock.monotonicSeconds())
        guard write else { return }
        var metadata: Logger.Metadata = ["reason": "\(reason)", "detail": "\(detail)", "rejected_since_last_line": "\(heldBack + 1)"]
        if let nodeID { metadata["node_id"] = "\(nodeID)" }
        logger.warning("rejected a batch", metadata: metadata)
    }

    mutating func tick() {
        if let next = takeReload() { apply(next) }
        let now = SystemClock.wallNanos()
        state.tick(nowNanos: now, into: &events)
        handleEvents()
        let t = SystemClock.monotonicSeconds()
        if snapshots != nil, t >= nextSnapshot || engine.seq + Self.seqReserve / 2 >= seqReserved {
            nextSnapshot = t + config.snapshot.intervalS
            submitSnapshot()
        }
        if metrics != nil, t - lastMetricsUpdate >= 1 {
            lastMetricsUpdate = t
            syncAuthenticationRefusals()
            let refused = subscribersRefused
            let (fleet, ledger, standing) = (state.fleet, state.ledger, state.engine.current)
            metrics?.update(fleet: fleet, ledger: ledger, standing: standing, nowNanos: now, subscribersRefused: refused)
        }
        if t - lastReport >= config.ingest.reportIntervalS {
            lastReport = t
            logSummary(final: false)
        }
    }

    /// Subscriber handshakes the ZAP handler refused on the decision stream (0 in plaintext).
    var subscribersRefused: UInt64 { authenticator?.deniedByDomain["decisions"] ?? 0 }

    /// Folds the ZAP handler's refusals on the metrics socket into the ledger as `unauthenticated`.
    mutating func syncAuthenticationRefusals() {
        guard let authenticator else { return }
        state.setUnauthenticated(total: authenticator.deniedByDomain["metrics"] ?? 0)
    }

    /// Hands a copy of the learned state to the snapshot writer (cheap: the state is value types).
    mutating func submitSnapshot() {
        guard let snapshots else { return }
        seqReserved = max(seqReserved, engine.seq + Self.seqReserve)
        snapshots.submit(
            AggregatorSnapshot(
                writtenAtNanos: SystemClock.wallNanos(), decisionSeqReserved: seqReserved, fleet: fleet.snapshot, policies: engine.policyMemories))
    }

    /// Swaps what can change without a restart (`AggregatorConfig.reload(to:)` says which keys); the
    /// others are named in the log and keep their running values.
    mutating func apply(_ next: AggregatorConfig) {
        let (effective, restartOnly) = config.reload(to: next)
        if !restartOnly.isEmpty {
            logger.warning("config reload: these changed but take effect only after a restart", metadata: ["keys": "\(restartOnly.joined(separator: ","))"])
        }
        config = effective
        state.reconfigure(effective.engineSettings)
        board?.setConfigured(effective.configuredPools)
        logger.notice(
            "config reloaded: pools, policies and offload rules replaced; ingest carried on",
            metadata: [
                "pools": "\(effective.pools.keys.sorted().map { "\($0)=\(effective.pools[$0]!.policy)" }.joined(separator: ","))",
                "offload_sites": "\(effective.offload.keys.sorted().joined(separator: ","))", "decision_seq": "\(engine.seq)",
            ])
    }

    /// Takes a control request. The status report is built here, from the state this thread owns,
    /// and encoded to JSON on another thread; `sendReadyReply` sends it.
    mutating func answerControl() throws(ZMQError) {
        guard !awaitingReply, let request = try control.receiveFrames(blocking: false) else { return }
        let command = String(decoding: request.first ?? [], as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        switch command {
        case "status":
            syncAuthenticationRefusals()
            let status = state.status(
                nowNanos: SystemClock.wallNanos(),
                shell: .init(
                    startedNanos: started, published: publisher.published, resent: publisher.resent, subscribersRefused: subscribersRefused,
                    snapshot: snapshots?.stats, longestLoopGapSeconds: heartbeat.longestGapSeconds))
            onStatus(status)
            awaitingReply = true
            let box = reply
            Task.detached { box.put(Array(status.json(pretty: false).utf8)) }
        default:
            _ = try control.send(Array(#"{"error":"unknown command; the control endpoint answers: status"}"#.utf8), blocking: false)
        }
    }

    /// Sends the control reply once it has been encoded.
    mutating func sendReadyReply() throws(ZMQError) {
        guard awaitingReply, let bytes = reply.take() else { return }
        awaitingReply = false
        _ = try control.send(bytes, blocking: false)
    }

    func logOutcome(_ outcome: SequenceTracker.Outcome, nodeID: String, session: UInt64, seq: UInt64) {
        switch outcome {
        case .restarted:
            logger.notice("node restarted (new agent session)", metadata: ["node_id": "\(nodeID)", "session": "\(session)"])
        case .gap(let missing):
            logger.warning("sequence gap", metadata: ["node_id": "\(nodeID)", "missing_batches": "\(missing)", "seq": "\(seq)"])
        case .duplicate:
            logger.warning("duplicate or reordered batch ignored", metadata: ["node_id": "\(nodeID)", "seq": "\(seq)"])
        case .first, .inOrder, .conflict:
            break
        }
    }

    /// Publishes one decision; logs it when it is new (re-sends are counted, not logged).
    mutating func send(_ decision: Decision) {
        // The KEDA endpoint answers from what was sent, re-sends included (they extend its validity).
        if let board, case .scale(let s) = decision.body {
            board.post(
                s, validUntilUnixNanos: decision.validUntilUnixNanos, targetLoad: config.pool(s.pool).targetLoad,
                nowNanos: SystemClock.wallNanos())
        }
        let fresh: Bool
        do {
            fresh = try publisher.publish(decision, on: pub)
        } catch {
            logger.error("cannot publish a decision", metadata: ["topic": "\(decision.topic)", "error": "\(error)"])
            return
        }
        guard fresh else { return }
        metrics?.issued(decision)
        switch decision.body {
        case .scale(let s):
            logger.notice(
                "scale decision",
                metadata: [
                    "id": "\(decision.id)", "pool": "\(s.pool)", "action": "\(s.action.name)", "current": "\(s.currentReplicas)",
                    "desired": "\(s.desiredReplicas)", "policy": "\(s.policy)", "reason": "\(s.reason)",
                ])
        case .offload(let o):
            logger.notice(
                "offload decision",
                metadata: ["id": "\(decision.id)", "site": "\(o.site)", "target": "\(o.target)", "fraction": "\(o.fraction)", "reason": "\(o.reason)"])
        case .node:
            break  // the transition was logged already
        }
    }

    /// Health changes are rare (a faulty GPU, then its recovery) and each one matters: always logged.
    func logHealth(_ h: HealthChange) {
        let metadata: Logger.Metadata = ["node_id": "\(h.nodeID)", "pool": "\(h.pool)", "reason": "\(h.reason)"]
        if h.healthy {
            logger.notice("node healthy again (no GPU fault for health.recover_after_s); its capacity counts again", metadata: metadata)
        } else {
            logger.error("node unhealthy: its GPU reported a fault; its capacity is not counted", metadata: metadata)
        }
    }

    mutating func logTransition(_ t: NodeTransition) {
        // A flood of new (forged) ids must not become a flood of log lines.
        let (write, heldBack) = transitionLog.take(at: SystemClock.monotonicSeconds())
        if heldBack > 0 {
            logger.warning(
                "node transitions not logged (over the limit of lines per 10 s)",
                metadata: ["not_logged": "\(heldBack)", "limit": "\(transitionLog.lines)", "see": "gpulse-aggregator status"])
        }
        guard write else { return }
        let metadata: Logger.Metadata = [
            "node_id": "\(t.nodeID)", "pool": "\(t.pool)", "from": "\(t.from?.rawValue ?? "new")", "to": "\(t.to?.rawValue ?? "forgotten")",
        ]
        switch t.to {
        case .live: logger.info(t.from == nil ? "node up" : "node back", metadata: metadata)
        case .stale: logger.warning("node stale (silent past registry.stale_after_s)", metadata: metadata)
        case .down: logger.warning("node down (silent past registry.down_after_s)", metadata: metadata)
        case nil: logger.info("node forgotten (silent past registry.forget_after_s)", metadata: metadata)
        }
    }

    /// Per-node and per-pool count lines are written only up to this many of each; a larger fleet
    /// (or a flood of forged ids) gets one line saying how many were left out, so that the log, and
    /// the ingest thread writing it, do not grow with the registry.
    static let summaryLinesMax = 64

    func logSummary(final: Bool) {
        let perNode = fleet.nodes.count <= Self.summaryLinesMax
        if !perNode {
            logger.info(
                final ? "final node counts omitted" : "node counts omitted",
                metadata: ["nodes": "\(fleet.nodes.count)", "limit": "\(Self.summaryLinesMax)", "see": "gpulse-aggregator status"])
        }
        for (id, node) in perNode ? fleet.nodes.sorted(by: { $0.key < $1.key }) : [] {
            logger.info(
                final ? "final node counts" : "node counts",
                metadata: [
                    "node_id": "\(id)", "pool": "\(node.labels.pool)", "state": "\(node.state.rawValue)", "batches": "\(node.sequence.received)",
                    "samples": "\(node.samples)", "gaps_missing_batches": "\(node.sequence.missing)", "restarts": "\(node.sequence.restarts)",
                    "duplicates": "\(node.sequence.duplicates)", "agent_dropped_samples": "\(node.agentDroppedSamples)",
                    "load": "\(node.load.map { String($0) } ?? "-")",
                ])
        }
        for (name, pool) in zip(fleet.poolNames, fleet.poolSeries).prefix(Self.summaryLinesMax) {
            let p = pool.latest
            logger.info(
                "pool",
                metadata: [
                    "pool": "\(name)", "live_nodes": "\(p?.liveNodes ?? 0)", "load_mean": "\(p?.loadMean ?? 0)", "load_max": "\(p?.loadMax ?? 0)",
                    "demand": "\(p?.demand ?? 0)",
                ])
        }
        let rejected = ledger.rejectedByReason.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: ",")
        logger.info(
            final ? "final ingest totals" : "ingest totals",
            metadata: [
                "nodes": "\(fleet.nodes.count)", "batches": "\(ledger.batchesAccepted)", "samples": "\(ledger.samplesAccepted)",
                "rejected": "\(ledger.batchesRejected)", "rejected_by_reason": "\(rejected.isEmpty ? "none" : rejected)",
                "unknown_series_ignored": "\(ledger.unknownSeriesIgnored)", "window_bytes": "\(fleet.windowBytes)",
            ])
    }
}
