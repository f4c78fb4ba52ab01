import ArgumentParser
import GPulseAgent
import GPulseCore
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
            Runs on every GPU host. Samples are taken on a dedicated thread at --rate Hz and sent every \
            --publish-interval-ms as one MetricsBatch (protobuf) over ZeroMQ PUSH to the aggregator. \
            While the aggregator is unreachable the agent keeps sampling, queues up to --send-queue batches, \
            then drops and counts what does not fit; the count reaches the aggregator with the next batch.

            Examples:
              gpulse-agent run --aggregator tcp://10.0.0.5:7461 --pool llm-online --site cloud-eu-west
              GPULSE_NODE_ID=gpu-17 gpulse-agent run --rate 500
            """,
        version: AgentService.version,
        subcommands: [Run.self],
        defaultSubcommand: Run.self)
}

struct LoggingOptions: ParsableArguments {
    @Option(help: "Least severe level logged.")
    var logLevel: Logger.Level = .info

    func bootstrap(label: String) -> Logger {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        return Logger(label: label)
    }
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Sample and publish until SIGTERM or SIGINT (the last partial batch is flushed).")

    @Option(help: ArgumentHelp("Aggregator metrics endpoint. Environment: GPULSE_AGGREGATOR.", valueName: "endpoint"))
    var aggregator: String?

    @Option(name: .customLong("node-id"), help: ArgumentHelp("Unique name of this host in the fleet. Environment: GPULSE_NODE_ID. Default: the hostname.", valueName: "name"))
    var nodeID: String?

    @Option(help: "Pool this node serves (e.g. llm-online); the aggregator groups and scales by pool.")
    var pool: String = "default"

    @Option(help: "Site or region of this node (e.g. cloud-eu-west, edge-fra1).")
    var site: String = ""

    @Option(help: "Where the node runs: cloud or edge.")
    var tier: String = "cloud"

    @Option(help: "Workload class of the pool: online (latency-bound) or batch (deadline-bound).")
    var workload: String = "online"

    @Option(help: "Instance class of this node, as named in the aggregator config (e.g. on_demand, reserved, spot).")
    var instanceClass: String = "on_demand"

    @Option(help: "Samples per second of the sampling loop, 1 to 1000.")
    var rate: Double = 100

    @Option(name: .customLong("publish-interval-ms"), help: "Milliseconds between batches sent to the aggregator, 10 to 10000.")
    var publishIntervalMilliseconds: Int = 100

    @Option(name: .customLong("send-queue"), help: "Batches queued while the aggregator is unreachable before new ones are dropped and counted.")
    var sendQueueBatches: Int32 = 600

    @Option(help: "Root of procfs; change only to read a copy (tests, containers with a host /proc mount).")
    var procRoot: String = "/proc"

    @OptionGroup var logging: LoggingOptions

    func validate() throws {
        guard (1...1000).contains(rate) else { throw ValidationError("--rate must be between 1 and 1000 Hz, got \(rate)") }
        guard (10...10_000).contains(publishIntervalMilliseconds) else {
            throw ValidationError("--publish-interval-ms must be between 10 and 10000, got \(publishIntervalMilliseconds)")
        }
        guard sendQueueBatches > 0 else { throw ValidationError("--send-queue must be positive") }
        guard Tier(name: tier) != nil else { throw ValidationError("--tier must be cloud or edge, got '\(tier)'") }
        guard WorkloadClass(name: workload) != nil else { throw ValidationError("--workload must be online or batch, got '\(workload)'") }
    }

    func run() async throws {
        let logger = logging.bootstrap(label: "gpulse-agent")
        let env = Environment()
        let labels = NodeLabels(
            nodeID: nodeID ?? env["GPULSE_NODE_ID"] ?? Environment.hostname(),
            pool: pool, site: site, tier: Tier(name: tier)!, workload: WorkloadClass(name: workload)!,
            instanceClass: instanceClass)
        let configuration = AgentConfiguration(
            labels: labels, aggregatorEndpoint: aggregator ?? env["GPULSE_AGGREGATOR"] ?? "tcp://127.0.0.1:7461",
            sampleRateHz: rate, publishIntervalMilliseconds: publishIntervalMilliseconds,
            sendQueueBatches: sendQueueBatches, procRoot: procRoot)
        let service = AgentService(configuration: configuration, logger: logger)
        let group = ServiceGroup(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

/// Process environment, read once.
struct Environment {
    subscript(name: String) -> String? {
        guard let value = getenv(name) else { return nil }
        let s = String(cString: value)
        return s.isEmpty ? nil : s
    }

    static func hostname() -> String {
        var buffer = [CChar](repeating: 0, count: 256)
        guard gethostname(&buffer, buffer.count) == 0 else { return "unknown-host" }
        return String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
