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

    /// Appends `element`; returns the oldest one when it had to make room for it.
    @discardableResult
    public mutating func append(_ element: Element) -> Element? {
        if storage.count < capacity {
            storage.append(element)
            return nil
        }
        let evicted = storage[next]
        storage[next] = element
        next = (next + 1) % capacity
        return evicted
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

/// Encoded oldest first, so a ring restores into any capacity (the newest elements win).
extension RingBuffer: Codable where Element: Codable {
    private enum CodingKeys: String, CodingKey { case capacity, elements }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let capacity = try c.decode(Int.self, forKey: .capacity)
        // A ring is at most a day of seconds or a few days of minutes; more is a damaged file.
        guard (1...10_000_000).contains(capacity) else {
            throw DecodingError.dataCorruptedError(forKey: .capacity, in: c, debugDescription: "ring capacity \(capacity) out of range")
        }
        self.init(capacity: capacity)
        for element in try c.decode([Element].self, forKey: .elements) { append(element) }
    }

    public func encode(to encoder: any Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encode(capacity, forKey: .capacity)
        try c.encode(elements, forKey: .elements)
    }

    /// The same elements in a ring of another capacity (the newest `capacity` of them).
    public func resized(to capacity: Int) -> RingBuffer {
        guard capacity != self.capacity else { return self }
        var out = RingBuffer(capacity: capacity)
        for element in elements { out.append(element) }
        return out
    }
}
