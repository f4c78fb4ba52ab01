import GPulseConfig
import GPulseCore

/// The `replay:` section: the SIMULATED fleet `gpulse-aggregator replay` runs traces on. The same
/// model serves every trace and every policy; nothing here is tuned per trace.
public struct ReplayConfig: ConfigSection, Sendable, Equatable {
    public var slaWaitS = 2.0
    public var slotsPerReplica = 8
    public var imageSlotsPerReplica = 1
    public var prefillTokensPerS = 4000.0
    public var decodeTokensPerS = 20.0
    public var rateServiceMeanS = 10.0
    public var checkpointIntervalS = 600.0
    public var drainLimitS = 3600
    public var warmupS = 300
    public var reversalWindowS = 300.0
    public var seed: UInt64 = 1

    public init() {}

    func problems() -> [(String, String)] {
        var out: [(String, String)] = []
        if !(slaWaitS >= 0) { out.append(("sla_wait_s", "must be at least 0")) }
        if !(1...1024).contains(slotsPerReplica) { out.append(("slots_per_replica", "must be 1 to 1024")) }
        if !(1...1024).contains(imageSlotsPerReplica) { out.append(("image_slots_per_replica", "must be 1 to 1024")) }
        if !(prefillTokensPerS > 0) { out.append(("prefill_tokens_per_s", "must be positive")) }
        if !(decodeTokensPerS > 0) { out.append(("decode_tokens_per_s", "must be positive")) }
        if !(rateServiceMeanS > 0) { out.append(("rate_service_mean_s", "must be positive")) }
        if !(checkpointIntervalS >= 0) { out.append(("checkpoint_interval_s", "must be at least 0 (0: a preempted request restarts from scratch)")) }
        if warmupS < 0 { out.append(("warmup_s", "must be at least 0")) }
        if drainLimitS < 0 { out.append(("drain_limit_s", "must be at least 0")) }
        if !(reversalWindowS > 0) { out.append(("reversal_window_s", "must be positive")) }
        return out
    }
}
