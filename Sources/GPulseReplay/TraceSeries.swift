import Foundation

/// A rate or count series read from a two-column CSV trace (time, value), such as the ones in
/// shared/data: the first column is seconds (`0, 600, ...`) or a local timestamp
/// (`1995-07-01T00:00`); an empty value means no data and stays nil.
public struct TraceSeries: Sendable {
    public var name: String
    public var values: [Double?]
    /// Seconds between rows, from the first two timestamps.
    public var stepSeconds: Int

    public init(name: String, values: [Double?], stepSeconds: Int) {
        self.name = name
        self.values = values
        self.stepSeconds = stepSeconds
    }

    public struct LoadError: Error, CustomStringConvertible {
        public var description: String
    }

    public static func load(path: String) throws(LoadError) -> TraceSeries {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
            throw LoadError(description: "\(path): cannot read the file")
        }
        return try parse(csv: text, name: (path as NSString).lastPathComponent)
    }

    public static func parse(csv: String, name: String) throws(LoadError) -> TraceSeries {
        var values: [Double?] = []
        var times: [Int] = []
        for (index, line) in csv.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline).enumerated() {
            let fields = line.split(separator: ",", omittingEmptySubsequences: false).map { $0.trimmingCharacters(in: .whitespaces) }
            guard fields.count >= 2 else { throw LoadError(description: "\(name) line \(index + 1): expected two columns, time and value") }
            guard let time = seconds(fields[0]) else {
                if index == 0 { continue }  // the header
                throw LoadError(description: "\(name) line \(index + 1): '\(fields[0])' is neither seconds nor YYYY-MM-DDTHH:MM[:SS]")
            }
            if fields[1].isEmpty {
                values.append(nil)
            } else if let v = Double(fields[1]), v.isFinite {
                values.append(v)
            } else {
                throw LoadError(description: "\(name) line \(index + 1): value '\(fields[1])' is not a number")
            }
            times.append(time)
        }
        guard times.count >= 2 else { throw LoadError(description: "\(name): fewer than two rows of data") }
        let step = times[1] - times[0]
        guard step > 0 else { throw LoadError(description: "\(name): the first two timestamps do not increase") }
        for i in 1..<times.count where times[i] - times[i - 1] != step {
            throw LoadError(description: "\(name) row \(i + 1): rows must be evenly spaced (\(step) s), found \(times[i] - times[i - 1]) s")
        }
        return TraceSeries(name: name, values: values, stepSeconds: step)
    }

    /// Seconds from a number or from an ISO-like local timestamp (days counted from 1970-01-01).
    static func seconds(_ text: String) -> Int? {
        if let n = Double(text), n.isFinite, abs(n) < 1e15 { return Int(n) }
        return timestamp(text).map { Int($0.rounded(.down)) }
    }

    /// Seconds since 1970-01-01 (read as UTC) of `YYYY-MM-DD[T| ]HH:MM[:SS[.fraction]]`; nil when the
    /// text is not one or a field is out of range.
    static func timestamp(_ text: String) -> Double? {
        let halves = text.trimmingCharacters(in: .whitespaces).split(whereSeparator: { $0 == " " || $0 == "T" })
        guard halves.count == 2 else { return nil }
        let date = halves[0].split(separator: "-").map { Int($0) }
        let time = halves[1].split(separator: ":")
        guard date.count == 3, let y = date[0], let mo = date[1], let d = date[2], (2...3).contains(time.count),
            let h = Int(time[0]), let m = Int(time[1]), let s = time.count == 3 ? Double(time[2]) : 0,
            (1...12).contains(mo), (1...31).contains(d), (0...23).contains(h), (0...59).contains(m), s >= 0, s < 61
        else { return nil }
        return Double(daysFromCivil(year: y, month: mo, day: d) * 86_400 + h * 3600 + m * 60) + s
    }

    /// Howard Hinnant's days_from_civil: proleptic Gregorian date to days since 1970-01-01.
    static func daysFromCivil(year: Int, month: Int, day: Int) -> Int {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let mp = (month + 9) % 12
        let doy = (153 * mp + 2) / 5 + day - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        return era * 146_097 + doe - 719_468
    }
}
