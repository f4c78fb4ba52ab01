#!/usr/bin/env python3
"""Turn gpulse scale decisions into `kubectl scale` commands, PRINTED, NOT RUN.

Each scale/<pool> decision names the replicas the pool should have; this maps a pool to a
Deployment (--map pool=namespace/deployment, default: deployment <pool> in --namespace) and prints
the command that would apply it. Decisions are re-sent while they stand, so it prints a command only
when a pool's desired replicas change, and it skips decisions past their valid_until time.
Pipe the output to `sh` only once you trust the policy (see `gpulse-aggregator replay`).

    python3 examples/kubectl_scale.py --endpoint tcp://127.0.0.1:7462 --map llm-online=serving/vllm
"""
import argparse
import shlex
import sys
import time

from subscribe import decisions


def command(pool: str, replicas: int, mapping: dict, namespace: str) -> str:
    target = mapping.get(pool, f"{namespace}/{pool}")
    ns, _, deployment = target.rpartition("/")
    return "kubectl scale " + " ".join(shlex.quote(a) for a in
                                       (f"--namespace={ns or namespace}", f"deployment/{deployment}", f"--replicas={replicas}"))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--endpoint", default="tcp://127.0.0.1:7462", help="the aggregator's endpoints.decisions")
    ap.add_argument("--map", action="append", default=[], metavar="POOL=NAMESPACE/DEPLOYMENT")
    ap.add_argument("--namespace", default="default")
    ap.add_argument("--pool", default="", help="only this pool (default: every pool)")
    ap.add_argument("--count", type=int, help="exit after printing this many commands")
    ap.add_argument("--timeout", type=float, help="exit 1 after this many seconds without a decision")
    args = ap.parse_args()
    mapping = dict(m.split("=", 1) for m in args.map)
    applied: dict[str, int] = {}
    printed = 0
    for _, d in decisions(args.endpoint, f"scale/{args.pool}", args.timeout):
        s = d.scale
        if args.pool and s.pool != args.pool:
            continue  # the topic is a prefix: scale/online also matches scale/online-eu
        if d.valid_until_unix_ns and d.valid_until_unix_ns < time.time_ns():
            continue  # stale: a newer decision will come
        if applied.get(s.pool) == s.desired_replicas:
            continue
        applied[s.pool] = s.desired_replicas
        print(f"# {s.pool}: {s.current_replicas} live, {s.reason}", flush=True)
        print(command(s.pool, s.desired_replicas, mapping, args.namespace), flush=True)
        printed += 1
        if args.count and printed >= args.count:
            return 0
    print(f"no decision within {args.timeout} s", file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
