import GPulseCore

/// Per GPU with GPM (Hopper and newer): SM activity, SM occupancy, tensor activity and DRAM bandwidth
/// utilization, each a fraction over the interval since the sampler's previous run. Unlike NVML's
/// utilization (a kernel ran at some point in the period), these keep rising while the GPU has room.
/// GPUs without GPM are left out, each said once (`unsupported`).
public final class GPUGPMSampler: Sampler {
    public let name = "gpu_gpm"
    private let readers: [(reader: NVMLGPMReader, active: SignalID, occupancy: SignalID, tensor: SignalID, dram: SignalID)]
    public private(set) var unsupported: [(uuid: String, reason: String)] = []

    public init(devices: [NVMLDevice], signals: SignalTable) {
        var readers: [(NVMLGPMReader, SignalID, SignalID, SignalID, SignalID)] = []
        for d in devices {
            do {
                readers.append(
                    (
                        try NVMLGPMReader(device: d), signals.id(.gpuSMActive, subject: d.uuid), signals.id(.gpuSMOccupancy, subject: d.uuid),
                        signals.id(.gpuTensorActive, subject: d.uuid), signals.id(.gpuDRAMBandwidthUtil, subject: d.uuid)
                    ))
            } catch {
                unsupported.append((d.uuid, "\(error)"))
            }
        }
        self.readers = readers
    }

    public var isEmpty: Bool { readers.isEmpty }

    /// Frees the GPM sample buffers before NVML is closed.
    public func shutdown() { for r in readers { r.reader.release() } }
    /// GPUs read.
    public var count: Int { readers.count }

    public func sample(into sink: inout SampleSink) throws {
        var firstError: NVMLError?
        for r in readers {
            do {
                guard let reading = try r.reader.read() else { continue }
                if let v = reading.smActive { sink.emit(r.active, v) }
                if let v = reading.smOccupancy { sink.emit(r.occupancy, v) }
                if let v = reading.tensorActive { sink.emit(r.tensor, v) }
                if let v = reading.dramBandwidth { sink.emit(r.dram, v) }
            } catch {
                firstError = firstError ?? error
            }
        }
        if let firstError { throw firstError }
    }
}
