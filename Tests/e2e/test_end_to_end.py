"""The real executables on loopback: every batch the agent sent reaches the aggregator, in order."""
from conftest import fields, start_aggregator


def test_agent_to_aggregator_without_gaps_and_with_final_flush(bins, procs):
    agg, metrics, _ = start_aggregator(procs, bins)
    agent = procs([bins / "gpulse-agent", "run", "--plaintext", "--aggregator", metrics, "--node-id", "e2e-node", "--rate", "500"])
    agg.wait_for(r"batches=(1\d|[2-9]\d|\d{3,}) .*node_id=e2e-node .*node counts", timeout=15)
    code, agent_out = agent.stop()
    assert code == 0, agent_out
    sent = fields([l for l in agent_out.splitlines() if "agent stopped" in l][-1])
    # The agent's final flush has been sent; give the aggregator a report interval to take it in.
    agg.wait_for(rf"batches={sent['batches_sent']} .*node_id=e2e-node", timeout=5)
    code, out = agg.stop()
    assert code == 0, out

    node = fields([l for l in out.splitlines() if "final node counts" in l][-1])
    assert node["batches"] == sent["batches_sent"]
    assert node["samples"] == sent["samples_sent"]
    assert node["gaps_missing_batches"] == "0"
    assert node["restarts"] == "0" and node["duplicates"] == "0"
    assert sent["batches_dropped"] == "0" and sent["samples_dropped"] == "0"
    fast = fields([l for l in agent_out.splitlines() if "group totals" in l and "group=fast" in l][-1])
    assert int(fast["ticks"]) > 100 and fast["rate_hz"] == "500.0"


def test_bad_endpoint_is_a_clear_error_not_a_crash(bins, procs):
    agg = procs([bins / "gpulse-aggregator", "run", "--plaintext", "--metrics", "bogus://nowhere"])
    code, out = agg.finish()
    assert code != 0 and code > 0, out  # an exit status, not a signal
    assert "invalid endpoint 'bogus://nowhere'" in out


def test_bad_arguments_are_refused_with_a_reason(bins, procs):
    agent = procs([bins / "gpulse-agent", "run", "--plaintext", "--rate", "5000"])
    code, out = agent.finish()
    assert code == 1, out
    assert "groups.fast.rate_hz: must be 1 to 1000 Hz, got 5000.0" in out
