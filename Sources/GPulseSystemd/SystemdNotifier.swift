import CSystemd
#if canImport(Glibc)
import Glibc
#endif
import GPulseCore
import Logging
import ServiceLifecycle

/// Tells systemd how the service is doing (sd_notify(3) through libsystemd): READY=1 once the
/// sockets are bound and the loops run, STOPPING=1 when a graceful stop begins, STATUS= lines for
/// `systemctl status`, and WATCHDOG=1 keep-alives. Outside systemd (no $NOTIFY_SOCKET) every call is
/// a no-op, so the same binary runs by hand.
public struct SystemdNotifier: Sendable {
    public init() {}

    /// True when started by systemd with a notification socket (Type=notify).
    public var isActive: Bool { getenv("NOTIFY_SOCKET") != nil }

    public func ready(status: String) { send("READY=1\nSTATUS=\(status)") }
    public func stopping(status: String = "stopping") { send("STOPPING=1\nSTATUS=\(status)") }
    public func status(_ line: String) { send("STATUS=\(line)") }
    public func reloading() { send("RELOADING=1") }
    public func watchdog() { send("WATCHDOG=1") }

    /// The watchdog interval systemd expects keep-alives within (WatchdogSec=), nil when none is set.
    public var watchdogInterval: Duration? {
        var usec: UInt64 = 0
        guard sd_watchdog_enabled(0, &usec) > 0, usec > 0 else { return nil }
        return .microseconds(Int64(usec))
    }

    private func send(_ state: String) {
        guard isActive else { return }
        _ = sd_notify(0, state)
    }
}

/// Feeds the systemd watchdog only while the service's loop makes progress: every half interval it
/// asks `isHealthy` (a heartbeat check) and sends WATCHDOG=1 only when it says yes. A stalled
/// ingest or sampling loop therefore stops the keep-alives, and systemd restarts the service
/// (Restart=on-failure) instead of leaving a process that answers nothing.
public struct WatchdogService: Service {
    private let notifier: SystemdNotifier
    private let isHealthy: @Sendable () -> Health
    private let logger: Logger

    public init(notifier: SystemdNotifier = SystemdNotifier(), logger: Logger, isHealthy: @escaping @Sendable () -> Health) {
        self.notifier = notifier
        self.isHealthy = isHealthy
        self.logger = logger
    }

    public func run() async throws {
        guard let interval = notifier.watchdogInterval else {
            try? await gracefulShutdown()
            return
        }
        logger.info("systemd watchdog on", metadata: ["interval": "\(interval)", "keep_alive_every": "\(interval / 2)"])
        var starving = false
        while !Task.isShuttingDownGracefully && !Task.isCancelled {
            let health = isHealthy()
            if health.healthy {
                notifier.watchdog()
                if starving { logger.notice("loop progressing again; watchdog fed", metadata: ["detail": "\(health.detail)"]) }
                starving = false
            } else if !starving {
                starving = true
                logger.error("loop not progressing; withholding the systemd watchdog keep-alive", metadata: ["detail": "\(health.detail)"])
            }
            try? await cancelWhenGracefulShutdown { try await Task.sleep(for: interval / 2) }
        }
    }
}

