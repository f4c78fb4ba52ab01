import Foundation
import GPulseCore
import GPulseTransport

/// What an inference server pushes to the agent's report endpoint, one JSON object per ZeroMQ
/// message. Every field but `app` is optional; send what you have.
///
///     {"app": "vllm-0", "latency_ms": 182.5, "queue_depth": 7, "request_rate": 41.0, "backlog": 0}
public struct AppReport: Codable, Sendable, Hashable {
    public var app: String
    /// Latency of one request (or a recent mean), milliseconds.
    public var latencyMs: Double?
    /// Requests waiting.
    public var queueDepth: Double?
    /// Requests per second admitted.
    public var requestRate: Double?
    /// Batch work outstanding, in the application's own units.
    public var backlog: Double?

    enum CodingKeys: String, CodingKey {
        case app
        case latencyMs = "latency_ms"
        case queueDepth = "queue_depth"
        case requestRate = "request_rate"
        case backlog
    }

    public init(app: String, latencyMs: Double? = nil, queueDepth: Double? = nil, requestRate: Double? = nil, backlog: Double? = nil) {
        self.app = app
        self.latencyMs = latencyMs
        self.queueDepth = queueDepth
        self.requestRate = requestRate
        self.backlog = backlog
    }

    /// Decodes one report; nil for anything that is not a valid report (counted by the caller).
    public static func parse(_ bytes: UnsafeRawBufferPointer) -> AppReport? {
        guard let report = try? JSONDecoder().decode(AppReport.self, from: Data(bytes)), !report.app.isEmpty, report.app.utf8.count <= 128 else {
            return nil
        }
        let values = [report.latencyMs, report.queueDepth, report.requestRate, report.backlog].compactMap { $0 }
        return values.allSatisfy({ $0.isFinite && $0 >= 0 }) ? report : nil
    }
}

/// Receives application reports on a local PULL socket (ipc:// by default) and turns them into
/// APP_* samples stamped with their arrival time. Invalid reports are counted, never sent.
public final class AppReportSampler: Sampler {
    public let name = "app_reports"
    public let endpoint: String
    private let socket: ZMQSocket
    private let signals: SignalTable
    private var buffer = MessageBuffer(reservingCapacity: 4096)
    private var ids: [String: (latency: SignalID, queue: SignalID, rate: SignalID, backlog: SignalID)] = [:]
    public private(set) var accepted: UInt64 = 0
    public private(set) var rejected: UInt64 = 0
    public var rejectedInputs: UInt64 { rejected }

    /// Binds `endpoint` now, so a bad path fails the agent's start. The socket is then used only by the
    /// sampling thread that runs this sampler.
    public init(endpoint: String, context: ZMQContext, signals: SignalTable) throws(ZMQError) {
        self.endpoint = endpoint
        self.signals = signals
        socket = try ZMQSocket(context: context, type: .pull)
        try socket.set([.lingerMilliseconds(0), .maxMessageBytes(64 << 10), .receiveHighWaterMark(10_000)])
        try socket.bind(endpoint)
    }

    deinit { socket.close() }

    public func sample(into sink: inout SampleSink) throws {
        // Drain what is waiting, bounded so one flood cannot stall the group's other samplers.
        for _ in 0..<10_000 {
            guard try socket.receive(into: &buffer, blocking: false) else { return }
            let now = SystemClock.monotonicNanos()
            guard buffer.frameCount == 1, let report = buffer.withFrame(0, { AppReport.parse($0) }),
                  let id = signalIDs(report.app)
            else {
                rejected += 1
                continue
            }
            accepted += 1
            if let v = report.latencyMs { sink.emit(id.latency, Float(v), at: now) }
            if let v = report.queueDepth { sink.emit(id.queue, Float(v), at: now) }
            if let v = report.requestRate { sink.emit(id.rate, Float(v), at: now) }
            if let v = report.backlog { sink.emit(id.backlog, Float(v), at: now) }
        }
    }

    /// Nil past 256 distinct apps: a reporter cycling through names must not grow the tables without limit.
    private func signalIDs(_ app: String) -> (latency: SignalID, queue: SignalID, rate: SignalID, backlog: SignalID)? {
        if let known = ids[app] { return known }
        guard ids.count < 256 else { return nil }
        let made = (
            signals.id(.appLatencyMs, subject: app), signals.id(.appQueueDepth, subject: app),
            signals.id(.appRequestRate, subject: app), signals.id(.appBacklog, subject: app)
        )
        ids[app] = made
        return made
    }
}
