"""Fault tolerance with the real executables: kill -9 the aggregator mid-stream and restart it from
its snapshot; kill -9 an agent. Three real agents (fake procfs, TEST FAKE NVML at a fixed load) with
a send queue of one second, so that a three-second outage makes them drop and count."""
import time

import zmq

from conftest import free_port, status_json as status, fields
from gpulse.v1 import decision_pb2 as dp
from test_decisions import fake_procfs




class Stream:
    """Every decision on the stream, with its arrival time."""

    def __init__(self, endpoint):
        self.sub = zmq.Context.instance().socket(zmq.SUB)
        self.sub.setsockopt(zmq.SUBSCRIBE, b"")
        self.sub.connect(endpoint)
        self.seen = []

    def until(self, predicate, timeout):
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.sub.poll(100):
                topic, raw = self.sub.recv_multipart()
                d = dp.Decision.FromString(raw)
                self.seen.append((time.monotonic(), topic.decode(), d))
                if predicate(topic.decode(), d):
                    return time.monotonic(), d
        raise AssertionError(f"no matching decision within {timeout}s; last: {[(t, d.seq) for _, t, d in self.seen[-10:]]}")


def test_kill9_aggregator_and_agent(procs, bins, tmp_path):
    fake_procfs(tmp_path / "proc")
    (tmp_path / "gpu.load").write_text("0.5\n")
    metrics, decisions, control = (f"tcp://127.0.0.1:{free_port()}" for _ in range(3))
    snapshot = tmp_path / "agg.snapshot"
    config = tmp_path / "aggregator.yaml"
    config.write_text(f"""
endpoints: {{metrics: "{metrics}", decisions: "{decisions}", control: "{control}"}}
prometheus: {{listen: "off"}}
snapshot: {{path: "{snapshot}", interval_s: 1}}
registry: {{stale_after_s: 2, down_after_s: 4}}
decisions: {{resend_interval_s: 1, valid_for_s: 3}}
pools: {{online: {{policy: threshold, min_replicas: 1}}}}
""")
    run_aggregator = lambda: procs([bins / "gpulse-aggregator", "run", "--plaintext", "--config", config, "--report-interval", "1"])
    agg = run_aggregator()
    agg.wait_for("aggregator listening")
    agents = {}
    for node in ("gpu-a", "gpu-b", "gpu-c"):
        path = tmp_path / f"{node}.yaml"
        path.write_text(f"""
node: {{id: {node}, pool: online, site: dc1, tier: cloud, workload: online}}
aggregator: {{endpoint: "{metrics}", publish_interval_ms: 100, send_queue_batches: 10}}
procfs_root: {tmp_path / "proc"}
groups: {{fast: {{rate_hz: 100}}, gpu: {{rate_hz: 10}}}}
samplers: {{gpu: {{enabled: true, library: {bins / "libFakeNVML.so"}}}, rtt: {{enabled: false}}}}
""")
        agents[node] = procs([bins / "gpulse-agent", "run", "--plaintext", "--config", path],
                             env={"GPULSE_FAKE_NVML_DEVICES": "1", "GPULSE_FAKE_NVML_LOAD_FILE": str(tmp_path / "gpu.load")})
    stream = Stream(decisions)
    stream.until(lambda t, d: t == "scale/online" and d.scale.current_replicas == 3, 15)

    # Run until the forecaster has learned at least one minute and a snapshot after it is on disk.
    end = time.monotonic() + 75
    while (learned := status(bins, control)["pools"][0]["minutesLearned"]) < 1:
        assert time.monotonic() < end, "no minute closed in 75 s"
        time.sleep(1)
    time.sleep(2.5)
    before = status(bins, control)
    assert before["snapshot"]["writes"] >= 2 and before["snapshot"]["failures"] == 0

    # kill -9 mid-stream; three seconds of outage (agents queue one second, then drop and count).
    agg.p.kill()
    agg.p.wait()
    killed_at = time.monotonic()
    while stream.sub.poll(200):
        topic, raw = stream.sub.recv_multipart()
        stream.seen.append((time.monotonic(), topic.decode(), dp.Decision.FromString(raw)))
    last_seq = max(d.seq for _, _, d in stream.seen)
    time.sleep(3 - (time.monotonic() - killed_at))

    agg = run_aggregator()
    agg.wait_for("aggregator listening")
    started = time.monotonic()
    restored = fields(agg.wait_for(r"restored from snapshot").string)
    first_at, first = stream.until(lambda t, d: t == "scale/online", 10)
    assert first_at - started < 5, f"decisions resumed {first_at - started:.1f} s after the restart"
    print(f"\nfault: decisions resumed {first_at - started:.2f} s after the restart; seq {last_seq} before the kill, "
          f"{first.seq} first after it; minutes learned {learned} before")
    after = [(t, d) for at, t, d in stream.seen if at >= started]
    assert after and all(d.seq > last_seq for _, d in after), (last_seq, [d.seq for _, d in after])
    # Re-sends repeat a standing decision's seq; per topic the numbers never go back.
    for topic in {t for t, _ in after}:
        seqs = [d.seq for t, d in after if t == topic]
        assert seqs == sorted(seqs), (topic, seqs)
    now = status(bins, control)
    assert now["snapshot"]["restoredAgeSeconds"] is not None
    assert now["pools"][0]["minutesLearned"] >= learned, (learned, now["pools"][0])
    assert int(restored["nodes"]) == 3

    # Kill an agent: its node goes STALE, then DOWN, and the pool shrinks to two.
    agents["gpu-c"].p.kill()
    stream.until(lambda t, d: t == "node/gpu-c" and d.node.kind == dp.NodeEvent.STALE, 8)
    stream.until(lambda t, d: t == "node/gpu-c" and d.node.kind == dp.NodeEvent.DOWN, 8)
    stream.until(lambda t, d: t == "scale/online" and d.scale.current_replicas == 2, 5)

    # Every batch the two surviving agents queued was received or is counted missing, and every sample
    # they dropped themselves reached the aggregator's drop count.
    totals = {}
    for node in ("gpu-a", "gpu-b"):
        code, out = agents[node].stop()
        assert code == 0, out
        totals[node] = fields([l for l in out.splitlines() if "agent stopped" in l][-1])
    time.sleep(1.5)
    nodes = {n["id"]: n for n in status(bins, control)["nodes"]}
    for node, sent in totals.items():
        seen = nodes[node]
        assert int(sent["batches_sent"]) == seen["batches"] + seen["missingBatches"], (node, sent, seen)
        assert int(sent["samples_dropped"]) == seen["agentDroppedSamples"], (node, sent, seen)
        assert int(sent["batches_dropped"]) > 0, (node, sent)  # the outage outlasted the queue
        undelivered = int(sent["samples_sent"]) - seen["samples"]
        per_batch = int(sent["samples_sent"]) / int(sent["batches_sent"])
        # Samples not delivered are exactly those in the missing batches: none if none are missing.
        assert (undelivered > 0) == (seen["missingBatches"] > 0), (node, sent, seen)
        assert 0 <= undelivered <= 3 * per_batch * seen["missingBatches"], (node, sent, seen)
        print(f"fault: {node}: sent {sent['batches_sent']} batches = {seen['batches']} received + {seen['missingBatches']} missing; "
              f"dropped {sent['samples_dropped']} samples, aggregator counted {seen['agentDroppedSamples']}; "
              f"{undelivered} samples undelivered in the missing batches")
    code, out = agg.stop()
    assert code == 0, out
    assert "cannot write snapshot" not in out
