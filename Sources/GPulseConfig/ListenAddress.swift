/// `host:port` as written in a config file (`127.0.0.1:9473`, `[::1]:9473`, `0.0.0.0:0`).
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    public var host: String
    public var port: Int

    /// nil when the text is not `host:port` with a port from 0 to 65535.
    public init?(_ text: String) {
        guard let colon = text.lastIndex(of: ":") else { return nil }
        var h = String(text[..<colon])
        if h.hasPrefix("[") && h.hasSuffix("]") { h = String(h.dropFirst().dropLast()) }
        guard !h.isEmpty, let p = Int(text[text.index(after: colon)...]), (0...65535).contains(p) else { return nil }
        host = h
        port = p
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }

    /// A `listen` setting as config files write it: `host:port`, or a word that turns the endpoint off.
    public enum Setting: Equatable, Sendable {
        case off
        case on(ListenAddress)
        /// Neither; `problem` says what was expected.
        case invalid(problem: String)

        public init(_ text: String) {
            if ["off", "", "none", "false"].contains(text.lowercased()) {
                self = .off
            } else if let address = ListenAddress(text) {
                self = .on(address)
            } else {
                self = .invalid(problem: "must be host:port (e.g. 127.0.0.1:9473) or off, got '\(text)'")
            }
        }

        /// The address to listen on; nil when off or invalid.
        public var address: ListenAddress? { if case .on(let a) = self { a } else { nil } }
        public var problem: String? { if case .invalid(let p) = self { p } else { nil } }
    }
}
