import Foundation

/// A procfs copy in a temporary directory. `advance(to:)` rewrites files in place (same inode), the way
/// the kernel's files change under a descriptor the sampler keeps open.
final class ProcfsFixture {
    let root: URL
    private let source: URL

    init(_ name: String) throws {
        source = Bundle.module.url(forResource: "Fixtures/\(name)", withExtension: nil)!
        root = FileManager.default.temporaryDirectory.appendingPathComponent("gpulse-proc-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: root, withIntermediateDirectories: true)
        try advance(to: "proc0")
    }

    deinit { try? FileManager.default.removeItem(at: root) }

    var path: String { root.path }

    func advance(to snapshot: String) throws {
        let dir = source.appendingPathComponent(snapshot)
        for file in try FileManager.default.subpathsOfDirectory(atPath: dir.path) {
            let from = dir.appendingPathComponent(file)
            var isDir: ObjCBool = false
            guard FileManager.default.fileExists(atPath: from.path, isDirectory: &isDir), !isDir.boolValue else { continue }
            let to = root.appendingPathComponent(file)
            try FileManager.default.createDirectory(at: to.deletingLastPathComponent(), withIntermediateDirectories: true)
            let data = try Data(contentsOf: from)
            if FileManager.default.fileExists(atPath: to.path) {
                let handle = try FileHandle(forWritingTo: to)
                try handle.truncate(atOffset: 0)
                try handle.write(contentsOf: data)
                try handle.close()
            } else {
                try data.write(to: to)
            }
        }
    }
}
