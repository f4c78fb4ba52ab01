// What the fuzz targets share: handing the process to libFuzzer's driver (`make fuzz` builds with
// -sanitize=fuzzer -DFUZZING) and reading a saved input (a plain build replays files).
#if canImport(Glibc)
import Glibc
#endif

/// libFuzzer's test callback: one input, 0 when it was handled.
public typealias FuzzTest = @convention(c) (UnsafePointer<UInt8>?, Int) -> CInt

#if FUZZING
/// libFuzzer's entry point for programs that keep their own main (SwiftPM executables do).
@_silgen_name("LLVMFuzzerRunDriver")
func LLVMFuzzerRunDriver(
    _ argc: UnsafeMutablePointer<CInt>, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>>, _ test: FuzzTest
) -> CInt

/// Runs libFuzzer's driver with the process's arguments (its usual flags) and exits with its status.
public func runLibFuzzer(_ test: FuzzTest) -> Never {
    var argc = CommandLine.argc
    var argv = CommandLine.unsafeArgv
    exit(LLVMFuzzerRunDriver(&argc, &argv, test))
}
#endif

/// The bytes of the file at `path`; nil (after printing why) when it cannot be opened.
public func readFuzzInput(_ path: String) -> [UInt8]? {
    guard let file = fopen(path, "rb") else {
        print("\(path): cannot open")
        return nil
    }
    defer { fclose(file) }
    var bytes: [UInt8] = []
    var chunk = [UInt8](repeating: 0, count: 65536)
    while case let n = fread(&chunk, 1, chunk.count, file), n > 0 { bytes += chunk[..<n] }
    return bytes
}

/// A fuzz target's whole `main`. Under libFuzzer (`make fuzz` builds with `-DFUZZING`) it hands over
/// to the driver with `test`; in a plain build it runs `replay` over each file named on the command
/// line, so that an input libFuzzer saved can be replayed under a debugger. `usage` is what to say
/// when no file is named.
public func runFuzzTarget(name: String, usage: String, test: FuzzTest, replay: ([UInt8]) -> Void) -> Never {
    #if FUZZING
    runLibFuzzer(test)
    #else
    let paths = CommandLine.arguments.dropFirst()
    guard !paths.isEmpty else {
        print("usage: \(name) FILE...   (\(usage); `make fuzz` builds the libFuzzer binary)")
        exit(2)
    }
    for path in paths.sorted() {
        guard let bytes = readFuzzInput(path) else { exit(1) }
        replay(bytes)
        print("\(path): \(bytes.count) bytes, no finding")
    }
    exit(0)
    #endif
}
