#if canImport(Glibc)
import Glibc
#endif
import Foundation
import GPulseCore

/// What the aggregator has learned that a restart must not lose: the registry (with each agent's
/// sequence tracker), every pool's history and forecaster, and how far decision sequence numbers
/// may have gone.
public struct AggregatorSnapshot: Sendable, Codable {
    /// Bumped when the layout changes; a snapshot of another format is moved aside, not guessed at.
    public static let format = 1
    public var writtenAtNanos: Int64
    /// Decision sequence numbers up to this one may have been used (see `IngestLoop.seqReserve`).
    public var decisionSeqReserved: UInt64
    public var fleet: Fleet.Snapshot
    /// Each pool policy's cooldown clocks and standing capacity; absent in snapshots of older builds.
    public var policies: [String: PolicyMemory]?

    public init(writtenAtNanos: Int64, decisionSeqReserved: UInt64, fleet: Fleet.Snapshot, policies: [String: PolicyMemory]? = nil) {
        self.writtenAtNanos = writtenAtNanos
        self.decisionSeqReserved = decisionSeqReserved
        self.fleet = fleet
        self.policies = policies
    }
}

extension AggregatorSnapshot {
    /// The first value a checksum cannot vouch for: a file written by a broken or hostile build can be
    /// whole and still hold numbers that would trap the restored aggregator (a sequence near 2^64, times
    /// near Int64.min). nil when every value is one a running aggregator could have written by `nowNanos`.
    public func absurdity(nowNanos: Int64) -> String? {
        // Ten years back, a day ahead (clock steps); a running aggregator writes nothing outside that.
        let earliest = nowNanos.subtractingSaturating(10 * 365 * 86_400 * 1_000_000_000)
        let latest = nowNanos.addingSaturating(86_400 * 1_000_000_000)
        let sane = earliest...latest
        if decisionSeqReserved >= 1 << 62 { return "decision sequence reservation \(decisionSeqReserved) is beyond 2^62" }
        if !sane.contains(writtenAtNanos) { return "written at \(writtenAtNanos) ns, not within ten years before now" }
        for (id, node) in fleet.nodes.sorted(by: { $0.key < $1.key }) {
            if !sane.contains(node.firstSeenNanos) || !sane.contains(node.lastSeenNanos) {
                return "node \(id): first or last seen (\(node.firstSeenNanos), \(node.lastSeenNanos) ns) not within ten years before now"
            }
        }
        for (name, pool) in fleet.pools.sorted(by: { $0.key < $1.key }) {
            let seconds = sane.lowerBound / 1_000_000_000...sane.upperBound / 1_000_000_000
            if let bad = (pool.seconds.elements + pool.minutes.elements).first(where: { !seconds.contains($0.time) || !$0.demand.isFinite }) {
                return "pool \(name): a point at \(bad.time) s with demand \(bad.demand) is not one this aggregator could have recorded"
            }
        }
        for (pool, memory) in policies ?? [:] {
            for c in memory.commitments ?? [] where c.count < 0 || c.count > 1_000_000 {
                return "pool \(pool): a reserved commitment of \(c.count) nodes"
            }
        }
        return nil
    }
}

/// Why a snapshot could not be written or read; the message names the file and the errno text.
public struct SnapshotError: Error, CustomStringConvertible, Sendable {
    public var description: String
    public init(description: String) { self.description = description }
}

/// What loading a snapshot file found.
public enum SnapshotLoad: Sendable {
    /// No file: a first start.
    case none
    case restored(AggregatorSnapshot, bytes: Int)
    /// The file was unusable and has been renamed to `movedTo` (nil if even that failed).
    case corrupt(reason: String, movedTo: String?)
}

/// One snapshot file, replaced atomically: the new state goes to `<path>.tmp`, is fsynced, renamed
/// over `<path>`, and the directory is fsynced, so a crash at any point leaves either the old or the
/// new snapshot whole. The file is a header line, `GPULSE-SNAPSHOT <format> <bytes> <fnv1a64>`,
/// then the JSON body; a body of the wrong length or checksum is a truncated or damaged file.
public struct SnapshotStore: Sendable {
    public let path: String
    static let magic = "GPULSE-SNAPSHOT"

    public init(path: String) { self.path = path }

    public func encode(_ snapshot: AggregatorSnapshot) throws -> [UInt8] {
        let encoder = JSONEncoder()
        // Shortest round-trip decimal for every Double: a restored model is bit-for-bit the saved one.
        encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        return Self.frame(body: Array(try encoder.encode(snapshot)))
    }

    /// A file's bytes: the header line (format, length, checksum) and then `body`.
    public static func frame(body: [UInt8]) -> [UInt8] {
        let header = "\(magic) \(AggregatorSnapshot.format) \(body.count) \(String(fnv1a64(body), radix: 16))\n"
        return Array(header.utf8) + body
    }

    public func decode(_ bytes: [UInt8]) throws(SnapshotError) -> AggregatorSnapshot {
        guard let newline = bytes.prefix(200).firstIndex(of: 0x0A) else { throw SnapshotError(description: "no header line") }
        let fields = String(decoding: bytes[..<newline], as: UTF8.self).split(separator: " ")
        guard fields.count == 4, fields[0] == Self.magic, let format = Int(fields[1]), let length = Int(fields[2]),
            let checksum = UInt64(fields[3], radix: 16)
        else { throw SnapshotError(description: "header is not '\(Self.magic) <format> <bytes> <checksum>'") }
        guard format == AggregatorSnapshot.format else {
            throw SnapshotError(description: "format \(format), this build reads format \(AggregatorSnapshot.format)")
        }
        let body = bytes[(newline + 1)...]
        guard body.count == length else { throw SnapshotError(description: "body is \(body.count) bytes, header says \(length) (truncated?)") }
        guard fnv1a64(body) == checksum else { throw SnapshotError(description: "checksum mismatch (damaged file)") }
        let decoder = JSONDecoder()
        decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
        do {
            return try decoder.decode(AggregatorSnapshot.self, from: Data(body))
        } catch {
            throw SnapshotError(description: "body does not decode: \(error)")
        }
    }

    /// Writes `bytes` as the new snapshot (temporary file, fsync, rename, directory fsync).
    public func write(_ bytes: [UInt8]) throws(SnapshotError) {
        let temporary = path + ".tmp"
        let fd = open(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw failure("cannot create \(temporary)") }
        var written = 0
        while written < bytes.count {
            let n = bytes.withUnsafeBytes { Glibc.write(fd, $0.baseAddress! + written, bytes.count - written) }
            if n < 0 && errno == EINTR { continue }
            guard n > 0 else {
                let error = failure("cannot write \(temporary)")
                close(fd)
                unlink(temporary)
                throw error
            }
            written += n
        }
        guard fsync(fd) == 0 else {
            let error = failure("cannot fsync \(temporary)")
            close(fd)
            unlink(temporary)
            throw error
        }
        close(fd)
        guard rename(temporary, path) == 0 else {
            let error = failure("cannot rename \(temporary) to \(path)")
            unlink(temporary)
            throw error
        }
        // The rename is only durable once the directory entry is.
        let directory = open(directoryOf(path), O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        if directory >= 0 {
            _ = fsync(directory)
            close(directory)
        }
    }

    /// Reads the snapshot; a file that cannot be used is renamed to `<path>.corrupt-<unix seconds>`
    /// so the service can start fresh without destroying the evidence.
    public func load(nowNanos: Int64) -> SnapshotLoad {
        let bytes: [UInt8]
        do {
            guard let read = try readFile() else { return .none }
            bytes = read
        } catch {
            return .corrupt(reason: error.description, movedTo: moveAside(nowNanos: nowNanos))
        }
        do {
            let snapshot = try decode(bytes)
            if let absurd = snapshot.absurdity(nowNanos: nowNanos) {
                return .corrupt(reason: "checksum good but \(absurd)", movedTo: moveAside(nowNanos: nowNanos))
            }
            return .restored(snapshot, bytes: bytes.count)
        } catch {
            return .corrupt(reason: error.description, movedTo: moveAside(nowNanos: nowNanos))
        }
    }

    private func readFile() throws(SnapshotError) -> [UInt8]? {
        do {
            return [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch CocoaError.fileReadNoSuchFile {
            return nil
        } catch {
            // Foundation's message carries the reason (permission, a directory in the way, EIO).
            throw SnapshotError(description: "cannot read \(path): \(error.localizedDescription)")
        }
    }

    private func moveAside(nowNanos: Int64) -> String? {
        let target = "\(path).corrupt-\(nowNanos / 1_000_000_000)"
        return rename(path, target) == 0 ? target : nil
    }

    private func failure(_ what: String) -> SnapshotError {
        SnapshotError(description: "\(what): \(String(cString: strerror(errno)))")
    }
}

/// The directory part of `path` ("." when it has none).
public func directoryOf(_ path: String) -> String {
    guard let slash = path.lastIndex(of: "/") else { return "." }
    return slash == path.startIndex ? "/" : String(path[..<slash])
}

/// FNV-1a, 64 bit: cheap, and enough to tell a damaged file from a whole one (not a security check).
func fnv1a64<C: Collection>(_ bytes: C) -> UInt64 where C.Element == UInt8 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    for byte in bytes {
        hash ^= UInt64(byte)
        hash = hash &* 0x0000_0100_0000_01b3
    }
    return hash
}

