"""`systemctl reload` (SIGHUP) on a running aggregator: pools and policies are replaced while ingest
carries on, a broken file is rejected with the running configuration kept, and decision ids keep
increasing across both."""
import signal
import time

from conftest import status_json as status, start_aggregator



def test_sighup_reloads_pools_and_rejects_a_bad_file(procs, bins, tmp_path):
    config = tmp_path / "aggregator.yaml"
    config.write_text("pools:\n  llm: {policy: threshold, min_replicas: 1, max_replicas: 10}\n")
    agg, metrics, _ = start_aggregator(procs, bins, "--config", config)
    procs([bins / "gpulse-agent", "run", "--plaintext", "--aggregator", metrics, "--node-id", "reload-a", "--pool", "llm", "--rate", "50"])
    agg.wait_for(r"policy=threshold .*scale decision", timeout=15)
    before = status(bins, agg.control)

    config.write_text("pools:\n  llm: {policy: hpa, min_replicas: 1, max_replicas: 10}\n")
    agg.p.send_signal(signal.SIGHUP)
    agg.wait_for(r"config reloaded: pools, policies and offload rules replaced", timeout=10)
    line = agg.lines[-1]
    assert "llm=hpa" in line, line
    agg.wait_for(r"policy=hpa .*scale decision", timeout=20)

    config.write_text("pools:\n  llm: {policy: nonsense, max_replicas: -3}\nbogus_key: 1\n")
    agg.p.send_signal(signal.SIGHUP)
    mt = agg.wait_for(r"config reload rejected; the running configuration stays", timeout=10)
    assert "bogus_key" in mt.string or "pools.llm" in mt.string, mt.string
    time.sleep(1.5)
    after = status(bins, agg.control)
    assert agg.p.poll() is None, "the aggregator exited on a bad reload"
    assert after["ingest"]["batches"] > before["ingest"]["batches"], "ingest stopped during the reloads"
    assert after["decisions"]["published"] > before["decisions"]["published"]
    pool = next(p for p in after["pools"] if p["name"] == "llm")
    assert pool["policy"] == "hpa", pool
    code, out = agg.stop()
    assert code == 0, out
