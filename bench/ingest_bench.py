#!/usr/bin/env python3
"""Aggregator ingest benchmark: SIMULATED agents (`gpulse-agent simulate`, real sockets, real batches,
synthetic values) push to a real `gpulse-aggregator` over loopback TCP. Reports the sustained
receive rate, whether every sample was received or counted as dropped, the aggregator's CPU and RSS
per node, and raw libzmq throughput for frames of the same size measured in the same run
(`gpulse-bench --raw-zmq`).

Usage: bench/ingest_bench.py [--bin DIR] [--nodes 100] [--rate 500] [--series 20] [--seconds 20] [--markdown]
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time

from harness import start_aggregator, summary_row


PUBLISH_INTERVAL_MS = 100  # passed to `gpulse-agent simulate`; rounds of batches are this far apart


def cpu_seconds(pid):
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def rss_bytes(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def status(bin_dir, control):
    out = subprocess.run([f"{bin_dir}/gpulse-aggregator", "status", "--control", control, "--json"],
                         capture_output=True, text=True, timeout=10, check=True).stdout
    return json.loads(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--bin", default=".build/release")
    ap.add_argument("--nodes", type=int, default=100)
    ap.add_argument("--rate", type=float, default=500)
    ap.add_argument("--series", type=int, default=20)
    ap.add_argument("--seconds", type=float, default=20)
    ap.add_argument("--markdown", action="store_true")
    ap.add_argument("--summary", help="append summary rows (JSON lines) for bench/report.py")
    args = ap.parse_args()

    # The log goes to a file: a pipe nobody reads would fill and stall the aggregator.
    log = tempfile.NamedTemporaryFile("w+", prefix="gpulse-ingest-bench-", suffix=".log", delete=False)
    agg, endpoints = start_aggregator(args.bin, log, "--report-interval", "3600")
    try:
        control, metrics = endpoints["control"], endpoints["metrics"]
        rss_idle = rss_bytes(agg.pid)
        cpu0, t0 = cpu_seconds(agg.pid), time.monotonic()
        sim = subprocess.run([f"{args.bin}/gpulse-agent", "simulate", "--aggregator", metrics, "--nodes", str(args.nodes),
                              "--rate", str(args.rate), "--series", str(args.series), "--duration", str(args.seconds),
                              "--publish-interval-ms", str(PUBLISH_INTERVAL_MS)],
                             capture_output=True, text=True, check=True)
        # Let the aggregator drain what is queued, then read its counters.
        deadline = time.time() + 30
        totals = dict(re.findall(r"(\w+)=(\d+)", sim.stdout.splitlines()[-1]))
        sent = int(totals["samples_sent"])
        while True:
            report = status(args.bin, control)
            if report["ingest"]["samples"] >= sent or time.time() > deadline:
                break
            time.sleep(0.2)
        cpu1, t1 = cpu_seconds(agg.pid), time.monotonic()
        rss = rss_bytes(agg.pid)
    finally:
        agg.terminate()
        agg.wait(timeout=10)

    received = report["ingest"]["samples"]
    dropped = int(totals["samples_dropped"])
    produced = int(totals["samples_produced"])
    missing_batches = report["ingest"]["missingBatches"]
    frame_bytes = int(totals["bytes_sent"]) / max(1, int(totals["batches_sent"]))
    samples_per_batch = sent / max(1, int(totals["batches_sent"]))
    # The simulator's first round leaves one publish interval after the start.
    rounds = int(totals["batches_sent"]) / args.nodes
    rate = received / (rounds * PUBLISH_INTERVAL_MS / 1000)
    raw = subprocess.run([f"{args.bin}/gpulse-bench", "--raw-zmq", str(int(frame_bytes)), "20000"],
                         capture_output=True, text=True, check=True).stdout
    raw_frames = float(re.search(r"raw_zmq_frames_per_s=(\S+)", raw).group(1))
    raw_samples = raw_frames * samples_per_batch
    cpu_share = (cpu1 - cpu0) / (t1 - t0)
    accounted = received + dropped == produced
    rows = [
        ("simulated fleet", f"{args.nodes} SIMULATED nodes x {args.series} series x {args.rate:g} Hz, {args.seconds:g} s"),
        ("batch", f"{samples_per_batch:.0f} samples, {frame_bytes:.0f} B"),
        ("samples produced / received / dropped (counted)", f"{produced:,} / {received:,} / {dropped:,}"),
        ("every sample received or counted as dropped", "yes" if accounted else f"NO ({produced - received - dropped:,} unaccounted)"),
        ("sequence gaps at the aggregator (batches)", f"{missing_batches}"),
        ("aggregator ingest rate", f"{rate:,.0f} samples/s"),
        ("raw libzmq PUSH->PULL, same frame size, same run", f"{raw_samples:,.0f} samples/s ({raw_frames:,.0f} frames/s)"),
        ("ingest / raw libzmq", f"{rate / raw_samples:.3f}"),
        ("ingest / 1,000,000 samples/s target", f"{rate / 1e6:.3f}"),
        ("aggregator CPU (share of one core, run + drain)", f"{cpu_share:.2f}"),
        ("aggregator CPU per node", f"{cpu_share / args.nodes * 100:.3f} % of a core"),
        ("samples/s per aggregator core (ingest rate / CPU share)", f"{rate / cpu_share:,.0f}"),
        ("aggregator RSS idle / loaded", f"{rss_idle / 2**20:.1f} MiB / {rss / 2**20:.1f} MiB"),
        ("RSS per node (loaded - idle) / raw windows per node", f"{(rss - rss_idle) / args.nodes / 2**20:.2f} MiB / {report['windowBytes'] / args.nodes / 2**20:.2f} MiB"),
    ]
    summary_row(args.summary, f"aggregator ingest, all offered by {args.nodes} SIMULATED agents, {'none lost' if accounted and missing_batches == 0 else 'SOME LOST'}", rate, "samples/s", "target (issue 4)", 1e6, "higher")
    if args.markdown:
        print("| figure | value |\n|---|---|")
        for k, v in rows:
            print(f"| {k} | {v} |")
    else:
        for k, v in rows:
            print(f"{k}: {v}")
    return 0 if accounted and missing_batches == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
