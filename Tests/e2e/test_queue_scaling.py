"""Queue-aware scaling end to end: the real aggregator and two real agents (fake procfs root, TEST
FAKE NVML pinned at full load) whose application reports say the pool is short: arrivals far
beyond what two replicas serve and a queue that grows while GPU utilization stays at 1. The load
index cannot tell this pool from one that is just busy; the offered demand can, and the predictive
policy jumps to the size the queue needs in one decision instead of one replica per cooldown."""
import json
import math
import threading
import time

import zmq

from conftest import start_aggregator, status_json, wait_until
from gpulse.v1 import decision_pb2 as dp
from test_decisions import fake_procfs

AGGREGATOR_CONFIG = """
decisions: {resend_interval_s: 2, valid_for_s: 6}
pools:
  llm:
    policy: predictive
    slots_per_replica: 8
    slo: {max_wait_s: 2, percentile: 0.99, queue_drain_s: 30}
    # A long scale-up cooldown: scaling one replica per cooldown would take an hour here.
    cooldown: {up_s: 120, down_s: 300, max_actions_per_minute: 2}
"""

ARRIVALS_PER_AGENT = 5.0   # requests/s; two agents: 10/s
SERVICE_MS = 10_000.0      # 10 s per request: 100 Erlangs against 2 x 8 slots


def erlang_c_replicas(rate, service_s, slots, max_wait_s, percentile, max_replicas=100):
    """The fewest replicas whose M/M/N P(wait > max_wait_s) is at most 1 - percentile (written
    here independently of the Swift planner, from the textbook Erlang B recursion)."""
    a = rate * service_s
    for n in range(1, max_replicas + 1):
        servers = n * slots
        if a >= servers:
            continue
        b = 1.0
        for k in range(1, servers + 1):
            b = a * b / (k + a * b)
        c = b / (1 - a / servers * (1 - b))
        if c * math.exp(-(servers - a) * max_wait_s / service_s) <= 1 - percentile:
            return n
    return max_replicas


def test_a_growing_queue_is_sized_in_one_step(bins, procs, tmp_path, zmq_context):
    fake_procfs(tmp_path / "proc")
    load = tmp_path / "gpu.load"
    load.write_text("1.0\n")
    config = tmp_path / "aggregator.yaml"
    config.write_text(AGGREGATOR_CONFIG)
    agg, metrics, decisions = start_aggregator(procs, bins, "--config", config)
    endpoints = {}
    for node in ("gpu-a", "gpu-b"):
        endpoints[node] = f"ipc://{tmp_path}/{node}-reports.sock"
        (tmp_path / f"{node}.yaml").write_text(f"""
node: {{id: {node}, pool: llm, site: dc1, tier: cloud, workload: online}}
aggregator: {{endpoint: "{metrics}"}}
procfs_root: {tmp_path / "proc"}
groups: {{fast: {{rate_hz: 50}}, gpu: {{rate_hz: 10}}, app: {{rate_hz: 20}}}}
samplers:
  gpu: {{enabled: true, library: {bins / "libFakeNVML.so"}}}
  app_reports: {{enabled: true, endpoint: "{endpoints[node]}"}}
""")
        procs([bins / "gpulse-agent", "run", "--plaintext", "--config", tmp_path / f"{node}.yaml"],
              env={"GPULSE_FAKE_NVML_DEVICES": "1", "GPULSE_FAKE_NVML_LOAD_FILE": str(load)})

    ctx = zmq_context
    stop = threading.Event()
    queue = {"depth": 0.0}

    def report():
        """The application side: 8 requests running per replica (all slots), 0.8/s finishing,
        5/s arriving, so the queue grows by 4.2 a second per replica."""
        pushes = {}
        for node, ep in endpoints.items():
            s = ctx.socket(zmq.PUSH)
            s.setsockopt(zmq.LINGER, 0)
            s.connect(ep)
            pushes[node] = s
        while not stop.is_set():
            queue["depth"] += 0.2 * (ARRIVALS_PER_AGENT - 0.8)
            for node, s in pushes.items():
                s.send_string(json.dumps({
                    "app": "vllm", "request_rate": ARRIVALS_PER_AGENT, "running": 8, "queue_depth": queue["depth"],
                    "completion_rate": 0.8, "service_time_ms": SERVICE_MS, "latency_ms": SERVICE_MS + 1000 * queue["depth"] / 0.8}))
            time.sleep(0.2)
        for s in pushes.values():
            s.close(0)

    sub = ctx.socket(zmq.SUB)
    sub.setsockopt(zmq.SUBSCRIBE, b"scale/llm")
    sub.connect(decisions)
    reporter = threading.Thread(target=report, daemon=True)
    reporter.start()
    seen = []
    try:
        # Wait (generously: a busy machine) for the first decision that reads the arrival rate.
        end = time.monotonic() + 60
        jump = None
        while time.monotonic() < end and jump is None:
            if sub.poll(200):
                _, raw = sub.recv_multipart()
                d = dp.Decision.FromString(raw)
                seen.append(d.scale)
                if d.scale.current_replicas == 2 and d.scale.demand_source == dp.ScaleDecision.ARRIVAL_RATE \
                        and d.scale.arrival_rate > 9 and d.scale.requests_waiting > 0:
                    jump = d.scale
        assert jump is not None, f"no decision from the arrival rate; seen: {[(s.action, s.desired_replicas, s.demand_source) for s in seen[-5:]]}"
        steady = erlang_c_replicas(10.0, SERVICE_MS / 1000, 8, 2.0, 0.99)
        # Offered load 10/s x 10 s / 8 slots = 12.5 replica units against 2 live replicas pinned at L ~ 1.
        assert abs(jump.demand - 12.5) < 1.5, jump.demand
        assert jump.action == dp.ScaleDecision.SCALE_UP, jump.reason
        # One step to at least what steady state needs (plus the queue's drain), never +1.
        assert jump.desired_replicas >= steady > 3, (jump.desired_replicas, steady)
        assert jump.desired_replicas <= 100
        assert abs(jump.service_time_s - 10) < 0.5 and jump.slo_max_wait_s == 2
        assert 0 <= jump.predicted_wait_probability <= 0.01
        assert "Erlang C" in jump.reason and "arrival_rate" in jump.reason
        assert jump.load_index > 0.5  # the load index saw only a busy pool

        # status shows the demand source, offered demand, arrival rate and predicted wait.
        def pool():
            p = next((p for p in status_json(bins, agg.control)["pools"] if p["name"] == "llm"), None)
            return p if p and p.get("demandSource") == "arrival_rate" and p.get("predictedWaitProbability") is not None else None
        p = wait_until(pool, "status with the arrival-rate demand", timeout=20)
        assert p["arrivalRate"] > 9 and p["requestsWaiting"] > 0 and abs(p["demand"] - 12.5) < 1.5
    finally:
        stop.set()
        reporter.join(5)
        sub.close(0)
        ctx.term()
    code, log = agg.stop()
    assert code == 0, log
