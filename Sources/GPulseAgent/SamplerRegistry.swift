import GPulseCore
import GPulseTransport
import Logging

/// Samplers that run together on one thread at one rate.
public struct SamplerGroup {
    public var name: String
    public var rateHz: Double
    public var samplers: [any Sampler]
}

/// Builds the enabled samplers from the config and sorts them into their groups. A sampler that cannot
/// start (no NVML on this host, an unreadable procfs file) is left out with one clear log line; the
/// others carry on.
public struct SamplerRegistry {
    public private(set) var groups: [SamplerGroup] = []
    /// One line per sampler left out or limited, and why (also logged).
    public private(set) var notes: [String] = []
    /// Kept open while the samplers that use it live.
    public private(set) var nvml: NVMLLibrary?
    public let probeLosses = ProbeLossCounter()

    public init(config: AgentConfig, context: ZMQContext, signals: SignalTable, logger: Logger) {
        let s = config.samplers
        let proc = config.procfsRoot
        func add(_ sampler: any Sampler, to group: String) {
            if let i = groups.firstIndex(where: { $0.name == group }) {
                groups[i].samplers.append(sampler)
            } else {
                groups.append(SamplerGroup(name: group, rateHz: config.groups[group]?.rateHz ?? 1, samplers: [sampler]))
            }
        }
        func note(_ line: String, _ metadata: Logger.Metadata = [:]) {
            notes.append(line)
            logger.warning("\(line)", metadata: metadata)
        }

        if s.cpu.enabled {
            do { add(try CPUSampler(procRoot: proc, perCore: s.cpu.perCore, signals: signals), to: s.cpu.group) }
            catch { note("cpu sampler disabled: \(error)") }
        }
        if s.memory.enabled {
            do { add(try MemorySampler(procRoot: proc, signals: signals), to: s.memory.group) }
            catch { note("memory sampler disabled: \(error)") }
        }
        if s.network.enabled {
            do { add(try NetworkSampler(procRoot: proc, interfaces: s.network.interfaces, signals: signals), to: s.network.group) }
            catch { note("network sampler disabled: \(error)") }
        }
        if s.gpu.enabled {
            do {
                let library = try NVMLLibrary(path: s.gpu.library)
                let devices = try library.devices()
                nvml = library
                logger.info(
                    "NVML loaded",
                    metadata: [
                        "library": "\(s.gpu.library)", "driver": "\(library.driverVersion ?? "unknown")", "gpus": "\(devices.count)",
                        "devices": "\(devices.map { "\($0.index):\($0.name):\($0.uuid)\($0.migEnabled == true ? ":MIG" : "")" }.joined(separator: ","))",
                    ])
                if devices.isEmpty {
                    note("gpu samplers idle: NVML sees no GPU on this host")
                } else {
                    add(GPUMemorySampler(devices: devices, signals: signals), to: s.gpu.memoryGroup)
                    let utilization = GPUUtilizationSampler(devices: devices, signals: signals)
                    for u in utilization.unsupported { note("gpu utilization not available for \(u.uuid): \(u.reason)") }
                    if !utilization.isEmpty { add(utilization, to: s.gpu.utilizationGroup) }
                    add(GPUFieldsSampler(devices: devices, signals: signals), to: s.gpu.fieldsGroup)
                    if s.gpu.gpm {
                        let gpm = GPUGPMSampler(devices: devices, signals: signals)
                        for u in gpm.unsupported { note("gpu GPM counters not available for \(u.uuid): \(u.reason)") }
                        if !gpm.isEmpty {
                            add(gpm, to: s.gpu.gpmGroup)
                            logger.notice(
                                "GPM counters read: gpu_sm_active, gpu_sm_occupancy, gpu_tensor_active, gpu_dram_bw_util; the aggregator's load index takes SM activity in place of utilization for these GPUs (load_index.gpu_signal max or sm_active)",
                                metadata: ["gpus": "\(gpm.count)", "group": "\(s.gpu.gpmGroup)"])
                        }
                    }
                    if s.gpu.health {
                        let health = GPUHealthSampler(devices: devices, signals: signals, logger: logger)
                        add(health, to: s.gpu.healthGroup)
                    }
                }
            } catch {
                note("gpu samplers disabled: \(error); the other samplers carry on")
            }
        }
        if s.rtt.enabled {
            let targets = s.rtt.targets.compactMap(ProbeTarget.init)
            add(RTTProbeSampler(targets: targets, timeoutMilliseconds: Int32(s.rtt.timeoutMs), losses: probeLosses, signals: signals), to: s.rtt.group)
        }
        for e in s.engines {
            guard let url = PageURL(e.url) else { continue }  // validate() names it
            add(
                EngineSampler(
                    engine: e.name, url: url, metrics: e.resolvedMetrics, timeoutMilliseconds: e.timeoutMs, maxPageBytes: e.maxPageBytes,
                    signals: signals, logger: logger),
                to: e.group)
        }
        if s.appReports.enabled {
            do { add(try AppReportSampler(endpoint: s.appReports.endpoint, context: context, signals: signals), to: s.appReports.group) }
            catch { note("app_reports sampler disabled: cannot bind \(s.appReports.endpoint): \(error)") }
        }
    }

    public var samplerNames: [String] { groups.flatMap { g in g.samplers.map { "\($0.name)@\(g.name)" } } }

    /// Why this agent should not start although the config parsed: nothing samples at all, or the
    /// host samplers that were asked for all failed (an empty or wrong `procfs_root`), which would
    /// leave the node's load index without its CPU term while it reports healthy. nil when fine.
    public func startProblem(config: AgentConfig) -> String? {
        let host = [("cpu", config.samplers.cpu.enabled), ("memory", config.samplers.memory.enabled), ("network", config.samplers.network.enabled)]
            .filter(\.1).map(\.0)
        let running = Set(groups.flatMap { $0.samplers.map(\.name) })
        if !host.isEmpty && !host.contains(where: running.contains) {
            return "no host sampler could start (\(host.joined(separator: ", ")) asked for; procfs_root is '\(config.procfsRoot)'): "
                + notes.joined(separator: "; ")
        }
        if groups.isEmpty { return "no sampler is running: " + (notes.isEmpty ? "every sampler is disabled in the config" : notes.joined(separator: "; ")) }
        return nil
    }
}
