#!/usr/bin/env bash
# Installs everything gpulse needs to build and test (and, with --bench, benchmark) on Debian/Ubuntu, skipping what is
# already there. Safe to run again. Needs root or sudo for apt-get, and PyPI for the test venv.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  pkg-config
  libzmq3-dev          # libzmq: the transport
  libprotobuf-c-dev    # protobuf-c runtime
  protobuf-c-compiler  # protoc-c: regenerates Sources/CGPulseProto
  protobuf-compiler    # protoc: generates the Python modules for the interop tests
  libsystemd-dev       # sd_notify: READY/STOPPING and the watchdog under systemd (Type=notify)
)
PYTHON=${PYTHON:-python3}
# `setup.sh --bench` adds the peers the benchmarks measure against in the same run.
if [ "${1:-}" = "--bench" ]; then
  APT_PACKAGES+=(prometheus-node-exporter curl)
fi

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# Debian's own python3 needs python3-venv for `python3 -m venv`; other builds ship it.
if ! "$PYTHON" -c 'import ensurepip, venv' 2>/dev/null; then missing+=(python3-venv); fi

if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -q
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
fi

command -v swift >/dev/null || { echo "setup: swift not found on PATH; install a Swift 6 toolchain (swift.org)" >&2; exit 2; }

# Python test dependencies live in .venv, for the interpreter the tests run with.
if [ ! -x .venv/bin/python ] || ! .venv/bin/python -c 'import google.protobuf, zmq, pytest, grpc_tools' 2>/dev/null \
   || ! cmp -s Tests/e2e/requirements.txt .venv/requirements.installed; then
  echo "setup: creating .venv with $(command -v "$PYTHON")"
  "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install -q --disable-pip-version-check -r Tests/e2e/requirements.txt
  cp Tests/e2e/requirements.txt .venv/requirements.installed
fi

# `--bench` also installs the Python peers (statsmodels) into the same .venv.
if [ "${1:-}" = "--bench" ] && ! cmp -s bench/requirements.txt .venv/bench-requirements.installed; then
  echo "setup: installing bench/requirements.txt into .venv"
  .venv/bin/python -m pip install -q --disable-pip-version-check -r bench/requirements.txt
  cp bench/requirements.txt .venv/bench-requirements.installed
fi

# Python modules for the interop tests, generated from the same .proto files as the C code.
mkdir -p .build/python
protoc -I proto --python_out=.build/python proto/gpulse/v1/metrics.proto proto/gpulse/v1/decision.proto
touch .build/python/gpulse/__init__.py .build/python/gpulse/v1/__init__.py
# KEDA's side of the external scaler contract, for test_keda.
.venv/bin/python -m grpc_tools.protoc -I proto/keda --python_out=.build/python --grpc_python_out=.build/python proto/keda/externalscaler.proto
echo "setup: ok (libzmq $(pkg-config --modversion libzmq), protobuf-c $(pkg-config --modversion libprotobuf-c), $(protoc --version))"
