# gpulse: the two commands a newcomer needs are `make demo` and `make test`; both run setup first.
SWIFT ?= swift
PREFIX ?= /usr/local
DEMO_SECONDS ?= 5
BENCH_SECONDS ?= 30

.PHONY: all setup build release test check-proto proto demo bench replay clean

all: build

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

## The test command (.ci/run calls it): generated code is current, Swift tests, then the
## Python interop and end-to-end tests against the built executables.
test: setup check-proto
	$(SWIFT) build --build-tests
	$(SWIFT) build --product FakeNVML
	$(SWIFT) build --product FakeNVMLMissingSymbols
	$(SWIFT) test
	GPULSE_BIN="$$($(SWIFT) build --show-bin-path)" .venv/bin/python -m pytest -q Tests/e2e

check-proto:
	@scripts/gen-proto.sh --check

## docs/replay: every policy over the shared/data traces on the SIMULATED fleet (minutes).
replay: setup
	scripts/replay-tables.sh

proto:
	scripts/gen-proto.sh

## The main job: an aggregator and an agent on loopback; prints what arrives.
demo: setup
	$(SWIFT) build -c release --product gpulse-agent
	$(SWIFT) build -c release --product gpulse-aggregator
	scripts/demo.sh "$$($(SWIFT) build -c release --show-bin-path)" $(DEMO_SECONDS)

## Every benchmark, each beside a peer measured in the same run; writes BENCHMARKS.md.
bench:
	@scripts/setup.sh --bench
	$(SWIFT) build -c release --product gpulse-bench
	$(SWIFT) build -c release --product gpulse-agent
	$(SWIFT) build -c release --product gpulse-aggregator
	$(SWIFT) build -c release --product FakeNVML
	"$$($(SWIFT) build -c release --show-bin-path)/gpulse-bench" --output BENCHMARKS.md
	.venv/bin/python bench/agent_cost.py "$$($(SWIFT) build -c release --show-bin-path)" --seconds $(BENCH_SECONDS) --markdown BENCHMARKS.md
	@printf '\n## Aggregator ingest (bench/ingest_bench.py)\n\n' >> BENCHMARKS.md
	.venv/bin/python bench/ingest_bench.py --bin "$$($(SWIFT) build -c release --show-bin-path)" --nodes 150 --markdown >> BENCHMARKS.md
	@printf '\n## Decision latency (bench/decision_latency.py)\n\n' >> BENCHMARKS.md
	.venv/bin/python bench/decision_latency.py --bin "$$($(SWIFT) build -c release --show-bin-path)" --pools 24 --markdown >> BENCHMARKS.md
	@printf '\n## Forecasting vs statsmodels (bench/forecast_baseline.py)\n\n' >> BENCHMARKS.md
	-.venv/bin/python bench/forecast_baseline.py --gpulse "$$($(SWIFT) build -c release --show-bin-path)/gpulse-aggregator" --trace ../shared/data/nasa_http_1995_per_minute.csv --markdown >> BENCHMARKS.md
	-.venv/bin/python bench/forecast_baseline.py --gpulse "$$($(SWIFT) build -c release --show-bin-path)/gpulse-aggregator" --trace ../shared/data/servegen_m_small_rate_10min.csv --markdown >> BENCHMARKS.md

clean:
	rm -rf .build .venv
