#!/usr/bin/env python3
"""make demo: an aggregator, agents on loopback and a scripted surge, printed as it happens.

The agents are the real gpulse-agent reading this host's /proc, with the TEST FAKE NVML (a shared
library whose GPU utilization a file sets) standing in for GPUs. Behind them runs a SIMULATED
inference server, one queue with 8 slots per replica, pushing application reports to each agent
(requests arriving, waiting and running, service time). A DEMO actuator does what a subscriber such
as examples/kubectl_scale.py would do: it starts or stops agents to match each scale decision, so
replicas come and go. The story, about a minute:
  quiet   light traffic on 3 replicas;
  surge   eight times the traffic: the GPUs read 100 % busy, which says only "busy", while the offered
          demand and the queue say how short the pool is; SCALE_UP to the size the queue model
          needs, with its reason, and the queue drains on the new replicas;
  calm    traffic falls away: SCALE_DOWN.
The pool settings (short cooldowns and lead time) are DEMO settings, so that this fits in a minute;
config/aggregator.yaml has the production defaults.

usage: scripts/demo.py BIN_DIR FAKE_NVML_LIBRARY [SECONDS]   (the whole story; default 60)
"""
import json
import re
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import zmq

AGGREGATOR_CONFIG = """# DEMO settings: cooldowns and lead time cut so a minute shows a scale-up and a scale-down.
decisions: {resend_interval_s: 5, valid_for_s: 15}
instance_classes:
  on_demand: {kind: on_demand, hourly_price: 3.9, lead_time_s: 5}
pools:
  llm:
    policy: predictive
    instance_class: on_demand
    slots_per_replica: 8              # concurrent requests one replica serves
    slo: {max_wait_s: 2, percentile: 0.99, queue_drain_s: 30}
    min_replicas: 1
    max_replicas: 16
    cooldown: {up_s: 5, down_s: 10, max_actions_per_minute: 20}
"""

SERVICE_S = 4.0  # each SIMULATED request takes 4 s of a slot
SLOTS = 8
GIVE_UP_S = 20.0  # SIMULATED clients leave the queue after about this long
MAX_AGENTS = 16
# (phase, share of the story, requests per second arriving at the pool)
PHASES = (("quiet", 0.2, 3.0), ("surge", 0.4, 24.0), ("calm", 0.4, 1.0))


def start(cmd, **kw):
    return subprocess.Popen([str(c) for c in cmd], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)


def wait_for_line(proc, pattern, timeout=60):
    """Reads proc's output until a line matches; returns the match."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        line = proc.stdout.readline()
        if not line:
            break
        if (m := re.search(pattern, line)):
            return m
    raise SystemExit(f"demo: gave up waiting for {pattern!r} from {proc.args[0]}")


def stop_all(procs):
    """SIGTERM to each (they flush and exit), then SIGKILL to any still there after 10 s."""
    for p in procs:
        p.terminate()
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()


def drain(proc):
    """Keeps reading a process's output so its pipe never fills (the log is not shown)."""
    for _ in proc.stdout:
        pass


class Fleet:
    """The DEMO's replicas: real agent processes, started and stopped to match the decisions."""

    def __init__(self, bins, work, fake_nvml, metrics, load):
        self.bins, self.work, self.fake_nvml, self.metrics, self.load = bins, work, fake_nvml, metrics, load
        self.agents = {}  # name -> (process, report endpoint)
        self.next = 1
        self.lock = threading.Lock()

    def start(self, n):
        names = []
        for _ in range(n):
            name = f"gpu-{self.next:02d}"
            self.next += 1
            endpoint = f"ipc://{self.work}/{name}-reports.sock"
            (self.work / f"{name}.yaml").write_text(f"""
node: {{id: {name}, pool: llm, site: dc1, tier: cloud, workload: online}}
aggregator: {{endpoint: "{self.metrics}"}}
groups: {{fast: {{rate_hz: 20}}, gpu: {{rate_hz: 10}}, app: {{rate_hz: 20}}}}
samplers:
  gpu: {{enabled: true, library: "{self.fake_nvml}"}}
  app_reports: {{enabled: true, endpoint: "{endpoint}"}}
""")
            proc = subprocess.Popen(
                [str(self.bins / "gpulse-agent"), "run", "--plaintext", "--config", str(self.work / f"{name}.yaml")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                env={"GPULSE_FAKE_NVML_DEVICES": "1", "GPULSE_FAKE_NVML_LOAD_FILE": str(self.load), "PATH": "/usr/bin:/bin"})
            with self.lock:
                self.agents[name] = (proc, endpoint)
            names.append(name)
        return names

    def stop(self, n):
        with self.lock:
            names = sorted(self.agents)[-n:]
            procs = [self.agents.pop(name)[0] for name in names]
        for p in procs:
            p.terminate()
        return names

    def endpoints(self):
        with self.lock:
            return {name: ep for name, (_, ep) in self.agents.items()}

    def close(self):
        with self.lock:
            procs = [p for p, _ in self.agents.values()]
            self.agents.clear()
        stop_all(procs)


def main():
    bins, fake_nvml = Path(sys.argv[1]), Path(sys.argv[2])
    story_s = float(sys.argv[3]) if len(sys.argv) > 3 else 60
    work = Path(tempfile.mkdtemp(prefix="gpulse-demo-"))
    (work / "aggregator.yaml").write_text(AGGREGATOR_CONFIG)
    load = work / "gpu.load"
    load.write_text("0.5\n")
    procs = []
    fleet = None
    try:
        agg = start([bins / "gpulse-aggregator", "run", "--plaintext", "--config", work / "aggregator.yaml",
                     "--metrics", "tcp://127.0.0.1:*", "--decisions", "tcp://127.0.0.1:*", "--control", "tcp://127.0.0.1:*",
                     "--prometheus", "off", "--report-interval", "60"])
        procs.append(agg)
        m = wait_for_line(agg, r"control=(\S+) .*decisions=(\S+) .*metrics=(\S+) .*aggregator listening")
        control, decisions, metrics = m.group(1), m.group(2), m.group(3)
        threading.Thread(target=drain, args=(agg,), daemon=True).start()
        print(f"demo: aggregator on {metrics}, decisions on {decisions}; DEMO pool settings in {work / 'aggregator.yaml'}")

        fleet = Fleet(bins, work, fake_nvml, metrics, load)
        fleet.start(3)
        print("demo: 3 agents in pool llm; their GPUs are the TEST FAKE NVML, their traffic a SIMULATED inference server")

        tail = start([bins / "gpulse-aggregator", "tail", "--decisions", decisions, "--topic", "scale/"])
        procs.append(tail)

        state = {"rate": PHASES[0][2], "waiting": 0.0}
        stop = threading.Event()
        ctx = zmq.Context()

        def serve():
            """The SIMULATED inference server: one queue, SLOTS per replica, reports split over replicas."""
            pushes = {}
            dt = 0.2
            while not stop.is_set():
                endpoints = fleet.endpoints()
                for name in list(pushes):
                    if name not in endpoints:
                        pushes.pop(name).close(0)
                for name, ep in endpoints.items():
                    if name not in pushes:
                        s = ctx.socket(zmq.PUSH)
                        s.setsockopt(zmq.LINGER, 0)
                        s.setsockopt(zmq.SNDHWM, 10)
                        s.connect(ep)
                        pushes[name] = s
                n = max(1, len(pushes))
                rate, capacity = state["rate"], n * SLOTS
                # Every slot busy while a queue stands or arrivals need more; else what arrivals need.
                busy = capacity if state["waiting"] > 0 or rate * SERVICE_S >= capacity else rate * SERVICE_S
                done = busy / SERVICE_S
                waiting = max(0.0, state["waiting"] + (rate - done) * dt)
                state["waiting"] = min(waiting, rate * GIVE_UP_S)
                load.write_text(f"{busy / capacity:.3f}\n")
                for s in pushes.values():
                    try:
                        s.send_string(json.dumps({
                            "app": "sim-vllm", "request_rate": rate / n, "running": busy / n, "queue_depth": state["waiting"] / n,
                            "completion_rate": done / n, "service_time_ms": SERVICE_S * 1000,
                            "latency_ms": 1000 * (SERVICE_S + state["waiting"] / max(done, 1e-6))}), zmq.NOBLOCK)
                    except zmq.Again:
                        pass  # an agent still starting: this report is dropped, the next one goes
                time.sleep(dt)
            for s in pushes.values():
                s.close(0)

        threading.Thread(target=serve, daemon=True).start()

        shown = set()
        story = threading.Event()

        def show_decisions():
            """New scale decisions (re-sends carry the same id and are not shown again)."""
            for line in tail.stdout:
                m = re.search(r"\(id (\S+)\)$", line.rstrip())
                # Nothing after the story ends: the tear-down's own decisions are not part of it.
                if stop.is_set() or not story.is_set() or not m or m.group(1) in shown or not ("SCALE_UP" in line or "SCALE_DOWN" in line):
                    continue
                shown.add(m.group(1))
                head, _, reason = line.rstrip().split(" ", 1)[1].partition(" | ")
                print(f"  DECISION  {head}\n            reason: {reason.rsplit(' (id ', 1)[0]}", flush=True)

        threading.Thread(target=show_decisions, daemon=True).start()

        def status():
            out = subprocess.run([bins / "gpulse-aggregator", "status", "--json", "--control", control],
                                 capture_output=True, text=True, timeout=10)
            if out.returncode != 0:
                return None
            return next((p for p in json.loads(out.stdout).get("pools", []) if p.get("name") == "llm"), None)

        def actuate():
            """The DEMO actuator: as many agents as the standing decision asks for (1 to MAX_AGENTS)."""
            while not stop.is_set():
                time.sleep(1)
                # Checked again after the sleep: acting once the story has ended would restart agents
                # while they are being shut down.
                if stop.is_set() or not story.is_set():
                    continue
                p = status()
                desired = p and p.get("desiredReplicas")
                if not desired:
                    continue
                have = len(fleet.endpoints())
                want = max(1, min(MAX_AGENTS, desired))
                if want > have:
                    names = fleet.start(want - have)
                    print(f"  ACTUATOR  started {', '.join(names)}: {want} replicas, as decided", flush=True)
                elif want < have:
                    names = fleet.stop(have - want)
                    print(f"  ACTUATOR  stopped {', '.join(names)}: {want} replicas, as decided", flush=True)

        actuator = threading.Thread(target=actuate, daemon=True)
        actuator.start()

        # The story starts once the three nodes report traffic and the quiet pool has settled.
        end = time.monotonic() + 60
        while time.monotonic() < end:
            p = status()
            if p and p.get("liveNodes") == 3 and p.get("demandSource") == "arrival_rate":
                break
            time.sleep(0.5)
        time.sleep(3)
        story.set()
        start_t = time.monotonic()
        for name, share, rate in PHASES:
            state["rate"] = rate
            print(f"demo: -- {name}: {rate:g} requests/s arriving at the pool, {SERVICE_S:g} s each --", flush=True)
            end = time.monotonic() + share * story_s
            while time.monotonic() < end:
                time.sleep(3)
                p = status()
                if not p:
                    continue
                fmt = lambda v: "-" if v is None else f"{v:.1f}"
                gpu = float(load.read_text() or 0)
                print(f"  t={time.monotonic() - start_t:4.0f}s  live {p.get('liveNodes')}  GPUs {gpu:4.0%} busy  L {p.get('loadMean', 0):.2f}  "
                      f"demand {p.get('demand', 0):.1f} replicas ({p.get('demandSource')})  arrivals {fmt(p.get('arrivalRate'))}/s  "
                      f"waiting {fmt(p.get('requestsWaiting'))}  desired {p.get('desiredReplicas')}", flush=True)
        stop.set()
        actuator.join(timeout=30)
        print(f"demo: {len(shown)} scale decisions; the GPUs read 100 % busy through the surge whatever the shortfall, the "
              "offered demand (arrival rate x service time / slots) and the queue said how many replicas it needed.")
    finally:
        if fleet:
            fleet.close()
        stop_all(list(reversed(procs)))


if __name__ == "__main__":
    main()
