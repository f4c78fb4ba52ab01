import Synchronization

/// A bounded queue between a thread that waits for events (XIDs, application reports) and the
/// sampling thread that drains them at its tick. Past `capacity` waiting, events are counted as
/// dropped, never queued: a flood costs a counter, not memory.
public final class EventQueue<Element: Sendable>: Sendable {
    public let capacity: Int
    private let state = Mutex<(items: [Element], dropped: UInt64)>(([], 0))

    public init(capacity: Int) { self.capacity = max(1, capacity) }

    /// Queues `item`; false (and counted) when the queue is full.
    @discardableResult
    public func push(_ item: Element) -> Bool {
        state.withLock { s in
            guard s.items.count < capacity else {
                s.dropped += 1
                return false
            }
            s.items.append(item)
            return true
        }
    }

    /// Counts an event that was not queued for another reason (e.g. it did not parse).
    public func countDropped() { state.withLock { $0.dropped += 1 } }

    /// Events dropped so far.
    public var dropped: UInt64 { state.withLock { $0.dropped } }

    /// Moves the queued events, oldest first, to the end of `out`.
    public func drain(into out: inout [Element]) {
        state.withLock { s in
            out.append(contentsOf: s.items)
            s.items.removeAll(keepingCapacity: true)
        }
    }
}
