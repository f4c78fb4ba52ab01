#if canImport(Glibc)
import Glibc
#endif

/// A process environment variable; nil when unset or empty (systemd sets STATE_DIRECTORY,
/// CREDENTIALS_DIRECTORY and NOTIFY_SOCKET; operators set the GPULSE_* overrides).
public func environmentValue(_ name: String) -> String? {
    guard let value = getenv(name) else { return nil }
    let text = String(cString: value)
    return text.isEmpty ? nil : text
}
