/// A config value that is one of a fixed set of words. Decoding anything else is an error that
/// names the allowed values (reported with its key path and line like every other config error), so
/// the rest of the code compares enum cases, never strings.
public protocol ConfigEnum: RawRepresentable, CaseIterable, Codable, Sendable where RawValue == String {
    /// How an error lists the allowed words ("a, b or c" unless a type says better).
    static var allowed: String { get }
}

extension ConfigEnum {
    public init(from decoder: any Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        guard let value = Self(rawValue: text) else {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "must be \(Self.allowed), got '\(text)'"))
        }
        self = value
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.singleValueContainer()
        try c.encode(rawValue)
    }

    /// "a, b or c".
    public static var allowed: String {
        let names = allCases.map(\.rawValue)
        return names.count > 1 ? names.dropLast().joined(separator: ", ") + " or " + names.last! : names.joined()
    }
}

/// `security.mode` of the agent and the aggregator.
public enum SecurityMode: String, ConfigEnum {
    /// Encrypted and authenticated with CURVE keys: the default.
    case curve
    /// Anyone who reaches the ports can send batches and read decisions.
    case plaintext
}

/// `node.tier` of an agent: where the node runs.
public enum TierName: String, ConfigEnum {
    case cloud, edge
}

/// `pools.<name>.workload`: what the pool serves, or empty for what its agents report.
public enum PoolWorkload: String, ConfigEnum {
    case fromAgents = ""
    case online, batch

    public static var allowed: String { "online, batch or empty (from the agents' labels)" }
}

/// `node.workload` of an agent: what its pool serves.
public enum WorkloadName: String, ConfigEnum {
    case online, batch
}
