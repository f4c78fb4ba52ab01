import Foundation
import GPulseAggregatorConfig
import Testing

@testable import GPulseCore
@testable import GPulseReplay

/// Trace readers on slices cut from the real files in shared/data (the first rows of each, as
/// published; the Azure files end lines with CRLF), with malformed rows added where a test says so.
@Suite struct ReplayTraceTests {
    // azure_llm_2023_code.csv, lines 1-5.
    static let azureCode =
        "TIMESTAMP,ContextTokens,GeneratedTokens\r\n2023-11-16 18:17:03.9799600,4808,10\r\n2023-11-16 18:17:04.0319600,3180,8\r\n"
        + "2023-11-16 18:17:04.0781490,110,27\r\n2023-11-16 18:17:04.1206440,7433,14\r\n"
    // alibaba_gentd26_requests.csv, lines 1-4.
    static let gentd = """
        gmt_create,predict_type,predict_status,exec_time_seconds,groupId,prompt_length,negative_prompt_length,num_images_per_prompt,num_inference_steps,checkpoint_model_version_id,num_lora
        2024-11-15 16:57:50,TXT_2_IMG,SUCCEED,32.0,G0000,63.0,26.0,1.0,30.0,M0000,0
        2024-11-15 18:16:14,TXT_2_IMG,SUCCEED,43.0,G0001,93.0,,1.0,40.0,M0001,0
        2024-11-15 18:17:06,TXT_2_IMG,SUCCEED,36.0,G0001,93.0,,8.0,40.0,M0001,0

        """

    @Test func azureRowsBecomeRequestsWithTokenModelServiceTimes() throws {
        let t = try ReplayTrace.parse(csv: Self.azureCode, name: "code", format: nil, options: TraceOptions(prefillTokensPerSecond: 4000, decodeTokensPerSecond: 20))
        #expect(t.format == .azure)
        #expect(t.requests.count == 4)
        #expect(t.rejected.isEmpty)
        #expect(abs(t.requests[0].service - (4808.0 / 4000 + 10.0 / 20)) < 1e-9)
        #expect(abs(t.requests[3].arrival - (4.1206440 - 3.9799600)) < 1e-6)
        #expect(t.startUnixSeconds == 1_700_158_623)  // 2023-11-16 18:17:03 UTC
    }

    @Test func malformedAzureRowsAreRejectedWithTheirLineNumbers() throws {
        let csv = Self.azureCode.replacingOccurrences(of: "2023-11-16 18:17:04.0319600,3180,8", with: "2023-11-16 18:17:04.0319600,3180")
            + "2023-13-16 18:17:05.0,1,1\r\n2023-11-16 18:17:05.5,-4,1\r\n2023-11-16 18:17:06.0,12,abc\r\n"
        let t = try ReplayTrace.parse(csv: csv, name: "code", format: .azure, options: TraceOptions())
        #expect(t.requests.count == 3)
        #expect(t.rejected.map(\.line) == [3, 6, 7, 8])
        #expect(t.rejected[0].reason.contains("expected 3 columns"))
        #expect(t.rejected[1].reason.contains("timestamp"))
    }

    @Test func gentdRowsUseTheRecordedExecutionTime() throws {
        let t = try ReplayTrace.parse(csv: Self.gentd, name: "gentd", format: nil, options: TraceOptions())
        #expect(t.format == .gentd26)
        #expect(t.requests.map(\.service) == [32, 43, 36])
        #expect(t.requests.map(\.arrival) == [0, 4704, 4756])
        let bad = Self.gentd + "2024-11-15 18:20:00,TXT_2_IMG,SUCCEED,,G0001,93.0,,8.0,40.0,M0001,0\n"
        let t2 = try ReplayTrace.parse(csv: bad, name: "gentd", format: nil, options: TraceOptions())
        #expect(t2.rejected.map(\.line) == [5])
        #expect(t2.requests.count == 3)
    }

    @Test func rateRowsBecomePoissonArrivalsAtTheRowsRate() throws {
        // servegen_m_small_rate_10min.csv, lines 1-4 (requests per second over 600 s rows), scaled by 0.01.
        let csv = "window_start_s,requests_per_s\n0,809.7617\n600,789.8667\n1200,788.4233\n"
        let options = TraceOptions(rateScale: 0.01, seed: 5)
        let t = try ReplayTrace.parse(csv: csv, name: "servegen", format: nil, options: options)
        #expect(t.format == .rate)
        #expect(t.durationSeconds == 1800)
        let expected = (809.7617 + 789.8667 + 788.4233) * 600 * 0.01
        #expect(abs(Double(t.requests.count) - expected) < 4 * expected.squareRoot())  // Poisson: within 4 σ
        #expect(t.requests.allSatisfy { $0.arrival >= 0 && $0.arrival < 1800 })
        #expect(zip(t.requests, t.requests.dropFirst()).allSatisfy { $0.arrival <= $1.arrival })
        let again = try ReplayTrace.parse(csv: csv, name: "servegen", format: nil, options: options)
        #expect(again.requests == t.requests)
    }

    @Test func perRowCountsAndMissingValuesInRateTraces() throws {
        // nasa_http_1995_per_minute.csv, lines 39693-39695: the July log ends at 13:32 (empty = no data).
        let csv = "minute_start_local,requests\n1995-07-28T13:31,60\n1995-07-28T13:32,\n1995-07-28T13:33,\n1995-07-28T13:34,x\n"
        let t = try ReplayTrace.parse(csv: csv, name: "nasa", format: nil, options: TraceOptions())
        #expect(t.rejected.map(\.line) == [5])
        #expect(abs(Double(t.requests.count) - 60) < 4 * 60.0.squareRoot())  // 60 per minute, not per second
        #expect(t.requests.allSatisfy { $0.arrival < 60 })
        #expect(t.method.contains("2 rows without data"))
    }

    @Test func unreadableInputIsAClearError() {
        #expect(throws: ReplayTrace.LoadError.self) { try ReplayTrace.parse(csv: "a,b,c\n1,2,3\n", name: "x", format: nil, options: TraceOptions()) }
        #expect(throws: ReplayTrace.LoadError.self) { try ReplayTrace.parse(csv: "", name: "x", format: nil, options: TraceOptions()) }
        #expect(throws: ReplayTrace.LoadError.self) {
            try ReplayTrace.parse(csv: "TIMESTAMP,ContextTokens,GeneratedTokens\nnope,1,1\n", name: "x", format: nil, options: TraceOptions())
        }
    }

    @Test func theReportCarriesEveryPolicyAndTheGoalLine() throws {
        var csv = "window_start_s,requests_per_s\n"
        for i in 0..<12 { csv += "\(i * 600),\(i < 6 ? 0.6 : 1.8)\n" }
        let trace = try ReplayTrace.parse(csv: csv, name: "steps.csv", format: nil, options: TraceOptions(rateServiceMeanSeconds: 10, seed: 2))
        let report = ReplayReport.run(trace: trace, config: AggregatorConfig(), policies: PolicyKind.allCases.map(ReplayPolicy.live), seed: 2, threads: 2)
        #expect(report.results.map(\.policy) == PolicyKind.allCases.map(\.rawValue))
        let md = report.markdown()
        #expect(md.contains("SIMULATED"))
        #expect(md.contains("Goal for cost_aware"))
        #expect(report.csvRows().count == 5)
        #expect(report.svg().hasPrefix("<svg"))
        #expect(report.svg().components(separatedBy: "<polyline").count == 11)
    }

    // servegen_m_small_rate_10min.csv's layout: 10-minute rows of requests per second.
    static func rateRows(_ n: Int, header: String = "window_start_s,requests_per_s", step: Int = 600, value: String = "0.5") -> String {
        ([header] + (0..<n).map { "\($0 * step),\(value)" }).joined(separator: "\n") + "\n"
    }

    @Test func skippingSecondsOfARateTraceCountsTheSkipOnce() throws {
        let csv = Self.rateRows(24)  // 4 hours
        let t = try ReplayTrace.parse(csv: csv, name: "r", format: nil, options: TraceOptions(skipSeconds: 3600, limitSeconds: 7200))
        #expect(t.durationSeconds == 7200)
        #expect(t.requests.allSatisfy { $0.arrival >= 0 && $0.arrival < 7200 })
        let rest = try ReplayTrace.parse(csv: csv, name: "r", format: nil, options: TraceOptions(skipSeconds: 3600))
        #expect(rest.durationSeconds == 3 * 3600)
    }

    @Test func aSkipPastTheEndIsAnErrorNotACrash() {
        #expect(throws: ReplayTrace.LoadError.self) {
            try ReplayTrace.parse(csv: Self.rateRows(6), name: "r", format: nil, options: TraceOptions(skipSeconds: 1e7))
        }
        #expect(throws: ReplayTrace.LoadError.self) {
            try ReplayTrace.parse(csv: Self.azureCode, name: "code", format: nil, options: TraceOptions(skipSeconds: 1e7))
        }
    }

    @Test func aMinuteIndexIsReadAsMinutesAndAnUnnamedNumberIsRefused() throws {
        // "minute,count": 60 rows are an hour, not a minute.
        let minutes = try ReplayTrace.parse(csv: Self.rateRows(60, header: "minute,count", step: 1, value: "30"), name: "m", format: nil, options: TraceOptions())
        #expect(minutes.durationSeconds == 3600)
        #expect(minutes.method.contains("60 s rows"))
        // 30 a minute for an hour: about 1,800 requests (Poisson, seeded).
        #expect(abs(minutes.requests.count - 1800) < 200)
        do {
            _ = try ReplayTrace.parse(csv: Self.rateRows(60, header: "t,count", step: 1), name: "m", format: nil, options: TraceOptions())
            Issue.record("an unnamed numeric time column was accepted")
        } catch {
            #expect(error.description.contains("--time-unit"))
        }
        let given = try ReplayTrace.parse(csv: Self.rateRows(60, header: "t,count", step: 1, value: "30"), name: "m", format: nil, options: TraceOptions(timeUnitSeconds: 60))
        #expect(given.durationSeconds == 3600)
    }

    @Test func outputsNeverOverwriteTheInput() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpulse-out-\(UInt32.random(in: 0...UInt32.max))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        // A trace whose name is one of the outputs', in the output directory.
        let trace = "\(dir)/x.md"
        #expect(FileManager.default.createFile(atPath: trace, contents: Data(Self.rateRows(3).utf8)))
        #expect(throws: ReplayReport.Outputs.Collision.self) { try ReplayReport.Outputs(directory: dir, traceName: "x.md", inputPath: trace) }
        #expect(throws: ReplayReport.Outputs.Collision.self) { try ReplayReport.Outputs(directory: dir + "/.", traceName: "x.md", inputPath: trace) }
        // The shared/data layout: outputs beside the trace never take its name.
        let plain = "\(dir)/servegen.csv"
        let outputs = try ReplayReport.Outputs(directory: dir, traceName: "servegen.csv", inputPath: plain)
        #expect(!outputs.all.contains(plain))
        #expect(outputs.csv == "\(dir)/servegen.replay.csv")
    }

    @Test func theSweepPicksTheCheapestSettingAtEqualOrBetterSLA() throws {
        // A real (small) sweep: the first 20 minutes of the Azure code trace's layout, built from a
        // seeded step of arrivals (2/s, then 6/s), replayed through threshold and a static grid.
        var rng = SeededGenerator(seed: 9)
        var t = 0.0
        var rows = ["TIMESTAMP,ContextTokens,GeneratedTokens"]
        while t < 1200 {
            t += rng.exponential(mean: t < 600 ? 0.5 : 1.0 / 6)
            let s = Int(t)
            rows.append(String(format: "2023-11-16 18:%02d:%02d.%06d,2000,40", 17 + s / 60, s % 60, Int((t - Double(s)) * 1e6)))
        }
        let trace = try ReplayTrace.parse(csv: rows.joined(separator: "\n"), name: "step.csv", format: nil, options: TraceOptions())
        let report = ReplayReport.run(
            trace: trace, config: AggregatorConfig(), policies: [.live(.threshold), .live(.costAware)], seed: 1, sweep: SweepPlan(threshold: true, staticFleet: true))
        #expect(report.sweep.filter { $0.family == .threshold }.count == SweepPlan.thresholdGrid.count)
        #expect(report.sweep.contains { $0.family == .staticFleet })
        for r in report.results {
            for family in SweepFamily.allCases {
                let eligible = report.sweep.filter { $0.family == family && $0.result.slaViolationRate <= r.slaViolationRate }
                guard let best = report.cheapest(family, atMost: r) else {
                    #expect(eligible.isEmpty)
                    continue
                }
                #expect(best.result.slaViolationRate <= r.slaViolationRate)
                #expect(eligible.allSatisfy { $0.result.totalCost >= best.result.totalCost })
            }
        }
        // The static sizes are monotone: more replicas never cost less.
        let statics = report.sweep.filter { $0.family == .staticFleet }.map(\.result)
        for (a, b) in zip(statics, statics.dropFirst()) { #expect(a.totalCost <= b.totalCost + 1e-9) }
        #expect(report.markdown().contains("vs tuned threshold, equal SLA"))
        #expect(report.goal().contains("cheapest tuned threshold") || report.goal().contains("no tuned threshold"))
    }
}
