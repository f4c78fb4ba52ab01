# gpulse: the two commands a newcomer needs are `make demo` and `make test`; both run setup first.
SWIFT ?= swift
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR ?=
BINDIR = $(PREFIX)/bin
UNITDIR ?= $(PREFIX)/lib/systemd/system
DOCDIR = $(PREFIX)/share/doc/gpulse
# Seconds the demo's story takes (quiet, surge, calm).
DEMO_SECONDS ?= 60
BENCH_SECONDS ?= 30
FUZZ_RUNS ?= 1000000
SNAPSHOT_FUZZ_RUNS ?= 30000
EXPOSITION_FUZZ_RUNS ?= 300000
# The shared traces make replay reads (relative to the repository root, or absolute).
REPLAY_DATA ?= ../shared/data

.PHONY: all setup build release test check-proto proto demo bench soak replay fuzz install uninstall clean

all: build

setup:
	@scripts/setup.sh

build: setup
	$(SWIFT) build

release: setup
	$(SWIFT) build -c release

## The test command (.ci/run calls it): generated code is current, Swift tests, then the
## Python interop and end-to-end tests against the built executables (the attacker suite's stall
## bound is measured on a release aggregator, as deployed).
test: setup check-proto
	$(SWIFT) build --build-tests
	$(SWIFT) build --product FakeNVML
	$(SWIFT) build --product FakeNVMLMissingSymbols
	$(SWIFT) test
	$(SWIFT) build -c release --product gpulse-aggregator
	GPULSE_BIN="$$($(SWIFT) build --show-bin-path)" GPULSE_RELEASE_BIN="$$($(SWIFT) build -c release --show-bin-path)" \
		.venv/bin/python -m pytest -q Tests/e2e

## Three targets under libFuzzer; a finding stops the run, is saved as .build/fuzz-crash-<sha1> and fails it.
## The batch decoder (then the fleet's ingest of what it accepts): FUZZ_RUNS inputs (1,000,000) from
## fuzz/corpus. The snapshot restore path: SNAPSHOT_FUZZ_RUNS bodies (30,000; each restores a fleet)
## from fuzz/snapshot-corpus. The Prometheus text parser (engines' /metrics pages):
## EXPOSITION_FUZZ_RUNS pages (300,000) from fuzz/exposition-corpus.
fuzz: setup
	$(SWIFT) build -c release --build-path .build/fuzz --product gpulse-fuzz-decoder \
		-Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xcc -fsanitize=fuzzer-no-link
	$(SWIFT) build -c release --build-path .build/fuzz --product gpulse-fuzz-snapshot \
		-Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xcc -fsanitize=fuzzer-no-link
	$(SWIFT) build -c release --build-path .build/fuzz --product gpulse-fuzz-exposition \
		-Xswiftc -sanitize=fuzzer -Xswiftc -DFUZZING -Xcc -fsanitize=fuzzer-no-link
	mkdir -p .build/fuzz-corpus .build/fuzz-snapshot-corpus .build/fuzz-exposition-corpus
	SWIFT_BACKTRACE=enable=no .build/fuzz/release/gpulse-fuzz-decoder -runs=$(FUZZ_RUNS) -max_len=65536 \
		-artifact_prefix=.build/fuzz- -print_final_stats=1 .build/fuzz-corpus fuzz/corpus
	SWIFT_BACKTRACE=enable=no .build/fuzz/release/gpulse-fuzz-snapshot -runs=$(SNAPSHOT_FUZZ_RUNS) -max_len=131072 \
		-artifact_prefix=.build/fuzz-snapshot- -print_final_stats=1 .build/fuzz-snapshot-corpus fuzz/snapshot-corpus
	SWIFT_BACKTRACE=enable=no .build/fuzz/release/gpulse-fuzz-exposition -runs=$(EXPOSITION_FUZZ_RUNS) -max_len=65536 \
		-artifact_prefix=.build/fuzz-exposition- -print_final_stats=1 .build/fuzz-exposition-corpus fuzz/exposition-corpus

## Both generated trees are what their generators make now: protobuf-c (Sources/CGPulseProto) and
## the KEDA gRPC code (Sources/GPulseKEDA/Generated; builds the two plugins once, 2-3 min).
check-proto:
	@scripts/gen-proto.sh --check
	@scripts/gen-keda.sh --check

## docs/replay: every policy over the shared/data traces on the SIMULATED fleet (minutes).
replay: setup
	scripts/replay-tables.sh $(REPLAY_DATA)

proto:
	scripts/gen-proto.sh
	scripts/gen-keda.sh

## The main job: an aggregator and three agents on loopback (TEST FAKE NVML, a SIMULATED inference
## server) through a scripted surge: the load and demand, the SCALE_UP with its reason, the scale-down.
demo: setup
	$(SWIFT) build -c release --product gpulse-agent
	$(SWIFT) build -c release --product gpulse-aggregator
	$(SWIFT) build -c release --product FakeNVML
	.venv/bin/python scripts/demo.py "$$($(SWIFT) build -c release --show-bin-path)" \
		"$$($(SWIFT) build -c release --show-bin-path)/libFakeNVML.so" $(DEMO_SECONDS)

## Every benchmark, each beside a peer or limit measured in the same run; one summary table in BENCHMARKS.md.
bench:
	@scripts/setup.sh --bench
	$(SWIFT) build -c release --product gpulse-bench
	$(SWIFT) build -c release --product gpulse-agent
	$(SWIFT) build -c release --product gpulse-aggregator
	$(SWIFT) build -c release --product FakeNVML
	scripts/bench.sh "$$($(SWIFT) build -c release --show-bin-path)" $(BENCH_SECONDS)

## Not in CI: 1,000 SIMULATED agents for 10 minutes; the aggregator's RSS curve goes to SOAK.md.
soak: setup
	$(SWIFT) build -c release --product gpulse-agent
	$(SWIFT) build -c release --product gpulse-aggregator
	.venv/bin/python bench/soak.py "$$($(SWIFT) build -c release --show-bin-path)" SOAK.md

## Binaries, systemd units, example configs (never over an existing /etc/gpulse file), docs, the
## Grafana dashboard. `make install PREFIX=/usr DESTDIR=pkgroot` for packaging.
install: release
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSCONFDIR)/gpulse $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(DOCDIR)/grafana
	install -m 0755 "$$($(SWIFT) build -c release --show-bin-path)/gpulse-agent" "$$($(SWIFT) build -c release --show-bin-path)/gpulse-aggregator" $(DESTDIR)$(BINDIR)/
	for unit in gpulse-agent gpulse-aggregator; do \
	  sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@DOCDIR@|$(DOCDIR)|g' -e 's|/etc/gpulse/|$(SYSCONFDIR)/gpulse/|g' systemd/$$unit.service > $(DESTDIR)$(UNITDIR)/$$unit.service; \
	  chmod 0644 $(DESTDIR)$(UNITDIR)/$$unit.service; \
	done
	install -m 0644 config/*.yaml $(DESTDIR)$(DOCDIR)/examples/
	install -m 0644 config/grafana/gpulse.json $(DESTDIR)$(DOCDIR)/grafana/
	install -d $(DESTDIR)$(DOCDIR)/docs
	install -m 0644 README.md LICENSE $(DESTDIR)$(DOCDIR)/
	install -m 0644 docs/*.md $(DESTDIR)$(DOCDIR)/docs/
	for f in agent.yaml aggregator.yaml; do \
	  [ -e $(DESTDIR)$(SYSCONFDIR)/gpulse/$$f ] || install -m 0644 config/$$f $(DESTDIR)$(SYSCONFDIR)/gpulse/$$f; \
	done
	@echo "installed under $(DESTDIR)$(PREFIX); configs in $(DESTDIR)$(SYSCONFDIR)/gpulse (existing files kept)"
	@echo "next: systemctl daemon-reload && systemctl enable --now gpulse-aggregator (or gpulse-agent)"

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/gpulse-agent $(DESTDIR)$(BINDIR)/gpulse-aggregator
	rm -f $(DESTDIR)$(UNITDIR)/gpulse-agent.service $(DESTDIR)$(UNITDIR)/gpulse-aggregator.service
	rm -rf $(DESTDIR)$(DOCDIR)
	@echo "kept $(DESTDIR)$(SYSCONFDIR)/gpulse (your configs)"

clean:
	rm -rf .build .venv
