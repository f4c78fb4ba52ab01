"""Assembles BENCHMARKS.md from one `make bench` run: the machine and the date, one summary table
(every figure beside the peer or limit measured in the same run, and the ratio), then each
benchmark's own section. Prints the summary table too.

Usage: bench/report.py --summary ROWS.jsonl --sections DIR --output BENCHMARKS.md
"""
import argparse
import datetime
import json
import os
import platform
import subprocess
from pathlib import Path

# The order sections appear in; any other *.md in the folder follows.
ORDER = ["codec.md", "agent_cost.md", "engine_cost.md", "ingest.md", "decision_latency.md", "forecast_nasa.md", "forecast_servegen.md"]


def machine() -> str:
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    mem = next((int(l.split()[1]) for l in open("/proc/meminfo") if l.startswith("MemTotal")), 0) / 2**20
    swift = subprocess.run(["swift", "--version"], capture_output=True, text=True).stdout.splitlines()
    zmq = subprocess.run(["pkg-config", "--modversion", "libzmq"], capture_output=True, text=True).stdout.strip()
    return (f"{cpu}, {os.cpu_count()} cores, {mem:.0f} GiB, Linux {platform.release()}, "
            f"{swift[0] if swift else 'swift ?'}, libzmq {zmq or '?'}")


def fmt(v: float) -> str:
    a = abs(v)
    if a >= 1e6:
        return f"{v / 1e6:.2f}M"
    if a >= 1e4:
        return f"{v / 1e3:.1f}k"
    if a >= 100:
        return f"{v:.0f}"
    return f"{v:.3g}"


def summary_table(rows) -> str:
    out = ["| figure | gpulse | peer or limit (same run) | peer value | ratio gpulse / peer | better |",
           "|---|---:|---|---:|---:|---|"]
    for r in rows:
        ratio = r["value"] / r["peer_value"] if r["peer_value"] else float("nan")
        out.append(f"| {r['figure']} | {fmt(r['value'])} {r['unit']} | {r['peer']} | {fmt(r['peer_value'])} {r['unit']} "
                   f"| {ratio:.3f} | {r['better']} |")
    return "\n".join(out)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--summary", required=True)
    ap.add_argument("--sections", required=True)
    ap.add_argument("--output", required=True)
    a = ap.parse_args()
    rows = [json.loads(l) for l in open(a.summary) if l.strip()] if os.path.exists(a.summary) else []
    sections = Path(a.sections)
    names = [n for n in ORDER if (sections / n).exists()] + sorted(p.name for p in sections.glob("*.md") if p.name not in ORDER)
    missing = [n for n in ORDER if n not in names]
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    table = summary_table(rows)
    parts = [
        "# gpulse benchmarks", "",
        f"Written by `make bench` on {date}.  ",
        f"Machine: {machine()}.", "",
        "These machines are shared and noisy, so every figure stands beside a peer or a limit measured in the same "
        "run, and the ratio is the figure to read. \"better\" says which way the ratio should go: for `higher`, a ratio "
        "of 1 means as fast as the peer; for `lower` against a target, a ratio at or below 1 meets it.", "",
        "## Summary", "", table, "",
    ]
    if missing:
        parts += [f"Not in this run (the benchmark failed or was skipped; see the make output): {', '.join(missing)}.", ""]
    for n in names:
        parts += [(sections / n).read_text().strip(), ""]
    Path(a.output).write_text("\n".join(parts))
    print(table)
    print(f"\nbench/report.py: wrote {a.output} ({len(rows)} summary rows, {len(names)} sections)")


if __name__ == "__main__":
    main()
