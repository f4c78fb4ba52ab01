"""The protobuf-c encoding is standard protobuf: Python's protobuf reads what Swift sent over a real
socket, and the Swift aggregator reads what Python encoded."""
import math
import time
from pathlib import Path

import zmq

from conftest import ROOT, fields, start_aggregator
from golden import golden_batch
from gpulse.v1 import metrics_pb2 as m


def test_python_decodes_batches_the_swift_agent_sent(bins, procs, tmp_path, zmq_context):
    ctx = zmq_context
    pull = ctx.socket(zmq.PULL)
    port = pull.bind_to_random_port("tcp://127.0.0.1")
    config = tmp_path / "agent.yaml"
    config.write_text(f"""
node: {{id: interop-node, pool: interop-pool, site: edge-x, tier: edge, workload: batch}}
aggregator: {{endpoint: "tcp://127.0.0.1:{port}", publish_interval_ms: 50}}
groups: {{fast: {{rate_hz: 200}}}}
samplers: {{gpu: {{enabled: false}}}}
""")
    agent = procs([bins / "gpulse-agent", "run", "--plaintext", "--config", config])
    batches = []
    deadline = time.monotonic() + 10
    while len(batches) < 8 and time.monotonic() < deadline:
        if pull.poll(200):
            batches.append(m.MetricsBatch.FromString(pull.recv()))
    code, out = agent.stop()
    pull.close(0)
    ctx.term()

    assert code == 0, out
    assert len(batches) >= 8, out
    first = batches[0]
    assert first.node_id == "interop-node" and first.pool == "interop-pool" and first.site == "edge-x"
    assert first.tier == m.EDGE and first.workload == m.BATCH
    assert first.protocol_version == 1
    assert [b.seq for b in batches] == list(range(batches[0].seq, batches[0].seq + len(batches)))
    assert len({b.session for b in batches}) == 1
    assert abs(first.t0_unix_ns / 1e9 - time.time()) < 30
    cpu = [s for b in batches for s in b.series if s.kind == m.CPU_UTIL]
    assert cpu, "no CPU_UTIL series arrived"
    for s in cpu:
        assert len(s.offset_us) == len(s.value) > 0
        assert all(0.0 <= v <= 1.0 and not math.isnan(v) for v in s.value)
        assert list(s.offset_us) == sorted(s.offset_us)


def test_swift_aggregator_accepts_python_batches_and_rejects_bad_ones(bins, procs, zmq_context):
    agg, metrics, _ = start_aggregator(procs, bins)
    ctx = zmq_context
    push = ctx.socket(zmq.PUSH)
    push.connect(metrics)

    def batch(seq, value=0.5, version=1):
        b = m.MetricsBatch(node_id="py-sender", session=99, seq=seq, pool="py-pool", t0_unix_ns=time.time_ns(), protocol_version=version)
        s = b.series.add(kind=m.GPU_UTIL, subject="GPU-1")
        s.offset_us.extend([0, 1000])
        s.value.extend([value, 0.25])
        return b.SerializeToString()

    for seq in list(range(0, 10)) + list(range(11, 20)):  # seq 10 never sent: one gap
        push.send(batch(seq))
    push.send(batch(20, value=float("nan")))
    push.send(batch(21, version=7))
    push.send(b"\xff\x00garbage")
    push.send_multipart([b"two", b"frames"])
    agg.wait_for(r"batches=19 .*samples=38")
    code, out = agg.stop()
    push.close(0)
    ctx.term()

    assert code == 0, out
    node = fields([l for l in out.splitlines() if "final node counts" in l][-1])
    assert node["node_id"] == "py-sender"
    assert node["batches"] == "19" and node["samples"] == "38"
    assert node["gaps_missing_batches"] == "1"
    totals = fields([l for l in out.splitlines() if "final ingest totals" in l][-1])
    assert totals["rejected"] == "4"
    assert totals["rejected_by_reason"] == "malformed=1,non_finite=1,unsupported_version=1,wrong_frame_count=1"


def test_committed_golden_bytes_are_what_python_encodes():
    # Tests/GPulseWireTests decodes this file and checks every value; here we check it is current.
    committed = (ROOT / "Tests/GPulseWireTests/Fixtures/python-metrics-batch.bin").read_bytes()
    assert committed == golden_batch()
