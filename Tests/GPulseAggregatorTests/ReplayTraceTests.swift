import Testing

@testable import GPulseAggregator
@testable import GPulseCore

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
        let report = ReplayReport.run(trace: trace, config: AggregatorConfig(), policies: PoolConfig.policies, seed: 2, threads: 2)
        #expect(report.results.map(\.policy) == PoolConfig.policies)
        let md = report.markdown()
        #expect(md.contains("SIMULATED"))
        #expect(md.contains("Goal for cost_aware"))
        #expect(report.csvRows().count == 5)
        #expect(report.svg().hasPrefix("<svg"))
        #expect(report.svg().components(separatedBy: "<polyline").count == 11)
    }
}
