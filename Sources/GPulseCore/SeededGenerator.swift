#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// SplitMix64 (Steele, Lea, Flood 2014): a small, fast generator whose whole state is one seed, so
/// a replay with the same `--seed` draws the same arrivals and preemptions on every machine.
public struct SeededGenerator: RandomNumberGenerator, Sendable {
    private var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1]: never 0, so `log` of it is finite.
    public mutating func unit() -> Double { (Double(next() >> 11) + 1) / 9_007_199_254_740_992 }

    /// An exponential draw with the given mean.
    public mutating func exponential(mean: Double) -> Double { -mean * log(unit()) }

    /// A generator for an independent stream (arrivals, preemptions) derived from this seed.
    public func stream(_ index: UInt64) -> SeededGenerator {
        var g = SeededGenerator(seed: state ^ (index &* 0xD1B5_4A32_D192_ED03))
        _ = g.next()
        return g
    }
}
