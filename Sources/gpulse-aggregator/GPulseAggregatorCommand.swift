import ArgumentParser
import GPulseAggregatorConfig
#if canImport(Glibc)
import Glibc
#endif
import GPulseAggregator
import GPulseConfig
import GPulseCore
import GPulseTransport
import Logging
import ServiceLifecycle

@main
struct GPulseAggregatorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "gpulse-aggregator",
        abstract: "Ingests every gpulse agent's batches, computes load and demand per pool, forecasts it, and publishes scaling and offload decisions.",
        discussion: """
            Agents connect to the metrics endpoint (ZeroMQ PULL); the aggregator decodes and validates every \
            batch (invalid ones are rejected and counted by reason), tracks each node as live, stale or down, \
            computes the load index L = α·U_gpu + β·U_cpu + γ·D_net per node, mean/max L and \
            demand D = ΣL per pool, and forecasts demand per pool at 1-minute resolution. Each pool's policy \
            (threshold, hpa, kpa, predictive, cost_aware) and each edge site's offload rule run every \
            decisions.evaluate_interval_ms; decisions go out on the decisions endpoint (ZeroMQ PUB) as \
            [topic, Decision] with topics scale/<pool>, offload/<site>, node/<node_id>. `tail` prints them; \
            `status` asks a running aggregator (control endpoint, REQ/REP) for nodes, pools, forecasts and \
            ingest counters.

            Examples:
              gpulse-aggregator run --config /etc/gpulse/aggregator.yaml
              gpulse-aggregator check-config --config config/aggregator.yaml
              gpulse-aggregator status
              gpulse-aggregator status --json | jq '.pools[] | {name, demand, forecasts}'
              gpulse-aggregator tail --topic scale/
              gpulse-aggregator forecast-eval --trace nasa_http_1995_per_minute.csv
            """,
        version: gpulseVersion,
        subcommands: [Run.self, CheckConfig.self, Status.self, Tail.self, ForecastEval.self, Replay.self, Keygen.self],
        defaultSubcommand: Run.self)
}

extension Logger.Level: @retroactive ExpressibleByArgument {}

/// Options shared by `run` and `check-config`: the file, then command-line overrides.
struct ConfigOptions: ParsableArguments {
    @Option(help: ArgumentHelp("YAML config file; every key is optional (see config/aggregator.yaml).", valueName: "file"))
    var config: String?

    @Option(help: ArgumentHelp("Override endpoints.metrics: where agents connect (PULL, bound).", valueName: "endpoint"))
    var metrics: String?

    @Option(help: ArgumentHelp("Override endpoints.decisions: where subscribers connect (PUB, bound).", valueName: "endpoint"))
    var decisions: String?

    @Option(help: ArgumentHelp("Override endpoints.control: where `status` asks (REP, bound).", valueName: "endpoint"))
    var control: String?

    @Option(help: ArgumentHelp("Override prometheus.listen: where /metrics and /healthz are served over HTTP, or off.", valueName: "host:port"))
    var prometheus: String?

    @Option(help: ArgumentHelp("Override snapshot.path: the file the learned state is saved to and restored from, or off.", valueName: "file"))
    var snapshot: String?

    @Option(help: "Override ingest.report_interval_s: seconds between per-node count log lines.")
    var reportInterval: Double?

    @Option(help: "Override ingest.max_message_bytes: larger batches are refused by libzmq (ZMQ_MAXMSGSIZE).")
    var maxMessageBytes: Int?

    @Flag(help: ArgumentHelp("Run without CURVE (security.mode: plaintext): anyone who reaches the ports can send batches as any node and read decisions. Without it, CURVE is on and a key file is required."))
    var plaintext = false

    func resolve() throws -> AggregatorConfig {
        var resolved = try config.map { path throws(ConfigError) in try AggregatorConfig.load(path: path) } ?? AggregatorConfig()
        if let metrics { resolved.endpoints.metrics = metrics }
        if let decisions { resolved.endpoints.decisions = decisions }
        if let control { resolved.endpoints.control = control }
        if let prometheus { resolved.prometheus.listen = prometheus }
        if let snapshot { resolved.snapshot.path = snapshot }
        if let reportInterval { resolved.ingest.reportIntervalS = reportInterval }
        if let maxMessageBytes { resolved.ingest.maxMessageBytes = maxMessageBytes }
        if plaintext { resolved.security.mode = .plaintext }
        let issues = resolved.validate()
        guard issues.isEmpty else { throw ConfigError(path: config ?? "command line", issues: issues) }
        return resolved
    }
}

// Parsed options are plain optional strings and numbers, copied by value; SIGHUP re-resolves them.
extension ConfigOptions: @unchecked Sendable {}

struct Run: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Run the aggregator until SIGTERM or SIGINT.")

    @OptionGroup var options: ConfigOptions

    @Option(help: "Least severe level logged.")
    var logLevel: Logger.Level = .info

    func run() async throws {
        let config: AggregatorConfig
        do { config = try options.resolve() } catch let error as ConfigError { throw ValidationError(error.description) }
        let level = logLevel
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = level
            return handler
        }
        let logger = Logger(label: "gpulse-aggregator")
        // SIGHUP reads the same file with the same command-line overrides.
        let options = self.options
        let reload: (@Sendable () throws -> AggregatorConfig)? = options.config == nil ? nil : { @Sendable in try options.resolve() }
        // Binds the sockets (a taken port stops the start here, with the address in the error).
        let aggregator = try AggregatorService(config: config, logger: logger, reload: reload)
        // Every service in one group: ingest, the metrics server (when on), the watchdog, the reloader.
        let group = ServiceGroup(services: aggregator.services, gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        try await group.run()
    }
}

struct CheckConfig: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check-config", abstract: "Validate the configuration and print the load-index and forecast settings it resolves to.")

    @OptionGroup var options: ConfigOptions

    func run() throws {
        let config: AggregatorConfig
        do { config = try options.resolve() } catch let error as ConfigError {
            print(error.description)
            throw ExitCode(2)
        }
        let s = config.fleetSettings
        print("config ok: \(options.config ?? "(defaults)")")
        print("  endpoints: metrics \(config.endpoints.metrics), decisions \(config.endpoints.decisions), control \(config.endpoints.control)")
        print("  prometheus: \(config.prometheus.address.map { "http://\($0)/metrics and /healthz (stall limit \(config.prometheus.healthzMaxStallS) s)" } ?? "off")")
        let security = config.security
        if security.curve {
            do {
                let (keys, path) = try security.loadKeyPair()
                print("  security: CURVE, public key \(keys.publicKey) (\(path)); \(security.agents.count) agents, \(security.subscribers.count) subscribers allowed")
            } catch {
                print("  security: CURVE, but \(error)")
                throw ExitCode(2)
            }
        } else {
            print("  security: plaintext (batches and decisions unencrypted and unauthenticated)")
        }
        print("  snapshot: \(config.snapshot.resolvedPath(stateDirectory: environmentValue("STATE_DIRECTORY")).map { "\($0) every \(config.snapshot.intervalS) s and at shutdown" } ?? "off (learned state is lost on restart)")")
        print("  registry: stale after \(s.staleAfterSeconds) s, down after \(s.downAfterSeconds) s, forgotten after \(s.forgetAfterSeconds) s")
        print("  windows: raw \(s.rawWindowSeconds) s (≤ \(s.maxSamplesPerSeries) samples/series, ≤ \(s.maxSeriesPerNode) series/node), load \(s.loadWindowSeconds) s")
        print("  load index: L = \(s.loadIndex.alpha)·U_gpu(\(s.loadIndex.gpuSignal.rawValue)) + \(s.loadIndex.beta)·U_cpu + \(s.loadIndex.gamma)·min(1, rtt/\(s.loadIndex.latencyRefMs) ms)")
        print("  forecast: \(s.forecast.models.map(\.rawValue).joined(separator: ", ")); season \(s.forecast.season) min; horizons \(s.forecast.horizons.map { "\($0) min" }.joined(separator: ", "))")
        let d = config.decisions
        print("  decisions: evaluated every \(d.evaluateIntervalMs) ms, re-sent every \(d.resendIntervalS) s, valid \(d.validForS) s")
        for (name, c) in config.instanceClasses.sorted(by: { $0.key < $1.key }) {
            print("  instance class \(name): \(c.kind), \(c.hourlyPrice)/node-hour, lead \(c.leadTimeS) s, \(c.preemptionsPerHour) preemptions/h, capacity \(c.capacity)")
        }
        for (name, p) in config.pools.sorted(by: { $0.key < $1.key }) {
            print("  pool \(name == "default" ? "default (every pool not named)" : name): \(p.policy), \(p.minReplicas)-\(p.maxReplicas) replicas of \(p.instanceClass), target load \(p.targetLoad)")
        }
        for (site, o) in config.offload.sorted(by: { $0.key < $1.key }) {
            print("  offload \(site) → \(o.target): above L \(o.high) for \(o.sustainS) s, back below \(o.release); budget \(o.budgetMs) ms = RTT to '\(o.probe)' + \(o.cloudLatencyMs) ms")
        }
    }
}

struct Status: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Ask a running aggregator for its nodes, pools, forecasts and ingest counters.",
        discussion: "Exit status 1 when the aggregator does not answer within --timeout.")

    @Option(help: ArgumentHelp("The aggregator's control endpoint (endpoints.control).", valueName: "endpoint"))
    var control = "tcp://127.0.0.1:7463"

    @Flag(help: "Print the raw JSON (for jq) instead of tables.")
    var json = false

    @Option(help: "Seconds to wait for the answer.")
    var timeout: Double = 2

    func run() throws {
        let reply: [UInt8]
        do {
            reply = try ControlClient.request("status", endpoint: control, timeoutMilliseconds: Int(timeout * 1000))
        } catch {
            printError("gpulse-aggregator status: \(error)")
            throw ExitCode.failure
        }
        if json {
            print(String(decoding: reply, as: UTF8.self))
            return
        }
        do {
            print(try StatusReport.decode(json: reply).text())
        } catch {
            printError("gpulse-aggregator status: unexpected reply (\(error)): \(String(decoding: reply.prefix(200), as: UTF8.self))")
            throw ExitCode.failure
        }
    }
}

func printError(_ message: String) {
    let line = Array((message + "\n").utf8)
    line.withUnsafeBytes { _ = write(2, $0.baseAddress, $0.count) }
}
