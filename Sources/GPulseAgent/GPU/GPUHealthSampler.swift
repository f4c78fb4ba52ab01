#if canImport(Glibc)
import Glibc
#endif
import GPulseCore
import Logging
import Synchronization

/// Per GPU, once a second by default: temperature, clock event (throttle) reasons, uncorrected ECC
/// errors, row remapping, and whether the GPU is lost; plus the critical XID events a watcher thread
/// waits for. The aggregator decides from these whether the node is healthy (its `health:` section);
/// the agent only reports what the driver says. What a GPU does not support is said once, per GPU,
/// and not asked again.
public final class GPUHealthSampler: Sampler {
    public let name = "gpu_health"

    private struct Device {
        let device: NVMLDevice
        let temp, reasons, ecc, lost, remapFailed, remapPending, xid: SignalID
        /// Readings this GPU answered NOT_SUPPORTED to (or this library lacks): not asked again.
        var skip: Set<Reading> = []
    }
    enum Reading: String, CaseIterable { case temperature, clockEventReasons = "clock event reasons", ecc = "ECC", rowRemapping = "row remapping" }

    private var devices: [Device]
    private let watcher: XIDWatcher?
    /// One line per GPU and reading it cannot give, each logged once when found.
    public private(set) var unsupported: [(uuid: String, reason: String)] = []
    private let logger: Logger
    private var drained: [XIDWatcher.Event] = []

    /// `watchXIDs` starts the event thread (off in tests that only read counters).
    public init(devices: [NVMLDevice], signals: SignalTable, logger: Logger, watchXIDs: Bool = true) {
        self.logger = logger
        self.devices = devices.map { d in
            Device(
                device: d, temp: signals.id(.gpuTempC, subject: d.uuid), reasons: signals.id(.gpuClockEventReasons, subject: d.uuid),
                ecc: signals.id(.gpuECCUncorrected, subject: d.uuid), lost: signals.id(.gpuLost, subject: d.uuid),
                remapFailed: signals.id(.gpuRowRemapFailed, subject: d.uuid), remapPending: signals.id(.gpuRowRemapPending, subject: d.uuid),
                xid: signals.id(.gpuXID, subject: d.uuid))
        }
        var watcher: XIDWatcher?
        if watchXIDs {
            do {
                let set = try NVMLEventSet(devices: devices)
                unsupported += set.unsupported.map { ($0.uuid, "critical XID events: \($0.reason)") }
                watcher = XIDWatcher(set: set)
            } catch {
                unsupported += devices.map { ($0.uuid, "critical XID events: \(error)") }
            }
        }
        self.watcher = watcher
        drained.reserveCapacity(16)
        for u in unsupported { Self.log(u, logger) }
        if watcher != nil { logger.info("watching critical XID events", metadata: ["gpus": "\(devices.count - unsupported.count)"]) }
    }

    deinit { watcher?.stop() }

    /// Stops the XID thread: it must not be inside nvmlEventSetWait_v2 when NVML shuts down.
    public func shutdown() { watcher?.stop() }

    /// XID events dropped because more came between two samples than the queue holds.
    public var xidEventsDropped: UInt64 { watcher?.dropped ?? 0 }

    public func sample(into sink: inout SampleSink) throws {
        var firstError: NVMLError?
        if let watcher {
            drained.removeAll(keepingCapacity: true)
            watcher.drain(into: &drained)
            for e in drained {
                guard let d = devices.first(where: { $0.device.uuid == e.uuid }) else { continue }
                sink.emit(d.xid, Float(min(e.xid, 1 << 24)), at: e.atNanos)
            }
        }
        for i in devices.indices {
            var lost = false
            func read<T>(_ what: Reading, _ call: () throws(NVMLError) -> T?) -> T? {
                guard !devices[i].skip.contains(what) else { return nil }
                do {
                    guard let value = try call() else {
                        note(i, what, "not in this NVML library")
                        return nil
                    }
                    return value
                } catch {
                    if error.isNotSupported {
                        note(i, what, "\(error)")
                    } else if error.isGPULost {
                        lost = true
                    } else {
                        firstError = firstError ?? error
                    }
                    return nil
                }
            }
            let device = devices[i].device
            if let c = read(.temperature, device.temperatureCelsius) { sink.emit(devices[i].temp, Float(c)) }
            if let r = read(.clockEventReasons, device.clockEventReasons) { sink.emit(devices[i].reasons, Float(r.rawValue & 0xFF_FFFF)) }
            if let n = read(.ecc, device.uncorrectedECCErrors) { sink.emit(devices[i].ecc, Float(n)) }
            if let remap = read(.rowRemapping, device.rowRemapping) {
                sink.emit(devices[i].remapFailed, remap.failed ? 1 : 0)
                sink.emit(devices[i].remapPending, remap.pending ? 1 : 0)
            }
            // Only said when it is so: a GPU that answers is not reported "not lost" every second.
            if lost { sink.emit(devices[i].lost, 1) }
        }
        if let firstError { throw firstError }
    }

    private func note(_ i: Int, _ what: Reading, _ why: String) {
        devices[i].skip.insert(what)
        let line = (devices[i].device.uuid, "\(what.rawValue): \(why)")
        unsupported.append(line)
        Self.log(line, logger)
    }

    private static func log(_ line: (uuid: String, reason: String), _ logger: Logger) {
        logger.notice("gpu health reading not available, not asked again", metadata: ["gpu": "\(line.uuid)", "reason": "\(line.reason)"])
    }
}

/// The thread that waits on NVML's event set, so that an XID is stamped when the driver delivers it
/// rather than at the next sample. Its queue is bounded; what overflows it is counted.
final class XIDWatcher: Sendable {
    struct Event: Sendable {
        var uuid: String
        var xid: UInt64
        var atNanos: UInt64
    }
    static let capacity = 256

    private let queue = EventQueue<Event>(capacity: XIDWatcher.capacity)
    private let thread: WorkerThread

    init(set: NVMLEventSet) {
        let queue = self.queue
        thread = WorkerThread(name: "gpulse-xid") { me in
            while !me.shouldStop {
                // A second at most between looks at the stop flag.
                let event: NVMLXIDEvent?
                do {
                    event = try set.wait(timeoutMilliseconds: 1000)
                } catch {
                    // Paced: a failing call must not spin.
                    usleep(1_000_000)
                    continue
                }
                guard let event else { continue }
                let e = Event(uuid: event.uuid, xid: event.xid, atNanos: SystemClock.monotonicNanos())
                queue.push(e)
            }
        }
    }

    var dropped: UInt64 { queue.dropped }

    func drain(into out: inout [Event]) { queue.drain(into: &out) }

    func stop() {
        thread.stop()
        thread.join()
    }
}
