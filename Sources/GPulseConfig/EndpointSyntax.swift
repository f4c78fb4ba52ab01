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
        guard let (host, port) = tcpHostPort(endpoint) else { return "\(usage) (no port)" }
        if host.isEmpty || host == "[]" { return "\(usage) (no host)" }
        if host.hasPrefix("[") != host.hasSuffix("]") { return "\(usage) (an IPv6 address goes in brackets: tcp://[::1]:7461)" }
        if !host.hasPrefix("[") && host.contains(":") { return "\(usage) (an IPv6 address goes in brackets: tcp://[::1]:7461)" }
        if port == "*" { return nil }
        guard let n = Int(port), (1...65_535).contains(n) else { return "\(usage) (port must be 1 to 65535, or *)" }
        return nil
    }

    /// Whether only this host can reach `endpoint`: `ipc://`, `inproc://`, or TCP on 127.0.0.0/8,
    /// `::1` or `localhost`.
    public static func isLocal(_ endpoint: String) -> Bool {
        if endpoint.hasPrefix("ipc://") || endpoint.hasPrefix("inproc://") { return true }
        guard let (host, _) = tcpHostPort(endpoint) else { return false }
        return isLoopbackHost(String(host))
    }

    /// Host and port of a `tcp://` endpoint, split at the last colon; nil for another transport or
    /// without a colon. A connect may name its source first (tcp://source;destination): this is the
    /// destination.
    static func tcpHostPort(_ endpoint: String) -> (host: Substring, port: Substring)? {
        guard endpoint.hasPrefix("tcp://") else { return nil }
        let address = endpoint.dropFirst(6).split(separator: ";", omittingEmptySubsequences: false).last ?? ""
        guard let colon = address.lastIndex(of: ":") else { return nil }
        return (address[..<colon], address[address.index(after: colon)...])
    }

    /// `127.x.y.z`, `::1` (bracketed or not) or `localhost`.
    public static func isLoopbackHost(_ host: String) -> Bool {
        var h = host
        if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        if h == "::1" || h == "localhost" { return true }
        let parts = h.split(separator: ".", omittingEmptySubsequences: false)
        return parts.count == 4 && parts[0] == "127" && parts.allSatisfy { UInt8($0) != nil }
    }
}
