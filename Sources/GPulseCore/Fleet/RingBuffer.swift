/// A fixed-capacity ring that keeps the newest `capacity` elements.
public struct RingBuffer<Element: Sendable>: Sendable {
    public let capacity: Int
    private var storage: [Element] = []
    private var next = 0

    public init(capacity: Int) {
        self.capacity = max(1, capacity)
        storage.reserveCapacity(self.capacity)
    }

    public var count: Int { storage.count }
    public var isEmpty: Bool { storage.isEmpty }

    public mutating func append(_ element: Element) {
        if storage.count < capacity {
            storage.append(element)
        } else {
            storage[next] = element
            next = (next + 1) % capacity
        }
    }

    /// Oldest first.
    public var elements: [Element] {
        storage.count < capacity ? storage : Array(storage[next...] + storage[..<next])
    }

    /// Folds the newest `n` elements (all when fewer), without copying them out.
    public func reduceNewest<Result>(_ n: Int, _ initial: Result, _ combine: (Result, Element) -> Result) -> Result {
        var result = initial
        let count = min(n, storage.count)
        for i in 0..<count {
            result = combine(result, storage[index(back: i)])
        }
        return result
    }

    /// Storage index of the element `i` places before the newest.
    private func index(back i: Int) -> Int {
        storage.count < capacity ? storage.count - 1 - i : (next - 1 - i + 2 * capacity) % capacity
    }

    public var last: Element? {
        guard !storage.isEmpty else { return nil }
        return storage.count < capacity ? storage.last : storage[(next - 1 + capacity) % capacity]
    }
}
