/// Moves a non-Sendable value (a ZeroMQ socket, say) from the thread that made it to the one thread
/// that owns it from then on. `take()` is called once, on the receiving thread; the thread start in
/// between orders the memory, which is what makes the unchecked Sendable sound.
public final class Handoff<Value>: @unchecked Sendable {
    private var value: Value?

    public init(_ value: Value) { self.value = value }

    public func take() -> Value {
        guard let v = value else { preconditionFailure("Handoff.take() called twice") }
        value = nil
        return v
    }
}
