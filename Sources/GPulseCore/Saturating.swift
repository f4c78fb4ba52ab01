extension UInt64 {
    /// Adds `x`, stopping at `UInt64.max` instead of trapping: counters fed by numbers an agent sends
    /// (dropped samples, sequence gaps) must not let one forged batch crash the aggregator.
    @inline(__always) public mutating func addSaturating(_ x: UInt64) {
        let (sum, overflow) = addingReportingOverflow(x)
        self = overflow ? .max : sum
    }
}

extension Int64 {
    /// `self + x`, clamped to the representable range instead of trapping.
    @inline(__always) public func addingSaturating(_ x: Int64) -> Int64 {
        let (sum, overflow) = addingReportingOverflow(x)
        return overflow ? (x > 0 ? .max : .min) : sum
    }

    /// `self - x`, clamped to the representable range instead of trapping.
    @inline(__always) public func subtractingSaturating(_ x: Int64) -> Int64 {
        let (difference, overflow) = subtractingReportingOverflow(x)
        return overflow ? (x < 0 ? .max : .min) : difference
    }
}
