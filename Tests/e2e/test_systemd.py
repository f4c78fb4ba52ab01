"""The systemd side of both services without systemd: a test socket stands in for $NOTIFY_SOCKET and
receives what sd_notify(3) sends (READY=1 once serving, WATCHDOG=1 keep-alives while the loops
progress, STOPPING=1 on SIGTERM); `systemd-analyze verify` and `security --offline` check the unit
files as `make install` writes them."""
import os
import re
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

from conftest import ROOT


class NotifySocket:
    def __init__(self, path: Path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.path = path
        self.messages = []

    def collect(self, seconds: float, until=None):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                msg = self.sock.recv(4096).decode()
            except socket.timeout:
                continue
            self.messages.append((time.monotonic(), msg))
            if until and until(msg):
                return msg
        return None

    def count(self, text: str) -> int:
        return sum(1 for _, m in self.messages if text in m.split("\n"))


@pytest.mark.parametrize("exe", ["gpulse-aggregator", "gpulse-agent"])
def test_ready_watchdog_and_stopping_are_notified(procs, bins, tmp_path, exe):
    notify = NotifySocket(tmp_path / "notify.sock")
    env = {"NOTIFY_SOCKET": str(notify.path), "WATCHDOG_USEC": "1000000"}
    if exe == "gpulse-aggregator":
        args = ["run", "--plaintext", "--metrics", "tcp://127.0.0.1:*", "--decisions", "tcp://127.0.0.1:*", "--control", "tcp://127.0.0.1:*",
                "--prometheus", "off"]
    else:
        args = ["run", "--plaintext", "--aggregator", "tcp://127.0.0.1:9", "--node-id", "sd-test", "--rate", "100"]
    proc = procs([bins / exe, *args], env=env)
    ready = notify.collect(10, until=lambda m: "READY=1" in m.split("\n"))
    assert ready, f"{exe} sent no READY=1; got {notify.messages}"
    assert "STATUS=" in ready
    # WATCHDOG_USEC 1 s: a keep-alive every 0.5 s while the loops go round.
    notify.collect(2.2)
    assert notify.count("WATCHDOG=1") >= 3, notify.messages
    proc.p.send_signal(15)
    notify.collect(5, until=lambda m: "STOPPING=1" in m.split("\n"))
    assert notify.count("STOPPING=1") == 1, notify.messages
    code, out = proc.stop()
    assert code == 0, out
    assert "systemd watchdog on" in out


def test_without_notify_socket_nothing_is_sent_and_it_still_runs(procs, bins):
    env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC")}
    proc = procs([bins / "gpulse-aggregator", "run", "--plaintext", "--metrics", "tcp://127.0.0.1:*", "--decisions", "tcp://127.0.0.1:*",
                  "--control", "tcp://127.0.0.1:*", "--prometheus", "off"], env=env)
    proc.wait_for("aggregator listening")
    code, out = proc.stop()
    assert code == 0 and "systemd watchdog on" not in out


def installed_units(bins: Path, tmp_path: Path) -> Path:
    """The unit files with the substitutions `make install` makes, pointing at the built binaries."""
    out = tmp_path / "units"
    out.mkdir()
    for unit in ("gpulse-agent", "gpulse-aggregator"):
        text = (ROOT / "systemd" / f"{unit}.service").read_text()
        text = text.replace("@BINDIR@", str(bins)).replace("@DOCDIR@", str(ROOT))
        (out / f"{unit}.service").write_text(text)
    return out


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze not installed")
def test_units_verify_and_aggregator_exposure_is_at_most_2(bins, tmp_path):
    units = installed_units(bins, tmp_path)
    for unit in ("gpulse-agent", "gpulse-aggregator"):
        r = subprocess.run(["systemd-analyze", "verify", "--man=no", str(units / f"{unit}.service")],
                           capture_output=True, text=True, cwd=units)
        # Only complaints about our own unit count; the host's other units are not ours to judge.
        ours = [l for l in (r.stdout + r.stderr).splitlines() if f"{unit}.service" in l]
        assert not ours, "\n".join(ours)
    scores = {}
    for unit in ("gpulse-agent", "gpulse-aggregator"):
        r = subprocess.run(["systemd-analyze", "security", "--offline=true", f"{unit}.service"],
                           capture_output=True, text=True, cwd=units)
        m = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", r.stdout + r.stderr)
        assert m, r.stdout + r.stderr
        scores[unit] = float(m.group(1))
    print("systemd-analyze security exposure:", scores)
    assert scores["gpulse-aggregator"] <= 2.0, scores
    assert scores["gpulse-agent"] <= 3.0, scores
