/// A walk over a `MetricsBatch`'s protobuf fields before protobuf-c unpacks it, so that what is
/// cheap to refuse is refused at about the cost of reading the bytes once:
/// - counts: a 4 MiB message of empty series would unpack into about two million structs (some
///   330 MB) before the series limit is checked; here it is refused first (`too_many_series`);
/// - NUL bytes in strings: C strings end at the first NUL, so "gpu-a\0x" would arrive as "gpu-a"
///   and speak for another node (`nul_in_string`).
/// Field numbers are those of proto/gpulse/v1/metrics.proto. Nothing is allocated.
struct Prescan {
    var series = 0
    var probeLosses = 0

    /// MetricsBatch fields that are strings, and the field each names in errors.
    private static let batchStrings: [UInt64: String] = [1: "node_id", 4: "pool", 5: "site", 8: "instance_class", 14: "agent_version"]
    private static let seriesField: UInt64 = 10
    private static let probeLossField: UInt64 = 13

    /// Throws what the decoder would refuse anyway, only sooner: malformed framing, a NUL in a
    /// string, more series or probe losses than `limits.maxSeries`.
    static func check(_ bytes: UnsafeRawBufferPointer, limits: WireLimits) throws(WireError) -> Prescan {
        var scan = Prescan()
        try walk(bytes) { (field, payload) throws(WireError) in
            guard let payload else { return }
            // Past a limit only the count goes on (the error gives the whole count).
            if field == seriesField {
                scan.series += 1
                guard scan.series <= limits.maxSeries else { return }
                try walk(payload) { (f, p) throws(WireError) in if f == 2, let p { try noNUL(p, field: "series.subject") } }
            } else if field == probeLossField {
                scan.probeLosses += 1
                guard scan.probeLosses <= limits.maxSeries else { return }
                try walk(payload) { (f, p) throws(WireError) in if f == 1, let p { try noNUL(p, field: "probe_losses.target") } }
            } else if let name = batchStrings[field] {
                try noNUL(payload, field: name)
            }
        }
        guard scan.series <= limits.maxSeries else { throw .tooManySeries(count: scan.series, limit: limits.maxSeries) }
        guard scan.probeLosses <= limits.maxSeries else { throw .tooManyProbeLosses(count: scan.probeLosses, limit: limits.maxSeries) }
        return scan
    }

    private static func noNUL(_ bytes: UnsafeRawBufferPointer, field: String) throws(WireError) {
        if bytes.contains(0) { throw .nulInString(field: field) }
    }

    /// Calls `body` with each field number and, for length-delimited fields, the payload (nil for
    /// the other wire types, which are skipped). Groups (wire types 3 and 4) do not occur in proto3.
    private static func walk(
        _ bytes: UnsafeRawBufferPointer, _ body: (UInt64, UnsafeRawBufferPointer?) throws(WireError) -> Void
    ) throws(WireError) {
        var i = 0
        let n = bytes.count
        func varint() throws(WireError) -> UInt64 {
            var value: UInt64 = 0
            var shift: UInt64 = 0
            while true {
                guard i < n, shift < 64 else { throw .malformed(bytes: n) }
                let b = bytes[i]
                i += 1
                value |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { return value }
                shift += 7
            }
        }
        while i < n {
            let tag = try varint()
            let field = tag >> 3
            guard field != 0 else { throw .malformed(bytes: n) }
            switch tag & 7 {
            case 0: _ = try varint()
            case 1:
                guard n - i >= 8 else { throw .malformed(bytes: n) }
                i += 8
            case 5:
                guard n - i >= 4 else { throw .malformed(bytes: n) }
                i += 4
            case 2:
                let length = try varint()
                guard length <= UInt64(n - i) else { throw .malformed(bytes: n) }
                let payload = UnsafeRawBufferPointer(rebasing: bytes[i..<(i + Int(length))])
                i += Int(length)
                try body(field, payload)
                continue
            default: throw .malformed(bytes: n)
            }
            try body(field, nil)
        }
    }
}
