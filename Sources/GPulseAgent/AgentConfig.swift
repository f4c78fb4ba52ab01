import Foundation
import GPulseConfig
import GPulseCore

/// The agent's configuration file (YAML). Every key is optional; config/agent.yaml documents each.
/// Environment overrides for what differs per host: GPULSE_NODE_ID, GPULSE_AGGREGATOR.
public struct AgentConfig: Codable, Sendable, Equatable {
    public struct Node: Codable, Sendable, Equatable {
        public var id: String?
        public var pool = "default"
        public var site = ""
        public var tier = "cloud"
        public var workload = "online"
        public var instanceClass = "on_demand"
        enum CodingKeys: String, CodingKey { case id, pool, site, tier, workload, instanceClass = "instance_class" }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            id = try c.decodeIfPresent(String.self, forKey: .id)
            pool = try c.decodeIfPresent(String.self, forKey: .pool) ?? pool
            site = try c.decodeIfPresent(String.self, forKey: .site) ?? site
            tier = try c.decodeIfPresent(String.self, forKey: .tier) ?? tier
            workload = try c.decodeIfPresent(String.self, forKey: .workload) ?? workload
            instanceClass = try c.decodeIfPresent(String.self, forKey: .instanceClass) ?? instanceClass
        }
    }
    public struct Aggregator: Codable, Sendable, Equatable {
        public var endpoint = "tcp://127.0.0.1:7461"
        public var publishIntervalMs = 100
        public var sendQueueBatches = 600
        enum CodingKeys: String, CodingKey { case endpoint, publishIntervalMs = "publish_interval_ms", sendQueueBatches = "send_queue_batches" }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            endpoint = try c.decodeIfPresent(String.self, forKey: .endpoint) ?? endpoint
            publishIntervalMs = try c.decodeIfPresent(Int.self, forKey: .publishIntervalMs) ?? publishIntervalMs
            sendQueueBatches = try c.decodeIfPresent(Int.self, forKey: .sendQueueBatches) ?? sendQueueBatches
        }
    }
    public struct Group: Codable, Sendable, Equatable {
        public var rateHz: Double
        enum CodingKeys: String, CodingKey { case rateHz = "rate_hz" }
        public init(rateHz: Double) { self.rateHz = rateHz }
    }
    public struct CPU: Codable, Sendable, Equatable {
        public var enabled = true
        public var group = "fast"
        public var perCore = false
        enum CodingKeys: String, CodingKey { case enabled, group, perCore = "per_core" }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? enabled
            group = try c.decodeIfPresent(String.self, forKey: .group) ?? group
            perCore = try c.decodeIfPresent(Bool.self, forKey: .perCore) ?? perCore
        }
    }
    public struct Memory: Codable, Sendable, Equatable {
        public var enabled = true
        public var group = "fast"
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? enabled
            group = try c.decodeIfPresent(String.self, forKey: .group) ?? group
        }
    }
    public struct Network: Codable, Sendable, Equatable {
        public var enabled = true
        public var group = "fast"
        /// Interfaces to watch; empty = all but loopback.
        public var interfaces: [String] = []
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? enabled
            group = try c.decodeIfPresent(String.self, forKey: .group) ?? group
            interfaces = try c.decodeIfPresent([String].self, forKey: .interfaces) ?? interfaces
        }
    }
    public struct GPU: Codable, Sendable, Equatable {
        public var enabled = true
        /// Path or soname of NVML.
        public var library = "libnvidia-ml.so.1"
        public var memoryGroup = "fast"
        public var utilizationGroup = "gpu"
        public var fieldsGroup = "gpu"
        enum CodingKeys: String, CodingKey {
            case enabled, library, memoryGroup = "memory_group", utilizationGroup = "utilization_group", fieldsGroup = "fields_group"
        }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? enabled
            library = try c.decodeIfPresent(String.self, forKey: .library) ?? library
            memoryGroup = try c.decodeIfPresent(String.self, forKey: .memoryGroup) ?? memoryGroup
            utilizationGroup = try c.decodeIfPresent(String.self, forKey: .utilizationGroup) ?? utilizationGroup
            fieldsGroup = try c.decodeIfPresent(String.self, forKey: .fieldsGroup) ?? fieldsGroup
        }
    }
    public struct RTT: Codable, Sendable, Equatable {
        public var enabled = false
        public var group = "probes"
        public var timeoutMs = 1000
        public var targets: [String] = []
        enum CodingKeys: String, CodingKey { case enabled, group, timeoutMs = "timeout_ms", targets }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? enabled
            group = try c.decodeIfPresent(String.self, forKey: .group) ?? group
            timeoutMs = try c.decodeIfPresent(Int.self, forKey: .timeoutMs) ?? timeoutMs
            targets = try c.decodeIfPresent([String].self, forKey: .targets) ?? targets
        }
    }
    public struct AppReports: Codable, Sendable, Equatable {
        public var enabled = false
        public var group = "app"
        public var endpoint = "ipc:///run/gpulse/app-reports.sock"
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            enabled = try c.decodeIfPresent(Bool.self, forKey: .enabled) ?? enabled
            group = try c.decodeIfPresent(String.self, forKey: .group) ?? group
            endpoint = try c.decodeIfPresent(String.self, forKey: .endpoint) ?? endpoint
        }
    }
    public struct Samplers: Codable, Sendable, Equatable {
        public var cpu = CPU()
        public var memory = Memory()
        public var network = Network()
        public var gpu = GPU()
        public var rtt = RTT()
        public var appReports = AppReports()
        enum CodingKeys: String, CodingKey { case cpu, memory, network, gpu, rtt, appReports = "app_reports" }
        public init() {}
        public init(from decoder: any Decoder) throws {
            let c = try decoder.container(keyedBy: CodingKeys.self)
            cpu = try c.decodeIfPresent(CPU.self, forKey: .cpu) ?? cpu
            memory = try c.decodeIfPresent(Memory.self, forKey: .memory) ?? memory
            network = try c.decodeIfPresent(Network.self, forKey: .network) ?? network
            gpu = try c.decodeIfPresent(GPU.self, forKey: .gpu) ?? gpu
            rtt = try c.decodeIfPresent(RTT.self, forKey: .rtt) ?? rtt
            appReports = try c.decodeIfPresent(AppReports.self, forKey: .appReports) ?? appReports
        }
    }

    public var node = Node()
    public var aggregator = Aggregator()
    /// Root of procfs; "/proc" on a real host.
    public var procfsRoot = "/proc"
    /// Samples held between the sampling threads and the publisher.
    public var bufferSamples = 65_536
    /// Sampler groups: each runs on its own thread at its own rate.
    public var groups: [String: Group] = [
        "fast": Group(rateHz: 100), "gpu": Group(rateHz: 10), "probes": Group(rateHz: 1), "app": Group(rateHz: 100),
    ]
    public var samplers = Samplers()

    enum CodingKeys: String, CodingKey { case node, aggregator, procfsRoot = "procfs_root", bufferSamples = "buffer_samples", groups, samplers }

    public init() {}

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        node = try c.decodeIfPresent(Node.self, forKey: .node) ?? node
        aggregator = try c.decodeIfPresent(Aggregator.self, forKey: .aggregator) ?? aggregator
        procfsRoot = try c.decodeIfPresent(String.self, forKey: .procfsRoot) ?? procfsRoot
        bufferSamples = try c.decodeIfPresent(Int.self, forKey: .bufferSamples) ?? bufferSamples
        // Groups named in the file replace or add to the defaults.
        for (name, group) in try c.decodeIfPresent([String: Group].self, forKey: .groups) ?? [:] { groups[name] = group }
        samplers = try c.decodeIfPresent(Samplers.self, forKey: .samplers) ?? samplers
    }
}

extension AgentConfig {
    /// Reads, decodes and validates `path`; throws `ConfigError` listing every problem.
    public static func load(path: String) throws(ConfigError) -> AgentConfig {
        try parse(yaml: try YAMLConfig.read(path: path), path: path)
    }

    public static func parse(yaml: String, path: String = "<config>") throws(ConfigError) -> AgentConfig {
        let config = try YAMLConfig.decode(AgentConfig.self, yaml: yaml, path: path, schema: schema, empty: AgentConfig())
        let issues = config.validate()
        guard issues.isEmpty else { throw ConfigError(path: path, issues: issues) }
        return config
    }

    /// Checks values that decode but make no sense.
    public func validate() -> [ConfigIssue] {
        var issues: [ConfigIssue] = []
        func bad(_ key: String, _ message: String) { issues.append(ConfigIssue(keyPath: key, message: message)) }
        if Tier(name: node.tier) == nil { bad("node.tier", "must be cloud or edge, got '\(node.tier)'") }
        if WorkloadClass(name: node.workload) == nil { bad("node.workload", "must be online or batch, got '\(node.workload)'") }
        if let id = node.id, id.isEmpty || id.utf8.count > 256 { bad("node.id", "must be 1 to 256 bytes (or left out to use the hostname)") }
        if !(10...10_000).contains(aggregator.publishIntervalMs) { bad("aggregator.publish_interval_ms", "must be 10 to 10000, got \(aggregator.publishIntervalMs)") }
        if aggregator.sendQueueBatches < 1 { bad("aggregator.send_queue_batches", "must be at least 1") }
        if bufferSamples < 1024 { bad("buffer_samples", "must be at least 1024, got \(bufferSamples)") }
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
            ("samplers.rtt.group", samplers.rtt.enabled, samplers.rtt.group),
            ("samplers.app_reports.group", samplers.appReports.enabled, samplers.appReports.group),
        ]
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

    /// Every key the file may hold, so that a misspelt key is an error rather than a silent default.
    private static var schema: YAMLConfig.Schema {
        [
        "node": ["id": true, "pool": true, "site": true, "tier": true, "workload": true, "instance_class": true],
        "aggregator": ["endpoint": true, "publish_interval_ms": true, "send_queue_batches": true],
        "procfs_root": true, "buffer_samples": true,
        "groups": ["*": ["rate_hz": true]],
        "samplers": [
            "cpu": ["enabled": true, "group": true, "per_core": true],
            "memory": ["enabled": true, "group": true],
            "network": ["enabled": true, "group": true, "interfaces": true],
            "gpu": ["enabled": true, "library": true, "memory_group": true, "utilization_group": true, "fields_group": true],
            "rtt": ["enabled": true, "group": true, "timeout_ms": true, "targets": true],
            "app_reports": ["enabled": true, "group": true, "endpoint": true],
        ],
        ]
    }
}
