/// Parses /proc/net/dev without allocating: per interface, cumulative receive and transmit bytes.
public enum NetDevParser {
    /// Calls `body(name, rxBytes, txBytes)` per interface line; `name` is valid only during the call.
    public static func forEachInterface(_ text: UnsafeRawBufferPointer, _ body: (UnsafeRawBufferPointer, UInt64, UInt64) -> Void) {
        var i = 0
        while i < text.count {
            let end = ProcText.lineEnd(text, from: i)
            // Header lines have '|' and no ':'; interface lines are "  name: rx_bytes ... tx_bytes ...".
            if let colon = ProcText.firstIndex(of: UInt8(ascii: ":"), in: text, from: i, to: end) {
                var start = i
                while start < colon, text[start] == UInt8(ascii: " ") { start += 1 }
                var fields = (UInt64(0), UInt64(0))
                var p = colon + 1
                var n = 0
                while n <= 8, let v = ProcText.unsigned(text, &p, end) {
                    if n == 0 { fields.0 = v } else if n == 8 { fields.1 = v }
                    n += 1
                }
                // Nine numbers are needed to reach tx_bytes; a truncated line is skipped.
                if n == 9, colon > start {
                    body(UnsafeRawBufferPointer(rebasing: text[start..<colon]), fields.0, fields.1)
                }
            }
            i = end + 1
        }
    }

    /// The byte delta between two readings of a counter. A drop below a 32-bit previous value is taken
    /// as a 32-bit wrap (old drivers); any other drop is a reset and gives no delta.
    public static func delta(previous: UInt64, current: UInt64) -> UInt64? {
        if current >= previous { return current - previous }
        if previous <= UInt64(UInt32.max) { return current &+ (UInt64(UInt32.max) + 1) &- previous }
        return nil
    }
}

/// Per-interface receive and transmit bytes per second from /proc/net/dev. Interfaces may appear
/// (first sight sets a baseline) and disappear (their state is dropped) between ticks.
public final class NetworkSampler: Sampler {
    public let name = "network"
    private struct Interface {
        let name: [UInt8]
        let rx: SignalID
        let tx: SignalID
        var rxBytes: UInt64
        var txBytes: UInt64
        var at: UInt64
        var seen: Bool
    }
    private let file: ProcFile
    private let signals: SignalTable
    /// Names to watch; empty means every interface except loopback.
    private let only: [[UInt8]]
    private var interfaces: [Interface] = []

    public init(procRoot: String, interfaces: [String] = [], signals: SignalTable) throws(ProcFileError) {
        file = try ProcFile(path: procRoot + "/net/dev")
        self.signals = signals
        only = interfaces.map { Array($0.utf8) }
    }

    public func sample(into sink: inout SampleSink) throws {
        let text = try file.read()
        let now = sink.monotonicNanos
        for i in interfaces.indices { interfaces[i].seen = false }
        NetDevParser.forEachInterface(text) { name, rx, tx in
            if only.isEmpty ? name.elementsEqual("lo".utf8) : !only.contains(where: { $0.elementsEqual(name) }) { return }
            guard let index = interfaces.firstIndex(where: { $0.name.elementsEqual(name) }) else {
                // First sight: register its signals (the only allocation, once per interface).
                let n = String(decoding: name, as: UTF8.self)
                interfaces.append(Interface(
                    name: Array(name), rx: signals.id(.netRxBps, subject: n), tx: signals.id(.netTxBps, subject: n),
                    rxBytes: rx, txBytes: tx, at: now, seen: true))
                return
            }
            var iface = interfaces[index]
            let dt = Double(now &- iface.at) / 1e9
            if dt > 0 {
                if let d = NetDevParser.delta(previous: iface.rxBytes, current: rx) { sink.emit(iface.rx, Float(Double(d) / dt)) }
                if let d = NetDevParser.delta(previous: iface.txBytes, current: tx) { sink.emit(iface.tx, Float(Double(d) / dt)) }
            }
            iface.rxBytes = rx
            iface.txBytes = tx
            iface.at = now
            iface.seen = true
            interfaces[index] = iface
        }
        // Interfaces gone from the file lose their baseline; if they come back they start afresh.
        interfaces.removeAll { !$0.seen }
    }
}
