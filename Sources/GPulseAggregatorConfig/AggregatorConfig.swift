import GPulseConfig
import GPulseCore
import GPulseTransport
import GPulseWire

/// The aggregator's configuration file (YAML). Every key is optional; config/aggregator.yaml
/// documents each one with its default.
public struct AggregatorConfig: ConfigSection, Sendable, Equatable {
    public struct Endpoints: ConfigSection, Sendable, Equatable {
        public var metrics = "tcp://0.0.0.0:7461"
        public var decisions = "tcp://0.0.0.0:7462"
        public var control = "tcp://127.0.0.1:7463"
        public init() {}
    }
    public struct Ingest: ConfigSection, Sendable, Equatable {
        public var maxMessageBytes = WireLimits.default.maxMessageBytes
        public var receiveQueueBatches = 1_000
        public var reportIntervalS = 10.0
        public var maxClockAheadS = IngestGate.defaultMaxAheadSeconds
        public init() {}
    }
    public struct Registry: ConfigSection, Sendable, Equatable {
        public var staleAfterS = 5.0
        public var downAfterS = 30.0
        public var forgetAfterS = 3600.0
        public var maxNodes = 10_000
        public var maxPools = 256
        public var unlistedPools = UnlistedPools.accept
        public var forgetPoolAfterS = 86_400.0
        public var newNodesPerPeerPerS = 1000.0
        public init() {}
    }
    /// Which GPU faults agents report take a node's capacity out of its pool, and for how long.
    public struct Health: ConfigSection, Sendable, Equatable {
        public var recoverAfterS = HealthSettings().recoverAfterSeconds
        public var ignoredXIDs = HealthSettings.applicationXIDs.sorted()
        public init() {}
    }
    public struct Windows: ConfigSection, Sendable, Equatable {
        public var rawS = 10.0
        public var loadS = 1.0
        public var maxSamplesPerSeries = 10_000
        public var maxSeriesPerNode = 256
        public var secondsKept = 3600
        public var minutesKept = 1440
        public init() {}
    }
    /// The defaults are Core's (`LoadIndexSettings`): one value per key.
    public struct LoadIndex: ConfigSection, Sendable, Equatable {
        public var alpha = LoadIndexSettings().alpha
        public var beta = LoadIndexSettings().beta
        public var gamma = LoadIndexSettings().gamma
        public var gpuSignal = LoadIndexSettings().gpuSignal
        public var latencyRefMs = LoadIndexSettings().latencyRefMs
        public init() {}
    }
    public struct HoltWintersParameters: ConfigSection, Sendable, Equatable {
        public var level = 0.3
        public var trend = 0.0
        public var seasonal = 0.05
        public var damping = 0.98
        public var fitLevel = true
        public init() {}
    }
    public struct Forecast: ConfigSection, Sendable, Equatable {
        public var seasonSteps = 1440
        public var horizonsMin = [1, 5, 15, 60]
        public var models = ForecastModel.allCases
        public var holtWinters = HoltWintersParameters()
        public var arOrder = 16
        public var arForgetting = 0.9999
        public var arTailSteps = [4, 8, 16, 32, 64]
        public var arDifferencing = 1
        public var errorDecay = 0.01
        public var intervalLevel = 0.8
        public var residualMemory = 500
        public init() {}
    }

    /// The HTTP endpoint for Prometheus (`/metrics`) and health checks (`/healthz`).
    public struct Prometheus: ConfigSection, Sendable, Equatable {
        /// `host:port`, or `off`. Loopback by default: put a reverse proxy or a firewall rule in front
        /// before opening it wider; the endpoint has no authentication.
        public var listen = "127.0.0.1:9473"
        /// `/healthz` answers 503 when the ingest loop has not gone round for this long.
        public var healthzMaxStallS = 5.0
        public init() {}
        /// nil when the endpoint is off.
        public var address: ListenAddress? { ListenAddress.Setting(listen).address }
    }

    /// KEDA's external scaler (gRPC) on the aggregator: a ScaledObject's `external` trigger points
    /// here and the HPA it drives lands on the pool's desired replicas (docs/kubernetes.md).
    public struct KEDA: ConfigSection, Sendable, Equatable {
        /// `host:port`, or `off` (the default). Off loopback it needs `tls` with `client_ca`, or a
        /// network policy that lets only KEDA's operator in: any caller may read the fleet's decisions.
        public var listen = "off"
        public var tls = TLS()
        public init() {}
        /// nil when the endpoint is off.
        public var address: ListenAddress? { ListenAddress.Setting(listen).address }

        /// PEM files; all empty: plaintext. `cert` and `key` serve TLS (KEDA's `caCert` verifies
        /// them); `client_ca` also requires a client certificate signed by it (KEDA's
        /// `tlsClientCert`/`tlsClientKey`).
        public struct TLS: ConfigSection, Sendable, Equatable {
            public var cert = ""
            public var key = ""
            public var clientCA = ""
            public init() {}
            public var isOn: Bool { !cert.isEmpty }
        }

        func issues() -> [ConfigIssue] {
            var out: [ConfigIssue] = []
            if let problem = ListenAddress.Setting(listen).problem { out.append(ConfigIssue(keyPath: "keda.listen", message: problem)) }
            if tls.cert.isEmpty != tls.key.isEmpty {
                out.append(ConfigIssue(keyPath: tls.cert.isEmpty ? "keda.tls.cert" : "keda.tls.key", message: "must be set with the other (a PEM certificate chain and its private key)"))
            }
            if !tls.clientCA.isEmpty && !tls.isOn {
                out.append(ConfigIssue(keyPath: "keda.tls.client_ca", message: "needs keda.tls.cert and keda.tls.key: client certificates are checked only over TLS"))
            }
            return out
        }
    }

    /// Where and how often the learned state is saved (see `SnapshotStore`).
    public struct Snapshot: ConfigSection, Sendable, Equatable {
        /// A file path; `off`; or empty for `$STATE_DIRECTORY/aggregator.snapshot` (systemd's
        /// StateDirectory=), which is off when that variable is not set.
        public var path = ""
        public var intervalS = 60.0
        public init() {}
        /// `path: off`: no snapshots, even under systemd's StateDirectory.
        public var isOff: Bool { path == "off" }
        /// The file to use, or nil when snapshots are off.
        public func resolvedPath(stateDirectory: String?) -> String? {
            if isOff { return nil }
            if !path.isEmpty { return path }
            guard let dir = stateDirectory, !dir.isEmpty else { return nil }
            // systemd may list several directories separated by ':'; the first is ours.
            return "\(dir.split(separator: ":").first ?? "")/aggregator.snapshot"
        }
    }

    /// CURVE on the metrics socket and the decision stream. On by default: plaintext has to be asked for.
    public struct Security: ConfigSection, Sendable, Equatable {
        public var mode = SecurityMode.curve
        /// The aggregator's key pair from `gpulse-aggregator keygen`; empty for
        /// `$CREDENTIALS_DIRECTORY/aggregator.key` (systemd LoadCredential=).
        public var secretKeyFile = ""
        /// node id → the agent's public key: only these agents may send, each only as its node id.
        public var agents: [String: String] = [:]
        /// name → public key of a decision stream subscriber.
        public var subscribers: [String: String] = [:]
        public init() {}
        public var curve: Bool { mode == .curve }
        /// The aggregator's key pair, and the file's path; the error says how to make a missing one.
        public func loadKeyPair() throws(KeyFileError) -> (CurveKeyPair, path: String) {
            try KeyFile.load(
                configured: secretKeyFile, defaultName: "aggregator.key", credentialsDirectory: environmentValue("CREDENTIALS_DIRECTORY"),
                keygen: "gpulse-aggregator keygen")
        }
    }

    public var endpoints = Endpoints()
    public var security = Security()
    public var prometheus = Prometheus()
    public var keda = KEDA()
    public var snapshot = Snapshot()
    public var ingest = Ingest()
    public var registry = Registry()
    public var health = Health()
    public var windows = Windows()
    public var loadIndex = LoadIndex()
    public var forecast = Forecast()
    public var decisions = DecisionConfig()
    public var instanceClasses = InstanceClassConfig.examples
    /// Scaling per pool, by the pool label agents report; `default` covers pools not listed.
    public var pools: [String: PoolConfig] = ["default": PoolConfig()]
    /// Edge offload per site label.
    public var offload: [String: OffloadConfig] = [:]
    /// The SIMULATED fleet of `gpulse-aggregator replay`.
    public var replay = ReplayConfig()

    public init() {}


    public static func load(path: String) throws(ConfigError) -> AggregatorConfig {
        try parse(yaml: try YAMLConfig.read(path: path), path: path)
    }

    public static func parse(yaml: String, path: String = "<config>") throws(ConfigError) -> AggregatorConfig {
        // Wrong types and unknown keys are reported together with the range checks, in one list.
        let (config, fileIssues) = try YAMLConfig.decodeCollecting(AggregatorConfig.self, yaml: yaml, path: path)
        let issues = fileIssues + config.validate()
        guard issues.isEmpty else { throw ConfigError(path: path, issues: issues) }
        return config
    }

    /// What a reload (SIGHUP) to `next` runs with, and the keys that changed but wait for a restart.
    /// Pools, policies, instance classes, offload rules and the decision re-send timing are swapped
    /// in; sockets, the registry's limits, windows, the load index and the forecasters were built
    /// from the running values and keep them. `replay:` is not read by the service.
    public func reload(to next: AggregatorConfig) -> (effective: AggregatorConfig, restartOnly: [String]) {
        var effective = self
        effective.pools = next.pools
        effective.offload = next.offload
        effective.instanceClasses = next.instanceClasses
        effective.decisions.resendIntervalS = next.decisions.resendIntervalS
        effective.decisions.validForS = next.decisions.validForS
        let sections: [(String, Bool)] = [
            ("endpoints", next.endpoints != endpoints), ("prometheus", next.prometheus != prometheus), ("keda", next.keda != keda),
            ("snapshot", next.snapshot != snapshot),
            ("security", next.security != security), ("ingest", next.ingest != ingest), ("registry", next.registry != registry),
            ("health", next.health != health),
            ("windows", next.windows != windows), ("load_index", next.loadIndex != loadIndex), ("forecast", next.forecast != forecast),
            ("decisions.evaluate_interval_ms", next.decisions.evaluateIntervalMs != decisions.evaluateIntervalMs),
        ]
        return (effective, sections.filter(\.1).map(\.0))
    }

    /// Values that decode but cannot be used.
    public func validate() -> [ConfigIssue] {
        var issues: [ConfigIssue] = []
        if let problem = ListenAddress.Setting(prometheus.listen).problem { issues.append(ConfigIssue(keyPath: "prometheus.listen", message: problem)) }
        for (key, endpoint) in [("metrics", endpoints.metrics), ("decisions", endpoints.decisions), ("control", endpoints.control)] {
            if let problem = EndpointSyntax.problem(endpoint) { issues.append(ConfigIssue(keyPath: "endpoints.\(key)", message: problem)) }
        }
        // The control endpoint answers anyone who reaches it and has no CURVE of its own.
        if EndpointSyntax.problem(endpoints.control) == nil && !EndpointSyntax.isLocal(endpoints.control) {
            issues.append(
                ConfigIssue(
                    keyPath: "endpoints.control",
                    message: "must be on loopback or ipc:// (e.g. tcp://127.0.0.1:7463): it has no authentication, CURVE or not; got '\(endpoints.control)'"))
        }
        issues += keda.issues()
        if !(prometheus.healthzMaxStallS > 0) { issues.append(ConfigIssue(keyPath: "prometheus.healthz_max_stall_s", message: "must be positive")) }
        for (section, keys) in [("agents", security.agents), ("subscribers", security.subscribers)] {
            var owner: [String: String] = [:]
            for (name, key) in keys.sorted(by: { $0.key < $1.key }) {
                if !CurveKeyPair.isValidKey(key) {
                    issues.append(ConfigIssue(keyPath: "security.\(section).\(name)", message: "is not a CURVE public key (40 Z85 characters from keygen)"))
                } else if let first = owner[key] {
                    // A key names exactly one peer: the ZAP handler could not tell which one is speaking.
                    issues.append(ConfigIssue(keyPath: "security.\(section).\(name)", message: "has the same key as \(first); give each its own keygen"))
                } else {
                    owner[key] = name
                }
            }
        }
        if !(snapshot.intervalS >= 1) { issues.append(ConfigIssue(keyPath: "snapshot.interval_s", message: "must be at least 1")) }
        if ingest.maxMessageBytes < 1024 { issues.append(ConfigIssue(keyPath: "ingest.max_message_bytes", message: "must be at least 1024")) }
        if !(1...10_000_000).contains(ingest.receiveQueueBatches) {
            issues.append(ConfigIssue(keyPath: "ingest.receive_queue_batches", message: "must be 1 to 10000000"))
        }
        if !(ingest.maxClockAheadS > 0 && ingest.maxClockAheadS <= 86_400) {
            issues.append(ConfigIssue(keyPath: "ingest.max_clock_ahead_s", message: "must be above 0 and at most 86400 (a day)"))
        }
        if !(ingest.reportIntervalS > 0) { issues.append(ConfigIssue(keyPath: "ingest.report_interval_s", message: "must be positive")) }
        for problem in fleetSettings.problems() {
            issues.append(ConfigIssue(keyPath: problem.setting.configKey, message: problem.message(naming: \.configKey)))
        }
        issues += replay.problems().map { ConfigIssue(keyPath: "replay.\($0.0)", message: $0.1) }
        return issues + decisionProblems()
    }

    /// The GPulseCore settings these values stand for (forecasts run on 1-minute steps).
    public var fleetSettings: FleetSettings {
        FleetSettings(
            staleAfterSeconds: registry.staleAfterS, downAfterSeconds: registry.downAfterS, forgetAfterSeconds: registry.forgetAfterS,
            rawWindowSeconds: windows.rawS, loadWindowSeconds: windows.loadS, maxSamplesPerSeries: windows.maxSamplesPerSeries,
            maxSeriesPerNode: windows.maxSeriesPerNode, secondsKept: windows.secondsKept, minutesKept: windows.minutesKept,
            refreshSeconds: decisions.evaluateIntervalMs / 1000,
            loadIndex: LoadIndexSettings(
                alpha: loadIndex.alpha, beta: loadIndex.beta, gamma: loadIndex.gamma, gpuSignal: loadIndex.gpuSignal,
                latencyRefMs: loadIndex.latencyRefMs),
            forecast: ForecastSettings(
                season: forecast.seasonSteps, horizons: Array(Set(forecast.horizonsMin)).sorted(), models: forecast.models,
                holtWinters: .init(
                    level: forecast.holtWinters.level, trend: forecast.holtWinters.trend, seasonal: forecast.holtWinters.seasonal,
                    damping: forecast.holtWinters.damping, fitLevel: forecast.holtWinters.fitLevel),
                arOrder: forecast.arOrder, arForgetting: forecast.arForgetting, arTailSteps: forecast.arTailSteps, arDifferencing: forecast.arDifferencing,
                errorDecay: forecast.errorDecay, intervalLevel: forecast.intervalLevel, residualMemory: forecast.residualMemory),
            replicaSlots: pools.mapValues(\.slotsPerReplica), defaultReplicaSlots: pool("default").slotsPerReplica,
            burstClasses: Set(instanceClasses.filter { $0.value.kind == .serverless }.keys), maxNodes: registry.maxNodes,
            maxPools: registry.maxPools, listedPools: Set(pools.keys.filter { $0 != "default" }),
            unlistedPools: registry.unlistedPools, forgetPoolAfterSeconds: registry.forgetPoolAfterS,
            newNodesPerPeerPerSecond: registry.newNodesPerPeerPerS,
            health: HealthSettings(ignoredXIDs: Set(health.ignoredXIDs), recoverAfterSeconds: health.recoverAfterS))
    }
}

/// Read from the config file as one of its raw values; anything else is an error naming them.
extension UnlistedPools: ConfigEnum {}

// GPulseCore names its settings by type; the file names them by key, here and only here.
extension FleetSettings.Setting {
    /// The setting's key in the aggregator's config file.
    public var configKey: String {
        switch self {
        case .staleAfter: "registry.stale_after_s"
        case .downAfter: "registry.down_after_s"
        case .forgetAfter: "registry.forget_after_s"
        case .maxNodes: "registry.max_nodes"
        case .maxPools: "registry.max_pools"
        case .forgetPoolAfter: "registry.forget_pool_after_s"
        case .newNodesPerPeer: "registry.new_nodes_per_peer_per_s"
        case .healthRecoverAfter: "health.recover_after_s"
        case .healthIgnoredXIDs: "health.ignored_xids"
        case .rawWindow: "windows.raw_s"
        case .loadWindow: "windows.load_s"
        case .maxSamplesPerSeries: "windows.max_samples_per_series"
        case .maxSeriesPerNode: "windows.max_series_per_node"
        case .secondsKept: "windows.seconds_kept"
        case .minutesKept: "windows.minutes_kept"
        case .refresh: "decisions.evaluate_interval_ms"
        case .loadIndex(let s): "load_index.\(s.configKey)"
        case .forecast(let s): "forecast.\(s.configKey)"
        }
    }
}

extension LoadIndexSettings.Setting {
    /// The key under `load_index:`.
    public var configKey: String {
        switch self {
        case .alpha: "alpha"
        case .beta: "beta"
        case .gamma: "gamma"
        case .latencyRef: "latency_ref_ms"
        }
    }
}

extension ForecastSettings.Setting {
    /// The key under `forecast:` (horizons are whole minutes in the file, steps in GPulseCore).
    public var configKey: String {
        switch self {
        case .season: "season_steps"
        case .horizons: "horizons_min"
        case .models: "models"
        case .holtWintersLevel: "holt_winters.level"
        case .holtWintersTrend: "holt_winters.trend"
        case .holtWintersSeasonal: "holt_winters.seasonal"
        case .holtWintersDamping: "holt_winters.damping"
        case .arOrder: "ar_order"
        case .arTailSteps: "ar_tail_steps"
        case .arDifferencing: "ar_differencing"
        case .arForgetting: "ar_forgetting"
        case .errorDecay: "error_decay"
        case .intervalLevel: "interval_level"
        case .residualMemory: "residual_memory"
        }
    }
}
extension GPUSignal: ConfigEnum {}
