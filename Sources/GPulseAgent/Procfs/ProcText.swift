/// Byte-level scanning shared by the procfs parsers. Nothing here allocates, so parsing stays off
/// the allocator on the sampling tick.
enum ProcText {
    @inline(__always) static func isDigit(_ c: UInt8) -> Bool { c >= 48 && c <= 57 }

    /// Index of the newline ending the line that starts at `start` (or `text.count`).
    @inline(__always) static func lineEnd(_ text: UnsafeRawBufferPointer, from start: Int) -> Int {
        firstIndex(of: UInt8(ascii: "\n"), in: text, from: start, to: text.count) ?? text.count
    }

    static func firstIndex(of byte: UInt8, in text: UnsafeRawBufferPointer, from: Int, to: Int) -> Int? {
        var i = from
        while i < to {
            if text[i] == byte { return i }
            i += 1
        }
        return nil
    }

    /// Skips spaces, then reads an unsigned decimal, leaving `p` after it. Nil (with `p` on the
    /// offending byte) when the next non-space byte before `end` is not a digit.
    @inline(__always) static func unsigned(_ text: UnsafeRawBufferPointer, _ p: inout Int, _ end: Int) -> UInt64? {
        while p < end, text[p] == UInt8(ascii: " ") { p += 1 }
        guard p < end, isDigit(text[p]) else { return nil }
        var v: UInt64 = 0
        while p < end, isDigit(text[p]) {
            v = v &* 10 &+ UInt64(text[p] &- 48)
            p += 1
        }
        return v
    }
}
