#if canImport(Glibc)
import Glibc
#endif

/// Why a key file cannot be used; the message says what to do.
public struct KeyFileError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(description: String) { self.description = description }
}

/// A CURVE key pair on disk, as `keygen` writes it: `public_key: <Z85>` and `secret_key: <Z85>` lines
/// (`#` comments allowed). The file must not be readable by group or others.
public enum KeyFile {
    /// `keygen` names the command that makes a missing file (`gpulse-agent keygen`), for the message.
    public static func load(path: String, keygen: String? = nil) throws(KeyFileError) -> CurveKeyPair {
        var info = stat()
        guard stat(path, &info) == 0 else {
            let reason = String(cString: strerror(errno))
            let hint = keygen.map {
                "; security.mode is curve (the default): make the key with `\($0) --out \(path)`, or run unencrypted with security.mode: plaintext or --plaintext"
            }
            throw KeyFileError(description: "cannot read key file \(path): \(reason)\(hint ?? "")")
        }
        let mode = info.st_mode & 0o777
        guard mode & 0o077 == 0 else {
            throw KeyFileError(
                description: "key file \(path) is readable by group or others (mode \(String(mode, radix: 8))); refusing to use a secret anyone on the host can read: chmod 600 \(path)")
        }
        guard let file = fopen(path, "r") else { throw KeyFileError(description: "cannot open key file \(path): \(String(cString: strerror(errno)))") }
        defer { fclose(file) }
        var text = ""
        var line = [CChar](repeating: 0, count: 512)
        while fgets(&line, Int32(line.count), file) != nil { text += String(cString: line) }
        let values = parse(text)
        guard let secret = values["secret_key"], let pair = CurveKeyPair(secretKey: secret) else {
            throw KeyFileError(description: "key file \(path) has no valid secret_key line (40 Z85 characters); make one with `keygen`")
        }
        if let publicKey = values["public_key"], publicKey != pair.publicKey {
            throw KeyFileError(description: "key file \(path): public_key is not the public half of secret_key")
        }
        return pair
    }

    /// The key pair a config's `security.secret_key_file` names, or, when it names none, the one at
    /// `<credentials directory>/<defaultName>` (systemd's $CREDENTIALS_DIRECTORY from LoadCredential=,
    /// else /etc/gpulse); returned with the path it came from.
    public static func load(
        configured: String, defaultName: String, credentialsDirectory: String?, keygen: String
    ) throws(KeyFileError) -> (CurveKeyPair, path: String) {
        let path = configured.isEmpty ? "\(credentialsDirectory ?? "/etc/gpulse")/\(defaultName)" : configured
        return (try load(path: path, keygen: keygen), path)
    }

    /// A fresh key pair written to `path` (see `write`), for `keygen`.
    public static func create(at path: String, comment: String) throws -> CurveKeyPair {
        let pair = try CurveKeyPair.generate()
        try write(pair, to: path, comment: comment)
        return pair
    }

    /// The file's `name: value` lines.
    static func parse(_ text: String) -> [String: String] {
        var out: [String: String] = [:]
        for raw in text.split(separator: "\n") {
            let line = raw.trimmingCharacters(in: " \t\r")
            guard !line.hasPrefix("#"), let colon = line.firstIndex(of: ":") else { continue }
            out[String(line[..<colon]).trimmingCharacters(in: " \t")] = String(line[line.index(after: colon)...]).trimmingCharacters(in: " \t\"")
        }
        return out
    }

    /// Writes a new pair to `path` with mode 0600 (refusing to overwrite), for `keygen`.
    public static func write(_ pair: CurveKeyPair, to path: String, comment: String) throws(KeyFileError) {
        let fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw KeyFileError(description: "cannot create \(path): \(String(cString: strerror(errno)))") }
        defer { close(fd) }
        let text = "# \(comment)\n# Secret: keep this file mode 0600. Give only public_key to the other side.\npublic_key: \(pair.publicKey)\nsecret_key: \(pair.secretKey)\n"
        let bytes = Array(text.utf8)
        guard Glibc.write(fd, bytes, bytes.count) == bytes.count, fsync(fd) == 0 else {
            throw KeyFileError(description: "cannot write \(path): \(String(cString: strerror(errno)))")
        }
    }
}

extension StringProtocol {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s.removeFirst() }
        while let l = s.last, set.contains(l) { s.removeLast() }
        return String(s)
    }
}
