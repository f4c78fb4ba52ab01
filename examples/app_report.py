#!/usr/bin/env python3
"""Report request latency, queue depth, request rate and backlog from an inference server to the
local gpulse agent (samplers.app_reports in its config). One JSON object per ZeroMQ message:

    {"app": "vllm-0", "latency_ms": 182.5, "queue_depth": 7, "request_rate": 41.0, "backlog": 0}

Every field but "app" is optional. In a server, keep one PUSH socket and call report() per request
or per second; sending never blocks the server (the socket queues, then drops, if the agent is away).

    python3 examples/app_report.py --endpoint ipc:///run/gpulse/app-reports.sock --app vllm-0 \
        --latency-ms 182.5 --queue-depth 7 --count 10
"""
import argparse
import json
import time

import zmq


class Reporter:
    def __init__(self, endpoint: str, app: str):
        self.app = app
        self.ctx = zmq.Context.instance()
        self.sock = self.ctx.socket(zmq.PUSH)
        self.sock.setsockopt(zmq.SNDHWM, 1000)
        self.sock.setsockopt(zmq.LINGER, 1000)
        self.sock.connect(endpoint)

    def report(self, **values) -> bool:
        """Sends one report; returns False if it was dropped because the agent is not keeping up."""
        try:
            self.sock.send(json.dumps({"app": self.app, **values}).encode(), zmq.NOBLOCK)
            return True
        except zmq.Again:
            return False

    def close(self):
        self.sock.close()


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--endpoint", default="ipc:///run/gpulse/app-reports.sock")
    p.add_argument("--app", default="example-app")
    p.add_argument("--latency-ms", type=float)
    p.add_argument("--queue-depth", type=float)
    p.add_argument("--request-rate", type=float)
    p.add_argument("--backlog", type=float)
    p.add_argument("--count", type=int, default=1, help="reports to send")
    p.add_argument("--interval", type=float, default=0.05, help="seconds between reports")
    a = p.parse_args()
    values = {k: v for k, v in {"latency_ms": a.latency_ms, "queue_depth": a.queue_depth,
                                "request_rate": a.request_rate, "backlog": a.backlog}.items() if v is not None}
    r = Reporter(a.endpoint, a.app)
    sent = sum(r.report(**values) for _ in range(a.count) if time.sleep(a.interval) is None)
    r.close()
    print(f"sent {sent} of {a.count} reports to {a.endpoint}")


if __name__ == "__main__":
    main()
