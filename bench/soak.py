"""Soak (not in CI; `make soak`, about 12 minutes): one aggregator, SOAK_NODES (1,000) SIMULATED agents
from `gpulse-agent simulate` for SOAK_SECONDS (600). Samples the aggregator's RSS every 10 s from
/proc, takes the RSS at the end of the warm-up (SOAK_WARMUP_S, 120 s) as the base, and reports the
growth after it against the 5 % limit of issue 7, with the whole curve in SOAK.md."""
import os
import subprocess
import sys
import tempfile
import time

from harness import start_aggregator


def rss_bytes(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def main(bin_dir, out_path):
    nodes = int(os.environ.get("SOAK_NODES", "1000"))
    seconds = int(os.environ.get("SOAK_SECONDS", "600"))
    warmup = int(os.environ.get("SOAK_WARMUP_S", "120"))
    work = tempfile.mkdtemp(prefix="gpulse-soak-")
    log = open(os.path.join(work, "aggregator.log"), "w")
    # SOAK_AGGREGATOR_ARGS (e.g. "--snapshot off") bisects where memory goes; the default run has snapshots on.
    extra = os.environ.get("SOAK_AGGREGATOR_ARGS", "").split()
    agg, ep = start_aggregator(bin_dir, log, "--snapshot", os.path.join(work, "agg.snapshot"), *extra)
    # 1,000 nodes x 10 series x 10 Hz at the agent's default publish interval (100 ms): 100,000
    # samples/s in 10,000 batches/s. The interval matters for the warm-up: libzmq queues each
    # connection's messages in 256-message chunks and keeps one spare, so every connection touches new
    # memory until it has carried 512 messages (51 s here; 8.5 min at a 1 s interval, SOAK.md).
    sim = subprocess.Popen([f"{bin_dir}/gpulse-agent", "simulate", "--aggregator", ep["metrics"], "--nodes", str(nodes),
                            "--rate", "10", "--series", "10", "--publish-interval-ms", os.environ.get("SOAK_PUBLISH_INTERVAL_MS", "100"), "--duration", str(seconds + 5),
                            "--threads", "2"], stdout=subprocess.DEVNULL, stderr=open(os.path.join(work, "simulate.log"), "w"))
    start = time.monotonic()
    curve = []
    while (t := time.monotonic() - start) < seconds:
        curve.append((round(t), rss_bytes(agg.pid)))
        print(f"soak: t={round(t)} s rss={curve[-1][1] / 2**20:.1f} MiB", flush=True)
        time.sleep(10)
    status = subprocess.run([f"{bin_dir}/gpulse-aggregator", "status", "--control", ep["control"]], capture_output=True, text=True).stdout
    sim.wait()
    agg.terminate()
    agg.wait(timeout=30)
    base = next(r for t, r in curve if t >= warmup)
    peak_after = max(r for t, r in curve if t >= warmup)
    last = curve[-1][1]
    growth = (last - base) / base * 100
    lines = [
        "# Soak: aggregator RSS under 1,000 SIMULATED agents",
        "",
        f"`make soak` ({nodes} simulated nodes from `gpulse-agent simulate`, 10 series at 10 Hz each, one batch per node "
        f"every {os.environ.get('SOAK_PUBLISH_INTERVAL_MS', '100')} ms; snapshots on). Run on {time.strftime('%Y-%m-%d')}.",
        "",
        f"RSS at the end of the {warmup} s warm-up: {base / 2**20:.1f} MiB; at {curve[-1][0]} s: {last / 2**20:.1f} MiB; "
        f"peak after warm-up {peak_after / 2**20:.1f} MiB. Growth after warm-up: **{growth:+.2f} %** (limit +5 %: "
        f"{'met' if growth < 5 else 'NOT met'}).",
        "",
        "| t (s) | RSS (MiB) |",
        "|---:|---:|",
        *[f"| {t} | {r / 2**20:.1f} |" for t, r in curve],
        "",
        "`gpulse-aggregator status` at the end (nodes table cut):",
        "",
        "```",
        *status.split("\nnodes:")[0].splitlines(),
        "```",
    ]
    open(out_path, "w").write("\n".join(lines) + "\n")
    print(f"soak: growth after warm-up {growth:+.2f} % ({base / 2**20:.1f} -> {last / 2**20:.1f} MiB); curve in {out_path}")
    return 0 if growth < 5 else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1], sys.argv[2]))
