#!/usr/bin/env bash
# Runs an aggregator and one agent on loopback for a few seconds and shows what arrives.
#   scripts/demo.sh BIN_DIR [SECONDS]
set -euo pipefail
bin=${1:?usage: demo.sh BIN_DIR [SECONDS]}
seconds=${2:-5}
metrics=tcp://127.0.0.1:17461
decisions=tcp://127.0.0.1:17462

"$bin/gpulse-aggregator" run --plaintext --metrics $metrics --decisions $decisions --control 'tcp://127.0.0.1:*' --report-interval 1 &
agg=$!
trap 'kill $agg $agent 2>/dev/null || true' EXIT
sleep 0.5
"$bin/gpulse-agent" run --plaintext --aggregator $metrics --node-id demo-node --pool demo --rate 500 &
agent=$!
sleep "$seconds"
kill -TERM $agent; wait $agent
sleep 0.3  # let the agent's final flush arrive
kill -TERM $agg; wait $agg
trap - EXIT
echo "demo: the aggregator's 'final node counts' above should show gaps_missing_batches=0 and as many batches as the agent's batches_sent."
