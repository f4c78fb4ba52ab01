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
/// and line: a misspelt key is an error, not a silent default. The keys a section may hold are the
/// ones its `init(from:)` reads with `value(_:_:)` or `required(_:)`, so they are written only there.
public enum YAMLConfig {
    /// Decodes `yaml` as `T`, then reports every key that no section read; an empty file yields `empty`.
    /// Throws with every problem found (wrong types and unknown keys alike).
    public static func decode<T: Decodable>(_ type: T.Type, yaml: String, path: String, empty: @autoclosure () -> T) throws(ConfigError) -> T {
        let (value, issues) = try decodeCollecting(type, yaml: yaml, path: path, empty: empty())
        guard issues.isEmpty else { throw ConfigError(path: path, issues: issues) }
        return value
    }

    /// Decodes `yaml` as `T` and returns it with every problem found in one pass: a key of the wrong
    /// type is noted and its default kept (so that later checks still see a usable value), keys no
    /// section read are listed. Throws only when the text is not a YAML mapping at all. Callers add
    /// their range checks to the list, so that a file with six problems reports six.
    public static func decodeCollecting<T: Decodable>(
        _ type: T.Type, yaml: String, path: String, empty: @autoclosure () -> T
    ) throws(ConfigError) -> (T, [ConfigIssue]) {
        let node: Yams.Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigError(path: path, issues: [ConfigIssue(keyPath: "", message: "not valid YAML: \(error)")])
        }
        guard let node else { return (empty(), []) }
        guard node.mapping != nil else {
            throw ConfigError(path: path, issues: [ConfigIssue(keyPath: "", line: node.mark.map { $0.line }, message: "expected a mapping of keys")])
        }
        let ledger = KeyLedger()
        let value: T
        do {
            value = try KeyLedger.$current.withValue(ledger) { try YAMLDecoder().decode(T.self, from: node, userInfo: [:]) }
        } catch let error as DecodingError {
            throw ConfigError(path: path, issues: [issue(from: error)])
        } catch {
            throw ConfigError(path: path, issues: [ConfigIssue(keyPath: "", message: "\(error)")])
        }
        let problems = ledger.problems + unknownKeys(node, ledger: ledger, path: "")
        return (value, problems.map { withLine($0, in: node) })
    }

    /// The issue with the line of its key, found by walking `node` along the key path.
    static func withLine(_ issue: ConfigIssue, in node: Yams.Node) -> ConfigIssue {
        guard issue.line == nil, !issue.keyPath.isEmpty else { return issue }
        var here = node
        var line: Int?
        for part in issue.keyPath.split(separator: ".") {
            let key = part.split(separator: "[").first.map(String.init) ?? String(part)
            guard let mapping = here.mapping, let entry = mapping.first(where: { $0.key.string == key }) else { break }
            line = entry.key.mark?.line
            here = entry.value
        }
        var out = issue
        out.line = line
        return out
    }

    /// The file's text, or a ConfigError saying it cannot be read.
    public static func read(path: String) throws(ConfigError) -> String {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw ConfigError(path: path, issues: [ConfigIssue(keyPath: "", message: "cannot read the file")])
        }
        return text
    }

    /// Keys of the mappings that a section read (the ledger has their path) and that it did not ask
    /// for. Mappings no section read (user-named pools, groups, allowlists) are searched for sections.
    static func unknownKeys(_ node: Yams.Node, ledger: KeyLedger, path: String) -> [ConfigIssue] {
        guard let mapping = node.mapping else { return [] }
        let known = ledger.read[path]
        var issues: [ConfigIssue] = []
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? "?"
            let here = path.isEmpty ? key : "\(path).\(key)"
            if let known, !known.contains(key) {
                issues.append(
                    ConfigIssue(keyPath: here, line: keyNode.mark.map { $0.line }, message: "unknown key (known here: \(known.sorted().joined(separator: ", ")))"))
                continue
            }
            issues += unknownKeys(value, ledger: ledger, path: here)
        }
        return issues
    }

    static func issue(from error: DecodingError) -> ConfigIssue {
        func path(_ context: DecodingError.Context) -> String { keyPath(context.codingPath) }
        switch error {
        case .typeMismatch(let type, let c): return ConfigIssue(keyPath: path(c), message: "expected \(type)")
        case .valueNotFound(let type, let c): return ConfigIssue(keyPath: path(c), message: "missing value of type \(type)")
        case .keyNotFound(let key, let c): return ConfigIssue(keyPath: path(c) + (path(c).isEmpty ? "" : ".") + key.stringValue, message: "required key missing")
        case .dataCorrupted(let c): return ConfigIssue(keyPath: path(c), message: c.debugDescription)
        @unknown default: return ConfigIssue(keyPath: "", message: "\(error)")
        }
    }

    /// `samplers.rtt.targets[0]` from a coding path.
    static func keyPath(_ codingPath: [any CodingKey]) -> String {
        codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
    }
}

/// The keys each section of the file being decoded read, by key path. One per `YAMLConfig.decode`
/// call, reached through a task-local because `init(from:)` sees only its decoder.
final class KeyLedger: @unchecked Sendable {
    @TaskLocal static var current: KeyLedger?
    /// Mutated only inside the synchronous decode that owns this ledger.
    var read: [String: Set<String>] = [:]
    /// Values that did not decode (a wrong type, a bad enum word); their defaults were kept.
    var problems: [ConfigIssue] = []

    func note(_ key: String, in codingPath: [any CodingKey]) {
        read[YAMLConfig.keyPath(codingPath), default: []].insert(key)
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
    /// The value under `key`, or `fallback` when the key is absent. Makes `key` a known key here.
    /// A value of the wrong type is noted in the ledger and `fallback` returned, so that one bad key
    /// does not hide the problems after it.
    public func value<T: Decodable>(_ key: String, _ fallback: T) throws -> T {
        guard let ledger = KeyLedger.current else { return try decodeIfPresent(T.self, forKey: ConfigKey(stringValue: key)) ?? fallback }
        ledger.note(key, in: codingPath)
        do {
            return try decodeIfPresent(T.self, forKey: ConfigKey(stringValue: key)) ?? fallback
        } catch let error as DecodingError {
            var issue = YAMLConfig.issue(from: error)
            // A mismatch of the section itself carries the section's path; name the key at least.
            if issue.keyPath.isEmpty { issue.keyPath = YAMLConfig.keyPath(codingPath + [ConfigKey(stringValue: key)]) }
            ledger.problems.append(issue)
            return fallback
        }
    }

    /// The value under `key`, which must be there. Makes `key` a known key here.
    public func required<T: Decodable>(_ key: String) throws -> T {
        KeyLedger.current?.note(key, in: codingPath)
        return try decode(T.self, forKey: ConfigKey(stringValue: key))
    }
}
