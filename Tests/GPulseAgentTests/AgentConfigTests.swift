import Foundation
import GPulseAgent
import Testing

@Suite struct AgentConfigTests {
    @Test func shippedExampleEqualsTheDefaultsAndAsksForTheAggregatorKey() throws {
        let path = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../config/agent.yaml").standardized.path
        let config = try AgentConfig.decode(path: path)
        #expect(config == AgentConfig(), "config/agent.yaml documents the defaults; keep them in step")
        // CURVE is the default, so the example is not usable until the aggregator's key is filled in.
        #expect(config.validate().map(\.keyPath) == ["security.aggregator_public_key"])
        #expect(config.validate(sends: false).isEmpty)
    }

    @Test func plaintextOrAKeyMakesTheDefaultsValid() throws {
        #expect(try AgentConfig.parse(yaml: "security: {mode: plaintext}\n").security.mode == .plaintext)
        let key = "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7"
        #expect(try AgentConfig.parse(yaml: "security: {aggregator_public_key: \"\(key)\"}\n").security.aggregatorPublicKey == key)
        let message = issues("").joined()
        #expect(message.contains("security.mode is curve, the default") && message.contains("--plaintext"), "\(message)")
    }

    @Test func emptyFileMeansDefaults() throws {
        #expect(try AgentConfig.decode(yaml: "") == AgentConfig())
    }

    @Test func partialFileKeepsOtherDefaults() throws {
        let c = try AgentConfig.parse(yaml: "node: {pool: p1}\ngroups: {fast: {rate_hz: 500}}\nsamplers: {cpu: {per_core: true}}\nsecurity: {mode: plaintext}\n")
        #expect(c.node.pool == "p1" && c.node.tier == .cloud)
        #expect(c.groups["fast"]?.rateHz == 500 && c.groups["gpu"]?.rateHz == 10)
        #expect(c.samplers.cpu.perCore && c.samplers.cpu.enabled)
    }

    /// Every issue of `yaml`, on the wire's terms (security included) when `sends`.
    func issues(_ yaml: String, sends: Bool = true) -> [String] {
        do {
            let config = try AgentConfig.decode(yaml: yaml)
            return config.validate(sends: sends).map(\.description)
        } catch {
            return error.issues.map(\.description)
        }
    }

    @Test func misspeltKeysAreErrorsWithLine() {
        #expect(issues("node:\n  pool: a\n  tiers: edge\n") == ["node.tiers (line 3): unknown key (known here: id, instance_class, pool, site, tier, workload)"])
    }

    /// Tier and workload are words from a fixed set: a wrong one is reported with its line, in the same
    /// pass as the checks on the values (as `check-config` and `run` read a file).
    @Test func aTierOrWorkloadOutsideItsSetIsReportedWithTheOtherProblems() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("agent-words-\(getpid()).yaml").path
        try "node: {tier: moon, workload: gaming}\naggregator: {publish_interval_ms: 5}\n".write(toFile: path, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: path) }
        let (config, decodeIssues) = try AgentConfig.decodeCollecting(path: path)
        let all = (decodeIssues + config.validate(sends: false)).map(\.description)
        #expect(all == [
            "node.tier (line 1): must be cloud or edge, got 'moon'",
            "node.workload (line 1): must be online or batch, got 'gaming'",
            "aggregator.publish_interval_ms: must be 10 to 10000, got 5",
        ])
    }

    @Test func everyBadValueIsReportedWithItsKeyPath() {
        let found = issues("""
            aggregator: {publish_interval_ms: 5}
            groups: {fast: {rate_hz: 5000}}
            samplers:
              rtt: {enabled: true, targets: ["nohost"]}
              memory: {group: nowhere}
            """, sends: false)
        #expect(found == [
            "aggregator.publish_interval_ms: must be 10 to 10000, got 5",
            "groups.fast.rate_hz: must be 1 to 1000 Hz, got 5000.0",
            "samplers.memory.group: names group 'nowhere', which is not under groups: (have app, engines, fast, gpu, gpu_slow, probes)",
            "samplers.rtt.targets[0]: 'nohost' is not host:port",
        ])
    }

    /// Sections are laid over their defaults key by key: an empty section is its defaults, each bad
    /// entry of a map or list is named on its own line, and a misspelt key lists the known ones.
    @Test func eachSectionIsCheckedKeyByKeyAgainstItsDefaults() throws {
        let c = try AgentConfig.parse(yaml: "security: {mode: plaintext}\nsamplers:\n  gpu:\n  cpu: {per_core: true}\n")
        #expect(c.samplers.gpu == AgentConfig.GPU() && c.samplers.cpu.perCore && c.samplers.cpu.group == "fast")
        #expect(issues("""
            groups:
              fast: {}
              slow: {rate_hz: x}
              gpu: {rate_hz: 20}
            samplers:
              engines:
                - {name: a, url: "http://127.0.0.1:1/metrics", tmeout_ms: 5}
              cpu: 5
            """, sends: false) == [
            "groups.fast.rate_hz (line 2): required key missing",
            "groups.slow.rate_hz (line 3): expected Double",
            "samplers.engines[0].tmeout_ms (line 7): unknown key (known here: group, max_page_bytes, metrics, name, preset, timeout_ms, url)",
            "samplers.cpu (line 8): expected a mapping of keys",
        ])
    }

    @Test func wrongTypesNameTheKey() {
        #expect(issues("aggregator: {send_queue_batches: lots}\n") == ["aggregator.send_queue_batches (line 1): expected Int"])
        #expect(issues("- just\n- a list\n") == ["(top level) (line 1): expected a mapping of keys"])
        #expect(issues("node: [unclosed\n").first?.hasPrefix("(top level): not valid YAML") == true)
    }
}
