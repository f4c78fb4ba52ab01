import Foundation
import GPulseCore
import GPulseTransport

/// What an inference server pushes to the agent's report endpoint, one JSON object per ZeroMQ
/// message. Every field but `app` is optional; send what you have.
///
///     {"app": "vllm-0", "latency_ms": 182.5, "queue_depth": 7, "request_rate": 41.0, "running": 24,
///      "completion_rate": 39.5, "service_time_ms": 610, "backlog": 0}
///
/// `request_rate` (arrivals), `service_time_ms`, `queue_depth` and `running` are what the
/// aggregator's capacity planner sizes a pool from: they keep growing when the pool is short.
public struct AppReport: Codable, Sendable, Hashable {
    public var app: String
    /// Latency of one request (or a recent mean), milliseconds.
    public var latencyMs: Double?
    /// Requests waiting.
    public var queueDepth: Double?
    /// Requests per second arriving.
    public var requestRate: Double?
    /// Batch work outstanding, in the application's own units.
    public var backlog: Double?
    /// Requests being served now.
    public var running: Double?
    /// Requests per second finished.
    public var completionRate: Double?
    /// Mean service time of recent requests (start of service to end, queueing excluded), ms.
    public var serviceTimeMs: Double?

    enum CodingKeys: String, CodingKey {
        case app
        case latencyMs = "latency_ms"
        case queueDepth = "queue_depth"
        case requestRate = "request_rate"
        case backlog
        case running
        case completionRate = "completion_rate"
        case serviceTimeMs = "service_time_ms"
    }

    public init(
        app: String, latencyMs: Double? = nil, queueDepth: Double? = nil, requestRate: Double? = nil, backlog: Double? = nil, running: Double? = nil,
        completionRate: Double? = nil, serviceTimeMs: Double? = nil
    ) {
        self.app = app
        self.latencyMs = latencyMs
        self.queueDepth = queueDepth
        self.requestRate = requestRate
        self.backlog = backlog
        self.running = running
        self.completionRate = completionRate
        self.serviceTimeMs = serviceTimeMs
    }

    /// Decodes one report; nil for anything that is not a valid report (counted by the caller).
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> AppReport? {
        guard let report = try? JSONDecoder().decode(AppReport.self, from: Data(bytes)), !report.app.isEmpty, report.app.utf8.count <= 128 else {
            return nil
        }
        let values = [
            report.latencyMs, report.queueDepth, report.requestRate, report.backlog, report.running, report.completionRate, report.serviceTimeMs,
        ].compactMap { $0 }
        return values.allSatisfy({ $0.isFinite && $0 >= 0 }) ? report : nil
    }
}

/// Receives application reports on a local PULL socket (ipc:// by default) and turns them into
/// APP_* samples stamped with their arrival time. Event-driven: a thread of its own sleeps in
/// zmq_poll until a report comes, stamps and queues it, so the group's tick only drains the queue
/// and runs as often as the publisher needs (10 Hz by default) instead of polling the socket at 100 Hz
/// for timestamps' sake. Invalid reports are counted, never sent.
public final class AppReportSampler: Sampler {
    public let name = "app_reports"
    public let endpoint: String
    private let receiver: ReportReceiver
    private let signals: SignalTable
    private var ids: [String: AppSignals] = [:]
    private var drained: [ReportReceiver.Arrival] = []
    private var acceptedHere: UInt64 = 0
    private var refusedHere: UInt64 = 0

    /// The signal of each report field for one app.
    struct AppSignals {
        var latency, queue, rate, backlog, running, completions, service: SignalID
    }
    /// Reports turned into samples.
    public var accepted: UInt64 { acceptedHere }
    /// Reports that were not valid, came from a 257th app, or found the queue full.
    public var rejected: UInt64 { receiver.rejected + refusedHere }
    public var rejectedInputs: UInt64 { rejected }

    /// Binds `endpoint` now, so a bad path fails the agent's start, and starts the receiving thread,
    /// which alone uses the socket from then on.
    public init(endpoint: String, context: ZMQContext, signals: SignalTable) throws(ZMQError) {
        self.endpoint = endpoint
        self.signals = signals
        let socket = try ZMQSocket(context: context, type: .pull)
        try socket.set([.lingerMilliseconds(0), .maxMessageBytes(64 << 10), .receiveHighWaterMark(10_000)])
        try socket.bind(endpoint)
        receiver = ReportReceiver(socket: socket)
        drained.reserveCapacity(64)
    }

    deinit { receiver.stop() }

    /// Stops the receiving thread and closes the socket.
    public func shutdown() { receiver.stop() }

    public func sample(into sink: inout SampleSink) throws {
        drained.removeAll(keepingCapacity: true)
        receiver.drain(into: &drained)
        for arrival in drained {
            let report = arrival.report
            let now = arrival.atNanos
            guard let id = signalIDs(report.app) else {
                refusedHere += 1
                continue
            }
            acceptedHere += 1
            if let v = report.latencyMs { sink.emit(id.latency, Float(v), at: now) }
            if let v = report.queueDepth { sink.emit(id.queue, Float(v), at: now) }
            if let v = report.requestRate { sink.emit(id.rate, Float(v), at: now) }
            if let v = report.backlog { sink.emit(id.backlog, Float(v), at: now) }
            if let v = report.running { sink.emit(id.running, Float(v), at: now) }
            if let v = report.completionRate { sink.emit(id.completions, Float(v), at: now) }
            if let v = report.serviceTimeMs { sink.emit(id.service, Float(v), at: now) }
        }
    }

    /// Nil past 256 distinct apps: a reporter cycling through names must not grow the tables without limit.
    private func signalIDs(_ app: String) -> AppSignals? {
        if let known = ids[app] { return known }
        guard ids.count < 256 else { return nil }
        let made = AppSignals(
            latency: signals.id(.appLatencyMs, subject: app), queue: signals.id(.appQueueDepth, subject: app),
            rate: signals.id(.appRequestRate, subject: app), backlog: signals.id(.appBacklog, subject: app),
            running: signals.id(.appRequestsRunning, subject: app), completions: signals.id(.appCompletionRate, subject: app),
            service: signals.id(.appServiceTimeMs, subject: app))
        ids[app] = made
        return made
    }
}

/// The thread that waits on the report socket: it parses each report as it arrives, stamps it with
/// the monotonic clock and queues it until the sampler drains it. Reports that do not parse, or find
/// the queue full, are counted as rejected.
final class ReportReceiver: Sendable {
    struct Arrival: Sendable {
        var report: AppReport
        var atNanos: UInt64
    }
    /// As many as the socket's receive high-water mark: a group tick missed for a second at 10,000
    /// reports a second loses nothing.
    static let capacity = 10_000

    private let queue = EventQueue<Arrival>(capacity: ReportReceiver.capacity)
    private let thread: WorkerThread

    /// `socket` is used by the receiving thread alone from here on, and closed by it when it stops.
    init(socket: ZMQSocket) {
        let owned = Handoff(socket)
        let queue = self.queue
        thread = WorkerThread(name: "gpulse-app-rx") { me in
            let socket = owned.take()
            defer { socket.close() }
            var buffer = MessageBuffer(reservingCapacity: 4096)
            while !me.shouldStop {
                do {
                    // A quarter second at most between looks at the stop flag (what stopping waits
                    // at most); no wake-up while no report comes.
                    guard try socket.waitReadable(timeoutMilliseconds: 250) else { continue }
                    // What is waiting, bounded, so the stop flag is looked at during a flood too.
                    for _ in 0..<1000 {
                        guard try socket.receive(into: &buffer, blocking: false) else { break }
                        let now = SystemClock.monotonicNanos()
                        if buffer.frameCount == 1, let report = buffer.withFrame(0, { AppReport.parse($0) }) {
                            queue.push(Arrival(report: report, atNanos: now))
                        } else {
                            queue.countDropped()
                        }
                    }
                } catch {
                    // A socket error is not a report; paced so that a failing socket cannot spin.
                    SystemClock.sleep(milliseconds: 100)
                }
            }
        }
    }

    var rejected: UInt64 { queue.dropped }

    func drain(into out: inout [Arrival]) { queue.drain(into: &out) }

    /// Stops and joins the thread (which closes the socket). Safe to call more than once.
    func stop() {
        thread.stop()
        thread.join()
    }
}
