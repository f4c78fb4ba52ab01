#!/usr/bin/env bash
# Checks the real NVML path on a GPU host: `once` against the driver (values, health readings, each
# source's real update period), then an aggregator and a 500 Hz agent on loopback while a PyTorch matmul
# loads the GPU, with nvidia-smi beside it for comparison. Utilization is drained in group gpu_slow
# (1 Hz, the default); the agent log's `sampler totals` give each NVML call's mean cost.
#   scripts/gpu-smoke.sh BIN_DIR OUT_DIR
# BIN_DIR holds gpulse-agent and gpulse-aggregator (built with --static-swift-stdlib; set
# LD_LIBRARY_PATH for libzmq/libprotobuf-c if the host lacks them).
set -u
bin=${1:?usage: gpu-smoke.sh BIN_DIR OUT_DIR}
out=${2:?usage: gpu-smoke.sh BIN_DIR OUT_DIR}
mkdir -p "$out"

{
  echo "== host"; uname -r; nproc
  echo "== nvidia-smi"; nvidia-smi --query-gpu=name,uuid,driver_version,memory.used,memory.total,utilization.gpu,power.draw,clocks.sm,mig.mode.current --format=csv
  # What the agent's health sampler reads, as nvidia-smi sees it (compare with once-*.json).
  # One query per field: nvidia-smi refuses a whole query over one name its version does not know.
  echo "== nvidia-smi health"
  for f in temperature.gpu clocks_event_reasons.active clocks_throttle_reasons.active ecc.errors.uncorrected.volatile.total remapped_rows.pending remapped_rows.failure; do
    nvidia-smi --query-gpu="$f" --format=csv
  done
  echo "== NVML library"; ldconfig -p | grep -i nvidia-ml || find / -name 'libnvidia-ml.so*' 2>/dev/null | head -3
} > "$out/host.txt" 2>&1

"$bin/gpulse-agent" once --json > "$out/once-idle.json" 2> "$out/once-idle.log"

cat > "$out/agent.yaml" <<YAML
node: {id: h200-smoke, pool: smoke}
aggregator: {endpoint: "tcp://127.0.0.1:17461"}
groups: {fast: {rate_hz: 500}, gpu: {rate_hz: 10}, probes: {rate_hz: 5}}
samplers:
  rtt: {enabled: true, targets: ["127.0.0.1:17461", "127.0.0.1:1"], timeout_ms: 200}
YAML

"$bin/gpulse-aggregator" run --plaintext --metrics tcp://127.0.0.1:17461 --decisions tcp://127.0.0.1:17462 --control tcp://127.0.0.1:17463 --report-interval 5 > "$out/aggregator.log" 2>&1 &
agg=$!
sleep 0.5
"$bin/gpulse-agent" run --plaintext --config "$out/agent.yaml" > "$out/agent.log" 2>&1 &
agent=$!
sleep 3
python3 - > "$out/load.log" 2>&1 <<'PY' &
import time, torch
a = torch.randn(8192, 8192, device="cuda", dtype=torch.bfloat16)
end = time.time() + 12
n = 0
while time.time() < end:
    (a @ a); n += 1
torch.cuda.synchronize()
print(f"matmuls: {n}")
PY
load=$!
sleep 5
"$bin/gpulse-agent" once --json > "$out/once-loaded.json" 2> "$out/once-loaded.log"
nvidia-smi --query-gpu=utilization.gpu,memory.used,power.draw,clocks.sm --format=csv > "$out/smi-loaded.txt" 2>&1
wait $load
sleep 3
cpu_ticks=$(awk '{print $14+$15}' /proc/$agent/stat)
kill -TERM $agent; wait $agent
sleep 0.5
kill -TERM $agg; wait $agg
echo "agent_cpu_ticks_total=$cpu_ticks clk_tck=$(getconf CLK_TCK)" >> "$out/host.txt"
echo "gpu-smoke: done; see $out"
