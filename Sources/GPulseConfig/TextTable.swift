import Foundation

/// The plain-text tables the commands print (`status`, `forecast-eval`): columns padded to their
/// widest cell, the first left-aligned and the rest right-aligned.
public enum TextTable {
    /// The rows as lines; every row has the first row's number of cells.
    public static func render(_ rows: [[String]]) -> [String] {
        guard let first = rows.first else { return [] }
        let widths = first.indices.map { c in rows.map { $0[c].count }.max() ?? 0 }
        return rows.map { row in
            row.enumerated().map { c, cell in
                c == 0 ? cell.padding(toLength: widths[c], withPad: " ", startingAt: 0) : String(repeating: " ", count: widths[c] - cell.count) + cell
            }.joined(separator: "  ")
        }
    }

    /// `v` with `digits` decimals, or "n/a" when it is not finite.
    public static func number(_ v: Double, _ digits: Int) -> String {
        v.isFinite ? String(format: "%.\(digits)f", v) : "n/a"
    }
}
