import GPulseCore

/// Converts NVML's wall-clock microsecond timestamps to the monotonic nanoseconds samples carry.
/// A timestamp ahead of now (clock step) is clamped to now.
func monotonicNanos(fromWallMicros micros: UInt64) -> UInt64 {
    let mono = SystemClock.monotonicNanos()
    let wall = SystemClock.wallNanos()
    let converted = Int64(clamping: micros) &* 1000 &- (wall &- Int64(bitPattern: mono))
    return converted <= 0 ? 0 : min(UInt64(converted), mono)
}

/// Per GPU: memory used (bytes and fraction). One cheap, lock-free NVML call per GPU, so it runs on
/// the fast tick.
public final class GPUMemorySampler: Sampler {
    public let name = "gpu_memory"
    private let devices: [(device: NVMLDevice, bytes: SignalID, fraction: SignalID)]

    public init(devices: [NVMLDevice], signals: SignalTable) {
        self.devices = devices.map { ($0, signals.id(.gpuMemUsedBytes, subject: $0.uuid), signals.id(.gpuMemUsedFrac, subject: $0.uuid)) }
    }

    public func sample(into sink: inout SampleSink) throws {
        var firstError: NVMLError?
        for d in devices {
            do {
                let m = try d.device.memory()
                sink.emit(d.bytes, Float(m.used))
                if m.total > 0 { sink.emit(d.fraction, Float(Double(m.used) / Double(m.total))) }
            } catch {
                firstError = firstError ?? error
            }
        }
        if let firstError { throw firstError }
    }
}

/// Per GPU: utilization drained from the driver's sample buffer with the driver's timestamps. Run it
/// at a few Hz: the driver itself produces a value every 1/6 s to 1 s.
public final class GPUUtilizationSampler: Sampler {
    public let name = "gpu_utilization"
    private let readers: [(reader: NVMLUtilizationReader, signal: SignalID)]
    private var readings: [NVMLUtilizationReader.Reading] = []

    /// Devices whose driver cannot give utilization samples (MIG mode, old drivers) are left out and
    /// listed in `unsupported` with the reason.
    public private(set) var unsupported: [(uuid: String, reason: String)] = []

    public init(devices: [NVMLDevice], signals: SignalTable) {
        var readers: [(NVMLUtilizationReader, SignalID)] = []
        for d in devices {
            if d.migEnabled == true {
                unsupported.append((d.uuid, "MIG is enabled: NVML gives no utilization for the parent GPU or its MIG instances"))
                continue
            }
            do {
                readers.append((try NVMLUtilizationReader(device: d), signals.id(.gpuUtil, subject: d.uuid)))
            } catch {
                unsupported.append((d.uuid, "\(error)"))
            }
        }
        self.readers = readers
        readings.reserveCapacity(128)
    }

    public var isEmpty: Bool { readers.isEmpty }

    public func sample(into sink: inout SampleSink) throws {
        var firstError: NVMLError?
        for r in readers {
            readings.removeAll(keepingCapacity: true)
            do {
                try r.reader.drain(into: &readings)
            } catch {
                firstError = firstError ?? error
            }
            for reading in readings {
                sink.emit(r.signal, reading.utilization, at: monotonicNanos(fromWallMicros: reading.timestampMicros))
            }
        }
        if let firstError { throw firstError }
    }
}

/// Per GPU: power, SM clock and PCIe throughput (from the driver's byte counters), at a moderate rate.
public final class GPUFieldsSampler: Sampler {
    public let name = "gpu_fields"
    private struct Device {
        let device: NVMLDevice
        let fields: NVMLFieldReader?
        let power: SignalID, clock: SignalID, tx: SignalID, rx: SignalID
        var previous: NVMLFieldReader.Reading?
    }
    private var devices: [Device]

    public init(devices: [NVMLDevice], signals: SignalTable) {
        self.devices = devices.map { d in
            Device(
                device: d, fields: try? NVMLFieldReader(device: d),
                power: signals.id(.gpuPowerW, subject: d.uuid), clock: signals.id(.gpuSMClockMHz, subject: d.uuid),
                tx: signals.id(.gpuPCIeTxBps, subject: d.uuid), rx: signals.id(.gpuPCIeRxBps, subject: d.uuid))
        }
    }

    public func sample(into sink: inout SampleSink) throws {
        var firstError: NVMLError?
        for i in devices.indices {
            do {
                if let mhz = try devices[i].device.smClockMHz() { sink.emit(devices[i].clock, Float(mhz)) }
                guard let reader = devices[i].fields else { continue }
                let now = try reader.read()
                let at = monotonicNanos(fromWallMicros: now.timestampMicros)
                if let w = now.powerWatts { sink.emit(devices[i].power, w, at: at) }
                if let before = devices[i].previous, now.timestampMicros > before.timestampMicros {
                    let dt = Double(now.timestampMicros - before.timestampMicros) / 1e6
                    // Counters that went backwards (driver reload) give no value for this interval.
                    if let a = before.pcieTxBytes, let b = now.pcieTxBytes, b >= a { sink.emit(devices[i].tx, Float(Double(b - a) / dt), at: at) }
                    if let a = before.pcieRxBytes, let b = now.pcieRxBytes, b >= a { sink.emit(devices[i].rx, Float(Double(b - a) / dt), at: at) }
                }
                devices[i].previous = now
            } catch {
                firstError = firstError ?? error
            }
        }
        if let firstError { throw firstError }
    }
}
