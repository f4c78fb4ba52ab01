"""The Prometheus endpoint as a real Prometheus sees it: Debian's `prometheus` scrapes a running
aggregator fed by two real agents, and the test asks Prometheus's own HTTP query API for the pool
load index and the ingest counters. `promtool check metrics` lints both endpoints' output. The
agents read a static procfs and the TEST FAKE NVML, whose GPU load the test sets, so the load index
Prometheus sees is the one the test chose, however busy the machine is.

Prometheus is installed from Debian when missing; where it cannot be installed the test skips and
says why (it never fails for that reason)."""
import json
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest

from conftest import prometheus_address, start_aggregator
from test_decisions import fake_procfs


def ensure_prometheus():
    if shutil.which("prometheus") and shutil.which("promtool"):
        return
    if os.geteuid() != 0 and not shutil.which("sudo"):
        pytest.skip("prometheus is not installed and this user cannot apt-get install it")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    r = subprocess.run(sudo + ["apt-get", "install", "-y", "-q", "--no-install-recommends", "prometheus"],
                       capture_output=True, text=True, env=env, timeout=900)
    if r.returncode != 0:
        subprocess.run(sudo + ["apt-get", "update", "-q"], capture_output=True, env=env, timeout=600)
        r = subprocess.run(sudo + ["apt-get", "install", "-y", "-q", "--no-install-recommends", "prometheus"],
                           capture_output=True, text=True, env=env, timeout=900)
    if r.returncode != 0 or not shutil.which("prometheus"):
        pytest.skip(f"Debian's prometheus package could not be installed: {r.stderr.strip()[-400:]}")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(url: str, timeout=5.0) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def query(prom: str, expr: str) -> list:
    status, body = http_get(f"http://{prom}/api/v1/query?" + urllib.parse.urlencode({"query": expr}))
    assert status == 200, body
    data = json.loads(body)
    assert data["status"] == "success", data
    return data["data"]["result"]


def wait_for_result(prom: str, expr: str, timeout=30.0) -> list:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        result = query(prom, expr)
        if result:
            return result
        time.sleep(0.5)
    raise AssertionError(f"Prometheus has nothing for {expr!r} after {timeout} s")


def promtool_check(text: str):
    r = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True, timeout=30)
    assert r.returncode == 0 and not r.stdout.strip() and not r.stderr.strip(), f"promtool: {r.stdout}{r.stderr}"


def test_prometheus_scrapes_load_index_and_ingest_counters(procs, bins, tmp_path):
    ensure_prometheus()
    agg, metrics, _ = start_aggregator(procs, bins)
    agg_http = prometheus_address(agg)
    fake_procfs(tmp_path / "proc")
    load = tmp_path / "gpu.load"
    load.write_text("0.3\n")
    for node in ("prom-a", "prom-b"):
        config = tmp_path / f"{node}.yaml"
        config.write_text(f"""
node: {{id: {node}, pool: llm}}
aggregator: {{endpoint: "{metrics}"}}
procfs_root: {tmp_path / "proc"}
groups: {{fast: {{rate_hz: 100}}, gpu: {{rate_hz: 10}}}}
samplers:
  gpu: {{enabled: true, library: {bins / "libFakeNVML.so"}}}
  rtt: {{enabled: false}}
prometheus: {{listen: "127.0.0.1:0"}}
""")
        agent = procs([bins / "gpulse-agent", "run", "--plaintext", "--config", config],
                      env={"GPULSE_FAKE_NVML_DEVICES": "1", "GPULSE_FAKE_NVML_LOAD_FILE": str(load)})
    agent_http = prometheus_address(agent)

    # Our own health and lint checks before Prometheus is involved.
    status, body = http_get(f"http://{agg_http}/healthz")
    assert status == 200 and body.startswith("ok: ingest loop"), body
    status, body = http_get(f"http://{agent_http}/healthz")
    assert status == 200 and body.startswith("ok:"), body
    time.sleep(2)
    for address in (agg_http, agent_http):
        status, text = http_get(f"http://{address}/metrics")
        assert status == 200
        promtool_check(text)

    port = free_port()
    config = tmp_path / "prometheus.yml"
    config.write_text(f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: gpulse-aggregator
    static_configs: [{{targets: ["{agg_http}"]}}]
  - job_name: gpulse-agent
    static_configs: [{{targets: ["{agent_http}"]}}]
""")
    prom_proc = procs(["prometheus", f"--config.file={config}", f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                       f"--web.listen-address=127.0.0.1:{port}", "--log.level=warn"])
    prom = f"127.0.0.1:{port}"
    end = time.monotonic() + 30
    while not (_reachable(prom) and http_get(f"http://{prom}/-/ready")[0] == 200):
        assert prom_proc.p.poll() is None, "prometheus exited:\n" + prom_proc.p.stdout.read()
        assert time.monotonic() < end, "prometheus not ready after 30 s"
        time.sleep(0.3)

    up = wait_for_result(prom, 'up{job="gpulse-aggregator"} == 1')
    assert up, "Prometheus does not see the aggregator up"
    # The series exists from the pool's first second, at 0 until the first load window fills; then
    # it is the fake GPUs' 30 %.
    low = wait_for_result(prom, 'gpulse_pool_load_index_mean{pool="llm"} > 0.25 < 0.35')
    assert low, low
    live = wait_for_result(prom, 'gpulse_pool_live_replicas{pool="llm"} == 2')
    assert live
    first = float(wait_for_result(prom, "gpulse_ingest_batches_total")[0]["value"][1])
    first_samples = float(query(prom, "gpulse_ingest_samples_total")[0]["value"][1])
    time.sleep(4)
    second = float(query(prom, "gpulse_ingest_batches_total")[0]["value"][1])
    second_samples = float(query(prom, "gpulse_ingest_samples_total")[0]["value"][1])
    # Two agents publish ten batches a second each: four seconds bring tens more.
    assert second - first >= 20, (first, second)
    assert second_samples > first_samples
    # The load index follows the GPUs: set them to 80 % and Prometheus sees it.
    tmp = load.with_suffix(".tmp")
    tmp.write_text("0.8\n")
    tmp.replace(load)  # atomic: the fake NVML re-opens the file on every call
    high = wait_for_result(prom, 'gpulse_pool_load_index_mean{pool="llm"} > 0.75 < 0.85')
    assert high, high
    rejections = query(prom, 'gpulse_ingest_rejected_batches_total{reason="malformed"}')
    assert rejections and float(rejections[0]["value"][1]) == 0
    agent_up = wait_for_result(prom, 'rate(gpulse_agent_sampler_runs_total{sampler="cpu"}[5s]) > 50')
    assert agent_up


def _reachable(address: str) -> bool:
    host, port = address.rsplit(":", 1)
    with socket.socket() as s:
        s.settimeout(0.2)
        return s.connect_ex((host, int(port))) == 0


def test_healthz_and_unknown_paths(procs, bins):
    agg, _, _ = start_aggregator(procs, bins)
    address = prometheus_address(agg)
    assert http_get(f"http://{address}/nope")[0] == 404
    req = urllib.request.Request(f"http://{address}/metrics", method="POST", data=b"x")
    try:
        urllib.request.urlopen(req, timeout=5)
        code = 200
    except urllib.error.HTTPError as e:
        code = e.code
    assert code == 405
    status, body = http_get(f"http://{address}/healthz")
    assert status == 200 and "ingest loop last went round" in body
    # A second aggregator asked for the same port stops at start-up and says why.
    agg2 = procs([bins / "gpulse-aggregator", "run", "--plaintext", "--metrics", "tcp://127.0.0.1:*", "--decisions", "tcp://127.0.0.1:*",
                  "--control", "tcp://127.0.0.1:*", "--prometheus", address])
    code, out = agg2.finish(timeout=10)
    assert code != 0
    assert f"cannot listen for metrics scrapes on {address}" in out, out
