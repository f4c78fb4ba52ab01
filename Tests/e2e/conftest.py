"""Shared fixtures: where the built executables are, the generated protobuf modules, process helpers."""
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import zmq

ROOT = Path(__file__).resolve().parents[2]
GENERATED = ROOT / ".build" / "python"
sys.path.insert(0, str(GENERATED))


def bin_dir() -> Path:
    d = os.environ.get("GPULSE_BIN")
    if not d:
        d = subprocess.run(["swift", "build", "--show-bin-path"], cwd=ROOT, capture_output=True, text=True, check=True).stdout.strip()
    return Path(d)


@pytest.fixture(scope="session")
def bins() -> Path:
    d = bin_dir()
    for exe in ("gpulse-agent", "gpulse-aggregator"):
        assert (d / exe).exists(), f"{d / exe} missing: run 'swift build' (make test does)"
    return d


class Proc:
    """A child process whose stderr is collected, stopped with SIGTERM like systemd does."""

    def __init__(self, args, env=None):
        self.args = args
        self.p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                  env={**os.environ, **env} if env else None)
        self.lines = []

    def wait_for(self, pattern, timeout=10.0):
        """Reads output until a line matches `pattern`; returns the match."""
        rx = re.compile(pattern)
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            line = self.p.stdout.readline()
            if not line:
                break
            self.lines.append(line)
            mt = rx.search(line)
            if mt:
                return mt
        raise AssertionError(f"no line matching {pattern!r} from {self.args[0]}; got:\n" + "".join(self.lines))

    def finish(self, timeout=10.0):
        """Waits for the process to exit by itself. Returns (exit code, all output)."""
        try:
            rest, _ = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            self.p.communicate()
            raise AssertionError(f"{self.args[0]} still running after {timeout}s")
        self.lines.append(rest or "")
        return self.p.returncode, "".join(self.lines)

    def stop(self, timeout=10.0):
        """SIGTERM, then collect the rest of the output. Returns (exit code, all output)."""
        if self.p.poll() is None:
            self.p.send_signal(signal.SIGTERM)
        try:
            rest, _ = self.p.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.p.kill()
            rest, _ = self.p.communicate()
            raise AssertionError(f"{self.args[0]} did not exit within {timeout}s of SIGTERM")
        self.lines.append(rest or "")
        return self.p.returncode, "".join(self.lines)


@pytest.fixture
def procs():
    started = []

    def start(args, env=None):
        proc = Proc([str(a) for a in args], env)
        started.append(proc)
        return proc

    yield start
    for proc in started:
        if proc.p.poll() is None:
            proc.p.kill()
            proc.p.wait()


def fields(line: str) -> dict:
    """key=value pairs of a swift-log line."""
    return dict(re.findall(r"(\w+)=(\S+)", line))


def start_aggregator(procs, bins, *extra):
    """Starts the aggregator on ephemeral loopback ports; returns (proc, metrics, decisions), with
    the control endpoint as proc.control."""
    agg = procs([bins / "gpulse-aggregator", "run", "--plaintext", "--metrics", "tcp://127.0.0.1:*", "--decisions", "tcp://127.0.0.1:*",
                 "--control", "tcp://127.0.0.1:*", "--report-interval", "1", "--prometheus", "127.0.0.1:0", *extra])
    mt = agg.wait_for(r"control=(\S+) .*decisions=(\S+) .*metrics=(\S+) .*aggregator listening")
    agg.control = mt.group(1)
    return agg, mt.group(3), mt.group(2)


def prometheus_address(proc, timeout=10.0) -> str:
    """host:port of a process's /metrics endpoint, from its 'metrics endpoint listening' line."""
    mt = proc.wait_for(r"address=http://(\S+)/metrics .*metrics endpoint listening", timeout)
    return mt.group(1)


def status_json(bins, control) -> dict:
    """A running aggregator's `status --json`, parsed."""
    out = subprocess.run([bins / "gpulse-aggregator", "status", "--json", "--control", control], capture_output=True, text=True, timeout=10)
    assert out.returncode == 0, out.stdout + out.stderr
    return json.loads(out.stdout)


def wait_until(predicate, what, timeout=10.0):
    """Polls `predicate` until it returns something truthy, which is returned."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if (result := predicate()):
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def free_port() -> int:
    """A loopback TCP port free now, for a process that must bind the same port again after a restart."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def zmq_context():
    """A pyzmq context that is torn down with linger 0 however the test ends: a test that fails with
    unsent messages on a socket must fail, not hang later in Context.term() when it is collected."""
    ctx = zmq.Context()
    yield ctx
    if not ctx.closed:
        ctx.destroy(linger=0)
