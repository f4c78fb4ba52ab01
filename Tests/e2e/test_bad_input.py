"""Bad input at a running aggregator: garbage, oversized frames, valid-but-absurd batches (future
timestamps, too many series, a million series, two agents under one node id, NaN). It keeps serving a
real agent throughout and counts each rejection by reason in `status`."""
import random
import time

import zmq

from conftest import status_json as status, wait_until, start_aggregator
from gpulse.v1 import metrics_pb2 as m



def batch(node, session, seq, t0=None, series=1, value=0.5, offset_us=0):
    b = m.MetricsBatch(node_id=node, session=session, seq=seq, pool="attack", t0_unix_ns=t0 or time.time_ns(), protocol_version=1)
    if series == 1:
        s = b.series.add(kind=m.CPU_UTIL)
        s.offset_us.append(offset_us)
        s.value.append(value)
    else:  # many empty series: the count is what is absurd, not the size
        for _ in range(series):
            b.series.add(kind=m.GPU_UTIL)
    return b.SerializeToString()



def test_a_running_aggregator_counts_bad_input_and_keeps_serving(procs, bins, zmq_context):
    agg, metrics, _ = start_aggregator(procs, bins, "--max-message-bytes", "65536")
    good = procs([bins / "gpulse-agent", "run", "--plaintext", "--aggregator", metrics, "--node-id", "good-1", "--rate", "100"])
    nodes = lambda: {n["id"]: n for n in status(bins, agg.control)["nodes"]}
    wait_until(lambda: nodes().get("good-1", {}).get("batches", 0) > 5, "the good agent")

    ctx = zmq_context
    sockets = []

    def push():
        s = ctx.socket(zmq.PUSH)
        s.setsockopt(zmq.LINGER, 2000)
        s.connect(metrics)
        sockets.append(s)
        return s

    rng = random.Random(7)
    attacker = push()
    for _ in range(200):
        attacker.send(bytes(rng.randrange(256) for _ in range(rng.randrange(1, 300))))
    attacker.send_multipart([b"two", b"frames"])
    attacker.send(batch("absurd", 1, 0, value=float("nan")))
    attacker.send(batch("absurd", 1, 1, t0=time.time_ns() + 86_400 * 10**9))  # a day ahead
    attacker.send(batch("absurd", 1, 2, offset_us=4_000_000_000))  # t0 now, a sample 67 min ahead
    attacker.send(batch("absurd", 1, 3, series=4097))  # one over WireLimits.maxSeries, under 64 KiB
    attacker.send(batch("absurd", 1, 4, value=1.5))  # a fraction above 1
    attacker.send(batch("", 1, 5))
    # Over ingest.max_message_bytes: libzmq refuses them before they are read and drops the peer,
    # so they never reach the decoder; the aggregator must not grow or stop for them. The socket
    # monitor counts each cut-off connection (nothing else here closes one before the end).
    closed_before = status(bins, agg.control)["ingest"]["connectionsClosed"]
    oversized = push()
    oversized.send(b"\x00" * 100_000)
    oversized.send(batch("absurd", 1, 6, series=1_000_000))  # a million series: ~6 MB
    # Two agents under one node id: the second takes the node over once (looks like a restart),
    # after which the first one's batches are refused.
    twin_a, twin_b = push(), push()
    for seq in range(5):
        twin_a.send(batch("twin", 1, seq))
    wait_until(lambda: nodes().get("twin", {}).get("batches") == 5, "twin A's batches")
    for seq in range(5):
        twin_b.send(batch("twin", 2, seq))
    wait_until(lambda: nodes().get("twin", {}).get("batches") == 10, "twin B's batches")
    for seq in range(5, 10):
        twin_a.send(batch("twin", 1, seq))

    def settled():
        report = status(bins, agg.control)
        return report if report["ingest"]["rejectedByReason"].get("duplicate_node_id") == 5 else None
    report = wait_until(settled, "the twin's refused batches")
    reasons = report["ingest"]["rejectedByReason"]
    assert reasons.get("wrong_frame_count") == 1
    assert reasons.get("non_finite") == 1
    assert reasons.get("future_timestamp") == 2
    assert reasons.get("too_many_series") == 1
    assert reasons.get("fraction_out_of_range") == 1
    assert reasons.get("empty_node_id") == 1
    # Every random frame was refused, each with a reason the decoder documents (most are malformed).
    garbage = report["ingest"]["rejected"] - 1 - 1 - 2 - 1 - 1 - 1 - 5
    assert garbage == 200, reasons
    assert reasons.get("malformed", 0) > 150
    twin = nodes()["twin"]
    assert twin["batches"] == 10 and twin["restarts"] == 1
    # Both oversized messages cost the peer its connection (it reconnects to send the second).
    ingest = wait_until(lambda: (i := status(bins, agg.control)["ingest"])["connectionsClosed"] >= closed_before + 2 and i,
                        "the oversized peer's connections cut off")
    assert ingest["connectionsAccepted"] >= 6, ingest  # good agent, attacker, oversized twice, twins
    assert "absurd" not in nodes()  # no batch of it was taken

    # The good agent never stopped being served.
    before = nodes()["good-1"]["batches"]
    wait_until(lambda: nodes()["good-1"]["batches"] > before + 5, "the good agent after the attack")
    good_node = nodes()["good-1"]
    assert good_node["state"] == "live" and good_node["missingBatches"] == 0
    # Oversized frames cost nothing lasting: RSS stays far below what a 6 MB message per peer would need kept.
    assert report["rssBytes"] < 200 * 2**20
    for s in sockets:
        s.close(0)
    ctx.term()
    code, out = agg.stop()
    assert code == 0, out
    assert "rejected a batch" in out
