import CNVML

/// Why NVML could not be used.
public enum NVMLError: Error, Sendable, Hashable, CustomStringConvertible {
    /// dlopen failed: no driver on this host (the usual case on CPU-only machines).
    case libraryUnavailable(path: String, detail: String)
    /// The library is there but lacks an entry point we need (a very old or foreign library).
    case missingSymbol(detail: String)
    /// An NVML call returned an error code.
    case call(function: String, code: Int32, message: String)

    public var description: String {
        switch self {
        case .libraryUnavailable(let path, let detail): "NVML not available at \(path): \(detail)"
        case .missingSymbol(let detail): "NVML unusable: \(detail)"
        case .call(let function, let code, let message): "\(function) failed: \(message) (NVML error \(code))"
        }
    }

    /// NVML_ERROR_NOT_SUPPORTED: the device cannot do this (e.g. utilization samples under MIG).
    public var isNotSupported: Bool {
        if case .call(_, let code, _) = self { return code == Int32(GPULSE_NVML_ERROR_NOT_SUPPORTED) }
        return false
    }

    /// NVML_ERROR_GPU_IS_LOST: the GPU stopped answering (fallen off the bus, XID 79).
    public var isGPULost: Bool {
        if case .call(_, let code, _) = self { return code == Int32(GPULSE_NVML_ERROR_GPU_IS_LOST) }
        return false
    }
}

/// The NVIDIA driver's management library, opened at run time. NVML is thread safe, so one instance
/// serves samplers on several threads. Initialized on open, shut down on `close()` or deinit.
public final class NVMLLibrary: @unchecked Sendable {
    /// The soname the driver installs; never linked at build time.
    public static let defaultPath = "libnvidia-ml.so.1"

    public let path: String
    var api = gpulse_nvml_t()
    private var open = false

    public init(path: String = NVMLLibrary.defaultPath) throws(NVMLError) {
        self.path = path
        var error = [CChar](repeating: 0, count: 512)
        let rc = gpulse_nvml_open(path, &api, &error, error.count)
        let detail = Self.text(error)
        switch rc {
        case 0: break
        case -2: throw .missingSymbol(detail: detail)
        default: throw .libraryUnavailable(path: path, detail: detail)
        }
        // The loader guarantees the required entry points are non-null.
        let initResult = api.initialize!()
        guard initResult == 0 else {
            let error = failure("nvmlInit_v2", initResult)
            gpulse_nvml_close(&api)
            throw error
        }
        open = true
    }

    deinit { close() }

    public func close() {
        guard open else { return }
        open = false
        _ = api.shutdown!()
        gpulse_nvml_close(&api)
    }

    func failure(_ function: String, _ code: gpulse_nvmlReturn_t) -> NVMLError {
        let message = api.errorString.flatMap { $0(code) }.map { String(cString: $0) } ?? "error \(code)"
        return .call(function: function, code: code, message: message)
    }

    @inline(__always) func check(_ function: String, _ code: gpulse_nvmlReturn_t) throws(NVMLError) {
        if code != 0 { throw failure(function, code) }
    }

    public var driverVersion: String? {
        guard let f = api.systemGetDriverVersion else { return nil }
        var buffer = [CChar](repeating: 0, count: 96)
        guard f(&buffer, UInt32(buffer.count)) == 0 else { return nil }
        return Self.text(buffer)
    }

    /// Optional entry points this library provides (older drivers lack some).
    public var hasUtilizationSamples: Bool { api.deviceGetSamples != nil }
    public var hasFieldValues: Bool { api.deviceGetFieldValues != nil }

    /// Every GPU NVML sees, with its UUID and name. Calls that take the driver's lock run here, once.
    public func devices() throws(NVMLError) -> [NVMLDevice] {
        var count: UInt32 = 0
        try check("nvmlDeviceGetCount_v2", api.deviceGetCount!(&count))
        var result: [NVMLDevice] = []
        for index in 0..<count {
            var handle: gpulse_nvmlDevice_t?
            try check("nvmlDeviceGetHandleByIndex_v2", api.deviceGetHandleByIndex!(index, &handle))
            guard let handle else { continue }
            var uuid = [CChar](repeating: 0, count: GPULSE_NVML_DEVICE_UUID_BUFFER_SIZE)
            try check("nvmlDeviceGetUUID", api.deviceGetUUID!(handle, &uuid, UInt32(uuid.count)))
            var name = [CChar](repeating: 0, count: GPULSE_NVML_DEVICE_NAME_BUFFER_SIZE)
            if let f = api.deviceGetName, f(handle, &name, UInt32(name.count)) != 0 { name[0] = 0 }
            var mig: Bool?
            if let f = api.deviceGetMigMode {
                var current: UInt32 = 0, pending: UInt32 = 0
                if f(handle, &current, &pending) == 0 { mig = current == 1 }
            }
            result.append(NVMLDevice(library: self, handle: handle, index: Int(index), uuid: Self.text(uuid), name: Self.text(name), migEnabled: mig))
        }
        return result
    }

    /// A NUL-terminated C buffer as text.
    static func text(_ buffer: [CChar]) -> String {
        String(decoding: buffer.prefix(while: { $0 != 0 }).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}

/// One GPU. Holds its library alive.
public struct NVMLDevice: @unchecked Sendable {
    let library: NVMLLibrary
    let handle: gpulse_nvmlDevice_t
    public let index: Int
    /// Stable identity, e.g. "GPU-5f1c2a9e-...": the series subject.
    public let uuid: String
    public let name: String
    /// Nil when the driver cannot say (no MIG support, or an old driver).
    public let migEnabled: Bool?

    /// Framebuffer memory in bytes: (used, total). Cheap and instantaneous: safe on the fast tick.
    public func memory() throws(NVMLError) -> (used: UInt64, total: UInt64) {
        var m = gpulse_nvmlMemory_t()
        try library.check("nvmlDeviceGetMemoryInfo", library.api.deviceGetMemoryInfo!(handle, &m))
        return (m.used, m.total)
    }

    /// GPU core temperature, °C; nil when this library lacks the call.
    public func temperatureCelsius() throws(NVMLError) -> UInt32? {
        guard let f = library.api.deviceGetTemperature else { return nil }
        var celsius: UInt32 = 0
        try library.check("nvmlDeviceGetTemperature", f(handle, Int32(GPULSE_NVML_TEMPERATURE_GPU), &celsius))
        return celsius
    }

    /// The clock event (throttle) reason bits active now; nil when this library lacks the call.
    public func clockEventReasons() throws(NVMLError) -> NVMLClockEventReasons? {
        guard let f = library.api.deviceGetCurrentClocksEventReasons else { return nil }
        var bits: UInt64 = 0
        try library.check("nvmlDeviceGetCurrentClocksEventReasons", f(handle, &bits))
        return NVMLClockEventReasons(rawValue: bits)
    }

    /// Uncorrected ECC errors since the driver loaded; nil when this library lacks the call.
    public func uncorrectedECCErrors() throws(NVMLError) -> UInt64? {
        guard let f = library.api.deviceGetTotalEccErrors else { return nil }
        var count: UInt64 = 0
        try library.check(
            "nvmlDeviceGetTotalEccErrors", f(handle, Int32(GPULSE_NVML_MEMORY_ERROR_TYPE_UNCORRECTED), Int32(GPULSE_NVML_VOLATILE_ECC), &count))
        return count
    }

    /// Row remapping (Ampere and newer): a remapping waiting for a reset, and a failed one.
    public func rowRemapping() throws(NVMLError) -> (pending: Bool, failed: Bool)? {
        guard let f = library.api.deviceGetRemappedRows else { return nil }
        var corrected: UInt32 = 0, uncorrected: UInt32 = 0, pending: UInt32 = 0, failed: UInt32 = 0
        try library.check("nvmlDeviceGetRemappedRows", f(handle, &corrected, &uncorrected, &pending, &failed))
        return (pending != 0, failed != 0)
    }

    /// SM clock in MHz.
    public func smClockMHz() throws(NVMLError) -> UInt32? {
        guard let f = library.api.deviceGetClockInfo else { return nil }
        var mhz: UInt32 = 0
        try library.check("nvmlDeviceGetClockInfo", f(handle, Int32(GPULSE_NVML_CLOCK_SM), &mhz))
        return mhz
    }
}

/// Drains a GPU's utilization samples (kept by the driver, each averaged over 1/6 s to 1 s) with their
/// own timestamps, so that a 500 Hz agent never repeats a driver value to fake a higher rate.
public final class NVMLUtilizationReader {
    public struct Reading: Sendable, Hashable {
        /// Driver timestamp, microseconds since 1970 (wall clock).
        public var timestampMicros: UInt64
        /// Fraction 0...1 of the time a kernel ran.
        public var utilization: Float
    }

    private let device: NVMLDevice
    private var lastSeen: UInt64 = 0
    private var buffer: UnsafeMutableBufferPointer<gpulse_nvmlSample_t>

    public init(device: NVMLDevice) throws(NVMLError) {
        guard let f = device.library.api.deviceGetSamples else {
            throw .missingSymbol(detail: "nvmlDeviceGetSamples is not in \(device.library.path)")
        }
        var valueType: Int32 = 0
        var count: UInt32 = 0
        // A null buffer asks NVML how many samples it may return at most.
        try device.library.check(
            "nvmlDeviceGetSamples", f(device.handle, Int32(GPULSE_NVML_GPU_UTILIZATION_SAMPLES), 0, &valueType, &count, nil))
        self.device = device
        buffer = .allocate(capacity: max(Int(count), 1))
    }

    deinit { buffer.deallocate() }

    /// Samples newer than the last call, oldest first. Empty when the driver has nothing new.
    public func drain(into out: inout [Reading]) throws(NVMLError) {
        let f = device.library.api.deviceGetSamples!
        var valueType: Int32 = 0
        var count = UInt32(buffer.count)
        let rc = f(device.handle, Int32(GPULSE_NVML_GPU_UTILIZATION_SAMPLES), lastSeen, &valueType, &count, buffer.baseAddress)
        if rc == Int32(GPULSE_NVML_ERROR_NOT_FOUND) { return }  // nothing new since lastSeen
        try device.library.check("nvmlDeviceGetSamples", rc)
        for i in 0..<min(Int(count), buffer.count) {
            let s = buffer[i]
            guard s.timeStamp > lastSeen else { continue }
            let percent: Double
            switch valueType {
            case Int32(GPULSE_NVML_VALUE_TYPE_DOUBLE): percent = s.sampleValue.dVal
            case Int32(GPULSE_NVML_VALUE_TYPE_UNSIGNED_INT): percent = Double(s.sampleValue.uiVal)
            case Int32(GPULSE_NVML_VALUE_TYPE_UNSIGNED_LONG): percent = Double(s.sampleValue.ulVal)
            case Int32(GPULSE_NVML_VALUE_TYPE_UNSIGNED_LONG_LONG): percent = Double(s.sampleValue.ullVal)
            default: percent = Double(s.sampleValue.sllVal)
            }
            out.append(Reading(timestampMicros: s.timeStamp, utilization: Float(min(100, max(0, percent)) / 100)))
        }
        if let newest = out.last?.timestampMicros, newest > lastSeen { lastSeen = newest }
    }
}

/// Reads power and PCIe byte counters with one nvmlDeviceGetFieldValues call.
public final class NVMLFieldReader {
    public struct Reading: Sendable, Hashable {
        public var timestampMicros: UInt64
        public var powerWatts: Float?
        public var pcieTxBytes: UInt64?
        public var pcieRxBytes: UInt64?
    }

    private let device: NVMLDevice
    private var fields: [gpulse_nvmlFieldValue_t]

    public init(device: NVMLDevice) throws(NVMLError) {
        guard device.library.api.deviceGetFieldValues != nil else {
            throw .missingSymbol(detail: "nvmlDeviceGetFieldValues is not in \(device.library.path)")
        }
        self.device = device
        let ids = [GPULSE_NVML_FI_DEV_POWER_INSTANT, GPULSE_NVML_FI_DEV_PCIE_COUNT_TX_BYTES, GPULSE_NVML_FI_DEV_PCIE_COUNT_RX_BYTES]
        fields = ids.map { id in
            var f = gpulse_nvmlFieldValue_t()
            f.fieldId = UInt32(id)
            return f
        }
    }

    public func read() throws(NVMLError) -> Reading {
        let f = device.library.api.deviceGetFieldValues!
        let count = Int32(fields.count)
        let handle = device.handle
        let rc = fields.withUnsafeMutableBufferPointer { f(handle, count, $0.baseAddress) }
        try device.library.check("nvmlDeviceGetFieldValues", rc)
        func integer(_ v: gpulse_nvmlFieldValue_t) -> UInt64? {
            guard v.nvmlReturn == 0 else { return nil }
            switch v.valueType {
            case Int32(GPULSE_NVML_VALUE_TYPE_UNSIGNED_INT): return UInt64(v.value.uiVal)
            case Int32(GPULSE_NVML_VALUE_TYPE_UNSIGNED_LONG): return UInt64(v.value.ulVal)
            case Int32(GPULSE_NVML_VALUE_TYPE_UNSIGNED_LONG_LONG): return v.value.ullVal
            case Int32(GPULSE_NVML_VALUE_TYPE_SIGNED_LONG_LONG): return v.value.sllVal >= 0 ? UInt64(v.value.sllVal) : nil
            case Int32(GPULSE_NVML_VALUE_TYPE_DOUBLE): return v.value.dVal >= 0 ? UInt64(v.value.dVal) : nil
            default: return nil
            }
        }
        return Reading(
            timestampMicros: UInt64(max(0, fields.map(\.timestamp).max() ?? 0)),
            powerWatts: integer(fields[0]).map { Float($0) / 1000 },
            pcieTxBytes: integer(fields[1]), pcieRxBytes: integer(fields[2]))
    }
}

/// NVML's clock event reasons (`nvmlClocksEventReason*`, formerly `nvmlClocksThrottleReason*`): why the
/// clocks are below their maximum now.
public struct NVMLClockEventReasons: OptionSet, Sendable, Hashable {
    public let rawValue: UInt64
    public init(rawValue: UInt64) { self.rawValue = rawValue }

    public static let gpuIdle = Self(rawValue: 0x1)
    public static let applicationsClocksSetting = Self(rawValue: 0x2)
    public static let softwarePowerCap = Self(rawValue: 0x4)
    public static let hardwareSlowdown = Self(rawValue: 0x8)
    public static let syncBoost = Self(rawValue: 0x10)
    public static let softwareThermalSlowdown = Self(rawValue: 0x20)
    public static let hardwareThermalSlowdown = Self(rawValue: 0x40)
    public static let hardwarePowerBrakeSlowdown = Self(rawValue: 0x80)
    public static let displayClockSetting = Self(rawValue: 0x100)

    /// The reasons' names, lowest bit first (what `once` and the docs show).
    public var names: [String] {
        let all: [(Self, String)] = [
            (.gpuIdle, "gpu_idle"), (.applicationsClocksSetting, "applications_clocks_setting"), (.softwarePowerCap, "sw_power_cap"),
            (.hardwareSlowdown, "hw_slowdown"), (.syncBoost, "sync_boost"), (.softwareThermalSlowdown, "sw_thermal_slowdown"),
            (.hardwareThermalSlowdown, "hw_thermal_slowdown"), (.hardwarePowerBrakeSlowdown, "hw_power_brake_slowdown"),
            (.displayClockSetting, "display_clock_setting"),
        ]
        return all.filter { contains($0.0) }.map(\.1)
    }
}

/// One critical XID error the driver reported.
public struct NVMLXIDEvent: Sendable, Hashable {
    /// The GPU's UUID (the series subject); "" when the event named a device this agent did not list.
    public var uuid: String
    public var xid: UInt64
    /// MIG: the GPU instance the error hit; nil without MIG.
    public var gpuInstance: UInt32?

    public init(uuid: String, xid: UInt64, gpuInstance: UInt32?) {
        self.uuid = uuid
        self.xid = xid
        self.gpuInstance = gpuInstance
    }
}

/// NVML's critical XID events for a set of GPUs, waited on by one thread (`wait`). Freed on deinit.
public final class NVMLEventSet: @unchecked Sendable {
    private let library: NVMLLibrary
    private var set: gpulse_nvmlEventSet_t?
    private var uuids: [(handle: gpulse_nvmlDevice_t, uuid: String)] = []
    /// GPUs whose XID events could not be registered, and why.
    public private(set) var unsupported: [(uuid: String, reason: String)] = []

    /// Registers every GPU that supports critical XID events; throws when the library has no events
    /// at all or no GPU registers.
    public init(devices: [NVMLDevice]) throws(NVMLError) {
        guard let first = devices.first else { throw .missingSymbol(detail: "no GPU to watch") }
        library = first.library
        let api = library.api
        guard let create = api.eventSetCreate, let register = api.deviceRegisterEvents, api.eventSetWait != nil, api.eventSetFree != nil else {
            throw .missingSymbol(detail: "NVML events (nvmlEventSetCreate, nvmlDeviceRegisterEvents, nvmlEventSetWait_v2) are not in \(library.path)")
        }
        var set: gpulse_nvmlEventSet_t?
        try library.check("nvmlEventSetCreate", create(&set))
        self.set = set
        let xid = UInt64(GPULSE_NVML_EVENT_TYPE_XID_CRITICAL_ERROR)
        for d in devices {
            if let supported = api.deviceGetSupportedEventTypes {
                var types: UInt64 = 0
                let rc = supported(d.handle, &types)
                if rc != 0 {
                    unsupported.append((d.uuid, "\(library.failure("nvmlDeviceGetSupportedEventTypes", rc))"))
                    continue
                }
                if types & xid == 0 {
                    unsupported.append((d.uuid, "the GPU does not report critical XID events"))
                    continue
                }
            }
            let rc = register(d.handle, xid, set)
            if rc != 0 {
                unsupported.append((d.uuid, "\(library.failure("nvmlDeviceRegisterEvents", rc))"))
                continue
            }
            uuids.append((d.handle, d.uuid))
        }
        if uuids.isEmpty {
            _ = api.eventSetFree!(set)
            self.set = nil
            throw .call(function: "nvmlDeviceRegisterEvents", code: Int32(GPULSE_NVML_ERROR_NOT_SUPPORTED), message: "no GPU registers critical XID events")
        }
    }

    deinit { if let set, let free = library.api.eventSetFree { _ = free(set) } }

    /// The next critical XID within `timeoutMilliseconds`, or nil when none came.
    public func wait(timeoutMilliseconds: UInt32) throws(NVMLError) -> NVMLXIDEvent? {
        var data = gpulse_nvmlEventData_t()
        let rc = library.api.eventSetWait!(set, &data, timeoutMilliseconds)
        if rc == Int32(GPULSE_NVML_ERROR_TIMEOUT) { return nil }
        try library.check("nvmlEventSetWait_v2", rc)
        guard data.eventType & UInt64(GPULSE_NVML_EVENT_TYPE_XID_CRITICAL_ERROR) != 0 else { return nil }
        let uuid = uuids.first { $0.handle == data.device }?.uuid ?? ""
        return NVMLXIDEvent(uuid: uuid, xid: data.eventData, gpuInstance: data.gpuInstanceId == UInt32.max ? nil : data.gpuInstanceId)
    }
}

/// GPM counters of one GPU (Hopper and newer): SM activity, SM occupancy, tensor activity and DRAM
/// bandwidth, each over the interval between two `read()`s. Two sample buffers, allocated once.
public final class NVMLGPMReader {
    public struct Reading: Sendable, Hashable {
        /// Fractions 0...1 over the interval; nil where the GPU did not give the metric.
        public var smActive: Float?
        public var smOccupancy: Float?
        public var tensorActive: Float?
        public var dramBandwidth: Float?
    }

    private let device: NVMLDevice
    private var older: gpulse_nvmlGpmSample_t?
    private var newer: gpulse_nvmlGpmSample_t?
    private var primed = false
    private var request = gpulse_nvmlGpmMetricsGet_t()
    private static let metrics = [
        GPULSE_NVML_GPM_METRIC_SM_UTIL, GPULSE_NVML_GPM_METRIC_SM_OCCUPANCY, GPULSE_NVML_GPM_METRIC_ANY_TENSOR_UTIL,
        GPULSE_NVML_GPM_METRIC_DRAM_BW_UTIL,
    ]

    /// Throws `isNotSupported` for a GPU without GPM (before Hopper, or under MIG, where NVML wants
    /// per-instance samples), and `missingSymbol` for a driver without the GPM entry points.
    public init(device: NVMLDevice) throws(NVMLError) {
        let api = device.library.api
        guard let query = api.gpmQueryDeviceSupport, let alloc = api.gpmSampleAlloc, api.gpmSampleFree != nil, api.gpmSampleGet != nil,
            api.gpmMetricsGet != nil
        else { throw .missingSymbol(detail: "GPM (nvmlGpmQueryDeviceSupport, nvmlGpmSampleGet, nvmlGpmMetricsGet) is not in \(device.library.path)") }
        self.device = device
        if device.migEnabled == true {
            throw .call(function: "nvmlGpmSampleGet", code: Int32(GPULSE_NVML_ERROR_NOT_SUPPORTED), message: "MIG is enabled: GPM needs per-instance samples, not read")
        }
        var support = gpulse_nvmlGpmSupport_t()
        support.version = UInt32(GPULSE_NVML_GPM_SUPPORT_VERSION)
        try device.library.check("nvmlGpmQueryDeviceSupport", query(device.handle, &support))
        guard support.isSupportedDevice != 0 else {
            throw .call(function: "nvmlGpmQueryDeviceSupport", code: Int32(GPULSE_NVML_ERROR_NOT_SUPPORTED), message: "this GPU has no GPM (Hopper and newer do)")
        }
        try device.library.check("nvmlGpmSampleAlloc", alloc(&older))
        try device.library.check("nvmlGpmSampleAlloc", alloc(&newer))
    }

    deinit { release() }

    /// Frees the sample buffers; call before NVML is closed (deinit does it too, while NVML is open).
    public func release() {
        // A closed library has no entry points left: its buffers went with it.
        guard let free = device.library.api.gpmSampleFree else { return }
        if let older { _ = free(older) }
        if let newer { _ = free(newer) }
        older = nil
        newer = nil
        primed = false
    }

    /// Takes a sample; from the second call on, returns the metrics over the interval since the last one.
    public func read() throws(NVMLError) -> Reading? {
        let api = device.library.api
        guard older != nil, newer != nil else { return nil }  // released
        swap(&older, &newer)
        try device.library.check("nvmlGpmSampleGet", api.gpmSampleGet!(device.handle, newer))
        guard primed else {
            primed = true
            return nil
        }
        request = gpulse_nvmlGpmMetricsGet_t()
        request.version = UInt32(GPULSE_NVML_GPM_METRICS_GET_VERSION)
        request.numMetrics = UInt32(Self.metrics.count)
        request.sample1 = older
        request.sample2 = newer
        withUnsafeMutableBytes(of: &request.metrics) { raw in
            let m = raw.bindMemory(to: gpulse_nvmlGpmMetric_t.self)
            for (i, id) in Self.metrics.enumerated() { m[i].metricId = UInt32(id) }
        }
        try device.library.check("nvmlGpmMetricsGet", api.gpmMetricsGet!(&request))
        var values: [Float?] = []
        withUnsafeBytes(of: &request.metrics) { raw in
            let m = raw.bindMemory(to: gpulse_nvmlGpmMetric_t.self)
            for i in Self.metrics.indices {
                let v = m[i].value
                values.append(m[i].nvmlReturn == 0 && v.isFinite ? Float(min(100, max(0, v)) / 100) : nil)
            }
        }
        return Reading(smActive: values[0], smOccupancy: values[1], tensorActive: values[2], dramBandwidth: values[3])
    }
}
