import GPulseAgent
import Testing

@Suite struct UpdatePeriodTests {
    private let ms: UInt64 = 1_000_000

    @Test func sourceStampedReadingsAreSpacedByTheirOwnTimestamps() {
        // NVML utilization drained at 1 Hz: six driver samples 1/6 s apart in one drain, repeated values included.
        let drained = (0..<6).map { UpdatePeriod.Reading(nanos: UInt64($0) * 166 * ms, value: 0.5, sourceStamped: true) }
        let p = UpdatePeriod.estimate(drained)
        #expect(p?.basis == .sourceTimestamps && p?.milliseconds == 166)
    }

    @Test func tickStampedReadingsAreSpacedByTheirChanges() {
        // Sampled every 2 ms, the value moves every 10 ms (a procfs tick): the period is 10 ms, not 2.
        let ticks = (0..<50).map { i in UpdatePeriod.Reading(nanos: UInt64(i) * 2 * ms, value: Float(i / 5), sourceStamped: false) }
        let p = UpdatePeriod.estimate(ticks)
        #expect(p?.basis == .valueChanges && p?.milliseconds == 10)
    }

    @Test func aSteadyOrSingleReadingHasNoPeriod() {
        #expect(UpdatePeriod.estimate((0..<20).map { .init(nanos: UInt64($0) * ms, value: 7, sourceStamped: false) }) == nil)
        #expect(UpdatePeriod.estimate([.init(nanos: 5, value: 1, sourceStamped: true)]) == nil)
        // One change only: no spacing to measure.
        #expect(UpdatePeriod.estimate([.init(nanos: 0, value: 1, sourceStamped: false), .init(nanos: ms, value: 2, sourceStamped: false)]) == nil)
    }
}
