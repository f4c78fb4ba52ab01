import ArgumentParser
import GPulseAgent
import GPulseConfig
import GPulseCore
import GPulseTransport
import Logging
import ServiceLifecycle

#if canImport(Glibc)
import Glibc
#endif

@main
struct GPulseAgentCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpulse-agent",
        abstract: "Samples this GPU host at high frequency and publishes batches to a gpulse aggregator.",
        discussion: """
            Runs on every GPU host. Samplers (cpu, memory, network, gpu via NVML, rtt probes, \
            application reports) run in groups, each group on its own thread at its own rate. Every \
            publish interval the samples go to the aggregator as one MetricsBatch (protobuf) over \
            ZeroMQ PUSH. While the aggregator is unreachable the agent keeps sampling, queues up to \
            aggregator.send_queue_batches batches, then drops and counts what does not fit; the count \
            reaches the aggregator with the next batch.

            First steps on a new host:
              gpulse-agent once                      # one round of every sampler, as a table
              gpulse-agent check-config --config /etc/gpulse/agent.yaml
              gpulse-agent run --config /etc/gpulse/agent.yaml
            """,
        version: AgentService.version,
        subcommands: [Run.self, Once.self, CheckConfig.self, Simulate.self, Keygen.self],
        defaultSubcommand: Run.self)
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Options shared by every subcommand that reads the configuration.
struct ConfigOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Agent configuration file (YAML); see config/agent.yaml. Without it, built-in defaults.", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("Aggregator metrics endpoint; overrides aggregator.endpoint. Environment: GPULSE_AGGREGATOR.", valueName: "endpoint"))
    var aggregator: String?

    @Option(name: .customLong("node-id"), help: ArgumentHelp("Unique name of this host; overrides node.id. Environment: GPULSE_NODE_ID. Default: the hostname.", valueName: "name"))
    var nodeID: String?

    @Option(help: ArgumentHelp("Pool this node serves; overrides node.pool.", valueName: "pool"))
    var pool: String?

    @Option(help: ArgumentHelp("Rate of the 'fast' sampler group in Hz (1 to 1000); overrides groups.fast.rate_hz.", valueName: "hz"))
    var rate: Double?

    @Option(name: .customLong("nvml-library"), help: ArgumentHelp("Path or soname of NVML; overrides samplers.gpu.library.", valueName: "path"))
    var nvmlLibrary: String?

    @Option(help: ArgumentHelp("Root of procfs; overrides procfs_root (tests, containers with the host's /proc mounted).", valueName: "dir"))
    var procRoot: String?

    @Option(help: ArgumentHelp("Serve the agent's own counters on http://host:port/metrics (and /healthz); overrides prometheus.listen. Default off.", valueName: "host:port"))
    var prometheus: String?

    @Flag(help: ArgumentHelp("Send batches unencrypted and unauthenticated (security.mode: plaintext); the aggregator must run plaintext too. Without it, CURVE is on and security.aggregator_public_key is required."))
    var plaintext = false

    @Option(help: "Least severe level logged.")
    var logLevel: Logger.Level = .info

    /// The file, then the environment, then the flags: later wins; then the result is validated.
    /// `sends: false` skips what only matters on the wire (the CURVE keys).
    func resolve(sends: Bool = true) throws -> (AgentConfig, NodeLabels) {
        var resolved = AgentConfig()
        var fileIssues: [ConfigIssue] = []
        if let path = config {
            (resolved, fileIssues) = try AgentConfig.decodeCollecting(path: path)
        }
        let env = Environment()
        if let v = env["GPULSE_NODE_ID"] { resolved.node.id = v }
        if let v = env["GPULSE_AGGREGATOR"] { resolved.aggregator.endpoint = v }
        if let v = nodeID { resolved.node.id = v }
        if let v = aggregator { resolved.aggregator.endpoint = v }
        if let v = pool { resolved.node.pool = v }
        if let v = rate { resolved.groups["fast"] = AgentConfig.Group(rateHz: v) }
        if let v = nvmlLibrary { resolved.samplers.gpu.library = v }
        if let v = procRoot { resolved.procfsRoot = v }
        if let v = prometheus { resolved.prometheus.listen = v }
        if plaintext { resolved.security.mode = .plaintext }
        let issues = fileIssues + resolved.validate(sends: sends)
        guard issues.isEmpty else { throw ConfigError(path: config ?? "command line", issues: issues) }
        return (resolved, resolved.labels(hostname: Environment.hostname()))
    }

    func bootstrapLogging() -> Logger {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: "gpulse-agent")
    }
}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sample and publish until SIGTERM or SIGINT (the last partial batch is flushed).")

    @OptionGroup var options: ConfigOptions

    func run() async throws {
        let logger = options.bootstrapLogging()
        let (config, labels) = try options.resolve()
        // Opens NVML, the keys and the sockets (a host or config it cannot work with stops the start here).
        let agent = try AgentService(configuration: config, labels: labels, logger: logger)
        // Every service in one group: sampling and publishing, the metrics endpoint (when on), the watchdog.
        let group = ServiceGroup(services: agent.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

struct Once: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Run every enabled sampler for a second at its group's rate and print what it read.",
        discussion: """
            Sends nothing. Use it to see what the agent would measure on this host, and why a sampler is off. \
            Beside each value: how often its source really gave a new reading in the window (NVML \
            utilization every 1/6 s to 1 s whatever the agent's rate; /proc/stat every 10 ms tick), \
            from the source's own timestamps where it has them, else from the value's changes.
            """)

    @OptionGroup var options: ConfigOptions

    @Flag(help: "Print JSON instead of a table.")
    var json = false

    @Option(name: .customLong("window-ms"), help: "How long to sample, milliseconds (100 to 60000).")
    var windowMs = 1000

    func validate() throws {
        guard (100...60_000).contains(windowMs) else { throw ValidationError("--window-ms must be 100 to 60000, got \(windowMs)") }
    }

    func run() throws {
        let logger = options.bootstrapLogging()
        let (config, labels) = try options.resolve(sends: false)
        let report = try OnceReport.collect(config: config, labels: labels, windowMilliseconds: windowMs, logger: logger)
        print(json ? report.json() : report.text())
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config",
        abstract: "Validate a configuration file and print every problem with its key path; exit 1 if any.")

    @OptionGroup var options: ConfigOptions

    func validate() throws {
        guard options.config != nil else { throw ValidationError("check-config needs --config FILE") }
    }

    func run() throws {
        do {
            let (config, labels) = try options.resolve()
            var security = "plaintext (batches unencrypted and unauthenticated)"
            if config.security.mode == .curve {
                do {
                    let (keys, path) = try config.security.loadKeyPair(nodeID: labels.nodeID)
                    security = "CURVE, public key \(keys.publicKey) (\(path))"
                } catch {
                    print("\(options.config!): security: \(error)")
                    throw ExitCode(1)
                }
            }
            print("\(options.config!): ok (node \(labels.nodeID), pool \(config.node.pool), aggregator \(config.aggregator.endpoint), security \(security))")
        } catch let error as ConfigError {
            print(error.description)
            throw ExitCode(1)
        }
    }
}


/// Process environment.
struct Environment {
    subscript(name: String) -> String? { environmentValue(name) }

    static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "unknown-host" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
