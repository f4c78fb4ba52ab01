#!/usr/bin/env python3
"""Subscribe to gpulse decisions with pyzmq and the generated protobuf module.

Decisions arrive as two-frame messages [topic, Decision] on the aggregator's decisions endpoint;
topics are scale/<pool>, offload/<site> and node/<node_id>, and a subscription is a topic prefix.
A decision is re-sent every decisions.resend_interval_s while it stands, so a new subscriber learns
the current state within that time; a re-send keeps its id, so deduplicate by id.

The module comes from proto/gpulse/v1/decision.proto:
    protoc --python_out=DIR proto/gpulse/v1/decision.proto     (then put DIR on PYTHONPATH)
`make setup` writes it to .build/python, which this script adds to its path.

    python3 examples/subscribe.py --endpoint tcp://127.0.0.1:7462 --topic scale/ --count 5
"""
import argparse
import sys
from pathlib import Path

import zmq

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / ".build" / "python"))
from gpulse.v1 import decision_pb2  # noqa: E402


def decisions(endpoint: str, topic: str = "", timeout_s: float | None = None):
    """Yields (topic, Decision) as they arrive; stops after timeout_s without one."""
    ctx = zmq.Context.instance()
    sock = ctx.socket(zmq.SUB)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt_string(zmq.SUBSCRIBE, topic)
    sock.connect(endpoint)
    try:
        while True:
            if timeout_s is not None and not sock.poll(int(timeout_s * 1000)):
                return
            frames = sock.recv_multipart()
            if len(frames) != 2:
                print(f"skipping a message of {len(frames)} frames", file=sys.stderr)
                continue
            d = decision_pb2.Decision()
            try:
                d.ParseFromString(frames[1])
            except Exception as e:  # a malformed message must not stop the subscriber
                print(f"skipping an undecodable decision on {frames[0]!r}: {e}", file=sys.stderr)
                continue
            yield frames[0].decode(), d
    finally:
        sock.close()


def describe(topic: str, d) -> str:
    body = d.WhichOneof("body")
    if body == "scale":
        s = d.scale
        action = decision_pb2.ScaleDecision.Action.Name(s.action)
        mix = ", ".join(f"{a.instance_class}={a.count}" for a in s.allocation)
        return (f"{topic} {action} {s.current_replicas}->{s.desired_replicas} policy={s.policy} "
                f"L={s.load_index:.2f} demand={s.demand:.2f} [{mix}] cost={s.expected_hourly_cost:.2f}/h: {s.reason}")
    if body == "offload":
        o = d.offload
        return f"{topic} offload {o.fraction:.2f} to {o.target} (L={o.edge_load_index:.2f}, rtt={o.rtt_ms:.1f} ms): {o.reason}"
    if body == "node":
        return f"{topic} {decision_pb2.NodeEvent.Kind.Name(d.node.kind)} pool={d.node.pool}"
    return f"{topic} (empty decision)"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", default="tcp://127.0.0.1:7462", help="the aggregator's endpoints.decisions")
    ap.add_argument("--topic", default="", help="topic prefix: scale/, offload/, node/, scale/<pool>, ...")
    ap.add_argument("--count", type=int, help="exit after this many decisions")
    ap.add_argument("--timeout", type=float, help="exit 1 after this many seconds without a decision")
    args = ap.parse_args()
    seen = 0
    for topic, d in decisions(args.endpoint, args.topic, args.timeout):
        print(f"{d.id} seq={d.seq} {describe(topic, d)}", flush=True)
        seen += 1
        if args.count and seen >= args.count:
            return 0
    print(f"no decision within {args.timeout} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
