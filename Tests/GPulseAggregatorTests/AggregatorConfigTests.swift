import Foundation
import GPulseAggregator
import GPulseAggregatorConfig
import GPulseConfig
import GPulseCore
import GPulseTransport
import Testing

@Suite struct AggregatorConfigTests {
    /// Every setting GPulseCore can name in a problem maps to a key the file really has: writing a
    /// list where that key's number goes is a type error at that key, not an unknown key.
    @Test func everyCoreSettingNamesARealKey() {
        let settings: [FleetSettings.Setting] =
            [
                .staleAfter, .downAfter, .forgetAfter, .rawWindow, .loadWindow, .maxSamplesPerSeries, .maxSeriesPerNode, .secondsKept,
                .minutesKept, .refresh, .maxNodes, .maxPools, .forgetPoolAfter, .newNodesPerPeer,
            ] + LoadIndexSettings.Setting.allCases.map { .loadIndex($0) } + ForecastSettings.Setting.allCases.map { .forecast($0) }
        for setting in settings {
            let parts = setting.configKey.split(separator: ".").map(String.init)
            var yaml = ""
            for (depth, part) in parts.enumerated() {
                yaml += String(repeating: "  ", count: depth) + part + ":" + (depth == parts.count - 1 ? " {not: a number}\n" : "\n")
            }
            do {
                _ = try AggregatorConfig.parse(yaml: yaml)
                Issue.record(Comment(rawValue: "\(setting.configKey): a map where a number goes was accepted"))
            } catch {
                // `parse` throws only ConfigError.
                let issue = error.issues.first { $0.keyPath == setting.configKey }
                let what = "\(setting.configKey): \(error)"
                #expect(issue != nil && issue?.message.contains("unknown key") == false, Comment(rawValue: what))
            }
        }
    }

    @Test func aWordOutsideItsSetNamesTheAllowedOnes() {
        let yaml = """
            security: {mode: bogus}
            load_index: {gpu_signal: sm}
            pools:
              default: {policy: magic}
            forecast: {models: [ar, prophet]}
            registry: {unlisted_pools: maybe}
            instance_classes:
              on_demand: {kind: on_demand}
              h100: {kind: preemptible}

            """
        #expect {
            _ = try AggregatorConfig.parse(yaml: yaml)
        } throws: { error in
            let issues = (error as? ConfigError)?.issues ?? []
            func message(_ key: String) -> String { issues.first { $0.keyPath == key }?.message ?? "" }
            return issues.count == 6 && message("security.mode").contains("must be curve or plaintext, got 'bogus'")
                && message("load_index.gpu_signal").contains("utilization, memory, max or sm_active")
                && message("pools.default.policy").contains("threshold, hpa, kpa, predictive or cost_aware, got 'magic'")
                && message("forecast.models[1]").contains("unknown model 'prophet'") && message("registry.unlisted_pools").contains("accept or refuse")
                && message("instance_classes.h100.kind").contains("reserved, on_demand, spot or serverless, got 'preemptible'")
        }
    }

    @Test func theShippedExampleIsValidAndEqualsTheDefaults() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../config/aggregator.yaml")
        let config = try AggregatorConfig.load(path: url.standardized.path)
        #expect(config == AggregatorConfig())
    }

    @Test func theKEDAEndpointIsOffByDefaultAndItsTLSFilesComeInPairs() throws {
        #expect(AggregatorConfig().keda.address == nil)
        let on = try AggregatorConfig.parse(yaml: "keda: {listen: \"127.0.0.1:9474\", tls: {cert: /c.pem, key: /k.pem, client_ca: /ca.pem}}\n")
        #expect(on.keda.address == ListenAddress("127.0.0.1:9474") && on.keda.tls.isOn && on.keda.tls.clientCA == "/ca.pem")
        #expect {
            _ = try AggregatorConfig.parse(yaml: "keda: {listen: \"nowhere\", tls: {cert: /c.pem, client_ca: /ca.pem}, tsl: {}}\n")
        } throws: { error in
            let issues = (error as? ConfigError)?.issues ?? []
            return issues.contains { $0.keyPath == "keda.listen" && $0.message.contains("host:port") }
                && issues.contains { $0.keyPath == "keda.tls.key" }
                && issues.contains { $0.keyPath.hasPrefix("keda.tsl") }
        }
        #expect {
            _ = try AggregatorConfig.parse(yaml: "keda: {listen: \"127.0.0.1:0\", tls: {client_ca: /ca.pem}}\n")
        } throws: { error in
            ((error as? ConfigError)?.issues ?? []).contains { $0.keyPath == "keda.tls.client_ca" && $0.message.contains("only over TLS") }
        }
    }

    @Test func aCurveKeyListedForTwoPeersOrNotAKeyIsAClearError() throws {
        let key = try CurveKeyPair.generate().publicKey
        #expect {
            _ = try AggregatorConfig.parse(yaml: "security:\n  mode: curve\n  agents: {gpu-a: \"\(key)\", gpu-b: \"\(key)\", gpu-c: short}\n")
        } throws: { error in
            let issues = (error as? ConfigError)?.issues ?? []
            return issues.contains { $0.keyPath == "security.agents.gpu-b" && $0.message.contains("same key as gpu-a") }
                && issues.contains { $0.keyPath == "security.agents.gpu-c" && $0.message.contains("not a CURVE public key") }
        }
    }

    @Test func endpointsAndRangesThatWouldFailOrTrapAtRunAreConfigErrors() {
        // Each of these passed check-config before and then failed or trapped `run`.
        #expect {
            _ = try AggregatorConfig.parse(yaml: """
                security: {mode: plaintext}
                endpoints: {metrics: "not an endpoint", decisions: "tcp://127.0.0.1:99999", control: "tcp://::1:7463"}
                ingest: {max_clock_ahead_s: 1e300}
                windows: {raw_s: 1e12, load_s: 1}
                decisions: {resend_interval_s: 1e300, valid_for_s: 1e300}
                registry: {forget_after_s: 1e12}
                """)
        } throws: { error in
            let keys = Set((error as? ConfigError)?.issues.map(\.keyPath) ?? [])
            return keys.isSuperset(of: [
                "endpoints.metrics", "endpoints.decisions", "endpoints.control", "ingest.max_clock_ahead_s", "windows.raw_s",
                "decisions.resend_interval_s", "decisions.valid_for_s", "registry.forget_after_s",
            ])
        }
        for good in ["tcp://0.0.0.0:7461", "tcp://[::1]:7461", "tcp://127.0.0.1:*", "ipc:///run/gpulse/x.sock", "inproc://a", "tcp://eth0;10.0.0.5:7461"] {
            #expect(EndpointSyntax.problem(good) == nil, "\(good)")
        }
        for bad in ["", "tcp://", "tcp://host", "tcp://:7461", "tcp://[::1:7461", "udp://x:1", "tcp://h:0", "ipc://"] {
            #expect(EndpointSyntax.problem(bad) != nil, "\(bad)")
        }
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
            // The unknown model is named with its place in the list (forecast.models[0]).
            return keys.contains("registry.down_after_s") && keys.contains { $0.hasPrefix("forecast.models") }
        }
    }

    @Test func aFileWithSixProblemsOfEveryKindReportsSix() {
        // Two wrong types, an unknown key, a bad enum word and two range problems, in one pass.
        let yaml = """
            security: {mode: plaintext}
            registry:
              max_nodes: lots
              unlisted_pools: maybe
              forget_pool_after_s: -1
            windows:
              raw_s: 1e12
              max_series: 3
            forecast:
              ar_order: many
            """
        #expect {
            _ = try AggregatorConfig.parse(yaml: yaml)
        } throws: { error in
            let issues = (error as? ConfigError)?.issues ?? []
            let keys = Set(issues.map(\.keyPath))
            return issues.count == 6
                && keys == [
                    "registry.max_nodes", "registry.unlisted_pools", "registry.forget_pool_after_s", "windows.raw_s", "windows.max_series",
                    "forecast.ar_order",
                ]
                && issues.first { $0.keyPath == "registry.max_nodes" }?.line == 3
                && issues.first { $0.keyPath == "registry.unlisted_pools" }?.message.contains("accept or refuse") == true
        }
    }

    @Test func theControlEndpointMustStayOnThisHost() {
        for local in ["tcp://127.0.0.1:7463", "tcp://[::1]:7463", "ipc:///run/gpulse/control.sock", "tcp://localhost:7463"] {
            #expect(EndpointSyntax.isLocal(local), "\(local)")
        }
        for open in ["tcp://0.0.0.0:7463", "tcp://10.0.0.5:7463", "tcp://[::]:7463", "tcp://*:7463"] {
            #expect(!EndpointSyntax.isLocal(open), "\(open)")
            #expect {
                _ = try AggregatorConfig.parse(yaml: "security: {mode: plaintext}\nendpoints: {control: \"\(open)\"}\n")
            } throws: { error in
                (error as? ConfigError)?.issues.map(\.keyPath) == ["endpoints.control"]
            }
        }
    }

    @Test func registryCapsReachTheFleet() throws {
        let config = try AggregatorConfig.parse(
            yaml: """
                registry: {max_nodes: 50, max_pools: 4, unlisted_pools: refuse, forget_pool_after_s: 60, new_nodes_per_peer_per_s: 0}
                pools: {llm: {policy: threshold}}
                """)
        let s = config.fleetSettings
        #expect(s.maxNodes == 50 && s.maxPools == 4 && s.unlistedPools == .refuse && s.forgetPoolAfterSeconds == 60)
        #expect(s.newNodesPerPeerPerSecond == 0 && s.listedPools == ["llm"])
        #expect(throws: ConfigError.self) { try AggregatorConfig.parse(yaml: "registry: {max_pools: 1}\npools: {a: {}, b: {}}\n") }
    }

    @Test func aReloadSwapsPoliciesAndNamesWhatWaitsForARestart() throws {
        let running = AggregatorConfig()
        let next = try AggregatorConfig.parse(yaml: """
            endpoints: {metrics: "tcp://0.0.0.0:9999"}
            windows: {raw_s: 30}
            decisions: {evaluate_interval_ms: 500, resend_interval_s: 3}
            pools: {gpu: {policy: cost_aware, max_replicas: 40}}
            """)
        let (effective, restartOnly) = running.reload(to: next)
        #expect(restartOnly == ["endpoints", "windows", "decisions.evaluate_interval_ms"])
        #expect(effective.pools["gpu"]?.policy == .costAware && effective.decisions.resendIntervalS == 3)
        #expect(effective.endpoints == running.endpoints && effective.windows == running.windows && effective.decisions.evaluateIntervalMs == 100)
        #expect(running.reload(to: running).restartOnly.isEmpty && running.reload(to: running).effective == running)
    }

    @Test func anEmptyFileMeansDefaults() throws {
        #expect(try AggregatorConfig.parse(yaml: "") == AggregatorConfig())
    }
}

@Suite struct PolicyConfigTests {
    @Test func theFleetExampleParsesIntoItsPoolsClassesAndOffload() throws {
        let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().appendingPathComponent("../../config/aggregator-fleet.yaml")
        let config = try AggregatorConfig.load(path: url.standardized.path)
        #expect(config.pools.mapValues(\.policy.rawValue) == [
            "llm-online": "cost_aware", "embeddings-batch": "cost_aware", "chat-hpa": "hpa", "edge-fra1": "threshold", "default": "threshold",
        ])
        #expect(config.classes["h200-spot"]?.kind == .spot && config.classes["h200-spot"]?.preemptionsPerHour == 0.08)
        #expect(config.offload["fra1"]?.target == "llm-online" && config.offload["fra1"]?.budgetMs == 120)
        // Each pool gets its own policy, and an unnamed pool the `default` entry's.
        let engine = config.engineSettings
        #expect(engine.pool("llm-online").policy.name == "cost_aware")
        #expect(engine.pool("chat-hpa").policy.name == "hpa")
        #expect(engine.pool("something-new").policy.name == "threshold")
        #expect(engine.pool("embeddings-batch").workload == .batch)
        #expect(engine.offload.map(\.site) == ["fra1"])
    }

    @Test func policyMistakesNameTheirKey() {
        let yaml = """
            pools:
              a: {policy: magic}
              b: {instance_class: gold, threshold: {high: 0.2, low: 0.5}}
              c: {policy: cost_aware, cost_aware: {sla_penalty_per_node_hour: 0, spot_class: nope}}
            instance_classes:
              on_demand: {kind: rental, hourly_price: -1, lead_time_s: 1}
            offload:
              paris: {release: 0.9, high: 0.8}
            decisions: {resend_interval_s: 10, valid_for_s: 5}
            """
        #expect {
            _ = try AggregatorConfig.parse(yaml: yaml)
        } throws: { error in
            let keys = Set((error as? ConfigError)?.issues.map(\.keyPath) ?? [])
            return keys.isSuperset(of: [
                "pools.a.policy", "pools.b.instance_class", "pools.b.threshold", "pools.c.cost_aware.sla_penalty_per_node_hour",
                "pools.c.cost_aware.spot_class", "instance_classes.on_demand.kind", "instance_classes.on_demand.hourly_price",
                "offload.paris.target", "offload.paris.release", "decisions.valid_for_s",
            ])
        }
        #expect {
            _ = try AggregatorConfig.parse(yaml: "pools:\n  a:\n    treshold: {high: 0.9}\n")
        } throws: { error in
            (error as? ConfigError)?.issues.first.map { $0.keyPath == "pools.a.treshold" && $0.line == 3 } == true
        }
    }
}
