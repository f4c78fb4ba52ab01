import GPulseCore
import Synchronization

/// The per-node series of `/metrics` (`gpulse_node_state`, `gpulse_node_healthy`, `gpulse_node_last_seen_age_seconds`),
/// kept outside the Prometheus registry on purpose: the registry copies a metric family's whole
/// label table each time one label set is added, so registering a gauge per node cost O(nodes)
/// per new node and O(nodes²) for a fleet arriving at once (20,000 new ids stalled ingest for
/// minutes). Here the ingest thread swaps in a fresh table of rows once a second (O(nodes)) and
/// the HTTP thread renders it on each scrape.
final class NodeExposition: Sendable {
    struct Row: Sendable {
        var id: String
        var pool: String
        var state: NodeState
        var healthy: Bool
        var ageSeconds: Double
    }

    private let rows = Mutex<[Row]>([])

    func replace(_ new: [Row]) { rows.withLock { $0 = new } }

    /// Appends both families in the Prometheus text format (0.0.4), rows sorted by node id.
    func emit(into buffer: inout [UInt8]) {
        let table = rows.withLock { $0 }.sorted { $0.id < $1.id }
        guard !table.isEmpty else { return }
        let labels = table.map { #"node_id=""# + Self.escaped($0.id) + #"",pool=""# + Self.escaped($0.pool) + #"""# }
        buffer.append(contentsOf: "# HELP gpulse_node_state 1 for the node's current registry state, 0 for the others.\n# TYPE gpulse_node_state gauge\n".utf8)
        for (row, labels) in zip(table, labels) {
            for state in [NodeState.live, .stale, .down] {
                buffer.append(contentsOf: "gpulse_node_state{\(labels),state=\"\(state.rawValue)\"} \(state == row.state ? 1 : 0)\n".utf8)
            }
        }
        buffer.append(
            contentsOf:
                "# HELP gpulse_node_healthy 0 while the node's GPUs' latest fault holds (its capacity is not counted), else 1.\n# TYPE gpulse_node_healthy gauge\n"
                .utf8)
        for (row, labels) in zip(table, labels) {
            buffer.append(contentsOf: "gpulse_node_healthy{\(labels)} \(row.healthy ? 1 : 0)\n".utf8)
        }
        buffer.append(
            contentsOf: "# HELP gpulse_node_last_seen_age_seconds Seconds since the node's last accepted batch.\n# TYPE gpulse_node_last_seen_age_seconds gauge\n"
                .utf8)
        for (row, labels) in zip(table, labels) {
            buffer.append(contentsOf: "gpulse_node_last_seen_age_seconds{\(labels)} \(row.ageSeconds)\n".utf8)
        }
    }

    /// A label value as the text format wants it: backslash, double quote and line feed escaped.
    /// Node ids and pools come off the wire (valid UTF-8 up to 256 bytes, anything else allowed).
    static func escaped(_ value: String) -> String {
        guard value.contains(where: { $0 == "\\" || $0 == "\"" || $0 == "\n" }) else { return value }
        var out = ""
        for ch in value {
            switch ch {
            case "\\": out += #"\\"#
            case "\"": out += #"\""#
            case "\n": out += #"\n"#
            default: out.append(ch)
            }
        }
        return out
    }
}
