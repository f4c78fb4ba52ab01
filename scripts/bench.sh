#!/usr/bin/env bash
# `make bench`: every benchmark of the project, each beside a peer or limit measured in the same run,
# then one summary table in BENCHMARKS.md (bench/report.py). A benchmark that fails is reported as
# missing from the table; the others still run.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN="$1"
SECONDS_EACH="${2:-30}"
OUT=.build/bench
PY=.venv/bin/python
rm -rf "$OUT" && mkdir -p "$OUT"
SUMMARY="$OUT/summary.jsonl"
failed=()

run() {  # run NAME COMMAND...: the command's stdout is the section
  local name="$1"; shift
  echo "== bench: $name"
  if ! "$@" > "$OUT/$name.out"; then failed+=("$name"); fi
}

echo "== bench: codec and transport (gpulse-bench)"
"$BIN/gpulse-bench" --output "$OUT/codec.md" --summary "$SUMMARY" || failed+=(codec)

echo "== bench: agent cost"
$PY bench/agent_cost.py "$BIN" --seconds "$SECONDS_EACH" --markdown "$OUT/agent_cost.md" --summary "$SUMMARY" || failed+=(agent_cost)

echo "== bench: engine sampler cost"
$PY bench/engine_cost.py "$BIN" --seconds "$SECONDS_EACH" --markdown "$OUT/engine_cost.md" --summary "$SUMMARY" || failed+=(engine_cost)

run ingest $PY bench/ingest_bench.py --bin "$BIN" --nodes 150 --markdown --summary "$SUMMARY"
{ printf '## Aggregator ingest (bench/ingest_bench.py)\n\n'; cat "$OUT/ingest.out"; } > "$OUT/ingest.md"

run decision_latency $PY bench/decision_latency.py --bin "$BIN" --pools 24 --markdown --summary "$SUMMARY"
{ printf '## Decision latency (bench/decision_latency.py)\n\n'; cat "$OUT/decision_latency.out"; } > "$OUT/decision_latency.md"

# forecast_baseline exits 1 when gpulse is worse than statsmodels at some horizon: that is a result, not a failure.
for trace in nasa:../shared/data/nasa_http_1995_per_minute.csv servegen:../shared/data/servegen_m_small_rate_10min.csv; do
  name="forecast_${trace%%:*}"; file="${trace#*:}"
  if [ -f "$file" ]; then
    echo "== bench: $name"
    $PY bench/forecast_baseline.py --gpulse "$BIN/gpulse-aggregator" --trace "$file" --markdown --summary "$SUMMARY" > "$OUT/$name.out"
    [ -s "$OUT/$name.out" ] || failed+=("$name")
    { printf '## Forecasting vs statsmodels (bench/forecast_baseline.py)\n\n'; cat "$OUT/$name.out"; } > "$OUT/$name.md"
  else
    echo "bench: $file not found (the shared traces live beside the repository); $name skipped" >&2
  fi
done

$PY bench/report.py --summary "$SUMMARY" --sections "$OUT" --output BENCHMARKS.md
if [ ${#failed[@]} -gt 0 ]; then
  echo "bench: these benchmarks failed or missed their own check: ${failed[*]} (see above and $OUT)" >&2
  exit 1
fi
