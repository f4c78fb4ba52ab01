"""The engine sampler end to end: a local HTTP server serves a vLLM-style /metrics page (metric names
and types from vLLM's V1 PrometheusStatLogger; the values are the test's, stepped over time), the real
agent scrapes it, and the real aggregator's status shows the pool's offered demand follow the page.
Then the server stops: the agent logs it once, keeps sending its other samplers' series, and logs
again when the engine answers."""
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from conftest import start_aggregator, status_json, wait_until
from test_decisions import fake_procfs


class Engine:
    """A SIMULATED vLLM page: `rate` requests/s finish, each served `service_s`; `waiting` queued and
    `running` in flight. Counters and histograms grow with time as vLLM's do."""

    def __init__(self):
        self.lock = threading.Lock()
        self.set(rate=2.0, service_s=2.0, waiting=0, running=4)
        self.done = 0.0
        self.served = 0.0
        self.last = time.monotonic()

    def set(self, rate, service_s, waiting, running):
        with self.lock:
            self.rate, self.service_s, self.waiting, self.running = rate, service_s, waiting, running

    def page(self) -> bytes:
        with self.lock:
            now = time.monotonic()
            finished = self.rate * (now - self.last)
            self.last = now
            self.done += finished
            self.served += finished * self.service_s
            n, s = int(self.done), self.served
            return f"""# HELP vllm:num_requests_running Number of requests in model execution batches.
# TYPE vllm:num_requests_running gauge
vllm:num_requests_running{{engine="0",model_name="m"}} {self.running}
# HELP vllm:num_requests_waiting Number of requests waiting to be processed.
# TYPE vllm:num_requests_waiting gauge
vllm:num_requests_waiting{{engine="0",model_name="m"}} {self.waiting}
# HELP vllm:request_success_total Count of successfully processed requests.
# TYPE vllm:request_success_total counter
vllm:request_success_total{{engine="0",finished_reason="stop",model_name="m"}} {self.done}
# HELP vllm:request_inference_time_seconds Histogram of time spent in RUNNING phase for request.
# TYPE vllm:request_inference_time_seconds histogram
vllm:request_inference_time_seconds_bucket{{engine="0",le="+Inf",model_name="m"}} {self.done}
vllm:request_inference_time_seconds_sum{{engine="0",model_name="m"}} {s}
vllm:request_inference_time_seconds_count{{engine="0",model_name="m"}} {self.done}
""".encode()


def serve(engine, port=0):
    """Serves `engine`'s page on loopback (`port` 0: any free port; else that one, once it is free again)."""
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = engine.page()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            pass

    end = time.monotonic() + 10
    while True:
        try:
            server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
            break
        except OSError:
            assert time.monotonic() < end, f"port {port} not free again"
            time.sleep(0.2)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def pool(bins, control, name="llm"):
    return next((p for p in status_json(bins, control)["pools"] if p["name"] == name), None)


def test_the_agent_reads_a_vllm_page_and_the_pool_demand_follows(procs, bins, tmp_path):
    engine = Engine()
    server = serve(engine)
    port = server.server_address[1]
    agg, metrics, _ = start_aggregator(procs, bins)
    fake_procfs(tmp_path / "proc")
    config = tmp_path / "agent.yaml"
    config.write_text(f"""
node: {{id: engine-a, pool: llm, workload: online}}
aggregator: {{endpoint: "{metrics}"}}
procfs_root: {tmp_path / "proc"}
groups: {{fast: {{rate_hz: 20}}, engines: {{rate_hz: 4}}}}
samplers:
  gpu: {{enabled: false}}
  rtt: {{enabled: false}}
  engines:
    - {{name: vllm-0, url: "http://127.0.0.1:{port}/metrics", timeout_ms: 300}}
""")
    agent = procs([bins / "gpulse-agent", "run", "--plaintext", "--config", config])
    agent.wait_for(r"engine=vllm-0 .*engine read", 30)

    # 2 requests/s at 2 s each over 8 slots: 0.5 replica units of offered load, from the arrival rate.
    first = wait_until(lambda: (p := pool(bins, agg.control)) and p.get("demandSource") == "arrival_rate"
                       and 0.35 < p["demand"] < 0.65 and p, "demand near 0.5 from the page", 40)
    # Four times the traffic: the demand follows to about 2.
    engine.set(rate=8.0, service_s=2.0, waiting=6, running=16)
    high = wait_until(lambda: (p := pool(bins, agg.control)) and 1.6 < p["demand"] < 2.6 and p, "demand near 2", 40)
    assert high["demand"] > 3 * first["demand"]
    engine.set(rate=2.0, service_s=2.0, waiting=0, running=4)
    wait_until(lambda: (p := pool(bins, agg.control)) and p["demand"] < 0.8, "demand back down", 40)

    # The engine goes away: one line, and the agent keeps reporting (its node stays live).
    server.shutdown()
    server.server_close()
    agent.wait_for(r"engine not readable.*|engine=vllm-0.*engine not readable", 20)
    time.sleep(3)
    node = next(n for n in status_json(bins, agg.control)["nodes"] if n["id"] == "engine-a")
    assert node["state"] == "live", node
    # It comes back on the same port: logged once more, and read again.
    engine2 = serve(engine, port)
    agent.wait_for(r"engine answering again", 30)
    _, out = agent.stop()
    engine2.shutdown()
    # Refused, then timed out or cut off: still one line for the one time it went down.
    assert out.count("engine not readable") == 1, out[-3000:]

