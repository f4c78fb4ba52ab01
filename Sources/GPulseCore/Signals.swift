/// What a `Series` measures. Each kind fixes its unit (see proto/gpulse/v1/metrics.proto);
/// raw values are the protobuf enum numbers and never change.
public enum SignalKind: Int32, Sendable, CaseIterable, Hashable, Codable {
    case cpuUtil = 1
    case memUsedFrac = 2
    case netRxBps = 3
    case netTxBps = 4
    case gpuUtil = 5
    case gpuMemUsedFrac = 6
    case gpuMemUsedBytes = 7
    case gpuPowerW = 8
    case gpuSMClockMHz = 9
    case gpuPCIeRxBps = 10
    case gpuPCIeTxBps = 11
    case rttMs = 12
    case appLatencyMs = 13
    case appQueueDepth = 14
    case appRequestRate = 15
    case appBacklog = 16
    case cpuIOWait = 17
    case appRequestsRunning = 18
    case appCompletionRate = 19
    case appServiceTimeMs = 20
    case gpuTempC = 21
    case gpuClockEventReasons = 22
    case gpuXID = 23
    case gpuECCUncorrected = 24
    case gpuLost = 25
    case gpuRowRemapFailed = 26
    case gpuRowRemapPending = 27
    case appKVCacheUsage = 28
    case appTTFTMs = 29
    case appTTFTP95Ms = 30
    case appGeneratedTokensPerSecond = 31
    case gpuSMActive = 32
    case gpuSMOccupancy = 33
    case gpuTensorActive = 34
    case gpuDRAMBandwidthUtil = 35

    /// Values of these kinds are fractions and must lie in 0...1.
    public var isFraction: Bool {
        switch self {
        case .cpuUtil, .memUsedFrac, .gpuUtil, .gpuMemUsedFrac, .cpuIOWait, .appKVCacheUsage, .gpuSMActive, .gpuSMOccupancy, .gpuTensorActive,
            .gpuDRAMBandwidthUtil:
            true
        default: false
        }
    }

    /// The unit every value of this kind is in.
    public var unit: String {
        switch self {
        case .cpuUtil, .memUsedFrac, .gpuUtil, .gpuMemUsedFrac, .cpuIOWait, .appKVCacheUsage, .gpuSMActive, .gpuSMOccupancy, .gpuTensorActive,
            .gpuDRAMBandwidthUtil:
            "fraction"
        case .netRxBps, .netTxBps, .gpuPCIeRxBps, .gpuPCIeTxBps: "bytes/s"
        case .gpuMemUsedBytes: "bytes"
        case .gpuPowerW: "W"
        case .gpuSMClockMHz: "MHz"
        case .rttMs, .appLatencyMs, .appServiceTimeMs, .appTTFTMs, .appTTFTP95Ms: "ms"
        case .appQueueDepth, .appRequestsRunning: "requests"
        case .appRequestRate, .appCompletionRate: "requests/s"
        case .appBacklog: "work units"
        case .gpuTempC: "°C"
        case .gpuClockEventReasons: "bit mask"
        case .gpuXID: "XID code"
        case .gpuECCUncorrected: "errors"
        case .gpuLost, .gpuRowRemapFailed, .gpuRowRemapPending: "flag"
        case .appGeneratedTokensPerSecond: "tokens/s"
        }
    }

    /// The snake_case name used in logs, JSON and config files (matches the proto enum, lower-cased).
    public var name: String {
        switch self {
        case .cpuUtil: "cpu_util"
        case .memUsedFrac: "mem_used_frac"
        case .netRxBps: "net_rx_bps"
        case .netTxBps: "net_tx_bps"
        case .gpuUtil: "gpu_util"
        case .gpuMemUsedFrac: "gpu_mem_used_frac"
        case .gpuMemUsedBytes: "gpu_mem_used_bytes"
        case .gpuPowerW: "gpu_power_w"
        case .gpuSMClockMHz: "gpu_sm_clock_mhz"
        case .gpuPCIeRxBps: "gpu_pcie_rx_bps"
        case .gpuPCIeTxBps: "gpu_pcie_tx_bps"
        case .rttMs: "rtt_ms"
        case .appLatencyMs: "app_latency_ms"
        case .appQueueDepth: "app_queue_depth"
        case .appRequestRate: "app_request_rate"
        case .appBacklog: "app_backlog"
        case .cpuIOWait: "cpu_iowait"
        case .appRequestsRunning: "app_requests_running"
        case .appCompletionRate: "app_completion_rate"
        case .appServiceTimeMs: "app_service_time_ms"
        case .gpuTempC: "gpu_temp_c"
        case .gpuClockEventReasons: "gpu_clock_event_reasons"
        case .gpuXID: "gpu_xid"
        case .gpuECCUncorrected: "gpu_ecc_uncorrected"
        case .gpuLost: "gpu_lost"
        case .gpuRowRemapFailed: "gpu_row_remap_failed"
        case .gpuRowRemapPending: "gpu_row_remap_pending"
        case .appKVCacheUsage: "app_kv_cache_usage"
        case .appTTFTMs: "app_ttft_ms"
        case .appTTFTP95Ms: "app_ttft_p95_ms"
        case .appGeneratedTokensPerSecond: "app_generated_tokens_per_s"
        case .gpuSMActive: "gpu_sm_active"
        case .gpuSMOccupancy: "gpu_sm_occupancy"
        case .gpuTensorActive: "gpu_tensor_active"
        case .gpuDRAMBandwidthUtil: "gpu_dram_bw_util"
        }
    }
}

/// Where a node runs.
public enum Tier: Int32, Sendable, CaseIterable, Hashable, Codable {
    case unspecified = 0
    case cloud = 1
    case edge = 2
}

/// What kind of work a pool serves.
public enum WorkloadClass: Int32, Sendable, CaseIterable, Hashable, Codable {
    case unspecified = 0
    /// Latency-bound requests (interactive inference).
    case online = 1
    /// Throughput-bound jobs with a deadline.
    case batch = 2
}

extension Tier {
    /// Its name in logs, status and decisions (config files name it through GPulseConfig's words).
    public var name: String {
        switch self {
        case .unspecified: "unspecified"
        case .cloud: "cloud"
        case .edge: "edge"
        }
    }
}

extension WorkloadClass {
    /// Its name in logs, status and decisions (config files name it through GPulseConfig's words).
    public var name: String {
        switch self {
        case .unspecified: "unspecified"
        case .online: "online"
        case .batch: "batch"
        }
    }
}
