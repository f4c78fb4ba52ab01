/// Which GPU reading stands for U_gpu in the load index.
public enum GPUSignal: String, Sendable, Hashable, CaseIterable {
    /// NVML's utilization: the share of time some kernel ran. It reads 100 % long before the GPU is full.
    case utilization
    case memory
    /// max(busy, memory fraction) per GPU, where busy is GPM's SM activity when the GPU reports it
    /// (Hopper and newer) and NVML utilization otherwise: a GPU full of memory is busy even when idle.
    case max
    /// GPM's SM activity, or NVML utilization for a GPU without GPM.
    case smActive = "sm_active"
}

/// L = α·U_gpu + β·U_cpu + γ·D_net (docs/aggregator.md), with D_net = min(1, rtt / latency_ref).
public struct LoadIndexSettings: Sendable, Hashable {
    public var alpha: Double
    public var beta: Double
    public var gamma: Double
    public var gpuSignal: GPUSignal
    /// The RTT at which the network term saturates.
    public var latencyRefMs: Double

    public init(alpha: Double = 0.6, beta: Double = 0.3, gamma: Double = 0.1, gpuSignal: GPUSignal = .max, latencyRefMs: Double = 100) {
        self.alpha = alpha
        self.beta = beta
        self.gamma = gamma
        self.gpuSignal = gpuSignal
        self.latencyRefMs = latencyRefMs
    }

    /// The settings `problems()` can name.
    public enum Setting: Sendable, Hashable, CaseIterable { case alpha, beta, gamma, latencyRef }

    /// What is out of range: weights must be non-negative and sum to 1.
    public func problems() -> [SettingProblem<Setting>] {
        var out: [SettingProblem<Setting>] = []
        for (setting, w) in [(Setting.alpha, alpha), (.beta, beta), (.gamma, gamma)] where !(w >= 0 && w.isFinite) {
            out.append(.init(setting, "must be a non-negative number, got \(w)"))
        }
        let sum = alpha + beta + gamma
        if abs(sum - 1) > 1e-9 {
            out.append(.init(.alpha, "the three weights must sum to 1, got \(alpha) + \(beta) + \(gamma) = \(sum)"))
        }
        if !(latencyRefMs > 0 && latencyRefMs.isFinite) { out.append(.init(.latencyRef, "must be a positive number of milliseconds, got \(latencyRefMs)")) }
        return out
    }

    /// The load index of one node, or nil when none of its inputs is present.
    ///
    /// With several GPUs, U_gpu is the mean over them of the chosen per-GPU signal (a node with half
    /// its GPUs busy is half loaded, in replica units). A missing input drops its term and the other
    /// weights are renormalised, so a CPU-only node is judged on CPU and network rather than read as
    /// a node with idle GPUs.
    public func loadIndex(_ inputs: NodeInputs) -> Double? {
        var weighted = 0.0
        var weights = 0.0
        if let gpu = gpuTerm(inputs) {
            weighted += alpha * gpu
            weights += alpha
        }
        if let cpu = inputs.cpuUtil {
            weighted += beta * clamp(cpu)
            weights += beta
        }
        if let rtt = inputs.rttMs {
            weighted += gamma * min(1, max(0, rtt) / latencyRefMs)
            weights += gamma
        }
        return weights > 0 ? weighted / weights : nil
    }

    func gpuTerm(_ inputs: NodeInputs) -> Double? {
        var sum = 0.0
        var n = 0
        for gpu in inputs.gpus {
            let value: Double? =
                switch gpuSignal {
                case .utilization: gpu.utilization
                case .memory: gpu.memoryFraction
                case .max: gpu.busy.map { u in gpu.memoryFraction.map { max(u, $0) } ?? u } ?? gpu.memoryFraction
                case .smActive: gpu.busy
                }
            if let value {
                sum += clamp(value)
                n += 1
            }
        }
        return n > 0 ? sum / Double(n) : nil
    }

    private func clamp(_ v: Double) -> Double { min(1, max(0, v)) }
}

/// One node's inputs to the load index over the load window; nil = not reported.
public struct NodeInputs: Sendable, Hashable {
    public struct GPU: Sendable, Hashable {
        public var uuid: String
        public var utilization: Double?
        public var memoryFraction: Double?
        /// GPM's share of SMs busy (Hopper and newer); nil without GPM.
        public var smActive: Double?
        public init(uuid: String, utilization: Double? = nil, memoryFraction: Double? = nil, smActive: Double? = nil) {
            self.uuid = uuid
            self.utilization = utilization
            self.memoryFraction = memoryFraction
            self.smActive = smActive
        }

        /// SM activity where the GPU has GPM, else NVML utilization.
        var busy: Double? { smActive ?? utilization }
    }
    public var gpus: [GPU]
    public var cpuUtil: Double?
    /// The worst (largest) mean RTT over the node's probe targets.
    public var rttMs: Double?

    public init(gpus: [GPU] = [], cpuUtil: Double? = nil, rttMs: Double? = nil) {
        self.gpus = gpus
        self.cpuUtil = cpuUtil
        self.rttMs = rttMs
    }
}
