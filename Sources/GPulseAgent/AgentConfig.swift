import Foundation
import GPulseConfig
import GPulseCore
import GPulseExposition
import GPulseTransport

/// The agent's configuration file (YAML). Every key is optional; config/agent.yaml documents each.
/// Environment overrides for what differs per host: GPULSE_NODE_ID, GPULSE_AGGREGATOR.
public struct AgentConfig: ConfigSection, Sendable, Equatable {
    public struct Node: ConfigSection, Sendable, Equatable {
        public var id: String?
        public var pool = "default"
        public var site = ""
        public var tier = TierName.cloud
        public var workload = WorkloadName.online
        public var instanceClass = "on_demand"
        public init() {}
    }
    public struct Aggregator: ConfigSection, Sendable, Equatable {
        public var endpoint = "tcp://127.0.0.1:7461"
        public var publishIntervalMs = 100
        public var sendQueueBatches = 600
        public init() {}
    }
    /// CURVE towards the aggregator. On by default: plaintext has to be asked for.
    public struct Security: ConfigSection, Sendable, Equatable {
        public var mode = SecurityMode.curve
        /// This agent's key pair from `gpulse-agent keygen`; empty for `$CREDENTIALS_DIRECTORY/agent.key`.
        public var secretKeyFile = ""
        /// The aggregator's public key (its `keygen` prints it).
        public var aggregatorPublicKey = ""
        public init() {}
        /// This agent's key pair, and the file's path; the error says how to make a missing one.
        public func loadKeyPair(nodeID: String) throws(KeyFileError) -> (CurveKeyPair, path: String) {
            try KeyFile.load(
                configured: secretKeyFile, defaultName: "agent.key", credentialsDirectory: environmentValue("CREDENTIALS_DIRECTORY"),
                keygen: "gpulse-agent keygen --node-id \(nodeID)")
        }
    }
    /// A sampler group: `rate_hz` has no default, so each group says its own.
    public struct Group: Codable, Sendable, Equatable {
        public var rateHz: Double
        public init(rateHz: Double) { self.rateHz = rateHz }
        public init(from decoder: any Decoder) throws {
            rateHz = try decoder.container(keyedBy: ConfigKey.self).required("rate_hz")
        }
        public func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: ConfigKey.self)
            try c.encode(rateHz, forKey: ConfigKey(stringValue: "rate_hz"))
        }
    }
    public struct CPU: ConfigSection, Sendable, Equatable {
        public var enabled = true
        public var group = "fast"
        public var perCore = false
        public init() {}
    }
    public struct Memory: ConfigSection, Sendable, Equatable {
        public var enabled = true
        public var group = "fast"
        public init() {}
    }
    public struct Network: ConfigSection, Sendable, Equatable {
        public var enabled = true
        public var group = "fast"
        /// Interfaces to watch; empty = all but loopback.
        public var interfaces: [String] = []
        public init() {}
    }
    public struct GPU: ConfigSection, Sendable, Equatable {
        public var enabled = true
        /// Path or soname of NVML.
        public var library = "libnvidia-ml.so.1"
        public var memoryGroup = "fast"
        /// The driver buffers utilization samples (one per 1/6 s to 1 s, about 20 s of them) with their
        /// own timestamps, so draining once a second loses nothing; nvmlDeviceGetSamples cost 2.7 ms a
        /// call on an H200, 2.7 % of a core per GPU at 10 Hz.
        public var utilizationGroup = "gpu_slow"
        public var fieldsGroup = "gpu"
        /// Temperature, clock event reasons, ECC, row remapping, lost GPUs, and the XID event thread.
        public var health = true
        public var healthGroup = "gpu_slow"
        /// GPM counters (Hopper and newer): SM activity and occupancy, tensor activity, DRAM bandwidth.
        public var gpm = true
        public var gpmGroup = "gpu"
        public init() {}
    }
    public struct RTT: ConfigSection, Sendable, Equatable {
        public var enabled = false
        public var group = "probes"
        public var timeoutMs = 1000
        public var targets: [String] = []
        public init() {}
    }
    public struct AppReports: ConfigSection, Sendable, Equatable {
        public var enabled = false
        public var group = "app"
        public var endpoint = "ipc:///run/gpulse/app-reports.sock"
        public init() {}
    }
    /// One local inference server whose Prometheus page the engine sampler reads.
    public struct Engine: ConfigSection, Sendable, Equatable {
        /// The subject of its series (e.g. `vllm-0`, one per GPU when each GPU runs its own server).
        public var name = ""
        /// `http://host:port/path` of its metrics page.
        public var url = ""
        public var preset = EnginePreset.vllm
        /// Role → metric family, over the preset's (`EngineMetrics.roles`; "" drops one).
        public var metrics: [String: String] = [:]
        public var group = "engines"
        /// The whole GET (connect, request, page) must finish within this.
        public var timeoutMs = 500
        /// Pages larger than this are refused (counted as failed readings).
        public var maxPageBytes = 4 << 20
        public init() {}
        /// The preset with the overrides applied.
        public var resolvedMetrics: EngineMetrics { preset.metrics.overridden(by: metrics).0 }
    }

    public struct Samplers: ConfigSection, Sendable, Equatable {
        public var cpu = CPU()
        public var memory = Memory()
        public var network = Network()
        public var gpu = GPU()
        public var rtt = RTT()
        public var appReports = AppReports()
        /// Inference servers' Prometheus pages (none by default).
        public var engines: [Engine] = []
        public init() {}
    }

    /// The agent's own /metrics and /healthz over HTTP; off unless `listen` is set.
    public struct Prometheus: ConfigSection, Sendable, Equatable {
        public var listen = "off"
        public init() {}
        /// nil when off.
        public var address: ListenAddress? { ListenAddress.Setting(listen).address }
    }

    public var node = Node()
    public var aggregator = Aggregator()
    public var security = Security()
    public var prometheus = Prometheus()
    /// Root of procfs; "/proc" on a real host.
    public var procfsRoot = "/proc"
    /// Samples held between the sampling threads and the publisher.
    public var bufferSamples = 65_536
    /// Sampler groups: each runs on its own thread at its own rate.
    public var groups: [String: Group] = [
        "fast": Group(rateHz: 100), "gpu": Group(rateHz: 10), "probes": Group(rateHz: 1),
        // Application reports are stamped as they arrive (their own thread); the group only hands them on.
        "app": Group(rateHz: 10),
        // Engines' pages change when the engine logs its stats; a few reads a second see every change.
        "engines": Group(rateHz: 2),
        // NVML calls whose answers are buffered (utilization) or change slowly (temperature, throttle
        // reasons, error counts); XIDs come through their own thread.
        "gpu_slow": Group(rateHz: 1),
    ]
    public var samplers = Samplers()

    public init() {}

    /// Groups named in the file replace or add to the defaults.
    public static var mergedKeys: Set<String> { ["groups"] }
}

extension AgentConfig {
    /// Reads, decodes and validates `path`; throws `ConfigError` listing every problem.
    public static func load(path: String) throws(ConfigError) -> AgentConfig {
        try parse(yaml: try YAMLConfig.read(path: path), path: path)
    }

    public static func parse(yaml: String, path: String = "<config>") throws(ConfigError) -> AgentConfig {
        let config = try decode(yaml: yaml, path: path)
        let issues = config.validate()
        guard issues.isEmpty else { throw ConfigError(path: path, issues: issues) }
        return config
    }

    /// Reads and decodes `path` without `validate()`, for callers that apply overrides (environment,
    /// flags) first and validate the result.
    public static func decode(path: String) throws(ConfigError) -> AgentConfig {
        try decode(yaml: try YAMLConfig.read(path: path), path: path)
    }

    public static func decode(yaml: String, path: String = "<config>") throws(ConfigError) -> AgentConfig {
        try YAMLConfig.decode(AgentConfig.self, yaml: yaml, path: path)
    }

    /// The file's values (a key of the wrong type keeps its default) and what was wrong with the
    /// file's text itself (types, unknown keys), for callers that apply overrides and then report
    /// these together with `validate()`'s, in one list.
    public static func decodeCollecting(path: String) throws(ConfigError) -> (AgentConfig, [ConfigIssue]) {
        try YAMLConfig.decodeCollecting(AgentConfig.self, yaml: try YAMLConfig.read(path: path), path: path)
    }

    /// Checks values that decode but make no sense. `sends: false` (for `once`, which sends nothing)
    /// leaves out what only matters on the wire.
    public func validate(sends: Bool = true) -> [ConfigIssue] {
        var securityIssues: [ConfigIssue] = []
        if sends && security.mode == .curve && !CurveKeyPair.isValidKey(security.aggregatorPublicKey) {
            let got = security.aggregatorPublicKey.isEmpty ? "it is empty" : "got '\(security.aggregatorPublicKey)'"
            securityIssues.append(
                ConfigIssue(
                    keyPath: "security.aggregator_public_key",
                    message: "must be the aggregator's public key (40 Z85 characters, printed by `gpulse-aggregator keygen`) because security.mode is curve, the default; \(got). To send unencrypted instead, set security.mode: plaintext or pass --plaintext"))
        }
        return securityIssues + validateSamplers()
    }

    func validateSamplers() -> [ConfigIssue] {
        var issues: [ConfigIssue] = []
        func bad(_ key: String, _ message: String) { issues.append(ConfigIssue(keyPath: key, message: message)) }
        if let id = node.id, id.isEmpty || id.utf8.count > 256 { bad("node.id", "must be 1 to 256 bytes (or left out to use the hostname)") }
        if !(10...10_000).contains(aggregator.publishIntervalMs) { bad("aggregator.publish_interval_ms", "must be 10 to 10000, got \(aggregator.publishIntervalMs)") }
        if aggregator.sendQueueBatches < 1 { bad("aggregator.send_queue_batches", "must be at least 1") }
        if let problem = ListenAddress.Setting(prometheus.listen).problem { bad("prometheus.listen", problem) }
        if let problem = EndpointSyntax.problem(aggregator.endpoint) { bad("aggregator.endpoint", problem) }
        if let problem = EndpointSyntax.problem(samplers.appReports.endpoint) { bad("samplers.app_reports.endpoint", problem) }
        // 16 bytes a sample: 2^26 samples is 1 GiB, more than any publish interval needs.
        if !(1024...(1 << 26)).contains(bufferSamples) { bad("buffer_samples", "must be 1024 to 67108864 (1 GiB of samples), got \(bufferSamples)") }
        for (name, group) in groups.sorted(by: { $0.key < $1.key }) where !(1...1000).contains(group.rateHz) {
            bad("groups.\(name).rate_hz", "must be 1 to 1000 Hz, got \(group.rateHz)")
        }
        let uses: [(String, Bool, String)] = [
            ("samplers.cpu.group", samplers.cpu.enabled, samplers.cpu.group),
            ("samplers.memory.group", samplers.memory.enabled, samplers.memory.group),
            ("samplers.network.group", samplers.network.enabled, samplers.network.group),
            ("samplers.gpu.memory_group", samplers.gpu.enabled, samplers.gpu.memoryGroup),
            ("samplers.gpu.utilization_group", samplers.gpu.enabled, samplers.gpu.utilizationGroup),
            ("samplers.gpu.fields_group", samplers.gpu.enabled, samplers.gpu.fieldsGroup),
            ("samplers.gpu.health_group", samplers.gpu.enabled && samplers.gpu.health, samplers.gpu.healthGroup),
            ("samplers.gpu.gpm_group", samplers.gpu.enabled && samplers.gpu.gpm, samplers.gpu.gpmGroup),
            ("samplers.rtt.group", samplers.rtt.enabled, samplers.rtt.group),
            ("samplers.app_reports.group", samplers.appReports.enabled, samplers.appReports.group),
        ] + samplers.engines.enumerated().map { ("samplers.engines[\($0)].group", true, $1.group) }
        var engineNames: Set<String> = []
        for (i, e) in samplers.engines.enumerated() {
            let key = "samplers.engines[\(i)]"
            if e.name.isEmpty || e.name.utf8.count > 64 { bad("\(key).name", "must be 1 to 64 characters (the subject of its series)") }
            if !engineNames.insert(e.name).inserted { bad("\(key).name", "'\(e.name)' names two engines") }
            if PageURL(e.url) == nil { bad("\(key).url", "must be http://host:port/path (e.g. http://127.0.0.1:8000/metrics), got '\(e.url)'") }
            if !(10...10_000).contains(e.timeoutMs) { bad("\(key).timeout_ms", "must be 10 to 10000") }
            if !((1 << 10)...(64 << 20)).contains(e.maxPageBytes) { bad("\(key).max_page_bytes", "must be 1024 to 67108864") }
            if let role = EngineMetrics().overridden(by: e.metrics).unknownRole {
                bad("\(key).metrics.\(role)", "is not a role; use \(EngineMetrics.roles.joined(separator: ", "))")
            } else if e.resolvedMetrics.families.isEmpty {
                bad("\(key).metrics", "names no metric family (preset generic needs at least one role)")
            }
        }
        for (key, enabled, group) in uses where enabled && groups[group] == nil {
            bad(key, "names group '\(group)', which is not under groups: (have \(groups.keys.sorted().joined(separator: ", ")))")
        }
        if samplers.rtt.enabled {
            if samplers.rtt.targets.isEmpty { bad("samplers.rtt.targets", "rtt is enabled but lists no targets") }
            for (i, t) in samplers.rtt.targets.enumerated() where ProbeTarget(t) == nil {
                bad("samplers.rtt.targets[\(i)]", "'\(t)' is not host:port")
            }
            if !(1...60_000).contains(samplers.rtt.timeoutMs) { bad("samplers.rtt.timeout_ms", "must be 1 to 60000") }
        }
        return issues
    }

}

extension TierName {
    /// The wire's tier.
    public var tier: Tier {
        switch self {
        case .cloud: .cloud
        case .edge: .edge
        }
    }
}

extension WorkloadName {
    /// The wire's workload class.
    public var workload: WorkloadClass {
        switch self {
        case .online: .online
        case .batch: .batch
        }
    }
}
