import ArgumentParser
import GPulseAgent

struct Simulate: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Load generator: SIMULATED agents with real sockets and real batches, for testing an aggregator.",
        discussion: """
            Starts --nodes virtual agents, each with its own ZeroMQ PUSH socket, session and sequence \
            numbers, sending --series series at --rate samples/s each, batched every --publish-interval-ms. \
            The values are synthetic (a sine per node), and every node is labelled instance_class=simulated \
            with agent version '<version>-simulated'. They speak plaintext (no CURVE), so the aggregator \
            under test runs with --plaintext. Batches refused by a full send queue are counted as \
            dropped and reported in the node's next batch, as the real agent does.

            Example (1,000,000 samples/s): gpulse-agent simulate --aggregator tcp://127.0.0.1:7461 \\
                --nodes 100 --rate 500 --series 20 --duration 30
            """)

    @Option(help: ArgumentHelp("Aggregator metrics endpoint.", valueName: "endpoint"))
    var aggregator = "tcp://127.0.0.1:7461"

    @Option(help: "Virtual nodes.")
    var nodes = 100

    @Option(help: "Samples per second per series.")
    var rate: Double = 500

    @Option(help: "Series per node.")
    var series = 20

    @Option(help: "Milliseconds between a node's batches.")
    var publishIntervalMs = 100

    @Option(help: "Seconds to run.")
    var duration: Double = 10

    @Option(help: "Pool label of the simulated nodes.")
    var pool = "sim"

    @Option(help: "Node id prefix (ids are PREFIX0, PREFIX1, ...).")
    var nodePrefix = "sim-"

    @Option(help: "Sending threads.")
    var threads = 2

    func validate() throws {
        guard (1...100_000).contains(nodes) else { throw ValidationError("--nodes must be 1 to 100000") }
        guard (1...1000).contains(rate) else { throw ValidationError("--rate must be 1 to 1000 Hz") }
        guard (1...1000).contains(series) else { throw ValidationError("--series must be 1 to 1000") }
        guard (10...10_000).contains(publishIntervalMs) else { throw ValidationError("--publish-interval-ms must be 10 to 10000") }
        guard duration > 0 else { throw ValidationError("--duration must be positive") }
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be 1 to 64") }
    }

    func run() throws {
        let settings = FleetSimulator.Settings(
            endpoint: aggregator, nodes: nodes, rateHz: rate, seriesPerNode: series, publishIntervalMs: publishIntervalMs, pool: pool,
            nodePrefix: nodePrefix, threads: threads)
        let offered = Double(nodes * series) * rate
        print("simulated fleet: \(nodes) SIMULATED nodes x \(series) series x \(rate) Hz = \(Int(offered)) samples/s offered to \(aggregator) for \(duration) s")
        let totals: FleetSimulator.Totals
        do { totals = try FleetSimulator(settings: settings).run(seconds: duration) } catch {
            throw ValidationError("cannot start the simulated agents: \(error)")
        }
        print(
            "simulated fleet totals: nodes=\(nodes) batches_sent=\(totals.batchesSent) samples_sent=\(totals.samplesSent) bytes_sent=\(totals.bytesSent) "
                + "batches_dropped=\(totals.batchesDropped) samples_dropped=\(totals.samplesDropped) samples_produced=\(totals.samplesProduced) "
                + "late_rounds=\(totals.lateRounds) sent_rate=\(Int(Double(totals.samplesSent) / duration))/s")
    }
}
