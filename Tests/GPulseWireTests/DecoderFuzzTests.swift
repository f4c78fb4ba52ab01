import GPulseCore
import GPulseWire
import Testing

/// Throws 100,000+ random and mutated byte strings at the decoder. The decoder's signature only
/// allows `WireError`, so the property checked is: no crash, and every accepted batch obeys the rules.
@Suite struct DecoderFuzzTests {
    @Test func randomAndMutatedInputsNeverCrash() {
        var rng = SplitMix64(state: 0x6770_756C_7365)
        let decoder = MetricsBatchDecoder()
        let seed = MetricsBatchEncoder().encode(realisticBatch())
        var accepted = 0
        var rejected: [String: Int] = [:]

        func feed(_ bytes: [UInt8]) {
            do {
                let decoded = try decoder.decode(bytes)
                accepted += 1
                // Anything accepted must satisfy the same rules a fresh validation applies.
                #expect(!decoded.batch.labels.nodeID.isEmpty)
                for s in decoded.batch.series {
                    #expect(s.offsetsMicros.count == s.values.count)
                    #expect(throws: Never.self) { try MetricsBatchDecoder.validate(s.values, kind: s.kind, subject: s.subject) }
                }
            } catch {
                rejected[error.reason, default: 0] += 1
            }
        }

        for _ in 0..<50_000 {  // random bytes of random length
            let length = Int.random(in: 0...512, using: &rng)
            feed((0..<length).map { _ in UInt8.random(in: 0...255, using: &rng) })
        }
        for _ in 0..<60_000 {  // a valid batch with a few bytes flipped, cut, duplicated or inserted
            var bytes = seed
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let at = Int.random(in: 0..<bytes.count, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: bytes[at] ^= UInt8(1 << Int.random(in: 0..<8, using: &rng))
                case 1: bytes.removeSubrange(at...)
                case 2: bytes.insert(UInt8.random(in: 0...255, using: &rng), at: at)
                default: bytes[at] = UInt8.random(in: 0...255, using: &rng)
                }
                if bytes.isEmpty { break }
            }
            feed(bytes)
        }

        #expect(accepted + rejected.values.reduce(0, +) == 110_000)
        // Both outcomes must occur, or the mutations were too weak (or too strong) to test anything.
        #expect(accepted > 100)
        #expect(rejected["malformed", default: 0] > 10_000)
        #expect(rejected.count >= 4, "saw only \(rejected.keys.sorted())")
    }
}
