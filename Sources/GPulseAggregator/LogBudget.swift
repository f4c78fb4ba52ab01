/// At most `lines` log lines per window of `windowSeconds`, counting what it held back, so that a
/// flood of events (rejections, forged node ids) is a bounded number of lines. A window opens at the
/// first event after the previous one closed. Pure: the caller passes the time.
struct LogBudget {
    let lines: Int
    let windowSeconds: Double
    private var windowStart = -Double.infinity
    private var written = 0
    private var heldBack = 0

    init(lines: Int, windowSeconds: Double) {
        self.lines = lines
        self.windowSeconds = windowSeconds
    }

    /// Whether a line for an event at `now` may be written, and how many events the window that just
    /// closed held back (0 unless this event opened a new window).
    mutating func take(at now: Double) -> (write: Bool, heldBackBefore: Int) {
        var before = 0
        if now - windowStart >= windowSeconds {
            before = heldBack
            windowStart = now
            written = 0
            heldBack = 0
        }
        guard written < lines else {
            heldBack += 1
            return (false, before)
        }
        written += 1
        return (true, before)
    }
}
