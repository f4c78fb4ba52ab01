#!/usr/bin/env python3
"""Agent cost benchmark (make bench): the agent's own CPU time per wall second (getrusage of the child
over the whole run) and its tick jitter (actual minus scheduled tick start, p50/p99, from the agent's
own histogram) at 100 Hz and 500 Hz, with the procfs samplers plus the TEST FAKE NVML; and, in the same
run, the CPU cost per collected sample of Debian's prometheus-node-exporter reading the same files
(cpu, meminfo, netdev collectors), scraped at 10 Hz.

    bench/agent_cost.py BIN_DIR [--seconds 30] [--markdown OUT.md]
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import http.client

import zmq
from harness import bench_arguments, summary_row

CLK_TCK = os.sysconf("SC_CLK_TCK")


def proc_cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK  # utime + stime


def fields(line):
    return dict(re.findall(r"(\w+)=(\S+)", line))


def run_agent(bin_dir, rate, seconds, fake_nvml):
    ctx = zmq.Context()
    sink = ctx.socket(zmq.PULL)
    port = sink.bind_to_random_port("tcp://127.0.0.1")
    cfg = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    cfg.write(f"""
node: {{id: bench-node, pool: bench}}
aggregator: {{endpoint: "tcp://127.0.0.1:{port}"}}
groups: {{fast: {{rate_hz: {rate}}}, gpu: {{rate_hz: 10}}}}
samplers: {{gpu: {{library: "{fake_nvml}"}}}}
""")
    cfg.close()
    env = dict(os.environ, GPULSE_FAKE_NVML_DEVICES="2")
    log = tempfile.TemporaryFile("w+")
    p = subprocess.Popen([f"{bin_dir}/gpulse-agent", "run", "--plaintext", "--config", cfg.name], stdout=log, stderr=subprocess.STDOUT, env=env)
    batches = 0
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if sink.poll(100):
            sink.recv()
            batches += 1
    p.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(p.pid, 0)
    p.returncode = os.waitstatus_to_exitcode(status)
    while sink.poll(200):
        sink.recv()
        batches += 1
    sink.close(0)
    ctx.term()
    log.seek(0)
    text = log.read()
    os.unlink(cfg.name)
    if p.returncode != 0:
        sys.exit(f"agent exited {p.returncode}:\n{text}")
    group = fields([l for l in text.splitlines() if "group totals" in l and "group=fast" in l][-1])
    stopped = fields([l for l in text.splitlines() if "agent stopped" in l][-1])
    cpu = usage.ru_utime + usage.ru_stime
    return {
        "rate": rate, "cpu_s": cpu, "wall_s": seconds, "core_fraction": cpu / seconds,
        "samples": int(stopped["samples_sent"]), "batches": batches,
        "p50_us": int(group["lateness_p50_us"]), "p99_us": int(group["lateness_p99_us"]),
        "missed": int(group["missed_ticks"]), "ticks": int(group["ticks"]),
    }


def run_bare_loop(bin_dir, rate, seconds, mode="--bare-loop"):
    """The floors: a C loop that only sleeps to absolute deadlines at `rate` (gpulse-bench --bare-loop),
    and the same loop doing the agent's procfs reads with no parsing (--read-loop)."""
    p = subprocess.Popen([f"{bin_dir}/gpulse-bench", mode, str(rate), str(seconds)], stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(p.pid, 0)
    out = p.stdout.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"gpulse-bench {mode} failed: {out}")
    p99 = float(re.search(r"bare_loop_p99_us=(\S+)", out).group(1))
    return {"rate": rate, "core_fraction": (usage.ru_utime + usage.ru_stime) / seconds, "p99_us": p99}


def run_node_exporter(seconds, rate=10):
    exe = shutil.which("prometheus-node-exporter") or shutil.which("node_exporter")
    if not exe:
        return None
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    p = subprocess.Popen([exe, f"--web.listen-address=127.0.0.1:{port}", "--collector.disable-defaults",
                          "--collector.cpu", "--collector.meminfo", "--collector.netdev"],
                         stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conn = None
    for _ in range(50):
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/metrics")
            conn.getresponse().read()
            break
        except OSError:
            time.sleep(0.1)
    start_cpu = proc_cpu_seconds(p.pid)
    samples = scrapes = 0
    period = 1.0 / rate
    start = time.monotonic()
    deadline = start
    while time.monotonic() - start < seconds:
        conn.request("GET", "/metrics")
        body = conn.getresponse().read().decode()
        samples += sum(1 for l in body.splitlines() if l.startswith("node_"))
        scrapes += 1
        deadline += period
        time.sleep(max(0, deadline - time.monotonic()))
    wall = time.monotonic() - start
    cpu = proc_cpu_seconds(p.pid) - start_cpu
    p.terminate()
    p.wait()
    return {"rate": rate, "cpu_s": cpu, "wall_s": wall, "core_fraction": cpu / wall, "samples": samples, "scrapes": scrapes}


def main():
    a = bench_arguments()
    fake = os.path.join(a.bin_dir, "libFakeNVML.so")
    if not os.path.exists(fake):
        sys.exit(f"{fake} missing: swift build -c release --product FakeNVML")

    rows = []
    ne = run_node_exporter(a.seconds)
    # Per rate, the agent and its two floors back to back, so that the machine's drift hits all three.
    agents, floors, reads = [], {}, {}
    for r in (100, 500):
        agents.append(run_agent(a.bin_dir, r, a.seconds, fake))
        floors[r] = run_bare_loop(a.bin_dir, r, a.seconds)
        reads[r] = run_bare_loop(a.bin_dir, r, a.seconds, "--read-loop")
    ne_us = ne and ne["cpu_s"] / ne["samples"] * 1e6
    lines = ["| agent rate | CPU, % of one core (target <= 2 % at 500 Hz) | bare C sleep loop, same rate (floor) | C loop doing the same procfs reads | tick jitter p50 / p99 (target p99 <= 500 us) | bare loop p99 | missed ticks | samples sent | CPU per sample | node_exporter CPU per sample | ratio |",
             "|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in agents:
        us = r["cpu_s"] / max(1, r["samples"]) * 1e6
        f = floors[r["rate"]]
        lines.append(f"| {r['rate']} Hz | {100 * r['core_fraction']:.2f} % | {100 * f['core_fraction']:.2f} % | {100 * reads[r['rate']]['core_fraction']:.2f} % "
                     f"| {r['p50_us']} / {r['p99_us']} us | {f['p99_us']:.0f} us "
                     f"| {r['missed']} of {r['ticks']} | {r['samples']} "
                     f"| {us:.2f} us | {f'{ne_us:.2f} us' if ne else 'not installed'} | {f'{us / ne_us:.3f}' if ne else '-'} |")
    note = (f"node_exporter 1.5 (Debian), collectors cpu+meminfo+netdev, scraped at {ne['rate']} Hz for {ne['wall_s']:.0f} s: "
            f"{100 * ne['core_fraction']:.2f} % of one core, {ne['samples']} node_* samples in {ne['scrapes']} scrapes.") if ne else \
        "prometheus-node-exporter is not installed: no peer figure (scripts/setup.sh --bench installs it)."
    text = "\n".join([
        "## Agent cost (bench/agent_cost.py)", "",
        f"Each run {a.seconds:.0f} s; the agent samples cpu, memory, network and GPU memory (TEST FAKE NVML, 2 GPUs) in the fast group "
        "at the rate shown, GPU fields and GPM at 10 Hz, GPU utilization and health at 1 Hz (the defaults), and publishes to a local sink. CPU is getrusage of the agent process "
        "over its whole life; jitter is the agent's own histogram of actual minus scheduled tick start. The floor is a C loop that only "
        "sleeps to absolute deadlines at the same rate, measured the same way: no periodic sampler can cost less on this machine. "
        "Beside it the same loop doing the agent's procfs reads in C (pread of /proc/meminfo and /proc/net/dev every tick, /proc/stat at "
        "most 100 Hz, no parsing, no NVML, no publishing): the least this sampling work costs here. "
        "The ratio is CPU per sample, agent over node_exporter (below 1: the agent is cheaper per value).", "", *lines, "", note, ""])
    print(text)
    for r in agents:
        f = floors[r["rate"]]
        us = r["cpu_s"] / max(1, r["samples"]) * 1e6
        if ne:
            summary_row(a.summary, f"agent CPU per sample at {r['rate']} Hz", us, "us", "node_exporter CPU per sample (cpu+meminfo+netdev)", ne_us, "lower")
        summary_row(a.summary, f"agent CPU at {r['rate']} Hz", 100 * r["core_fraction"], "% of a core", "bare C sleep loop at the same rate (floor)", 100 * f["core_fraction"], "lower")
        summary_row(a.summary, f"agent CPU at {r['rate']} Hz", 100 * r["core_fraction"], "% of a core", "C loop doing the same procfs reads, same rate", 100 * reads[r["rate"]]["core_fraction"], "lower")
        if r["rate"] == 500:
            summary_row(a.summary, "agent CPU at 500 Hz", 100 * r["core_fraction"], "% of a core", "target (issue 3)", 2.0, "lower")
            summary_row(a.summary, "agent tick jitter p99 at 500 Hz", r["p99_us"], "us", "target (issue 3)", 500.0, "lower")
    if a.markdown:
        with open(a.markdown, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
