#!/usr/bin/env python3
"""Decision latency: the time from a load step in the agents' input to the SCALE_UP decision.

A real `gpulse-aggregator` with the DEFAULT config (only its endpoints moved to free loopback ports)
and one real `gpulse-agent` per pool (default agent config; fake procfs root, TEST FAKE NVML whose
load a file sets). Each pool is stepped once from load 0.4 to 1.0 by replacing its agent's load file,
at a random phase; the default threshold policy (high 0.8) answers with SCALE_UP on scale/<pool>.
One step per pool because the default scale-up cooldown is 60 s: a new pool is a fresh, honest step.

Two times per step, both on this host's clock: `issued` (the decision's issued_unix_ns, stamped as it
is handed to the PUB socket) and `received` (a SUB socket on loopback got it). The limit is the
issue's target, p99 at most 1 s; the floor is what the default pipeline cannot beat: the 1 s load
window must be 2/3 new before its mean crosses 0.8.

Usage: bench/decision_latency.py [--bin DIR] [--pools 24] [--markdown]
"""
import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import zmq

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / ".build" / "python"))
from gpulse.v1 import decision_pb2 as dp  # noqa: E402
from harness import start_aggregator, summary_row  # noqa: E402

FIXTURES = ROOT / "Tests/GPulseAgentTests/Fixtures"
LOW, HIGH = 0.4, 1.0


def percentile(values, q):
    s = sorted(values)
    k = (len(s) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


def write_load(path, value):
    tmp = path.with_suffix(".tmp")
    tmp.write_text(f"{value}\n")
    tmp.replace(path)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("--pools", type=int, default=24, help="one agent and one step per pool (at least 20)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--summary", help="append summary rows (JSON lines) for bench/report.py")
    args = ap.parse_args()
    random.seed(args.seed)
    work = Path(tempfile.mkdtemp(prefix="gpulse-latency-"))
    (work / "proc/net").mkdir(parents=True)
    shutil.copy(FIXTURES / "cpu-steady/proc0/stat", work / "proc/stat")
    shutil.copy(FIXTURES / "meminfo/proc0/meminfo", work / "proc/meminfo")
    shutil.copy(FIXTURES / "net-hotplug/proc0/net/dev", work / "proc/net/dev")
    agg, endpoints = start_aggregator(args.bin, open(work / "aggregator.log", "w+"))
    metrics, decisions = endpoints["metrics"], endpoints["decisions"]
    agents = []
    ctx = zmq.Context()
    sub = ctx.socket(zmq.SUB)
    try:
        sub.setsockopt(zmq.SUBSCRIBE, b"scale/")
        sub.connect(decisions)
        pools = [f"pool-{i:02d}" for i in range(args.pools)]
        loads = {}
        for pool in pools:
            loads[pool] = work / f"{pool}.load"
            write_load(loads[pool], LOW)
            config = work / f"{pool}.yaml"
            config.write_text(f'node: {{id: {pool}-node, pool: {pool}}}\naggregator: {{endpoint: "{metrics}"}}\n'
                              f'procfs_root: {work / "proc"}\nsamplers: {{gpu: {{library: {args.bin}/libFakeNVML.so}}}}\n')
            env = {**os.environ, "GPULSE_FAKE_NVML_DEVICES": "1", "GPULSE_FAKE_NVML_LOAD_FILE": str(loads[pool])}
            agents.append(subprocess.Popen([f"{args.bin}/gpulse-agent", "run", "--plaintext", "--config", str(config)], env=env,
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))

        def receive(until, timeout):
            end = time.time() + timeout
            while time.time() < end:
                if sub.poll(50):
                    topic, raw = sub.recv_multipart()
                    d = dp.Decision.FromString(raw)
                    if until(topic.decode(), d):
                        return time.time(), d
            return None, None

        # Every pool live and holding before the first step.
        holding = set()

        def all_holding(topic, d):
            if d.scale.action == dp.ScaleDecision.HOLD:
                holding.add(d.scale.pool)
            return len(holding) == len(pools)

        receive(all_holding, 60)
        if len(holding) != len(pools):
            raise SystemExit(f"only {len(holding)} of {len(pools)} pools reported in 60 s")
        time.sleep(2)  # the load windows hold only LOW now

        issued, received = [], []
        for pool in random.sample(pools, len(pools)):
            time.sleep(random.uniform(0.2, 1.2))  # a random phase against the aggregator's 100 ms evaluation
            t0 = time.time()
            write_load(loads[pool], HIGH)
            arrived, d = receive(lambda t, d: t == f"scale/{pool}" and d.scale.action == dp.ScaleDecision.SCALE_UP, 15)
            if d is None:
                raise SystemExit(f"{pool}: no SCALE_UP within 15 s of the step")
            issued.append(d.issued_unix_ns / 1e9 - t0)
            received.append(arrived - t0)
    finally:
        for a in agents:
            a.terminate()
        for a in agents:
            a.wait(timeout=10)
        agg.terminate()
        agg.wait(timeout=10)
        sub.close(0)
        ctx.term()

    target, floor = 1.0, (0.8 - LOW) / (HIGH - LOW) * 1.0
    rows = [("issued (decision handed to PUB)", issued), ("received (loopback SUB)", received)]
    summary_row(args.summary, "decision latency p99 (load step to SCALE_UP received)", percentile(received, 0.99), "s", "target (issue 5)", target, "lower")
    summary_row(args.summary, "decision latency p50", statistics.median(received), "s", "load window floor (same config)", floor, "lower")
    if args.markdown:
        print(f"Load step {LOW} → {HIGH} on one agent per pool, {len(received)} steps, default config "
              f"(threshold high 0.8, 1 s load window, 100 ms evaluation, 100 ms agent batches). "
              f"Floor: the window must be {floor:.2f} s new before its mean crosses 0.8.\n")
        print("| time from the step to | p50 s | p99 s | max s | p99 / 1 s target | p50 / window floor |")
        print("|---|---|---|---|---|---|")
        for name, v in rows:
            print(f"| {name} | {statistics.median(v):.3f} | {percentile(v, 0.99):.3f} | {max(v):.3f} | "
                  f"{percentile(v, 0.99) / target:.2f} | {statistics.median(v) / floor:.2f} |")
    else:
        for name, v in rows:
            print(f"{name}: n={len(v)} p50={statistics.median(v):.3f}s p99={percentile(v, 0.99):.3f}s max={max(v):.3f}s")
    return 0 if percentile(received, 0.99) <= target else 1


if __name__ == "__main__":
    sys.exit(main())
