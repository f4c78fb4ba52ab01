/// Checks a ZeroMQ endpoint's syntax at config time, so `check-config` refuses what `run` would fail
/// to bind or (worse, for a connect) would accept and never reach.
public enum EndpointSyntax {
    /// Why `endpoint` is not `tcp://host:port` (port 1-65535, or `*` to let the kernel pick),
    /// `ipc://path` or `inproc://name`; nil when it is one.
    public static func problem(_ endpoint: String) -> String? {
        let usage = "invalid endpoint '\(endpoint)': use tcp://host:port, ipc://path or inproc://name"
        if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") {
            return endpoint.split(separator: "/", omittingEmptySubsequences: true).count >= 2 ? nil : usage
        }
        guard endpoint.hasPrefix("tcp://") else { return usage }
        // A connect may name its source first (tcp://source;destination): the destination is checked.
        let address = endpoint.dropFirst(6).split(separator: ";", omittingEmptySubsequences: false).last ?? ""
        guard let colon = address.lastIndex(of: ":") else { return "\(usage) (no port)" }
        let host = address[..<colon]
        let port = address[address.index(after: colon)...]
        if host.isEmpty || host == "[]" { return "\(usage) (no host)" }
        if host.hasPrefix("[") != host.hasSuffix("]") { return "\(usage) (an IPv6 address goes in brackets: tcp://[::1]:7461)" }
        if !host.hasPrefix("[") && host.contains(":") { return "\(usage) (an IPv6 address goes in brackets: tcp://[::1]:7461)" }
        if port == "*" { return nil }
        guard let n = Int(port), (1...65_535).contains(n) else { return "\(usage) (port must be 1 to 65535, or *)" }
        return nil
    }
}
