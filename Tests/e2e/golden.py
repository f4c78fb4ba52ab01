"""Builds the Python-encoded MetricsBatch that the Swift tests decode (Tests/GPulseWireTests/Fixtures).

    python Tests/e2e/golden.py OUT.bin

The values here are repeated in DecisionAndGoldenTests.swift; test_interop.py checks that the committed
file is still byte-for-byte what this script writes.
"""
import sys

from gpulse.v1 import metrics_pb2 as m


def golden_batch() -> bytes:
    b = m.MetricsBatch(
        node_id="py-node-1", session=123456789012345, seq=41, pool="llm-online", site="edge-fra1",
        tier=m.EDGE, workload=m.BATCH, instance_class="spot", t0_unix_ns=1763856000000000001,
        dropped_samples=12, protocol_version=1, agent_version="python-golden")
    s = b.series.add(kind=m.GPU_UTIL, subject="GPU-aaaa")
    s.offset_us.extend([0, 166666, 333333])
    s.value.extend([0.25, 0.5, 0.75])
    s = b.series.add(kind=m.NET_RX_BPS, subject="eth0")
    s.offset_us.extend([5])
    s.value.extend([1.5e9])
    b.probe_losses.add(target="10.1.2.3:443", lost=4)
    return b.SerializeToString()


if __name__ == "__main__":
    with open(sys.argv[1], "wb") as f:
        f.write(golden_batch())
