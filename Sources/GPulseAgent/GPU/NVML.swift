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
