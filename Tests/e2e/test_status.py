"""`gpulse-aggregator status` against a running aggregator with two real agents."""
import json
import re
import subprocess
import time

from conftest import start_aggregator


def status(bins, control, *extra):
    return subprocess.run([bins / "gpulse-aggregator", "status", "--control", control, *extra],
                          capture_output=True, text=True, timeout=10)


def test_status_shows_nodes_pools_and_ingest_counters(bins, procs):
    agg, metrics, _ = start_aggregator(procs, bins)
    for node in ("gpu-a", "gpu-b"):
        procs([bins / "gpulse-agent", "run", "--plaintext", "--aggregator", metrics, "--node-id", node, "--pool", "llm", "--rate", "100",
               "--nvml-library", "/nonexistent/libnvidia-ml.so.1"])
    deadline = time.time() + 20
    while True:
        result = status(bins, agg.control, "--json")
        assert result.returncode == 0, result.stderr
        report = json.loads(result.stdout)
        pools = {p["name"]: p for p in report["pools"]}
        if "llm" in pools and pools["llm"]["liveNodes"] == 2 or time.time() > deadline:
            break
        time.sleep(0.5)
    nodes = {n["id"]: n for n in report["nodes"]}
    assert set(nodes) == {"gpu-a", "gpu-b"}
    for n in nodes.values():
        assert n["state"] == "live" and n["pool"] == "llm"
        assert n["missingBatches"] == 0 and n["restarts"] == 0
        assert 0 <= n["load"] <= 1  # CPU and memory of this host; no GPU (NVML pointed nowhere)
        assert n["gpus"] == 0 and n["windowBytes"] > 0
    llm = pools["llm"]
    assert llm["liveNodes"] == 2 and llm["nodes"] == 2
    # Pool demand is the sum of the nodes' load indexes at the last tick (they may move by a tick).
    assert abs(llm["demand"] - sum(n["load"] for n in nodes.values())) < 0.5
    assert llm["loadMax"] >= llm["loadMean"] >= 0
    assert report["ingest"]["batches"] > 0 and report["ingest"]["samples"] > 0 and report["ingest"]["rejected"] == 0
    assert report["rssBytes"] > 0

    text = status(bins, agg.control)
    assert text.returncode == 0, text.stderr
    assert "pools:" in text.stdout and "llm" in text.stdout and "gpu-a" in text.stdout and "live" in text.stdout
    # Before the first minute closes the pool is still learning; if the run straddled a minute
    # boundary, that (partial) minute has been learned and forecasts are shown with their model.
    pool_line = next(l for l in text.stdout.splitlines() if l.strip().startswith("llm "))
    assert "learning (0 min seen)" in pool_line or re.search(r"1m \S+ \(\w+\)", pool_line), pool_line


def test_status_without_an_aggregator_says_so(bins):
    result = status(bins, "tcp://127.0.0.1:9", "--timeout", "0.3")
    assert result.returncode == 1
    assert "no answer from tcp://127.0.0.1:9" in result.stderr and "is gpulse-aggregator running" in result.stderr


def test_aggregator_config_errors_name_the_key(bins, tmp_path):
    bad = tmp_path / "aggregator.yaml"
    bad.write_text("load_index:\n  alpha: 0.7\n  beta: 0.7\n  gamma: 0\nregistry:\n  stale_afterr_s: 3\n")
    result = subprocess.run([bins / "gpulse-aggregator", "check-config", "--config", bad], capture_output=True, text=True)
    assert result.returncode == 2
    assert "registry.stale_afterr_s (line 6): unknown key" in result.stdout
    bad.write_text("load_index:\n  alpha: 0.7\n  beta: 0.7\n  gamma: 0\n")
    result = subprocess.run([bins / "gpulse-aggregator", "check-config", "--config", bad], capture_output=True, text=True)
    assert result.returncode == 2 and "must sum to 1" in result.stdout
    run = subprocess.run([bins / "gpulse-aggregator", "run", "--plaintext", "--config", bad], capture_output=True, text=True, timeout=10)
    assert run.returncode != 0 and "must sum to 1" in run.stderr
