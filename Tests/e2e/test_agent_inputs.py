"""The agent's inputs from outside: application reports pushed by examples/app_report.py, and RTT
probes, arriving at a (Python) aggregator in real batches."""
import subprocess
import sys
import time

import zmq

from conftest import ROOT
from gpulse.v1 import metrics_pb2 as m


def receive_batches(pull, seconds, until):
    batches = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if pull.poll(100):
            batches.append(m.MetricsBatch.FromString(pull.recv()))
            if until(batches):
                break
    return batches


def test_app_reports_from_the_python_example_reach_the_aggregator(bins, procs, tmp_path, zmq_context):
    ctx = zmq_context
    pull = ctx.socket(zmq.PULL)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    endpoint = f"ipc://{tmp_path}/app.sock"
    listener = ctx.socket(zmq.PULL)  # a port nothing will accept on after close: a lost probe
    dead_port = listener.bind_to_random_port("tcp://127.0.0.1")
    listener.close(0)
    config = tmp_path / "agent.yaml"
    config.write_text(f"""
node: {{id: app-node, pool: p}}
aggregator: {{endpoint: "tcp://127.0.0.1:{port}"}}
groups: {{probes: {{rate_hz: 5}}}}
samplers:
  gpu: {{enabled: false}}
  app_reports: {{enabled: true, endpoint: "{endpoint}"}}
  rtt: {{enabled: true, timeout_ms: 300, targets: ["127.0.0.1:{port}", "127.0.0.1:{dead_port}"]}}
""")
    agent = procs([bins / "gpulse-agent", "run", "--plaintext", "--config", config])
    time.sleep(0.5)
    out = subprocess.run([sys.executable, ROOT / "examples/app_report.py", "--endpoint", endpoint, "--app", "vllm-0",
                          "--latency-ms", "123.5", "--queue-depth", "4", "--request-rate", "40", "--count", "10"],
                         capture_output=True, text=True, timeout=30)
    assert out.returncode == 0 and "sent 10 of 10" in out.stdout, out.stderr

    def series(batches, kind):
        return [s for b in batches for s in b.series if s.kind == kind]

    batches = receive_batches(pull, 10, lambda bs: len(series(bs, m.APP_LATENCY_MS)) and sum(l.lost for b in bs for l in b.probe_losses) >= 2)
    code, log = agent.stop()
    pull.close(0)
    ctx.term()
    assert code == 0, log

    latency = series(batches, m.APP_LATENCY_MS)
    assert latency and all(s.subject == "vllm-0" for s in latency)
    assert {round(v, 1) for s in latency for v in s.value} == {123.5}
    assert {v for s in series(batches, m.APP_QUEUE_DEPTH) for v in s.value} == {4.0}
    rtt = series(batches, m.RTT_MS)
    assert rtt and all(s.subject == f"127.0.0.1:{port}" for s in rtt), "only the listening target gives numbers"
    assert all(0 < v < 300 for s in rtt for v in s.value)
    lost = [l for b in batches for l in b.probe_losses]
    assert lost and {l.target for l in lost} == {f"127.0.0.1:{dead_port}"}
