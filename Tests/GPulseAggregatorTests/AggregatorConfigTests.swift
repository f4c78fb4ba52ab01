import Foundation
import GPulseAggregator
import GPulseConfig
import Testing

@Suite struct AggregatorConfigTests {
    @Test func theShippedExampleIsValidAndEqualsTheDefaults() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../config/aggregator.yaml")
        let config = try AggregatorConfig.load(path: url.standardized.path)
        #expect(config == AggregatorConfig())
    }

    @Test func badWeightsAreAClearError() {
        #expect {
            _ = try AggregatorConfig.parse(yaml: "load_index:\n  alpha: 0.5\n  beta: 0.5\n  gamma: 0.5\n")
        } throws: { error in
            (error as? ConfigError)?.issues.contains { $0.keyPath == "load_index.alpha" && $0.message.contains("sum to 1") } == true
        }
        #expect {
            _ = try AggregatorConfig.parse(yaml: "load_index:\n  alpha: 1.5\n  beta: -0.5\n  gamma: 0\n")
        } throws: { error in
            (error as? ConfigError)?.issues.contains { $0.keyPath == "load_index.beta" && $0.message.contains("non-negative") } == true
        }
    }

    @Test func unknownKeysAndWrongTypesNameTheKey() {
        #expect {
            _ = try AggregatorConfig.parse(yaml: "registry:\n  stale_after: 3\n")
        } throws: { error in
            (error as? ConfigError)?.issues.first.map { $0.keyPath == "registry.stale_after" && $0.line == 2 } == true
        }
        #expect {
            _ = try AggregatorConfig.parse(yaml: "forecast:\n  ar_order: many\n")
        } throws: { error in
            (error as? ConfigError)?.issues.first?.keyPath == "forecast.ar_order"
        }
        #expect {
            _ = try AggregatorConfig.parse(yaml: "registry:\n  stale_after_s: 30\n  down_after_s: 10\nforecast:\n  models: [prophet]\n")
        } throws: { error in
            let keys = (error as? ConfigError)?.issues.map(\.keyPath) ?? []
            return keys.contains("registry.down_after_s") && keys.contains("forecast.models")
        }
    }

    @Test func anEmptyFileMeansDefaults() throws {
        #expect(try AggregatorConfig.parse(yaml: "") == AggregatorConfig())
    }
}
