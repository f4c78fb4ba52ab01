import ArgumentParser
import GPulseTransport

struct Keygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Make this agent's CURVE key pair and print the line for the aggregator's allowlist.",
        discussion: """
            Writes FILE (mode 0600; refuses to overwrite) with public_key and secret_key lines. The agent reads \
            it from security.secret_key_file (default $CREDENTIALS_DIRECTORY/agent.key: systemd's \
            LoadCredential=agent.key:/etc/gpulse/agent.key). Add the printed line under security.agents in \
            the aggregator's config: the key is then bound to this node id, and batches it signs for any \
            other node id are refused (node_id_not_bound).

            Example: gpulse-agent keygen --out /etc/gpulse/agent.key --node-id $(hostname)
            """)

    @Option(help: ArgumentHelp("Where to write the key pair.", valueName: "file"))
    var out: String

    @Option(help: ArgumentHelp("The node id this key will speak for (node.id; the hostname by default).", valueName: "id"))
    var nodeID: String = "<node id>"

    func run() throws {
        let pair = try KeyFile.create(at: out, comment: "gpulse CURVE key pair (gpulse-agent keygen) for node \(nodeID)")
        print("wrote \(out) (mode 0600)")
        print("public key: \(pair.publicKey)")
        print("for the aggregator's config, under security.agents:")
        print("    \(nodeID): \"\(pair.publicKey)\"")
    }
}
