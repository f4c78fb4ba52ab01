"""The decision stream end to end: the real aggregator and three real agents (fake procfs root,
TEST FAKE NVML whose load a file sets) on loopback. Stepping one pool's load up gives SCALE_UP on
scale/<pool>, stepping it down SCALE_DOWN after the cooldown, and loading the edge site gives an
offload decision; `tail` and the Python examples see the same stream."""
import json
import shutil
import socket
import subprocess
import sys
import time

import zmq

from conftest import ROOT, start_aggregator
from gpulse.v1 import decision_pb2 as dp

FIXTURES = ROOT / "Tests/GPulseAgentTests/Fixtures"


def fake_procfs(root):
    """A static procfs: CPU counters that never move give no CPU value, so L follows the fake GPUs."""
    (root / "net").mkdir(parents=True)
    shutil.copy(FIXTURES / "cpu-steady/proc0/stat", root / "stat")
    shutil.copy(FIXTURES / "meminfo/proc0/meminfo", root / "meminfo")
    shutil.copy(FIXTURES / "net-hotplug/proc0/net/dev", root / "net/dev")


class Fleet:
    """Three agents: two in cloud pool `online` (site dc1), one in edge pool `edge-paris` (site paris)
    probing `probe` (the cloud gateway) for its RTT. Each agent's fake GPU load comes from a file."""

    def __init__(self, bins, procs, tmp_path, metrics, probe):
        fake_procfs(tmp_path / "proc")
        self.loads = {}
        for node, pool, site, tier in (("gpu-a", "online", "dc1", "cloud"), ("gpu-b", "online", "dc1", "cloud"),
                                       ("edge-1", "edge-paris", "paris", "edge")):
            self.loads[node] = tmp_path / f"{node}.load"
            self.set_load([node], 0.5)
            config = tmp_path / f"{node}.yaml"
            rtt = f'rtt: {{enabled: true, targets: ["{probe}"], timeout_ms: 500}}' if tier == "edge" else "rtt: {enabled: false}"
            config.write_text(f"""
node: {{id: {node}, pool: {pool}, site: {site}, tier: {tier}, workload: online}}
aggregator: {{endpoint: "{metrics}"}}
procfs_root: {tmp_path / "proc"}
groups: {{fast: {{rate_hz: 100}}, gpu: {{rate_hz: 10}}, probes: {{rate_hz: 5}}}}
samplers:
  gpu: {{enabled: true, library: {bins / "libFakeNVML.so"}}}
  {rtt}
""")
            procs([bins / "gpulse-agent", "run", "--plaintext", "--config", config],
                  env={"GPULSE_FAKE_NVML_DEVICES": "1", "GPULSE_FAKE_NVML_LOAD_FILE": str(self.loads[node])})

    def set_load(self, nodes, value):
        for node in nodes:
            tmp = self.loads[node].with_suffix(".tmp")
            tmp.write_text(f"{value}\n")
            tmp.replace(self.loads[node])  # atomic: the fake NVML re-opens the file on every call


AGGREGATOR_CONFIG = """
decisions: {resend_interval_s: 2, valid_for_s: 6}
pools:
  online:
    policy: threshold
    min_replicas: 1
    threshold: {high: 0.8, low: 0.3}
    cooldown: {up_s: 1, down_s: 4, max_actions_per_minute: 6}
  edge-paris:
    policy: threshold
    max_replicas: 1
offload:
  paris:
    target: online
    probe: "PROBE"
    high: 0.7
    release: 0.4
    target_load: 0.5
    budget_ms: 150
    cloud_latency_ms: 20
    sustain_s: 1
    step_interval_s: 1
"""


def wait_for(sub, predicate, timeout, seen):
    """Receives decisions until predicate(topic, decision) holds; returns (arrival time, decision)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if sub.poll(100):
            topic, raw = sub.recv_multipart()
            d = dp.Decision.FromString(raw)
            seen.append((topic.decode(), d))
            if predicate(topic.decode(), d):
                return time.monotonic(), d
    summary = "\n".join(f"{t} {d.WhichOneof('body')} {getattr(d, d.WhichOneof('body'))}".replace("\n", " ") for t, d in seen[-15:])
    raise AssertionError(f"no matching decision within {timeout}s; last seen:\n{summary}")


def scale(action, pool="online"):
    return lambda topic, d: topic == f"scale/{pool}" and d.scale.action == action and d.scale.current_replicas == 2


def run_example(name, *args):
    return subprocess.run([sys.executable, ROOT / "examples" / name, *map(str, args)], capture_output=True, text=True, timeout=30)


def test_load_steps_give_scale_up_scale_down_and_offload(bins, procs, tmp_path, zmq_context):
    gateway = socket.socket()  # the edge agent's RTT probe target, standing for the cloud
    gateway.bind(("127.0.0.1", 0))
    gateway.listen(64)
    probe = f"127.0.0.1:{gateway.getsockname()[1]}"
    config = tmp_path / "aggregator.yaml"
    config.write_text(AGGREGATOR_CONFIG.replace("PROBE", probe))
    agg, metrics, decisions = start_aggregator(procs, bins, "--config", config)
    fleet = Fleet(bins, procs, tmp_path, metrics, probe)

    ctx = zmq_context
    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"")
    sub.connect(decisions)
    tail = procs([bins / "gpulse-aggregator", "tail", "--decisions", decisions, "--topic", "scale/online", "--json"])
    seen = []
    try:
        # Both online nodes live, load 0.5 inside [0.3, 0.8]: HOLD at 2.
        _, hold = wait_for(sub, scale(dp.ScaleDecision.HOLD), 30, seen)
        assert hold.scale.desired_replicas == 2 and hold.scale.policy == "threshold"
        assert hold.id and hold.valid_until_unix_ns > hold.issued_unix_ns

        fleet.set_load(["gpu-a", "gpu-b"], 0.95)
        _, up = wait_for(sub, scale(dp.ScaleDecision.SCALE_UP), 15, seen)
        assert up.scale.desired_replicas == 3 and up.scale.load_index > 0.8
        assert "> high 0.8" in up.scale.reason and up.seq > hold.seq
        assert [a.instance_class for a in up.scale.allocation] == ["on_demand"] and up.scale.expected_hourly_cost > 0

        fleet.set_load(["gpu-a", "gpu-b"], 0.1)
        _, down = wait_for(sub, scale(dp.ScaleDecision.SCALE_DOWN), 20, seen)
        assert down.scale.desired_replicas == 1 and down.scale.load_index < 0.3
        # The scale-down waited out cooldown.down_s = 4 s after the scale-up.
        assert (down.issued_unix_ns - up.issued_unix_ns) / 1e9 >= 4.0

        # The examples learn the standing decision from its re-send (every 2 s here).
        sub_out = run_example("subscribe.py", "--endpoint", decisions, "--topic", "scale/online", "--count", 1, "--timeout", 10)
        assert sub_out.returncode == 0, sub_out.stderr
        assert f"{down.id} seq={down.seq} scale/online SCALE_DOWN 2->1 policy=threshold" in sub_out.stdout
        kubectl = run_example("kubectl_scale.py", "--endpoint", decisions, "--map", "online=serving/vllm", "--pool", "online", "--count", 1, "--timeout", 10)
        assert kubectl.returncode == 0, kubectl.stderr
        assert "kubectl scale --namespace=serving deployment/vllm --replicas=1" in kubectl.stdout.splitlines()

        fleet.set_load(["edge-1"], 1.0)
        _, off = wait_for(sub, lambda t, d: t == "offload/paris" and d.offload.fraction > 0, 20, seen)
        assert off.offload.target == "online" and off.offload.pool == "edge-paris"
        assert 0 < off.offload.fraction <= 1 and off.offload.edge_load_index > 0.7
        assert 0 < off.offload.rtt_ms < 150 and off.offload.budget_ms == 150
        ups = {t for t, d in seen if t.startswith("node/") and d.node.kind == dp.NodeEvent.UP}
        assert ups == {"node/gpu-a", "node/gpu-b", "node/edge-1"}

        # `status` shows the standing decisions.
        status = subprocess.run([bins / "gpulse-aggregator", "status", "--control", agg.control, "--json"],
                                capture_output=True, text=True, timeout=10)
        report = json.loads(status.stdout)
        online = next(p for p in report["pools"] if p["name"] == "online")
        assert online["policy"] == "threshold" and online["action"] == "SCALE_DOWN" and online["desiredReplicas"] == 1
        assert [o["site"] for o in report["offload"]] == ["paris"] and report["offload"][0]["fraction"] > 0
        assert report["decisions"]["published"] >= 6 and report["decisions"]["resent"] > 0
    finally:
        sub.close(0)
        ctx.term()
        gateway.close()

    _, tail_out = tail.stop()
    lines = [json.loads(l) for l in tail_out.splitlines() if l.startswith("{")]
    assert lines and all(l["topic"] == "scale/online" for l in lines)
    by_id = {l["id"]: l["scale"] for l in lines}
    assert by_id[up.id]["action"] == "SCALE_UP" and by_id[up.id]["desired_replicas"] == 3
    assert by_id[down.id]["action"] == "SCALE_DOWN" and by_id[down.id]["desired_replicas"] == 1

    code, log = agg.stop()
    assert code == 0, log
    assert "scale decision" in log and "action=SCALE_UP" in log and "offload decision" in log
