#!/usr/bin/env python3
"""Engine sampler cost (make bench): the agent's CPU while it reads an inference server's /metrics page
at the engine group's default rate (2 Hz), beside a plain `curl` doing the same GETs at the same rate
over fresh connections, and beside the same agent running only its cheapest sampler (memory, one
pread of /proc/meminfo) at the same rate: its fixed cost (publisher, threads) plus next to nothing. The page is served by a local Python HTTP server and written from vLLM's V1 metric
definitions (vllm/v1/metrics/loggers.py), sized like a real one; its values are made up.

    bench/engine_cost.py BIN_DIR [--seconds 30] [--markdown OUT.md] [--summary FILE]
"""
import http.server
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time

import zmq
from harness import bench_arguments, summary_row

RATE_HZ = 2  # the `engines` group's default


def vllm_page():
    """A vLLM V1-shaped page: the gauges, counters and histograms its PrometheusStatLogger declares,
    with vLLM's bucket lists, for two finished reasons and one model (about 30 KB)."""
    lines = []
    labels = 'engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"'
    for name, kind, value in [("vllm:num_requests_running", "gauge", 12), ("vllm:num_requests_waiting", "gauge", 3),
                              ("vllm:kv_cache_usage_perc", "gauge", 0.42), ("vllm:prompt_tokens_total", "counter", 8128902),
                              ("vllm:generation_tokens_total", "counter", 7557572), ("vllm:num_preemptions_total", "counter", 17)]:
        lines += [f"# HELP {name} {name}", f"# TYPE {name} {kind}", f"{name}{{{labels}}} {value}"]
    lines += ["# HELP vllm:request_success_total Count of successfully processed requests.", "# TYPE vllm:request_success_total counter"]
    for reason in ("stop", "length", "abort"):
        lines.append(f'vllm:request_success_total{{{labels},finished_reason="{reason}"}} 1000')
    seconds = [0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0, 120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0]
    ttft = [0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0]
    tokens = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000]
    for name, buckets in [("vllm:e2e_request_latency_seconds", seconds), ("vllm:request_queue_time_seconds", seconds),
                          ("vllm:request_inference_time_seconds", seconds), ("vllm:request_prefill_time_seconds", seconds),
                          ("vllm:request_decode_time_seconds", seconds), ("vllm:time_to_first_token_seconds", ttft),
                          ("vllm:inter_token_latency_seconds", ttft), ("vllm:request_prompt_tokens", tokens),
                          ("vllm:request_generation_tokens", tokens), ("vllm:iteration_tokens_total", tokens)]:
        lines += [f"# HELP {name} {name}", f"# TYPE {name} histogram"]
        for i, le in enumerate(buckets):
            lines.append(f'{name}_bucket{{{labels},le="{le}"}} {100 * (i + 1)}')
        lines += [f'{name}_bucket{{{labels},le="+Inf"}} {100 * (len(buckets) + 1)}',
                  f"{name}_count{{{labels}}} {100 * (len(buckets) + 1)}", f"{name}_sum{{{labels}}} 12345.6"]
    return ("\n".join(lines) + "\n").encode()


def serve(page):
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def run_agent(bin_dir, url, seconds):
    """The agent with only the engine sampler (url given) or only the memory sampler at the same rate
    (url None: the agent will not run with no sampler at all)."""
    ctx = zmq.Context()
    sink = ctx.socket(zmq.PULL)
    port = sink.bind_to_random_port("tcp://127.0.0.1")
    engines = f'[{{name: vllm-0, url: "{url}", preset: vllm}}]' if url else "[]"
    memory = "{enabled: false}" if url else "{enabled: true, group: engines}"
    cfg = tempfile.NamedTemporaryFile("w", suffix=".yaml", delete=False)
    cfg.write(f"""
node: {{id: bench-node, pool: bench}}
aggregator: {{endpoint: "tcp://127.0.0.1:{port}"}}
samplers:
  cpu: {{enabled: false}}
  memory: {memory}
  network: {{enabled: false}}
  gpu: {{enabled: false}}
  engines: {engines}
""")
    cfg.close()
    log = tempfile.TemporaryFile("w+")
    p = subprocess.Popen([f"{bin_dir}/gpulse-agent", "run", "--plaintext", "--config", cfg.name], stdout=log, stderr=subprocess.STDOUT)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if sink.poll(100):
            sink.recv()
    p.send_signal(signal.SIGTERM)
    _, status, usage = os.wait4(p.pid, 0)
    sink.close(0)
    ctx.term()
    os.unlink(cfg.name)
    log.seek(0)
    text = log.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"agent exited {os.waitstatus_to_exitcode(status)}:\n{text}")
    runs = 0
    for line in text.splitlines():
        if "sampler totals" in line and "sampler=engine:vllm-0" in line:
            runs = int(line.split("runs=")[1].split()[0])
            failures = int(line.split("failures=")[1].split()[0])
            if failures:
                sys.exit(f"engine sampler failed {failures} of {runs} reads:\n{text}")
    return {"core_fraction": (usage.ru_utime + usage.ru_stime) / seconds, "reads": runs}


def run_curl(url, seconds):
    """One curl process doing the same GETs at the same rate, each on a new connection, bodies discarded."""
    n = int(seconds * RATE_HZ)
    p = subprocess.Popen(["curl", "-s", "-o", "/dev/null", "-H", "Connection: close", "--rate", f"{RATE_HZ}/s", f"{url}?[1-{n}]"])
    start = time.monotonic()
    _, status, usage = os.wait4(p.pid, 0)
    wall = time.monotonic() - start
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"curl exited {os.waitstatus_to_exitcode(status)}")
    return {"core_fraction": (usage.ru_utime + usage.ru_stime) / wall, "reads": n, "wall_s": wall}


def main():
    a = bench_arguments()
    if not shutil.which("curl"):
        sys.exit("curl is not installed (scripts/setup.sh --bench installs it)")
    page = vllm_page()
    server = serve(page)
    url = f"http://127.0.0.1:{server.server_address[1]}/metrics"
    # Back to back, so that the machine's drift hits all three alike.
    idle = run_agent(a.bin_dir, None, a.seconds)
    agent = run_agent(a.bin_dir, url, a.seconds)
    curl = run_curl(url, a.seconds)
    server.shutdown()
    rows = [
        ("agent, engine sampler only (vLLM preset, parse + rates + publish)", agent),
        ("agent, memory sampler only at 2 Hz (its fixed cost)", idle),
        ("curl, same GETs, bodies discarded", curl),
    ]
    lines = ["| process | CPU, % of one core | reads |", "|---|---:|---:|"]
    lines += [f"| {name} | {100 * r['core_fraction']:.3f} % | {r['reads']} |" for name, r in rows]
    ratio = agent["core_fraction"] / curl["core_fraction"] if curl["core_fraction"] > 0 else float("inf")
    text = "\n".join([
        "## Engine sampler cost (bench/engine_cost.py)", "",
        f"Each run {a.seconds:.0f} s at {RATE_HZ} Hz (the `engines` group's default) against a local page of {len(page) / 1024:.1f} KB "
        "written from vLLM's V1 metric definitions (values made up), each read on a fresh loopback connection. CPU is getrusage of "
        "each process over its run. The agent reads, parses and turns the page into rates and window means, then publishes; curl "
        "only fetches and discards. The third row is the agent with only its memory sampler at the same rate: what any "
        "agent costs here before the engine sampler adds its work.", "", *lines, "",
        f"Agent with the engine sampler over curl: {ratio:.2f}×; over the memory-only agent, the engine sampler's own work costs "
        f"{100 * (agent['core_fraction'] - idle['core_fraction']):.3f} % of a core.", ""])
    print(text)
    summary_row(a.summary, "agent CPU, engine sampler at 2 Hz", 100 * agent["core_fraction"], "% of a core",
                "curl doing the same GETs", 100 * curl["core_fraction"], "lower")
    if a.markdown:
        with open(a.markdown, "a") as f:
            f.write("\n" + text)


if __name__ == "__main__":
    main()
