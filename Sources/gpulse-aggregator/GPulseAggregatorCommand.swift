import ArgumentParser
import GPulseAggregator
import GPulseCore
import GPulseWire
import Logging
import ServiceLifecycle

@main
struct GPulseAggregatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpulse-aggregator",
        abstract: "Ingests every gpulse agent's batches and publishes scaling and offload decisions.",
        discussion: """
            Binds a ZeroMQ PULL socket that agents connect to (--metrics) and a PUB socket that \
            subscribers connect to (--decisions). Every batch is decoded and validated; invalid ones \
            are rejected and counted by reason. Per-node receive counts, sequence gaps, agent restarts \
            and agent-reported drops are logged every --report-interval seconds and on shutdown.

            Examples:
              gpulse-aggregator run
              gpulse-aggregator run --metrics tcp://0.0.0.0:7461 --decisions tcp://0.0.0.0:7462
            """,
        version: gpulseVersion,
        subcommands: [Run.self, ForecastEval.self],
        defaultSubcommand: Run.self)
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the aggregator until SIGTERM or SIGINT.")

    @Option(help: ArgumentHelp("Endpoint to bind for agents' metrics (ZeroMQ PULL).", valueName: "endpoint"))
    var metrics: String = "tcp://0.0.0.0:7461"

    @Option(help: ArgumentHelp("Endpoint to bind for the decision stream (ZeroMQ PUB).", valueName: "endpoint"))
    var decisions: String = "tcp://0.0.0.0:7462"

    @Option(help: "Seconds between per-node receive-count log lines.")
    var reportInterval: Double = 10

    @Option(help: "Largest batch accepted, in bytes; larger ones are refused by libzmq (ZMQ_MAXMSGSIZE).")
    var maxMessageBytes: Int = WireLimits.default.maxMessageBytes

    @Option(help: "Least severe level logged.")
    var logLevel: Logger.Level = .info

    func validate() throws {
        guard reportInterval > 0 else { throw ValidationError("--report-interval must be positive") }
        guard maxMessageBytes >= 1024 else { throw ValidationError("--max-message-bytes must be at least 1024") }
    }

    func run() async throws {
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "gpulse-aggregator")
        var limits = WireLimits.default
        limits.maxMessageBytes = maxMessageBytes
        let configuration = AggregatorConfiguration(
            metricsEndpoint: metrics, decisionsEndpoint: decisions, reportIntervalSeconds: reportInterval, limits: limits)
        let service = AggregatorService(configuration: configuration, logger: logger)
        let group = ServiceGroup(services: [service], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}
