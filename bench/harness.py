"""What the benchmarks share: starting a real gpulse-aggregator on free loopback ports."""
import re
import subprocess
import time


def start_aggregator(bin_dir, log, *extra):
    """Starts `gpulse-aggregator run` with every endpoint on a free loopback port and its log in the
    open file `log` (a pipe nobody reads would fill and stall it). Returns (process, endpoints), the
    endpoints a dict with keys metrics, decisions and control."""
    agg = subprocess.Popen([f"{bin_dir}/gpulse-aggregator", "run", "--plaintext", "--metrics", "tcp://127.0.0.1:*", "--decisions",
                            "tcp://127.0.0.1:*", "--control", "tcp://127.0.0.1:*", "--prometheus", "127.0.0.1:0", *extra],
                           stderr=log, text=True)
    line, started = "", time.time()
    while "aggregator listening" not in line:
        time.sleep(0.05)
        line = next((l for l in open(log.name) if "aggregator listening" in l), "")
        if agg.poll() is not None or time.time() - started > 10:
            agg.kill()
            raise SystemExit("aggregator did not start:\n" + open(log.name).read())
    return agg, {k: re.search(rf"{k}=(\S+)", line).group(1) for k in ("metrics", "decisions", "control")}


def bench_arguments():
    """The command line the per-process cost benchmarks share: BIN_DIR [--seconds N] [--markdown OUT.md]
    [--summary ROWS.jsonl]."""
    import argparse
    ap = argparse.ArgumentParser()
    ap.add_argument("bin_dir")
    ap.add_argument("--seconds", type=float, default=30)
    ap.add_argument("--markdown")
    ap.add_argument("--summary", help="append summary rows (JSON lines) for bench/report.py")
    return ap.parse_args()


def summary_row(path, figure, value, unit, peer, peer_value, better):
    """Appends one row of the `make bench` summary (bench/report.py reads them): a figure, the peer or
    limit it is compared with in the same run, and which way is better for the ratio value / peer."""
    if not path:
        return
    import json
    with open(path, "a") as f:
        f.write(json.dumps({"figure": figure, "value": value, "unit": unit, "peer": peer, "peer_value": peer_value,
                            "better": better}) + "\n")
