import ArgumentParser
#if canImport(Glibc)
import Glibc
#endif
import GPulseAggregator
import GPulseTransport

struct Tail: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Subscribe to a running aggregator's decision stream and print each decision.",
        discussion: """
            Decisions arrive as [topic, Decision] on the decisions endpoint (ZeroMQ PUB). Topics are \
            scale/<pool>, offload/<site> and node/<node_id>; --topic filters by prefix. A decision is \
            sent when it changes and re-sent every decisions.resend_interval_s, so within that long a new \
            subscriber sees the current state of every topic.

            Examples:
              gpulse-aggregator tail
              gpulse-aggregator tail --topic scale/ --json | jq -c '.scale | {pool, action, desired_replicas}'
              gpulse-aggregator tail --decisions tcp://agg.example:7462 --topic offload/ --count 1 --timeout 30

            Without --server-key, tail speaks plaintext, which only an aggregator run with \
            security.mode: plaintext (or --plaintext) answers.

            Exit status: 0 after --count decisions (or on Ctrl-C), 1 when --timeout passes with none.
            """)

    @Option(help: ArgumentHelp("The aggregator's decisions endpoint (endpoints.decisions).", valueName: "endpoint"))
    var decisions = "tcp://127.0.0.1:7462"

    @Option(help: ArgumentHelp("Only topics starting with this (e.g. scale/, scale/llm-online, offload/, node/).", valueName: "prefix"))
    var topic = ""

    @Flag(help: "One JSON object per line, with the proto's field names.")
    var json = false

    @Option(help: "Exit after this many decisions.")
    var count: Int?

    @Option(help: "Exit with status 1 when no decision arrives for this many seconds.")
    var timeout: Double?

    @Option(help: ArgumentHelp("With CURVE: the aggregator's public key (its keygen prints it).", valueName: "z85"))
    var serverKey: String?

    @Option(help: ArgumentHelp("With CURVE: this subscriber's key file (from keygen; its public key must be in security.subscribers).", valueName: "file"))
    var keyFile: String?

    func run() throws {
        let subscriber: DecisionSubscriber
        do {
            var curve: (keys: CurveKeyPair, serverKey: String)?
            if let serverKey {
                guard let keyFile else { throw ValidationError("--server-key needs --key-file") }
                curve = (try KeyFile.load(path: keyFile), serverKey)
            }
            subscriber = try DecisionSubscriber(endpoint: decisions, topicPrefix: topic, curve: curve)
        } catch {
            printError("gpulse-aggregator tail: cannot subscribe to \(decisions): \(error)")
            throw ExitCode.failure
        }
        defer { subscriber.close() }
        var seen = 0
        while count.map({ seen < $0 }) ?? true {
            let received: DecisionSubscriber.Received?
            do {
                received = try subscriber.receive(timeoutMilliseconds: timeout.map { Int($0 * 1000) } ?? -1)
            } catch {
                printError("gpulse-aggregator tail: \(error)")
                throw ExitCode.failure
            }
            switch received {
            case nil:
                printError("gpulse-aggregator tail: no decision within \(timeout ?? 0) s from \(decisions)\(topic.isEmpty ? "" : " on topic \(topic)*")")
                throw ExitCode.failure
            case .malformed(let why):
                printError("gpulse-aggregator tail: skipped a malformed message: \(why)")
            case .decision(_, let decision):
                print(json ? DecisionFormat.json(decision) : DecisionFormat.line(decision))
                fflush(nil)  // every line at once, also into a pipe
                seen += 1
            }
        }
    }
}
