import ArgumentParser
import GPulseTransport

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make a CURVE key pair for the aggregator (or for a decision subscriber).",
        discussion: """
            Writes FILE (mode 0600; refuses to overwrite) with public_key and secret_key lines, and prints \
            the public key. The aggregator reads its file from security.secret_key_file (default \
            $CREDENTIALS_DIRECTORY/aggregator.key: systemd's LoadCredential=aggregator.key:/etc/gpulse/aggregator.key). \
            Agents need the public key as security.aggregator_public_key. A subscriber's public key goes in \
            the aggregator's security.subscribers.

            Examples:
              gpulse-aggregator keygen --out /etc/gpulse/aggregator.key
              gpulse-aggregator keygen --subscriber autoscaler --out ~/.config/gpulse/autoscaler.key
            """)

    @Option(help: ArgumentHelp("Where to write the key pair.", valueName: "file"))
    var out: String

    @Option(
        help: ArgumentHelp(
            "Make a decision subscriber's key instead, under this name: what to add to the aggregator's security.subscribers is printed.",
            valueName: "name"))
    var subscriber: String?

    func run() throws {
        let role = subscriber.map { "subscriber \($0)" } ?? "the aggregator"
        let pair = try KeyFile.create(at: out, comment: "gpulse CURVE key pair (gpulse-aggregator keygen) for \(role)")
        print("wrote \(out) (mode 0600)")
        print("public key: \(pair.publicKey)")
        if let name = subscriber {
            print("in the aggregator's config:   security: {subscribers: {\(name): \"\(pair.publicKey)\"}}")
            print("then read with:   gpulse-aggregator tail --server-key <aggregator public key> --key-file \(out)")
        } else {
            print("for each agent's config:   security: {mode: curve, aggregator_public_key: \"\(pair.publicKey)\"}")
        }
    }
}
