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

/// A section of a configuration file: a struct whose stored properties are its keys, in snake_case
/// (`rateHz` is `rate_hz`), each defaulting to what `init()` gives it. Its Codable conformance is
/// the synthesized one: `YAMLConfig` lays a file's keys over the encoded defaults before decoding,
/// so a section declares each key once, with its default, and nothing else.
public protocol ConfigSection: Codable {
    init()
    /// Keys of dictionaries whose entries in a file are added to the defaults' entries (replacing
    /// those of the same name) rather than replacing the whole dictionary. None unless a section says.
    static var mergedKeys: Set<String> { get }
}

extension ConfigSection {
    public static var mergedKeys: Set<String> { [] }
}

/// A dictionary or list of sections (pools by name, engines), whose entries are each laid over
/// their section's defaults.
protocol SectionCollection {
    static var sectionType: any ConfigSection.Type { get }
    static var isList: Bool { get }
}

extension Dictionary: SectionCollection where Key == String, Value: ConfigSection {
    static var sectionType: any ConfigSection.Type { Value.self }
    static var isList: Bool { false }
}

extension Array: SectionCollection where Element: ConfigSection {
    static var sectionType: any ConfigSection.Type { Element.self }
    static var isList: Bool { true }
}

/// A dictionary of plain values by name (sampler groups, keys by node id): each entry is checked
/// on its own, so that every bad entry is reported and the good ones kept.
protocol NamedValues {
    static var valueType: any Decodable.Type { get }
}

extension Dictionary: NamedValues where Key == String, Value: Decodable {
    static var valueType: any Decodable.Type { Value.self }
}

/// Reads YAML configuration files into `ConfigSection` values, reporting every problem with its key
/// path and line: a misspelt key is an error, not a silent default; a value of the wrong type is
/// named with its key and its default kept, so that one file with six problems reports six.
public enum YAMLConfig {
    /// Decodes `yaml` as `T`; an empty file is `T()`. Throws with every problem found (wrong types
    /// and unknown keys alike).
    public static func decode<T: ConfigSection>(_ type: T.Type, yaml: String, path: String) throws(ConfigError) -> T {
        let (value, issues) = try decodeCollecting(type, yaml: yaml, path: path)
        guard issues.isEmpty else { throw ConfigError(path: path, issues: issues) }
        return value
    }

    /// Decodes `yaml` as `T` and returns it with every problem found in one pass. Throws only when
    /// the text is not a YAML mapping at all. Callers add their range checks to the list.
    public static func decodeCollecting<T: ConfigSection>(_ type: T.Type, yaml: String, path: String) throws(ConfigError) -> (T, [ConfigIssue]) {
        let node: Yams.Node?
        do {
            node = try Yams.compose(yaml: yaml)
        } catch {
            throw ConfigError(path: path, issues: [ConfigIssue(keyPath: "", message: "not valid YAML: \(error)")])
        }
        guard let node else { return (T(), []) }
        guard node.mapping != nil else {
            throw ConfigError(path: path, issues: [ConfigIssue(keyPath: "", line: node.mark.map { $0.line }, message: "expected a mapping of keys")])
        }
        var walk = SectionWalk()
        let merged = walk.section(node, as: T.self, path: "")
        let value: T
        do {
            value = try YAMLDecoder().decode(T.self, from: merged, userInfo: [:])
        } catch let error as DecodingError {
            // Each value was decoded alone first, so this is a section type's own fault.
            throw ConfigError(path: path, issues: walk.issues + [issue(from: error)])
        } catch {
            throw ConfigError(path: path, issues: walk.issues + [ConfigIssue(keyPath: "", message: "\(error)")])
        }
        return (value, walk.issues.map { withLine($0, in: node) })
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
    /// for. Mappings no section read (user-named entries) are searched for sections.
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
        joined(codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue })
    }

    /// `a.b[2].c` from `a`, `b`, `[2]`, `c`.
    static func joined(_ parts: [String]) -> String {
        parts.filter { !$0.isEmpty }.joined(separator: ".").replacingOccurrences(of: ".[", with: "[")
    }

    /// A section's file key for a property: `rateHz` is `rate_hz`, `ignoredXIDs` `ignored_xids` (a
    /// run of capitals is one word).
    static func key(_ property: String) -> String {
        var out = ""
        var previous: Character?
        for ch in property {
            if ch.isUppercase, let p = previous, p.isLowercase || p.isNumber { out.append("_") }
            out += ch.lowercased()
            previous = ch
        }
        return out
    }
}

/// Lays a file's mapping over a section's defaults, key by key, guided by the section's type: the
/// result has every key (the defaults' where the file has none) under its property's name, for the
/// synthesized decoder. What the file gets wrong is collected in `issues`, its default kept.
struct SectionWalk {
    private(set) var issues: [ConfigIssue] = []

    mutating func section(_ user: Yams.Node, as type: any ConfigSection.Type, path: String) -> Yams.Node {
        let defaults = type.init()
        var merged = Self.encoded(defaults)
        // `key:` with nothing after it is the section's defaults.
        if user.null != nil { return .mapping(merged) }
        guard let mapping = user.mapping else {
            issues.append(ConfigIssue(keyPath: path, line: user.mark?.line, message: "expected a mapping of keys"))
            return .mapping(merged)
        }
        let fields = Mirror(reflecting: defaults).children.compactMap { child in
            child.label.map { (property: $0, key: YAMLConfig.key($0), value: child.value) }
        }
        for (keyNode, value) in mapping {
            let key = keyNode.string ?? "?"
            let here = YAMLConfig.joined([path, key])
            guard let field = fields.first(where: { $0.key == key }) else {
                let known = fields.map(\.key).sorted().joined(separator: ", ")
                issues.append(ConfigIssue(keyPath: here, line: keyNode.mark?.line, message: "unknown key (known here: \(known))"))
                continue
            }
            if value.null != nil { continue }  // as if absent
            let property = Yams.Node(field.property)
            guard let node = self.value(value, like: field.value, path: here) else { continue }
            if type.mergedKeys.contains(key), let old = merged[property]?.mapping, let new = node.mapping {
                var both = old
                for (k, v) in new { both[k] = v }
                merged[property] = .mapping(both)
            } else {
                merged[property] = node
            }
        }
        return .mapping(merged)
    }

    /// The node to decode for one key: a section laid over its defaults, a collection of sections
    /// each laid over theirs, or a leaf, decoded alone first so that a wrong type is named with its
    /// key; nil when it does not decode (the default stays).
    private mutating func value(_ node: Yams.Node, like value: Any, path: String) -> Yams.Node? {
        if let section = type(of: value) as? any ConfigSection.Type { return self.section(node, as: section, path: path) }
        if let collection = type(of: value) as? any SectionCollection.Type {
            if collection.isList {
                guard let list = node.sequence else { return mismatch(path, node, "expected a list") }
                return .sequence(.init(list.enumerated().map { section($1, as: collection.sectionType, path: "\(path)[\($0)]") }))
            }
            guard let entries = node.mapping else { return mismatch(path, node, "expected a mapping of names") }
            var out = Yams.Node.Mapping([])
            for (k, v) in entries { out[k] = section(v, as: collection.sectionType, path: YAMLConfig.joined([path, k.string ?? "?"])) }
            return .mapping(out)
        }
        if let named = type(of: value) as? any NamedValues.Type {
            guard let entries = node.mapping else { return mismatch(path, node, "expected a mapping of names") }
            var out = Yams.Node.Mapping([])
            for (k, v) in entries where decodes(v, as: named.valueType, path: YAMLConfig.joined([path, k.string ?? "?"])) { out[k] = v }
            return .mapping(out)
        }
        guard let leaf = type(of: value) as? any Decodable.Type else { return node }
        return decodes(node, as: leaf, path: path) ? node : nil
    }

    private mutating func mismatch(_ path: String, _ node: Yams.Node, _ message: String) -> Yams.Node? {
        issues.append(ConfigIssue(keyPath: path, line: node.mark?.line, message: message))
        return nil
    }

    /// Decodes `node` as `type` alone, under a key ledger for types with their own decoding (their
    /// unknown keys are found as before); notes what is wrong under `path`.
    private mutating func decodes<T: Decodable>(_ node: Yams.Node, as type: T.Type, path: String) -> Bool {
        let ledger = KeyLedger()
        do {
            _ = try KeyLedger.$current.withValue(ledger) { try YAMLDecoder().decode(T.self, from: node, userInfo: [:]) }
        } catch let error as DecodingError {
            var issue = YAMLConfig.issue(from: error)
            issue.keyPath = YAMLConfig.joined([path, issue.keyPath])
            issues.append(issue)
            return false
        } catch {
            issues.append(ConfigIssue(keyPath: path, message: "\(error)"))
            return false
        }
        let inner = YAMLConfig.unknownKeys(node, ledger: ledger, path: "")
        issues += inner.map { i in
            var i = i
            i.keyPath = YAMLConfig.joined([path, i.keyPath])
            return i
        }
        return inner.isEmpty
    }

    /// `value` encoded (its defaults), as a mapping from property names.
    static func encoded(_ value: some Encodable) -> Yams.Node.Mapping {
        guard let text = try? YAMLEncoder().encode(value), let node = try? Yams.compose(yaml: text), let mapping = node.mapping else {
            preconditionFailure("a config section's defaults did not encode as a mapping")
        }
        return mapping
    }
}

/// The keys that values with a decoding of their own read, by key path. One per value decoded
/// alone, reached through a task-local because `init(from:)` sees only its decoder.
final class KeyLedger: @unchecked Sendable {
    @TaskLocal static var current: KeyLedger?
    /// Mutated only inside the synchronous decode that owns this ledger.
    var read: [String: Set<String>] = [:]

    func note(_ key: String, in codingPath: [any CodingKey]) {
        read[YAMLConfig.keyPath(codingPath), default: []].insert(key)
    }
}

/// A coding key from a string, for the few values with a decoding of their own (a key that must be
/// there: `required("rate_hz")`).
public struct ConfigKey: CodingKey {
    public var stringValue: String
    public var intValue: Int? { nil }
    public init(stringValue: String) { self.stringValue = stringValue }
    public init?(intValue: Int) { nil }
}

extension KeyedDecodingContainer where K == ConfigKey {
    /// The value under `key`, which must be there. Makes `key` a known key here.
    public func required<T: Decodable>(_ key: String) throws -> T {
        KeyLedger.current?.note(key, in: codingPath)
        return try decode(T.self, forKey: ConfigKey(stringValue: key))
    }
}
