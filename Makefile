# tallystream: `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Every Python dependency is installed from hash-pinned lock files (`make lock` updates them on purpose):
# requirements-dev.lock for development and CI, requirements.lock (the same versions) for the images.
$(STAMP): pyproject.toml requirements-dev.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --require-hashes -r requirements-dev.lock
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	@touch $(STAMP)

.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z0-9_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

UI_STAMP := ui/node_modules/.installed

$(UI_STAMP): ui/package.json ui/package-lock.json
	cd ui && npm ci --no-audit --no-fund --loglevel=error
	@touch $(UI_STAMP)

.PHONY: install
install: $(STAMP) $(UI_STAMP) ## Create the venv, install tallystream with its dev tools and the UI's npm packages
	bash deploy/kafka/kafka.sh fetch

.PHONY: browser
browser: ## Install Debian's Chromium for the browser tests (apt; needs root or sudo)
	@command -v chromium >/dev/null || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; }

.PHONY: run
run: install ## Run the local stack (Kafka, worker+views, ingest) with demo traffic; Ctrl-C stops all
	$(BIN)/tallystream-stack

.PHONY: test
test: install browser ## Run unit, integration and browser tests (starts its own Kafka broker)
	$(BIN)/python -m pytest -q -p no:cacheprovider

.PHONY: test-unit
test-unit: $(STAMP) ## Run the unit tests only (no broker)
	$(BIN)/python -m pytest -q tests/unit

.PHONY: lint
lint: $(STAMP) lock-check ## Check style with ruff, the lock files, and that the published event JSON Schema is current
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m schemas --check

.PHONY: schema
schema: $(STAMP) ## Regenerate schemas/event.v1.schema.json from the event models
	$(BIN)/python -m schemas

LOCK_ARGS := --generate-hashes --universal --python-version 3.11 --quiet
BUILD_IN  := $(VENV)/build-requirements.in

.PHONY: lock
lock: $(STAMP) ## Re-resolve every Python dependency to its newest allowed release and rewrite both lock files
	$(MAKE) --no-print-directory _lock UV_ARGS=--upgrade

.PHONY: lock-check
lock-check: $(STAMP) ## Fail when the lock files no longer satisfy pyproject.toml (run by make lint)
	@tmp=$$(mktemp -d) && cp requirements-dev.lock requirements.lock $$tmp/ && \
	  $(MAKE) --no-print-directory _lock LOCK_DIR=$$tmp >/dev/null && \
	  for f in requirements-dev.lock requirements.lock; do \
	    diff -q <(grep -v '^ *#' $$f) <(grep -v '^ *#' $$tmp/$$f) >/dev/null || \
	      { echo "$$f is stale: run 'make lock' (or add the new pins) and commit it"; exit 1; }; done; \
	  rm -rf $$tmp; echo "lock files match pyproject.toml"

LOCK_DIR ?= .
.PHONY: _lock
_lock:
	@$(BIN)/python -c 'import tomllib; print("\n".join(tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"] + ["pip"]))' > $(BUILD_IN)
	$(BIN)/uv pip compile pyproject.toml $(BUILD_IN) --extra dev $(LOCK_ARGS) $(UV_ARGS) -o $(LOCK_DIR)/requirements-dev.lock
	$(BIN)/uv pip compile pyproject.toml $(BUILD_IN) -c $(LOCK_DIR)/requirements-dev.lock $(LOCK_ARGS) -o $(LOCK_DIR)/requirements.lock

.PHONY: fmt
fmt: $(STAMP) ## Format and fix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: typecheck
typecheck: $(STAMP) ## Type-check our packages with mypy
	$(BIN)/mypy

.PHONY: admin
admin: $(STAMP) ## Tenants and keys on the local broker, e.g. make admin ARGS="key create --tenant demo --scope read"
	$(BIN)/tallystream-admin $(ARGS)

.PHONY: kafka-start
kafka-start: ## Start the local Kafka broker alone
	bash deploy/kafka/kafka.sh start

.PHONY: kafka-stop
kafka-stop: ## Stop the local Kafka broker
	bash deploy/kafka/kafka.sh stop

.PHONY: clean
clean: ## Remove local data (var/) but keep the venv and the broker jars
	bash deploy/kafka/kafka.sh stop
	find var -mindepth 1 -maxdepth 1 ! -name kafka-libs -exec rm -rf {} +

.PHONY: chaos
chaos: install ## 200k events through worker SIGKILLs, a broker restart and a store outage; exits 1 unless totals are exact
	$(BIN)/tallystream-chaos --events 200000 --seconds 90

.PHONY: cluster-test
cluster-test: install ## A 3-broker KRaft cluster from the project's scripts: one broker killed for good mid-run, totals exact
	$(BIN)/python -m pytest -q -p no:cacheprovider tests/integration/test_cluster_failover.py

.PHONY: bench-slice
bench-slice: install ## Throughput of the worker vs raw aiokafka consume, on the local broker
	bash deploy/kafka/kafka.sh start
	$(BIN)/python bench/slice.py --events 200000

.PHONY: bench-views
bench-views: install ## Dashboard endpoint p50/p95 at 10M events vs raw SQL, and a 1M-row CSV export's memory
	$(BIN)/python bench/views.py --events 10000000 --tenants 100

.PHONY: bench
bench: install ## Every benchmark next to its raw baseline: table, bench/results/latest.json and latest.png (~25 min)
	$(BIN)/python bench/run.py

.PHONY: bench-quick
bench-quick: install ## make bench at small sizes (a few minutes; CI runs it to keep the benchmarks working)
	$(BIN)/python bench/run.py --quick

.PHONY: bench-e2e
bench-e2e: install ## End to end through ingest: HTTP -> ingest -> Kafka -> worker -> views API, 2 min flat out + freshness (own broker)
	$(BIN)/python bench/e2e.py --seconds 120

SOAK_RATE    ?= 10000
SOAK_MINUTES ?= 30
.PHONY: soak
soak: install ## 30 min through ingest at half of SOAK_RATE (10,000 ev/s): worker RSS flat, lag, totals exact (not in CI)
	$(BIN)/python bench/e2e.py --soak --rate $(SOAK_RATE) --minutes $(SOAK_MINUTES)

.PHONY: bench-alerts
bench-alerts: install ## Alert latency from ingest 2xx to webhook, 100 trials, vs a raw Kafka round trip (own broker)
	$(BIN)/python bench/alerts.py --trials 100

.PHONY: bench-ingest
bench-ingest: install ## Ingest HTTP throughput and latency vs raw aiokafka produce (starts its own broker)
	$(BIN)/python bench/ingest.py --events 200000 --concurrency 2
	$(BIN)/python bench/ingest.py --events 200000 --concurrency 8 --profile-seconds 0
