"""GPU health end to end with the real executables: two agents on the TEST FAKE NVML, one of whose
GPUs reports a critical XID through NVML's event set. The aggregator makes that node UNHEALTHY on the
decision stream, leaves its capacity out of the pool (the scale decision counts one replica), and
makes it HEALTHY again after health.recover_after_s without a fault. An application XID (13) on the
other node changes nothing."""
import time

from conftest import free_port, status_json as status, wait_until
from gpulse.v1 import decision_pb2 as dp
from test_decisions import fake_procfs
from test_faults import Stream


def test_a_critical_xid_takes_the_node_out_until_it_recovers(procs, bins, tmp_path):
    fake_procfs(tmp_path / "proc")
    (tmp_path / "gpu.load").write_text("0.5\n")
    metrics, decisions, control = (f"tcp://127.0.0.1:{free_port()}" for _ in range(3))
    config = tmp_path / "aggregator.yaml"
    config.write_text(f"""
endpoints: {{metrics: "{metrics}", decisions: "{decisions}", control: "{control}"}}
prometheus: {{listen: "off"}}
health: {{recover_after_s: 5}}
decisions: {{resend_interval_s: 1, valid_for_s: 3}}
pools: {{online: {{policy: threshold, min_replicas: 1}}}}
""")
    agg = procs([bins / "gpulse-aggregator", "run", "--plaintext", "--config", config, "--report-interval", "1"])
    agg.wait_for("aggregator listening")
    health = {}
    agents = {}
    for node in ("gpu-a", "gpu-b"):
        health[node] = tmp_path / f"{node}.health"
        health[node].write_text("temp 61\n")
        path = tmp_path / f"{node}.yaml"
        path.write_text(f"""
node: {{id: {node}, pool: online, site: dc1, tier: cloud, workload: online}}
aggregator: {{endpoint: "{metrics}", publish_interval_ms: 100}}
procfs_root: {tmp_path / "proc"}
samplers: {{gpu: {{enabled: true, library: {bins / "libFakeNVML.so"}}}, rtt: {{enabled: false}}}}
""")
        agents[node] = procs([bins / "gpulse-agent", "run", "--plaintext", "--config", path],
                             env={"GPULSE_FAKE_NVML_DEVICES": "1", "GPULSE_FAKE_NVML_LOAD_FILE": str(tmp_path / "gpu.load"),
                                  "GPULSE_FAKE_NVML_HEALTH_FILE": str(health[node])})
        agents[node].wait_for("watching critical XID events", timeout=20)
    stream = Stream(decisions)
    stream.until(lambda t, d: t == "scale/online" and d.scale.current_replicas == 2, 20)

    # An application XID on gpu-a and a critical one (79, fallen off the bus) on gpu-b.
    health["gpu-a"].write_text("temp 61\nxid 1 13\n")
    health["gpu-b"].write_text("temp 61\nxid 1 79\n")
    _, event = stream.until(lambda t, d: t.startswith("node/") and d.node.kind == dp.NodeEvent.UNHEALTHY, 20)
    assert event.node.node_id == "gpu-b" and "XID 79" in event.node.reason, event
    agg.wait_for(r"node_id=gpu-b .*node unhealthy", timeout=10)
    stream.until(lambda t, d: t == "scale/online" and d.scale.current_replicas == 1, 10)
    # The pool's counts are its last recorded second: wait for the one after the event.
    report = wait_until(lambda: (r := status(bins, control)) and r["pools"][0]["liveNodes"] == 1 and r,
                        "status showing one live node", timeout=10)
    nodes = {n["id"]: n for n in report["nodes"]}
    assert nodes["gpu-b"]["health"] == "unhealthy" and "XID 79" in nodes["gpu-b"]["healthReason"], nodes["gpu-b"]
    assert nodes["gpu-a"]["health"] == "healthy", nodes["gpu-a"]
    assert report["pools"][0]["unhealthyNodes"] == 1, report["pools"][0]

    # Five seconds without a fault: healthy again, and counted again.
    _, back = stream.until(lambda t, d: t == "node/gpu-b" and d.node.kind == dp.NodeEvent.HEALTHY, 20)
    assert "XID 79" in back.node.reason, back
    stream.until(lambda t, d: t == "scale/online" and d.scale.current_replicas == 2, 10)
    assert not any(d.node.kind == dp.NodeEvent.UNHEALTHY for _, t, d in stream.seen if t == "node/gpu-a")
    assert all(n["health"] == "healthy" for n in status(bins, control)["nodes"])
    for node in agents:
        code, out = agents[node].stop()
        assert code == 0, out
    code, out = agg.stop()
    assert code == 0, out
