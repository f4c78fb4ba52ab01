import GPulseCore

/// Groups drained samples into the series of one `MetricsBatch`. Pure apart from the signal table,
/// so its timestamps and grouping are tested directly.
public struct BatchBuilder: Sendable {
    public var labels: NodeLabels
    public let session: UInt64
    public var agentVersion: String
    private let signals: SignalTable

    public init(labels: NodeLabels, session: UInt64, signals: SignalTable, agentVersion: String) {
        self.labels = labels
        self.session = session
        self.signals = signals
        self.agentVersion = agentVersion
    }

    /// - Parameters:
    ///   - samples: oldest first, stamped with CLOCK_MONOTONIC.
    ///   - wallMinusMonotonic: CLOCK_REALTIME - CLOCK_MONOTONIC now, to place samples on the wall clock.
    ///   - fallbackT0: wall time to use when there are no samples.
    public func build(
        samples: [Sample], seq: UInt64, droppedSamples: UInt64, probeLosses: [ProbeLoss] = [], wallMinusMonotonic: Int64,
        fallbackT0: Int64
    ) -> MetricsBatch {
        let t0Mono = samples.map(\.monotonicNanos).min()
        var order: [SignalID] = []
        var bySignal: [SignalID: Series] = [:]
        for s in samples {
            if bySignal[s.signal] == nil {
                guard let entry = signals.entry(s.signal) else { continue }
                bySignal[s.signal] = Series(kind: entry.kind, subject: entry.subject)
                order.append(s.signal)
            }
            let offset = (s.monotonicNanos - (t0Mono ?? s.monotonicNanos)) / 1000
            bySignal[s.signal]!.offsetsMicros.append(UInt32(clamping: offset))
            bySignal[s.signal]!.values.append(s.value)
        }
        let t0 = t0Mono.map { Int64(bitPattern: $0) &+ wallMinusMonotonic } ?? fallbackT0
        return MetricsBatch(
            labels: labels, session: session, seq: seq, t0UnixNanos: t0, series: order.map { bySignal[$0]! },
            droppedSamples: droppedSamples, probeLosses: probeLosses, agentVersion: agentVersion)
    }
}
