import GPulseCore

/// A realistic batch: 10 series of 50 samples each (100 ms at 500 Hz), as the agent sends.
func realisticBatch(seq: UInt64 = 7) -> MetricsBatch {
    let kinds: [(SignalKind, String)] = [
        (.cpuUtil, ""), (.cpuIOWait, ""), (.memUsedFrac, ""), (.netRxBps, "eth0"), (.netTxBps, "eth0"),
        (.gpuUtil, "GPU-5f1c2a9e"), (.gpuMemUsedFrac, "GPU-5f1c2a9e"), (.gpuMemUsedBytes, "GPU-5f1c2a9e"),
        (.gpuPowerW, "GPU-5f1c2a9e"), (.rttMs, "10.0.0.5:7461"),
    ]
    let series = kinds.enumerated().map { i, pair in
        Series(
            kind: pair.0, subject: pair.1,
            offsetsMicros: (0..<50).map { UInt32($0 * 2000) },
            values: (0..<50).map { j in pair.0.isFraction ? Float((i + j) % 100) / 100 : Float(1000 * i + j) })
    }
    return MetricsBatch(
        labels: NodeLabels(nodeID: "gpu-node-17", pool: "llm-online", site: "cloud-eu-west", tier: .cloud, workload: .online, instanceClass: "on_demand"),
        session: 0xDEAD_BEEF_1234, seq: seq, t0UnixNanos: 1_763_856_000_123_456_789, series: series, droppedSamples: 3,
        probeLosses: [ProbeLoss(target: "10.0.0.5:7461", lost: 2)], agentVersion: "0.1.0")
}

/// Writes protobuf wire format by hand, independent of protobuf-c, to check field numbers and to
/// build messages our encoder would never produce.
struct ProtoWriter {
    var bytes: [UInt8] = []

    mutating func varint(_ value: UInt64) {
        var v = value
        while v >= 0x80 {
            bytes.append(UInt8(v & 0x7F) | 0x80)
            v >>= 7
        }
        bytes.append(UInt8(v))
    }
    mutating func tag(_ field: Int, _ wireType: Int) { varint(UInt64(field << 3 | wireType)) }
    mutating func uint(_ field: Int, _ value: UInt64) {
        tag(field, 0)
        varint(value)
    }
    mutating func bytesField(_ field: Int, _ payload: [UInt8]) {
        tag(field, 2)
        varint(UInt64(payload.count))
        bytes += payload
    }
    mutating func string(_ field: Int, _ s: String) { bytesField(field, Array(s.utf8)) }
    mutating func packedUInt32(_ field: Int, _ values: [UInt32]) {
        var inner = ProtoWriter()
        for v in values { inner.varint(UInt64(v)) }
        bytesField(field, inner.bytes)
    }
    mutating func packedFloat(_ field: Int, _ values: [Float]) {
        var payload: [UInt8] = []
        for v in values { withUnsafeBytes(of: v.bitPattern.littleEndian) { payload += $0 } }
        bytesField(field, payload)
    }
}

/// Deterministic generator so a failing fuzz case can be reproduced.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
