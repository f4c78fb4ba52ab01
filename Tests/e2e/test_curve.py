"""CURVE on the metrics socket and the decision stream, with the real executables: keygen, an
allowlisted agent is served, an unknown key and a plaintext peer are refused, an allowlisted key
claiming another node id is refused (node_id_not_bound), a key file others can read stops the start,
and only an allowlisted subscriber reads decisions."""
import json
import os
import re
import subprocess

from conftest import free_port, status_json as status, wait_until


def keygen(bins, exe, path, *extra):
    out = subprocess.run([bins / exe, "keygen", "--out", path, *extra], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stdout + out.stderr
    assert os.stat(path).st_mode & 0o777 == 0o600
    return re.search(r"public key: (\S+)", out.stdout).group(1)




def test_curve_allowlist_binding_and_key_file_permissions(procs, bins, tmp_path):
    server = keygen(bins, "gpulse-aggregator", tmp_path / "aggregator.key")
    good = keygen(bins, "gpulse-agent", tmp_path / "good.key", "--node-id", "good-1")
    thief = keygen(bins, "gpulse-agent", tmp_path / "thief.key", "--node-id", "thief-1")
    stranger = keygen(bins, "gpulse-agent", tmp_path / "stranger.key")
    reader = keygen(bins, "gpulse-agent", tmp_path / "reader.key")
    assert len({server, good, thief, stranger, reader}) == 5
    metrics, decisions, control = (f"tcp://127.0.0.1:{free_port()}" for _ in range(3))
    config = tmp_path / "aggregator.yaml"
    config.write_text(f"""
endpoints: {{metrics: "{metrics}", decisions: "{decisions}", control: "{control}"}}
prometheus: {{listen: "off"}}
snapshot: {{path: "off"}}
decisions: {{resend_interval_s: 1}}
security:
  mode: curve
  secret_key_file: {tmp_path / "aggregator.key"}
  agents: {{good-1: "{good}", thief-1: "{thief}"}}
  subscribers: {{reader: "{reader}"}}
""")

    # A key file others can read is refused with the reason, before anything listens.
    os.chmod(tmp_path / "aggregator.key", 0o644)
    code, out = procs([bins / "gpulse-aggregator", "run", "--config", config]).finish()
    assert code != 0 and "readable by group or others" in out and "chmod 600" in out, out
    os.chmod(tmp_path / "aggregator.key", 0o600)

    agg = procs([bins / "gpulse-aggregator", "run", "--config", config])
    agg.wait_for("CURVE on")

    def agent(node, key_file, mode="curve"):
        path = tmp_path / f"{node}.yaml"
        path.write_text(f"""
node: {{id: {node}, pool: secure}}
aggregator: {{endpoint: "{metrics}"}}
groups: {{fast: {{rate_hz: 50}}}}
samplers: {{gpu: {{enabled: false}}}}
security: {{mode: {mode}, secret_key_file: {key_file}, aggregator_public_key: "{server}"}}
""")
        return procs([bins / "gpulse-agent", "run", "--config", path])

    agent("good-1", tmp_path / "good.key")
    agent("pretender", tmp_path / "thief.key")  # thief-1's key, speaking as another node
    agent("stranger-1", tmp_path / "stranger.key")  # key not in the allowlist
    plain = agent("plain-1", tmp_path / "good.key", mode="plaintext")
    plain.wait_for("plaintext: CURVE is off")

    nodes = lambda: {n["id"]: n for n in status(bins, control)["nodes"]}
    wait_until(lambda: nodes().get("good-1", {}).get("batches", 0) > 10, "the allowlisted agent", timeout=15)
    # The plaintext agent never gets past the greeting: libzmq refuses it, the socket monitor counts it.
    # Generous: each refusal needs the refused agent's next reconnection, a pace a busy machine sets.
    seen = {}

    def refusals():
        r = status(bins, control)["ingest"]["rejectedByReason"]
        seen.update(r)
        # The plaintext agent is refused once (libzmq does not retry a mismatched mechanism); which side
        # closes first decides whether the monitor reads it as a mechanism mismatch or as a handshake that
        # failed without detail, so either counts as its refusal.
        plaintext = r.get("mechanism_mismatch", 0) + r.get("handshake_failed", 0)
        return r.get("node_id_not_bound", 0) > 3 and r.get("unauthenticated", 0) >= 1 and plaintext >= 1 and r
    try:
        wait_until(refusals, "the refusals", timeout=90)
    except AssertionError as e:
        raise AssertionError(f"{e}; refusals counted: {seen}") from None
    assert set(nodes()) == {"good-1"}, nodes()  # neither the pretender, the stranger nor the plaintext agent got in

    # Decisions: the allowlisted subscriber reads them; an unknown key reads nothing.
    tail = lambda key: subprocess.run([bins / "gpulse-aggregator", "tail", "--decisions", decisions, "--json", "--count", "1",
                                       "--timeout", "4", "--server-key", server, "--key-file", key], capture_output=True, text=True, timeout=20)
    ok = tail(tmp_path / "reader.key")
    assert ok.returncode == 0 and json.loads(ok.stdout.splitlines()[0])["seq"], ok.stdout + ok.stderr
    refused = tail(tmp_path / "stranger.key")
    assert refused.returncode == 1 and "no decision within" in refused.stderr, refused.stdout + refused.stderr
    code, out = agg.stop()
    assert code == 0, out
    assert "refused a CURVE handshake" in out and "public key not in the allowlist" in out


def test_plaintext_has_to_be_asked_for(procs, bins, tmp_path):
    """CURVE is the default: without keys neither executable starts, and each says how to make the key
    or how to ask for plaintext; with the explicit setting they start and warn."""
    missing = tmp_path / "nowhere" / "aggregator.key"
    config = tmp_path / "aggregator.yaml"
    config.write_text(f'endpoints: {{metrics: "tcp://127.0.0.1:*", decisions: "tcp://127.0.0.1:*", control: "tcp://127.0.0.1:*"}}\n'
                      f'prometheus: {{listen: "off"}}\nsnapshot: {{path: "off"}}\nsecurity: {{secret_key_file: {missing}}}\n')
    code, out = procs([bins / "gpulse-aggregator", "run", "--config", config]).finish()
    assert code != 0 and f"cannot read key file {missing}" in out and "gpulse-aggregator keygen --out" in out and "--plaintext" in out, out
    check = subprocess.run([bins / "gpulse-aggregator", "check-config", "--config", config], capture_output=True, text=True, timeout=10)
    assert check.returncode == 2 and "security: CURVE, but cannot read key file" in check.stdout, check.stdout

    code, out = procs([bins / "gpulse-agent", "run", "--node-id", "n1", "--aggregator", "tcp://127.0.0.1:9"]).finish()
    assert code != 0 and "security.aggregator_public_key" in out and "--plaintext" in out, out
    # `once` sends nothing, so it needs no keys.
    once = subprocess.run([bins / "gpulse-agent", "once", "--json"], capture_output=True, text=True, timeout=30)
    assert once.returncode == 0 and json.loads(once.stdout), once.stdout + once.stderr

    agg = procs([bins / "gpulse-aggregator", "run", "--config", config, "--plaintext"])
    agg.wait_for("plaintext: CURVE is off")
    agent = procs([bins / "gpulse-agent", "run", "--plaintext", "--node-id", "n1", "--aggregator", "tcp://127.0.0.1:9"])
    agent.wait_for("plaintext: CURVE is off")
