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
        let keys = ["GPULSE_FAKE_NVML_DEVICES", "GPULSE_FAKE_NVML_INIT_ERROR", "GPULSE_FAKE_NVML_MEMORY_ERROR", "GPULSE_FAKE_NVML_SAMPLES", "GPULSE_FAKE_NVML_MIG"]
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

    @Test func registryWithoutNVMLKeepsTheOtherSamplers() throws {
        var config = AgentConfig()
        config.samplers.gpu.library = "/nonexistent/libnvidia-ml.so.1"
        let registry = SamplerRegistry(config: config, context: try .init(), signals: SignalTable(), logger: .init(label: "test"))
        #expect(registry.samplerNames == ["cpu@fast", "memory@fast", "network@fast"])
        #expect(registry.notes.count == 1 && registry.notes[0].hasPrefix("gpu samplers disabled: NVML not available"))
    }
}
