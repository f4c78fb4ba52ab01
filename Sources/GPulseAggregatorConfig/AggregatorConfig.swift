import GPulseConfig
import GPulseCore
import GPulseTransport
import GPulseWire

/// The aggregator's configuration file (YAML). Every key is optional; config/aggregator.yaml
/// documents each one with its default.
public struct AggregatorConfig: Decodable, Sendable, Equatable {
    public struct Endpoints: Decodable, Sendable, Equatable {
        public var metrics = "tcp://0.0.0.0:7461"
        public var decisions = "tcp://0.0.0.0:7462"
        public var control = "tcp://127.0.0.1:7463"
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: ConfigKey.self)
            metrics = try c.value("metrics", metrics)
            decisions = try c.value("decisions", decisions)
            control = try c.value("control", control)
        }
    }
    public struct Ingest: Decodable, Sendable, Equatable {
        public var maxMessageBytes = WireLimits.default.maxMessageBytes
        public var receiveQueueBatches = 1_000
        public var reportIntervalS = 10.0
        public var maxClockAheadS = IngestGate.defaultMaxAheadSeconds
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: ConfigKey.self)
            maxMessageBytes = try c.value("max_message_bytes", maxMessageBytes)
            receiveQueueBatches = try c.value("receive_queue_batches", receiveQueueBatches)
            reportIntervalS = try c.value("report_interval_s", reportIntervalS)
            maxClockAheadS = try c.value("max_clock_ahead_s", maxClockAheadS)
        }
    }
    public struct Registry: Decodable, Sendable, Equatable {
        public var staleAfterS = 5.0
        public var downAfterS = 30.0
        public var forgetAfterS = 3600.0
        public var maxNodes = 10_000
        public var maxPools = 256
        public var unlistedPools = UnlistedPools.accept
        public var forgetPoolAfterS = 86_400.0
        public var newNodesPerPeerPerS = 1000.0
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: ConfigKey.self)
            staleAfterS = try c.value("stale_after_s", staleAfterS)
            downAfterS = try c.value("down_after_s", downAfterS)
            forgetAfterS = try c.value("forget_after_s", forgetAfterS)
            maxNodes = try c.value("max_nodes", maxNodes)
            maxPools = try c.value("max_pools", maxPools)
            unlistedPools = try c.value("unlisted_pools", unlistedPools)
            forgetPoolAfterS = try c.value("forget_pool_after_s", forgetPoolAfterS)
            newNodesPerPeerPerS = try c.value("new_nodes_per_peer_per_s", newNodesPerPeerPerS)
        }
    }
    /// Which GPU faults agents report take a node's capacity out of its pool, and for how long.
    public struct Health: Decodable, Sendable, Equatable {
        public var recoverAfterS = HealthSettings().recoverAfterSeconds
        public var ignoredXIDs = HealthSettings.applicationXIDs.sorted()
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: ConfigKey.self)
            recoverAfterS = try c.value("recover_after_s", recoverAfterS)
            ignoredXIDs = try c.value("ignored_xids", ignoredXIDs)
        }
    }
    public struct Windows: Decodable, Sendable, Equatable {
        public var rawS = 10.0
        public var loadS = 1.0
        public var maxSamplesPerSeries = 10_000
        public var maxSeriesPerNode = 256
        public var secondsKept = 3600
        public var minutesKept = 1440
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: ConfigKey.self)
            rawS = try c.value("raw_s", rawS)
            loadS = try c.value("load_s", loadS)
            maxSamplesPerSeries = try c.value("max_samples_per_series", maxSamplesPerSeries)
            maxSeriesPerNode = try c.value("max_series_per_node", maxSeriesPerNode)
            secondsKept = try c.value("seconds_kept", secondsKept)
            minutesKept = try c.value("minutes_kept", minutesKept)
        }
    }
    /// The defaults are Core's (`LoadIndexSettings`): one value per key.
    public struct LoadIndex: Decodable, Sendable, Equatable {
        public var alpha = LoadIndexSettings().alpha
        public var beta = LoadIndexSettings().beta
        public var gamma = LoadIndexSettings().gamma
        public var gpuSignal = LoadIndexSettings().gpuSignal
        public var latencyRefMs = LoadIndexSettings().latencyRefMs
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: ConfigKey.self)
            alpha = try c.value("alpha", alpha)
            beta = try c.value("beta", beta)
            gamma = try c.value("gamma", gamma)
            gpuSignal = try c.value("gpu_signal", gpuSignal)
            latencyRefMs = try c.value("latency_ref_ms", latencyRefMs)
        }
    }
    public struct HoltWintersParameters: Decodable, Sendable, Equatable {
        public var level = 0.3
        public var trend = 0.0
        public var seasonal = 0.05
        public var damping = 0.98
        public var fitLevel = true
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: ConfigKey.self)
            level = try c.value("level", level)
            trend = try c.value("trend", trend)
            seasonal = try c.value("seasonal", seasonal)
            damping = try c.value("damping", damping)
            fitLevel = try c.value("fit_level", fitLevel)
        }
    }
    public struct Forecast: Decodable, Sendable, Equatable {
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
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: ConfigKey.self)
            seasonSteps = try c.value("season_steps", seasonSteps)
            horizonsMin = try c.value("horizons_min", horizonsMin)
            models = try c.value("models", models)
            holtWinters = try c.value("holt_winters", holtWinters)
            arOrder = try c.value("ar_order", arOrder)
            arForgetting = try c.value("ar_forgetting", arForgetting)
            arTailSteps = try c.value("ar_tail_steps", arTailSteps)
            arDifferencing = try c.value("ar_differencing", arDifferencing)
            errorDecay = try c.value("error_decay", errorDecay)
            intervalLevel = try c.value("interval_level", intervalLevel)
            residualMemory = try c.value("residual_memory", residualMemory)
        }
    }

    /// The HTTP endpoint for Prometheus (`/metrics`) and health checks (`/healthz`).
    public struct Prometheus: Decodable, Sendable, Equatable {
        /// `host:port`, or `off`. Loopback by default: put a reverse proxy or a firewall rule in front
        /// before opening it wider; the endpoint has no authentication.
        public var listen = "127.0.0.1:9473"
        /// `/healthz` answers 503 when the ingest loop has not gone round for this long.
        public var healthzMaxStallS = 5.0
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: ConfigKey.self)
            listen = try c.value("listen", listen)
            healthzMaxStallS = try c.value("healthz_max_stall_s", healthzMaxStallS)
        }
        /// nil when the endpoint is off.
        public var address: ListenAddress? { ListenAddress.Setting(listen).address }
    }

    /// KEDA's external scaler (gRPC) on the aggregator: a ScaledObject's `external` trigger points
    /// here and the HPA it drives lands on the pool's desired replicas (docs/kubernetes.md).
    public struct KEDA: Decodable, Sendable, Equatable {
        /// `host:port`, or `off` (the default). Off loopback it needs `tls` with `client_ca`, or a
        /// network policy that lets only KEDA's operator in: any caller may read the fleet's decisions.
        public var listen = "off"
        public var tls = TLS()
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: ConfigKey.self)
            listen = try c.value("listen", listen)
            tls = try c.value("tls", tls)
        }
        /// nil when the endpoint is off.
        public var address: ListenAddress? { ListenAddress.Setting(listen).address }

        /// PEM files; all empty: plaintext. `cert` and `key` serve TLS (KEDA's `caCert` verifies
        /// them); `client_ca` also requires a client certificate signed by it (KEDA's
        /// `tlsClientCert`/`tlsClientKey`).
        public struct TLS: Decodable, Sendable, Equatable {
            public var cert = ""
            public var key = ""
            public var clientCA = ""
            public init() {}
            public init(from decoder: any Decoder) throws {
                let c = try decoder.container(keyedBy: ConfigKey.self)
                cert = try c.value("cert", cert)
                key = try c.value("key", key)
                clientCA = try c.value("client_ca", clientCA)
            }
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
    public struct Snapshot: Decodable, Sendable, Equatable {
        /// A file path; `off`; or empty for `$STATE_DIRECTORY/aggregator.snapshot` (systemd's
        /// StateDirectory=), which is off when that variable is not set.
        public var path = ""
        public var intervalS = 60.0
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: ConfigKey.self)
            path = try c.value("path", path)
            intervalS = try c.value("interval_s", intervalS)
        }
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
    public struct Security: Decodable, Sendable, Equatable {
        public var mode = SecurityMode.curve
        /// The aggregator's key pair from `gpulse-aggregator keygen`; empty for
        /// `$CREDENTIALS_DIRECTORY/aggregator.key` (systemd LoadCredential=).
        public var secretKeyFile = ""
        /// node id → the agent's public key: only these agents may send, each only as its node id.
        public var agents: [String: String] = [:]
        /// name → public key of a decision stream subscriber.
        public var subscribers: [String: String] = [:]
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: ConfigKey.self)
            mode = try c.value("mode", mode)
            secretKeyFile = try c.value("secret_key_file", secretKeyFile)
            agents = try c.value("agents", agents)
            subscribers = try c.value("subscribers", subscribers)
        }
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

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: ConfigKey.self)
        endpoints = try c.value("endpoints", endpoints)
        security = try c.value("security", security)
        prometheus = try c.value("prometheus", prometheus)
        keda = try c.value("keda", keda)
        snapshot = try c.value("snapshot", snapshot)
        ingest = try c.value("ingest", ingest)
        registry = try c.value("registry", registry)
        health = try c.value("health", health)
        windows = try c.value("windows", windows)
        loadIndex = try c.value("load_index", loadIndex)
        forecast = try c.value("forecast", forecast)
        decisions = try c.value("decisions", decisions)
        instanceClasses = try c.value("instance_classes", instanceClasses)
        pools = try c.value("pools", pools)
        offload = try c.value("offload", offload)
        replay = try c.value("replay", replay)
    }

    public static func load(path: String) throws(ConfigError) -> AggregatorConfig {
        try parse(yaml: try YAMLConfig.read(path: path), path: path)
    }

    public static func parse(yaml: String, path: String = "<config>") throws(ConfigError) -> AggregatorConfig {
        // Wrong types and unknown keys are reported together with the range checks, in one list.
        let (config, fileIssues) = try YAMLConfig.decodeCollecting(AggregatorConfig.self, yaml: yaml, path: path, empty: AggregatorConfig())
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
