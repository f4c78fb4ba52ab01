import Foundation
import Yams

/// One problem in a configuration, with where it is.
public struct ConfigIssue: Sendable, Hashable, CustomStringConvertible {
    public var keyPath: String
    public var line: Int?
    public var message: String

    public init(keyPath: String, line: Int? = nil, message: String) {
        self.keyPath = keyPath
        self.line = line
        self.message = message
    }

    public var description: String {
        "\(keyPath.isEmpty ? "(top level)" : keyPath)\(line.map { " (line \($0))" } ?? ""): \(message)"
    }
}

/// Thrown when a configuration file cannot be used; lists every problem found.
public struct ConfigError: Error, Sendable, CustomStringConvertible {
    public var path: String
    public var issues: [ConfigIssue]

    public init(path: String, issues: [ConfigIssue]) {
        self.path = path
        self.issues = issues
    }

    public var description: String {
        "\(path): \(issues.count) problem\(issues.count == 1 ? "" : "s")\n" + issues.map { "  - \($0)" }.joined(separator: "\n")
    }
}

/// Reads YAML configuration files into Codable values, reporting every problem with its key path
/// and line: a misspelt key is an error, not a silent default.
public enum YAMLConfig {
    /// A nested description of the keys a file may hold: a value of `true` is a leaf, a dictionary
    /// a section, and the key "*" matches any name (e.g. user-named groups or pools).
    public typealias Schema = [String: Any]

    /// Decodes `yaml` as `T`, after checking every key against `schema`; an empty file yields `empty`.
    public static func decode<T: Decodable>(
        _ type: T.Type, yaml: String, path: String, schema: Schema, empty: @autoclosure () -> T
    ) throws(ConfigError) -> T {
        let node: Yams.Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigError(path: path, issues: [ConfigIssue(keyPath: "", message: "not valid YAML: \(error)")])
        }
        guard let node else { return empty() }
        let unknown = unknownKeys(node, schema: schema, path: "")
        guard unknown.isEmpty else { throw ConfigError(path: path, issues: unknown) }
        do {
            return try YAMLDecoder().decode(T.self, from: node, userInfo: [:])
        } catch let error as DecodingError {
            throw ConfigError(path: path, issues: [issue(from: error)])
        } catch {
            throw ConfigError(path: path, issues: [ConfigIssue(keyPath: "", message: "\(error)")])
        }
    }

    /// The file's text, or a ConfigError saying it cannot be read.
    public static func read(path: String) throws(ConfigError) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(path: path, issues: [ConfigIssue(keyPath: "", message: "cannot read the file")])
        }
        return text
    }

    static func unknownKeys(_ node: Yams.Node, schema: Schema, path: String) -> [ConfigIssue] {
        guard let mapping = node.mapping else {
            return [ConfigIssue(keyPath: path, line: node.mark.map { $0.line }, message: "expected a mapping of keys")]
        }
        var issues: [ConfigIssue] = []
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? "?"
            let here = path.isEmpty ? key : "\(path).\(key)"
            guard let rule = schema[key] ?? schema["*"] else {
                let known = schema.keys.filter { $0 != "*" }.sorted().joined(separator: ", ")
                issues.append(ConfigIssue(keyPath: here, line: keyNode.mark.map { $0.line }, message: "unknown key (known here: \(known))"))
                continue
            }
            if let nested = rule as? Schema { issues += unknownKeys(value, schema: nested, path: here) }
        }
        return issues
    }

    static func issue(from error: DecodingError) -> ConfigIssue {
        func path(_ context: DecodingError.Context) -> String {
            context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
        }
        switch error {
        case .typeMismatch(let type, let c): return ConfigIssue(keyPath: path(c), message: "expected \(type)")
        case .valueNotFound(let type, let c): return ConfigIssue(keyPath: path(c), message: "missing value of type \(type)")
        case .keyNotFound(let key, let c): return ConfigIssue(keyPath: path(c) + (path(c).isEmpty ? "" : ".") + key.stringValue, message: "required key missing")
        case .dataCorrupted(let c): return ConfigIssue(keyPath: path(c), message: c.debugDescription)
        @unknown default: return ConfigIssue(keyPath: "", message: "\(error)")
        }
    }
}

/// A coding key from a string, so that each config section's keys are written once, where they are
/// read, with the default beside them: `value("rate_hz", rateHz)`.
public struct ConfigKey: CodingKey {
    public var stringValue: String
    public var intValue: Int? { nil }
    public init(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { nil }
}

extension KeyedDecodingContainer where K == ConfigKey {
    /// The value under `key`, or `fallback` when the key is absent.
    public func value<T: Decodable>(_ key: String, _ fallback: T) throws -> T {
        try decodeIfPresent(T.self, forKey: ConfigKey(stringValue: key)) ?? fallback
    }
}
