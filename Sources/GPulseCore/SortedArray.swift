extension Array where Element: Comparable {
    /// Where `value` is, or would be inserted, in this array sorted ascending: the first index whose
    /// element is not below `value` (`count` when all are), by binary search.
    func insertionIndex(of value: Element) -> Int {
        var lo = 0, hi = count
        while lo < hi {
            let mid = (lo + hi) / 2
            if self[mid] < value { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
}
