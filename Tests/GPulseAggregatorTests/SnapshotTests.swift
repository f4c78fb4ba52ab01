import Foundation
import GPulseAggregatorConfig
import GPulseSnapshot
import Testing

@testable import GPulseAggregator
@testable import GPulseCore

private let second: Int64 = 1_000_000_000

/// A deterministic daily-shaped demand series: a sine over `season` steps plus a small pseudo-random wobble.
private func demand(_ t: Int, season: Int) -> Double {
    let phase = 2 * Double.pi * Double(t % season) / Double(season)
    let wobble = Double((t &* 2_654_435_761) % 1000) / 1000 - 0.5
    return 10 + 4 * sin(phase) + 0.3 * wobble
}

private func roundTrip<T: Codable>(_ value: T) throws -> T {
    let encoder = JSONEncoder()
    encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    let decoder = JSONDecoder()
    decoder.nonConformingFloatDecodingStrategy = .convertFromString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
    return try decoder.decode(T.self, from: encoder.encode(value))
}

private func scratchDirectory() -> String {
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("gpulse-snapshot-\(UUID().uuidString)").path
    try! FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    return dir
}

@Suite struct SnapshotTests {
    @Test func aRestoredForecasterKeepsItsSeasonAndForecastsExactlyAsTheOriginal() throws {
        let season = 1440
        var original = DemandForecaster(settings: ForecastSettings(season: season))
        for t in 0..<(2 * season + 100) { original.update(demand(t, season: season)) }
        var restored = try roundTrip(original)
        #expect(restored.observations == original.observations)
        #expect(!original.forecasts().isEmpty)
        #expect(restored.forecasts() == original.forecasts())
        // Not only the answer now: the learned state carries on identically. And it is the season
        // that carries: a forecaster started fresh at the same moment (an aggregator without
        // snapshots) is further off at the 60-minute horizon over the next 600 minutes.
        var fresh = DemandForecaster(settings: ForecastSettings(season: season))
        var restoredError = 0.0
        var freshError = 0.0
        let start = 2 * season + 100
        for t in start..<(start + 600) {
            original.update(demand(t, season: season))
            restored.update(demand(t, season: season))
            fresh.update(demand(t, season: season))
            #expect(restored.forecasts() == original.forecasts())
            let truth = demand(t + 60, season: season)
            restoredError += abs((restored.forecasts().first { $0.steps == 60 }?.value ?? 0) - truth)
            freshError += abs((fresh.forecasts().first { $0.steps == 60 }?.value ?? 0) - truth)
        }
        #expect(restoredError < freshError / 2, "restored \(restoredError / 600) vs fresh \(freshError / 600) mean absolute error")
    }

    @Test func aForecasterOfOtherShapeIsRefused() throws {
        var small = DemandForecaster(settings: ForecastSettings(season: 4, horizons: [1, 2]))
        for t in 0..<20 { small.update(Double(t)) }
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(small)) as! [String: Any]
        json["pending"] = [[[1.0]]]
        let damaged = try JSONSerialization.data(withJSONObject: json)
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(DemandForecaster.self, from: damaged) }
    }

    @Test func fleetRestoreKeepsNodesSequencesAndPools() throws {
        let settings = FleetSettings(forecast: ForecastSettings(season: 4, horizons: [1, 2]))
        var fleet = Fleet(settings: settings)
        let t0: Int64 = 1_700_000_000 * second
        let cpu = Series(kind: .cpuUtil, offsetsMicros: [0], values: [0.5])
        for k in 0..<600 {
            let now = t0 + Int64(k) * second
            _ = fleet.ingest(MetricsBatch(labels: NodeLabels(nodeID: "n1", pool: "p"), session: 7, seq: UInt64(k), t0UnixNanos: now, series: [cpu]), nowNanos: now)
            _ = fleet.tick(nowNanos: now)
        }
        let minutes = fleet.pools["p"]!.forecaster.observations
        #expect(minutes >= 9)
        var restored = Fleet(settings: settings, restoring: try roundTrip(fleet.snapshot))
        #expect(restored.forecastsRebuilt.isEmpty)
        #expect(restored.nodes["n1"]?.sequence == fleet.nodes["n1"]?.sequence)
        #expect(restored.nodes["n1"]?.samples == 600)
        #expect(restored.pools["p"]?.forecaster.observations == minutes)
        #expect(restored.pools["p"]?.forecasts == fleet.pools["p"]?.forecasts)
        // Batches 600...604 were lost with the old process; the next one shows them as a gap.
        let later = t0 + 606 * second
        let outcome = restored.ingest(
            MetricsBatch(labels: NodeLabels(nodeID: "n1", pool: "p"), session: 7, seq: 605, t0UnixNanos: later, series: [cpu]), nowNanos: later)
        #expect(outcome.outcome == .gap(missing: 5))
    }

    @Test func aRestoredFleetKeepsNodeHealthAndSaysAgainWhoIsUnhealthy() throws {
        let settings = FleetSettings(health: .init(recoverAfterSeconds: 60))
        var fleet = Fleet(settings: settings)
        let t0: Int64 = 1_700_000_000 * second
        func batch(_ node: String, seq: UInt64, at t: Int64, _ series: [Series]) -> MetricsBatch {
            MetricsBatch(labels: NodeLabels(nodeID: node, pool: "p"), session: 1, seq: seq, t0UnixNanos: t, series: series)
        }
        _ = fleet.ingest(batch("bad", seq: 0, at: t0, [Series(kind: .gpuXID, subject: "GPU-0", offsetsMicros: [0], values: [79])]), nowNanos: t0)
        _ = fleet.ingest(batch("ecc", seq: 0, at: t0, [Series(kind: .gpuECCUncorrected, subject: "GPU-0", offsetsMicros: [0], values: [3])]), nowNanos: t0)
        #expect(fleet.tick(nowNanos: t0)?.health.map(\.nodeID) == ["bad"])
        var restored = Fleet(settings: settings, restoring: try roundTrip(fleet.snapshot))
        // Announced again after the restart, with the same reason; the ECC baseline of 3 is kept, so 3 is not news.
        let later = t0 + 10 * second
        _ = restored.ingest(batch("ecc", seq: 1, at: later, [Series(kind: .gpuECCUncorrected, subject: "GPU-0", offsetsMicros: [0], values: [3])]), nowNanos: later)
        let again = restored.tick(nowNanos: later)?.health ?? []
        #expect(again.map(\.nodeID) == ["bad"] && again.first?.healthy == false && again.first?.reason == "GPU-0 XID 79")
        // Recovery still counts from the fault before the restart.
        _ = restored.ingest(batch("bad", seq: 1, at: t0 + 60 * second, []), nowNanos: t0 + 60 * second)
        #expect(restored.tick(nowNanos: t0 + 60 * second)?.health.first?.healthy == true)
    }

    @Test func changedForecastSettingsRebuildTheForecasterFromMinuteHistory() throws {
        var fleet = Fleet(settings: FleetSettings(forecast: ForecastSettings(season: 4, horizons: [1, 2])))
        let t0: Int64 = 1_700_000_000 * second
        for k in 0..<300 {
            let now = t0 + Int64(k) * second
            _ = fleet.ingest(MetricsBatch(labels: NodeLabels(nodeID: "n1", pool: "p"), session: 1, seq: UInt64(k), t0UnixNanos: now), nowNanos: now)
            _ = fleet.tick(nowNanos: now)
        }
        let other = FleetSettings(forecast: ForecastSettings(season: 6, horizons: [1, 3]))
        let restored = Fleet(settings: other, restoring: try roundTrip(fleet.snapshot))
        #expect(restored.forecastsRebuilt == ["p"])
        #expect(restored.pools["p"]?.forecaster.settings == other.forecast)
        #expect(restored.pools["p"]?.forecaster.observations == fleet.pools["p"]?.minutes.count)
    }

    @Test func aForecasterSavedByAnotherBuildIsRebuiltAndTheRestKept() throws {
        let settings = FleetSettings(forecast: ForecastSettings(season: 4, horizons: [1, 2]))
        var fleet = Fleet(settings: settings)
        let t0: Int64 = 1_700_000_000 * second
        for k in 0..<300 {
            let now = t0 + Int64(k) * second
            _ = fleet.ingest(MetricsBatch(labels: NodeLabels(nodeID: "n1", pool: "p"), session: 1, seq: UInt64(k), t0UnixNanos: now), nowNanos: now)
            _ = fleet.tick(nowNanos: now)
        }
        // A build before AR tails saved settings without `arTailSteps` and AR models without tails.
        var json = try JSONSerialization.jsonObject(with: JSONEncoder().encode(fleet.snapshot)) as! [String: Any]
        var pools = json["pools"] as! [String: Any]
        var pool = pools["p"] as! [String: Any]
        var forecaster = pool["forecaster"] as! [String: Any]
        var saved = forecaster["settings"] as! [String: Any]
        saved["arTailSteps"] = nil
        forecaster["settings"] = saved
        pool["forecaster"] = forecaster
        pools["p"] = pool
        json["pools"] = pools
        let old = try JSONDecoder().decode(Fleet.Snapshot.self, from: JSONSerialization.data(withJSONObject: json))
        let restored = Fleet(settings: settings, restoring: old)
        #expect(restored.forecastsRebuilt == ["p"])
        #expect(restored.nodes["n1"]?.samples == fleet.nodes["n1"]?.samples)
        #expect(restored.pools["p"]?.minutes.elements == fleet.pools["p"]?.minutes.elements)
        // Rebuilt from the same minutes it forecasts as the live one does.
        #expect(restored.pools["p"]?.forecaster.observations == fleet.pools["p"]?.forecaster.observations)
        #expect(restored.pools["p"]?.forecasts == fleet.pools["p"]?.forecasts)
        // Anything else unreadable still refuses the snapshot.
        pool["minutes"] = "garbage"
        pools["p"] = pool
        json["pools"] = pools
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(Fleet.Snapshot.self, from: JSONSerialization.data(withJSONObject: json)) }
    }

    @Test func minutesMissedWhileNotRunningAreCarriedForwardToKeepTheSeasonAligned() {
        var pool = PoolSeries(name: "p", forecast: ForecastSettings(season: 10, horizons: [1]))
        let base: Int64 = 1_700_000_000 - 1_700_000_000 % 60
        for s in 0..<180 { pool.record(unixSecond: base + Int64(s), loads: [Double(s / 60 + 1)]) }  // minutes 0, 1, 2 (2 still open)
        #expect(pool.minutesClosed == 2)
        pool.record(unixSecond: base + 7 * 60, loads: [9])  // closes minute 2; minutes 3...6 never happened
        #expect(pool.minutesClosed == 7)
        #expect(pool.minutes.elements.map(\.time) == (0..<7).map { base + Int64($0) * 60 })
        #expect(pool.minutes.elements.suffix(4).allSatisfy { $0.demand == 3 })
        #expect(pool.forecaster.observations == 7)
    }

    func sample() -> AggregatorSnapshot {
        var fleet = Fleet(settings: FleetSettings())
        _ = fleet.ingest(MetricsBatch(labels: NodeLabels(nodeID: "n1", pool: "p"), session: 1, seq: 3, t0UnixNanos: 0), nowNanos: 5 * second)
        _ = fleet.tick(nowNanos: 5 * second)
        return AggregatorSnapshot(writtenAtNanos: 6 * second, decisionSeqReserved: 100_042, fleet: fleet.snapshot)
    }

    @Test func storeWritesAtomicallyAndReadsBack() throws {
        let dir = scratchDirectory()
        let store = SnapshotStore(path: dir + "/agg.snapshot")
        guard case .none = store.load(nowNanos: 0) else { Issue.record("a missing file must read as none"); return }
        try store.write(try store.encode(sample()))
        #expect(!FileManager.default.fileExists(atPath: dir + "/agg.snapshot.tmp"))
        let mode = try FileManager.default.attributesOfItem(atPath: dir + "/agg.snapshot")[.posixPermissions] as! Int
        #expect(mode == 0o600)
        guard case .restored(let back, _) = store.load(nowNanos: 0) else { Issue.record("expected a restored snapshot"); return }
        #expect(back.decisionSeqReserved == 100_042)
        #expect(back.fleet.nodes["n1"]?.sequence.lastSeq == 3)
    }

    @Test(arguments: ["sequence", "ancient node", "future write"])
    func aWholeFileWithAbsurdValuesIsMovedAsideToo(absurd: String) throws {
        // The checksum vouches for the bytes, not for the numbers: a reservation near 2^64 would trap the
        // next decision's seq += 1, a last-seen at Int64.min the next silence computation.
        let dir = scratchDirectory()
        let path = dir + "/agg.snapshot"
        let store = SnapshotStore(path: path)
        var snapshot = sample()
        switch absurd {
        case "sequence": snapshot.decisionSeqReserved = UInt64.max - 3
        case "ancient node":
            var fleet = Fleet(settings: FleetSettings())
            _ = fleet.ingest(MetricsBatch(labels: NodeLabels(nodeID: "n1", pool: "p"), session: 1, seq: 3, t0UnixNanos: 0), nowNanos: Int64.min)
            snapshot.fleet = fleet.snapshot
        default: snapshot.writtenAtNanos = Int64.max
        }
        try store.write(try store.encode(snapshot))
        guard case .corrupt(let reason, let movedTo) = store.load(nowNanos: 10 * second) else {
            Issue.record("\(absurd): an absurd snapshot must not restore")
            return
        }
        #expect(reason.hasPrefix("checksum good but"), "\(reason)")
        #expect(movedTo == path + ".corrupt-10")
        #expect(!FileManager.default.fileExists(atPath: path))
        // The same snapshot with sane values restores.
        try store.write(try store.encode(sample()))
        guard case .restored = store.load(nowNanos: 10 * second) else { Issue.record("a sane snapshot must restore"); return }
    }

    @Test(arguments: ["truncated", "flipped", "format", "garbage", "empty"])
    func aDamagedFileIsMovedAsideWithItsReason(damage: String) throws {
        let dir = scratchDirectory()
        let path = dir + "/agg.snapshot"
        let store = SnapshotStore(path: path)
        var bytes = try store.encode(sample())
        switch damage {
        case "truncated": bytes.removeLast(bytes.count / 3)
        case "flipped": bytes[bytes.count - 10] ^= 0x20
        case "format": bytes = Array(String(decoding: bytes, as: UTF8.self).replacingOccurrences(of: "GPULSE-SNAPSHOT \(AggregatorSnapshot.format) ", with: "GPULSE-SNAPSHOT 9 ").utf8)
        case "garbage": bytes = (0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        default: bytes = []
        }
        #expect(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        guard case .corrupt(let reason, let movedTo) = store.load(nowNanos: 1_800_000_000 * second) else {
            Issue.record("\(damage): a damaged file must not restore")
            return
        }
        let expected = ["truncated": "truncated", "flipped": "checksum", "format": "format 9", "garbage": "header", "empty": "header"][damage]!
        #expect(reason.contains(expected), "\(reason)")
        #expect(movedTo == path + ".corrupt-1800000000")
        #expect(!FileManager.default.fileExists(atPath: path))
        #expect(FileManager.default.fileExists(atPath: movedTo!))
    }

    @Test func anUnwritableDirectoryIsAnErrorNotACrash() throws {
        let store = SnapshotStore(path: "/nonexistent-gpulse-dir/agg.snapshot")
        #expect(throws: SnapshotError.self) { try store.write([1, 2, 3]) }
        do {
            try store.write([1, 2, 3])
        } catch {
            #expect(error.description.contains("No such file or directory"))
        }
    }

    @Test func snapshotPathDefaultsToTheSystemdStateDirectory() {
        var config = AggregatorConfig.Snapshot()
        #expect(config.resolvedPath(stateDirectory: nil) == nil)
        #expect(config.resolvedPath(stateDirectory: "/var/lib/gpulse") == "/var/lib/gpulse/aggregator.snapshot")
        config.path = "off"
        #expect(config.resolvedPath(stateDirectory: "/var/lib/gpulse") == nil)
        config.path = "/srv/a.snap"
        #expect(config.resolvedPath(stateDirectory: nil) == "/srv/a.snap")
    }
}
