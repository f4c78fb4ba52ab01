/// The `health:` section: which GPU reports take a node's capacity out of its pool, and for how long.
public struct HealthSettings: Sendable, Hashable {
    /// XIDs that say an application failed, not the GPU: NVIDIA's Kubernetes device plugin skips
    /// these five (graphics engine exception, GPU memory page fault, GPU stopped processing,
    /// preemptive cleanup, video processor exception) and so does gpulse by default.
    public static let applicationXIDs: Set<Int> = [13, 31, 43, 45, 68]
    public static let maxIgnoredXIDs = 1024

    /// Critical XIDs that do not make a node unhealthy (`health.ignored_xids`).
    public var ignoredXIDs: Set<Int>
    /// A node is healthy again after this long without a fault report (`health.recover_after_s`).
    public var recoverAfterSeconds: Double

    public init(ignoredXIDs: Set<Int> = HealthSettings.applicationXIDs, recoverAfterSeconds: Double = 300) {
        self.ignoredXIDs = ignoredXIDs
        self.recoverAfterSeconds = recoverAfterSeconds
    }
}

/// A GPU fault that makes a node unhealthy.
public enum GPUFault: Sendable, Hashable, Codable {
    /// A critical XID the driver reported (not one of `ignoredXIDs`).
    case xid(Int)
    /// NVML answered that the GPU is lost (fallen off the bus).
    case lost
    /// Its uncorrected ECC count rose by this many.
    case uncorrectedECC(rose: Int)
    /// A row remapping failed: memory the GPU cannot repair any more.
    case rowRemapFailed

    public var description: String {
        switch self {
        case .xid(let code): "XID \(code)"
        case .lost: "GPU lost (NVML_ERROR_GPU_IS_LOST)"
        case .uncorrectedECC(let rose): "uncorrected ECC errors +\(rose)"
        case .rowRemapFailed: "row remapping failed"
        }
    }
}

/// Whether a node's GPUs let it serve, from the faults its agent reports (signal kinds GPU_XID,
/// GPU_LOST, GPU_ECC_UNCORRECTED, GPU_ROW_REMAP_FAILED). A fault makes the node unhealthy at once;
/// it is healthy again after `recoverAfterSeconds` without one. A pure value: `Fleet` feeds it each
/// batch's health series and asks it at every refresh.
public struct NodeHealth: Sendable, Hashable, Codable {
    /// The latest fault and its GPU while unhealthy; nil while healthy.
    public private(set) var fault: GPUFault?
    public private(set) var gpu = ""
    /// When it became unhealthy (aggregator clock).
    public private(set) var sinceNanos: Int64 = 0
    /// The latest fault report.
    public private(set) var lastFaultNanos: Int64 = 0
    /// Times it became unhealthy.
    public private(set) var episodes: UInt64 = 0
    /// Changed since the last `takeChange()`: the refresh announces it.
    private var changed = false
    /// The last uncorrected ECC count per GPU, to see it rise (the agent sends the running total).
    private var eccCounts: [String: Float] = [:]
    /// GPUs whose ECC count is followed, at most (a node has a handful; a hostile agent may send more subjects).
    static let maxGPUs = 64

    public init() {}

    public var isHealthy: Bool { fault == nil }

    /// "GPU-… XID 79" while unhealthy, "" while healthy.
    public var reason: String { fault.map { "\(gpu) \($0.description)" } ?? "" }

    /// Reads one health series of a batch (`kind` is one of the health kinds; others are ignored).
    mutating func observe(kind: SignalKind, subject: borrowing String, values: borrowing [Float], nowNanos: Int64, settings: HealthSettings) {
        switch kind {
        case .gpuXID:
            for i in values.indices {
                let v = values[i]
                // Bounded before the conversion: a finite but huge float would trap in Int().
                let code = v < 1e9 ? Int(v) : -1
                if !settings.ignoredXIDs.contains(code) { record(.xid(code), gpu: subject, nowNanos: nowNanos) }
            }
        case .gpuLost:
            if values.contains(where: { $0 >= 0.5 }) { record(.lost, gpu: subject, nowNanos: nowNanos) }
        case .gpuRowRemapFailed:
            if values.contains(where: { $0 >= 0.5 }) { record(.rowRemapFailed, gpu: subject, nowNanos: nowNanos) }
        case .gpuECCUncorrected:
            guard let newest = values.last else { return }
            let key = copy subject
            if let before = eccCounts[key] {
                // A count that fell is a driver reload (the volatile count restarts): a new baseline.
                if newest > before { record(.uncorrectedECC(rose: Int(min(newest - before, 1e15))), gpu: subject, nowNanos: nowNanos) }
                eccCounts[key] = newest
            } else if eccCounts.count < Self.maxGPUs {
                // First sight (a new node, or this aggregator restarted): a baseline, not a rise.
                eccCounts[key] = newest
            }
        default:
            break
        }
    }

    private mutating func record(_ fault: GPUFault, gpu: borrowing String, nowNanos: Int64) {
        if self.fault == nil {
            sinceNanos = nowNanos
            episodes += 1
            changed = true
        }
        self.fault = fault
        self.gpu = copy gpu
        lastFaultNanos = max(lastFaultNanos, nowNanos)
    }

    /// At a refresh: recovers after `recoverAfterSeconds` without a fault, and returns whether the
    /// state changed since the last call (became unhealthy, or recovered).
    mutating func takeChange(nowNanos: Int64, settings: HealthSettings) -> Bool {
        if fault != nil, Double(nowNanos.subtractingSaturating(lastFaultNanos)) / 1e9 >= settings.recoverAfterSeconds {
            fault = nil
            gpu = ""
            changed = true
        }
        defer { changed = false }
        return changed
    }

    private enum CodingKeys: String, CodingKey { case fault, gpu, sinceNanos, lastFaultNanos, episodes, eccCounts }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        fault = try c.decodeIfPresent(GPUFault.self, forKey: .fault)
        gpu = try c.decode(String.self, forKey: .gpu)
        sinceNanos = try c.decode(Int64.self, forKey: .sinceNanos)
        lastFaultNanos = try c.decode(Int64.self, forKey: .lastFaultNanos)
        episodes = try c.decode(UInt64.self, forKey: .episodes)
        let counts = try c.decode([String: Float].self, forKey: .eccCounts)
        // A snapshot is hostile input like any other: bounded, and only finite counts.
        guard counts.count <= Self.maxGPUs, counts.values.allSatisfy({ $0.isFinite && $0 >= 0 }) else {
            throw DecodingError.dataCorruptedError(forKey: .eccCounts, in: c, debugDescription: "more than \(Self.maxGPUs) GPUs or a bad count")
        }
        eccCounts = counts
        // A restarted aggregator says again which nodes are unhealthy: its subscribers may be new too.
        changed = fault != nil
    }
}

extension SignalKind {
    /// The kinds `NodeHealth` reads.
    @inline(__always) var isHealthFault: Bool {
        switch self {
        case .gpuXID, .gpuLost, .gpuECCUncorrected, .gpuRowRemapFailed: true
        default: false
        }
    }
}

/// A node becoming unhealthy or healthy again, to be logged and published as a node event.
public struct HealthChange: Sendable, Hashable {
    public var nodeID: String
    public var pool: String
    public var site: String
    public var healthy: Bool
    /// What was reported (unhealthy), or what it recovered from.
    public var reason: String
    public var atNanos: Int64
}
