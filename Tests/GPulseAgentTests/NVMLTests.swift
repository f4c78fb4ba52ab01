import Foundation
import GPulseAgent
import GPulseCore
import Testing

#if canImport(Glibc)
import Glibc
#endif

/// The TEST FAKE NVML built by this package (Tests/FakeNVML), beside the test binary.
func fakeNVMLPath(_ name: String = "libFakeNVML.so") throws -> String {
    var dir = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
    // swift test may run the bundle from inside a .xctest directory
    for _ in 0..<4 {
        let candidate = dir.appendingPathComponent(name).path
        if FileManager.default.fileExists(atPath: candidate) { return candidate }
        dir = dir.deletingLastPathComponent()
    }
    throw NVMLTestSetupError(message: "\(name) not found near \(CommandLine.arguments[0]); run `swift build` (make test does) so the fake is built")
}

struct NVMLTestSetupError: Error, CustomStringConvertible { var message: String; var description: String { message } }

/// The fake keeps its state in globals and reads its script from the environment at nvmlInit, so
/// these tests run one at a time.
@Suite(.serialized) struct FakeNVMLTests {
    @discardableResult
    func withScript<T>(_ env: [String: String], _ body: () throws -> T) rethrows -> T {
        let keys = [
            "GPULSE_FAKE_NVML_DEVICES", "GPULSE_FAKE_NVML_INIT_ERROR", "GPULSE_FAKE_NVML_MEMORY_ERROR", "GPULSE_FAKE_NVML_SAMPLES", "GPULSE_FAKE_NVML_MIG",
            "GPULSE_FAKE_NVML_HEALTH_FILE", "GPULSE_FAKE_NVML_HEALTH", "GPULSE_FAKE_NVML_GPM", "GPULSE_FAKE_NVML_LOAD_FILE",
        ]
        for k in keys { unsetenv(k) }
        for (k, v) in env { setenv(k, v, 1) }
        defer { for k in keys { unsetenv(k) } }
        return try body()
    }

    @Test func presentLibraryListsDevicesWithUUIDs() throws {
        try withScript(["GPULSE_FAKE_NVML_DEVICES": "3"]) {
            let nvml = try NVMLLibrary(path: try fakeNVMLPath())
            defer { nvml.close() }
            let devices = try nvml.devices()
            #expect(devices.map(\.uuid) == (0..<3).map { "GPU-FAKE0000-0000-0000-0000-00000000000\($0)" })
            #expect(devices.allSatisfy { $0.name.contains("FAKE") && $0.migEnabled == false })
            #expect(nvml.driverVersion == "fake-nvml-0")
            let m = try devices[1].memory()
            #expect(m.total == 80 << 30)
            #expect(Double(m.used) / Double(m.total) == 0.2)
        }
    }

    @Test func absentLibraryIsAClearError() {
        #expect(throws: NVMLError.self) { try NVMLLibrary(path: "/nonexistent/libnvidia-ml.so.1") }
        do {
            _ = try NVMLLibrary(path: "/nonexistent/libnvidia-ml.so.1")
        } catch {
            #expect("\(error)".contains("NVML not available at /nonexistent/libnvidia-ml.so.1"))
        }
    }

    @Test func missingRequiredSymbolIsNamed() throws {
        let path = try fakeNVMLPath("libFakeNVMLMissingSymbols.so")
        #expect(throws: NVMLError.missingSymbol(detail: "\(path) lacks required symbol nvmlShutdown")) { try NVMLLibrary(path: path) }
    }

    @Test func initErrorCarriesNVMLsMessage() throws {
        withScript(["GPULSE_FAKE_NVML_INIT_ERROR": "9"]) {
            #expect(throws: NVMLError.call(function: "nvmlInit_v2", code: 9, message: "Driver Not Loaded (fake NVML)")) {
                try NVMLLibrary(path: try fakeNVMLPath())
            }
        }
    }

    @Test func utilizationSamplesCarryDriverTimestampsAndAreNeverRepeated() throws {
        try withScript(["GPULSE_FAKE_NVML_DEVICES": "1"]) {
            let opened = SystemClock.monotonicSeconds()
            let nvml = try NVMLLibrary(path: try fakeNVMLPath())
            defer { nvml.close() }
            let reader = try NVMLUtilizationReader(device: try nvml.devices()[0])
            SystemClock.sleep(milliseconds: 400)  // the fake makes a sample every 1/6 s
            var first: [NVMLUtilizationReader.Reading] = []
            try reader.drain(into: &first)
            // At least the two of 400 ms; at most one per 1/6 s since the library opened, however
            // late a busy machine woke this thread.
            let most = Int((SystemClock.monotonicSeconds() - opened) * 6) + 1
            #expect(first.count >= 2 && first.count <= most, "\(first.count) samples, at most \(most)")
            #expect(first.map(\.timestampMicros) == first.map(\.timestampMicros).sorted())
            #expect(first.allSatisfy { (0...1).contains($0.utilization) })
            var again: [NVMLUtilizationReader.Reading] = []
            try reader.drain(into: &again)
            #expect(again.isEmpty, "nothing new yet: no value is repeated")
            SystemClock.sleep(milliseconds: 200)
            try reader.drain(into: &again)
            #expect(again.count >= 1 && again[0].timestampMicros > first.last!.timestampMicros)
        }
    }

    @Test func emptySampleBufferGivesNoValueAndNoError() throws {
        try withScript(["GPULSE_FAKE_NVML_SAMPLES": "empty", "GPULSE_FAKE_NVML_DEVICES": "1"]) {
            let nvml = try NVMLLibrary(path: try fakeNVMLPath())
            defer { nvml.close() }
            let signals = SignalTable()
            let sampler = GPUUtilizationSampler(devices: try nvml.devices(), signals: signals)
            SystemClock.sleep(milliseconds: 200)
            #expect(try collect(sampler, SampleRing(capacity: 16), at: 1, signals).isEmpty)
        }
    }

    @Test func lostGPUMakesTheMemorySamplerFailWithTheReason() throws {
        try withScript(["GPULSE_FAKE_NVML_MEMORY_ERROR": "15"]) {
            let nvml = try NVMLLibrary(path: try fakeNVMLPath())
            defer { nvml.close() }
            let signals = SignalTable()
            let sampler = GPUMemorySampler(devices: try nvml.devices(), signals: signals)
            #expect(throws: NVMLError.call(function: "nvmlDeviceGetMemoryInfo", code: 15, message: "GPU is lost (fake NVML)")) {
                _ = try collect(sampler, SampleRing(capacity: 16), at: 1, signals)
            }
        }
    }

    @Test func migDevicesAreReportedAsWithoutUtilization() throws {
        try withScript(["GPULSE_FAKE_NVML_MIG": "1", "GPULSE_FAKE_NVML_DEVICES": "2"]) {
            let nvml = try NVMLLibrary(path: try fakeNVMLPath())
            defer { nvml.close() }
            let devices = try nvml.devices()
            #expect(devices.allSatisfy { $0.migEnabled == true })
            let sampler = GPUUtilizationSampler(devices: devices, signals: SignalTable())
            #expect(sampler.isEmpty)
            #expect(sampler.unsupported.count == 2)
            #expect(sampler.unsupported[0].reason.contains("MIG is enabled"))
        }
    }

    @Test func fieldsGivePowerClockAndPCIeRates() throws {
        try withScript(["GPULSE_FAKE_NVML_DEVICES": "1"]) {
            let nvml = try NVMLLibrary(path: try fakeNVMLPath())
            defer { nvml.close() }
            let signals = SignalTable()
            let sampler = GPUFieldsSampler(devices: try nvml.devices(), signals: signals)
            let ring = SampleRing(capacity: 16)
            let first = try collect(sampler, ring, at: 1, signals)
            let uuid = "GPU-FAKE0000-0000-0000-0000-000000000000"
            #expect(first == ["gpu_power_w[\(uuid)]": 350, "gpu_sm_clock_mhz[\(uuid)]": 1980])
            SystemClock.sleep(milliseconds: 50)
            let second = try collect(sampler, ring, at: 2, signals)
            // The fake's counters grow at 1 GB/s and 2 GB/s of wall time.
            #expect(abs(second["gpu_pcie_tx_bps[\(uuid)]"]! / 1e9 - 1) < 0.01)
            #expect(abs(second["gpu_pcie_rx_bps[\(uuid)]"]! / 2e9 - 1) < 0.01)
        }
    }

    /// A health script file for the fake, rewritten by `write`.
    final class HealthScript {
        let path = NSTemporaryDirectory() + "gpulse-fake-health-\(UUID().uuidString)"
        func write(_ text: String) throws { try text.write(toFile: path, atomically: true, encoding: .utf8) }
        deinit { try? FileManager.default.removeItem(atPath: path) }
    }

    private let uuid0 = "GPU-FAKE0000-0000-0000-0000-000000000000"
    private let uuid1 = "GPU-FAKE0000-0000-0000-0000-000000000001"

    /// A health sampler over the fake's GPUs under `env`; its XID thread (with `watchXIDs`) is stopped
    /// before NVML is closed, as the agent does.
    private func withHealthSampler(
        _ env: [String: String], watchXIDs: Bool = true, _ body: (GPUHealthSampler, SignalTable) throws -> Void
    ) throws {
        try withScript(env) {
            let nvml = try NVMLLibrary(path: try fakeNVMLPath())
            defer { nvml.close() }
            let signals = SignalTable()
            let sampler = GPUHealthSampler(devices: try nvml.devices(), signals: signals, logger: .init(label: "test"), watchXIDs: watchXIDs)
            defer { sampler.shutdown() }
            try body(sampler, signals)
        }
    }

    @Test func healthReadingsFollowTheDriver() throws {
        let script = HealthScript()
        try script.write("temp 83\nreasons 0x60\necc 2\nremap_pending 1\n")
        try withScript(["GPULSE_FAKE_NVML_DEVICES": "2", "GPULSE_FAKE_NVML_HEALTH_FILE": script.path]) {
            let nvml = try NVMLLibrary(path: try fakeNVMLPath())
            defer { nvml.close() }
            let devices = try nvml.devices()
            #expect(try devices[0].clockEventReasons()?.names == ["sw_thermal_slowdown", "hw_thermal_slowdown"])
            let signals = SignalTable()
            let sampler = GPUHealthSampler(devices: devices, signals: signals, logger: .init(label: "test"), watchXIDs: false)
            let values = try collect(sampler, SampleRing(capacity: 64), at: 1, signals)
            for u in [uuid0, uuid1] {
                #expect(values["gpu_temp_c[\(u)]"] == 83 && values["gpu_clock_event_reasons[\(u)]"] == 0x60)
                #expect(values["gpu_ecc_uncorrected[\(u)]"] == 2)
                #expect(values["gpu_row_remap_pending[\(u)]"] == 1 && values["gpu_row_remap_failed[\(u)]"] == 0)
                #expect(values["gpu_lost[\(u)]"] == nil, "a GPU that answers is not reported lost")
            }
            #expect(sampler.unsupported.isEmpty)
        }
    }

    @Test func aLostGPUIsReportedAndTheOthersCarryOn() throws {
        let script = HealthScript()
        try script.write("lost 0\n")
        try withHealthSampler(["GPULSE_FAKE_NVML_DEVICES": "2", "GPULSE_FAKE_NVML_HEALTH_FILE": script.path], watchXIDs: false) { sampler, signals in
            let values = try collect(sampler, SampleRing(capacity: 64), at: 1, signals)
            #expect(values["gpu_lost[\(uuid0)]"] == 1 && values["gpu_temp_c[\(uuid0)]"] == nil)
            #expect(values["gpu_lost[\(uuid1)]"] == nil && values["gpu_temp_c[\(uuid1)]"] == 41)
        }
    }

    @Test func whatAGPUDoesNotSupportIsSaidOncePerGPU() throws {
        try withHealthSampler(["GPULSE_FAKE_NVML_DEVICES": "2", "GPULSE_FAKE_NVML_HEALTH": "unsupported"]) { sampler, signals in
            // The event set itself is refused: one line per GPU.
            #expect(sampler.unsupported.count == 2 && sampler.unsupported.allSatisfy { $0.reason.hasPrefix("critical XID events:") })
            let ring = SampleRing(capacity: 64)
            let first = try collect(sampler, ring, at: 1, signals)
            #expect(first.isEmpty)
            // Four readings on two GPUs, each said once; the next samples ask nothing again.
            #expect(sampler.unsupported.count == 2 + 8)
            let second = try collect(sampler, ring, at: 2, signals)
            #expect(second.isEmpty)
            #expect(sampler.unsupported.count == 10)
            #expect(sampler.unsupported.contains { $0.uuid == uuid1 && $0.reason.hasPrefix("row remapping:") && $0.reason.contains("Not Supported") })
        }
    }

    @Test func aCriticalXIDIsStampedWhenTheDriverDeliversIt() throws {
        let script = HealthScript()
        // An XID from before the agent started is history, as the driver's own event set treats it.
        try script.write("xid 1 48\n")
        try withHealthSampler(["GPULSE_FAKE_NVML_DEVICES": "2", "GPULSE_FAKE_NVML_HEALTH_FILE": script.path]) { sampler, signals in
            let ring = SampleRing(capacity: 64)
            let first = try collect(sampler, ring, at: 1, signals)
            #expect(first["gpu_xid[\(uuid0)]"] == nil)
            let before = SystemClock.monotonicNanos()
            try script.write("xid 2 79 1\n")
            // The watcher thread waits on the event set; a generous bound for a busy machine.
            var seen: [Sample] = []
            let deadline = SystemClock.monotonicSeconds() + 20
            while seen.isEmpty && SystemClock.monotonicSeconds() < deadline {
                SystemClock.sleep(milliseconds: 50)
                var sink = SampleSink(ring: ring, monotonicNanos: SystemClock.monotonicNanos())
                try sampler.sample(into: &sink)
                var out: [Sample] = []
                ring.drain(into: &out)
                seen = out.filter { signals.entry($0.signal)?.kind == .gpuXID }
            }
            #expect(seen.count == 1 && seen.first?.value == 79)
            #expect(seen.first.map { signals.entry($0.signal)?.subject } == uuid1)
            // Stamped when the watcher received it, not when the sampler ran.
            #expect((seen.first?.monotonicNanos ?? 0) >= before)
            var out: [Sample] = []
            var sink = SampleSink(ring: ring, monotonicNanos: SystemClock.monotonicNanos())
            try sampler.sample(into: &sink)
            ring.drain(into: &out)
            #expect(!out.contains { signals.entry($0.signal)?.kind == .gpuXID }, "delivered once")
        }
    }

    @Test func underMIGAnXIDNamesItsGPUInstance() throws {
        let script = HealthScript()
        try script.write("\n")
        try withScript(["GPULSE_FAKE_NVML_DEVICES": "1", "GPULSE_FAKE_NVML_MIG": "1", "GPULSE_FAKE_NVML_HEALTH_FILE": script.path]) {
            let nvml = try NVMLLibrary(path: try fakeNVMLPath())
            defer { nvml.close() }
            let set = try NVMLEventSet(devices: try nvml.devices())
            #expect(try set.wait(timeoutMilliseconds: 10) == nil, "nothing yet: a timeout, not an error")
            try script.write("xid 1 94\n")
            let event = try set.wait(timeoutMilliseconds: 20_000)
            #expect(event == NVMLXIDEvent(uuid: uuid0, xid: 94, gpuInstance: 1))
        }
    }

    @Test func gpmCountersComeFromTwoSamplesAndDoNotSaturate() throws {
        let load = HealthScript()
        try load.write("0.7\n")
        try withScript(["GPULSE_FAKE_NVML_DEVICES": "2", "GPULSE_FAKE_NVML_LOAD_FILE": load.path]) {
            let nvml = try NVMLLibrary(path: try fakeNVMLPath())
            defer { nvml.close() }
            let signals = SignalTable()
            let sampler = GPUGPMSampler(devices: try nvml.devices(), signals: signals)
            #expect(sampler.count == 2 && sampler.unsupported.isEmpty)
            let ring = SampleRing(capacity: 64)
            // The first run only takes a sample: a GPM metric is the difference of two.
            let first = try collect(sampler, ring, at: 1, signals)
            #expect(first.isEmpty)
            let second = try collect(sampler, ring, at: 2, signals)
            for u in [uuid0, uuid1] {
                #expect(abs((second["gpu_sm_active[\(u)]"] ?? -1) - 0.7) < 1e-6)
                #expect(abs((second["gpu_sm_occupancy[\(u)]"] ?? -1) - 0.35) < 1e-6)
                #expect(abs((second["gpu_tensor_active[\(u)]"] ?? -1) - 0.56) < 1e-6)
                #expect(abs((second["gpu_dram_bw_util[\(u)]"] ?? -1) - 0.3) < 1e-6)
            }
        }
    }

    @Test func aGPUWithoutGPMOrUnderMIGIsLeftOutAndSaidOnce() throws {
        for env in [["GPULSE_FAKE_NVML_GPM": "absent"], ["GPULSE_FAKE_NVML_MIG": "1"]] {
            try withScript(env.merging(["GPULSE_FAKE_NVML_DEVICES": "2"]) { a, _ in a }) {
                let nvml = try NVMLLibrary(path: try fakeNVMLPath())
                defer { nvml.close() }
                let sampler = GPUGPMSampler(devices: try nvml.devices(), signals: SignalTable())
                #expect(sampler.isEmpty && sampler.unsupported.map(\.uuid) == [uuid0, uuid1], "\(env)")
                #expect(sampler.unsupported.allSatisfy { $0.reason.contains(env["GPULSE_FAKE_NVML_MIG"] == nil ? "has no GPM" : "MIG is enabled") })
            }
        }
    }

    @Test func registryWithoutNVMLKeepsTheOtherSamplers() throws {
        var config = AgentConfig()
        config.samplers.gpu.library = "/nonexistent/libnvidia-ml.so.1"
        let registry = SamplerRegistry(config: config, context: try .init(), signals: SignalTable(), logger: .init(label: "test"))
        #expect(registry.samplerNames == ["cpu@fast", "memory@fast", "network@fast"])
        #expect(registry.notes.count == 1 && registry.notes[0].hasPrefix("gpu samplers disabled: NVML not available"))
    }
}
